"""The stream's buffer of readings (pure): the readings (sensor, ts, value) a window
needs from it, and what is kept when it is pruned. Each meter's last reading before
what a window or the buffer covers is kept, so its next interval starts there however
long it was silent: across a gap the metered delta is kept (flagged), never dropped."""

from __future__ import annotations

import polars as pl


def window_readings(buffer: pl.DataFrame, lo: int, hi: int, *, pro_rata: bool) -> pl.DataFrame:
    """The readings in [lo, hi), each meter's last one before ``lo`` and, pro rata (the
    interval that ends after the last window reaches into it), its first one from ``hi``.
    A buffer flagged sorted by ``ts`` (as ``DataFrame.sort`` leaves it) is sliced, not scanned."""
    ts = buffer["ts"]
    if buffer.height and ts.flags["SORTED_ASC"]:
        return _sorted_window_readings(buffer, lo, hi, pro_rata=pro_rata)
    readings = buffer.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi))
    older = buffer.filter(pl.col("ts") < lo)
    if older.height:
        last = older.group_by("sensor").agg(pl.all().sort_by("ts").last())
        readings = pl.concat([last.select(readings.columns), readings])
    if pro_rata:
        later = buffer.filter(pl.col("ts") >= hi)
        if later.height:
            after = later.group_by("sensor").agg(pl.all().sort_by("ts").first())
            readings = pl.concat([readings, after.select(readings.columns)])
    return readings


def _sorted_window_readings(
    buffer: pl.DataFrame, lo: int, hi: int, *, pro_rata: bool
) -> pl.DataFrame:
    """``window_readings`` of a buffer sorted by ``ts`` with one reading per meter and
    instant: binary searches and slices, each meter's last and first by position."""
    ts = buffer["ts"]
    a = int(ts.search_sorted(lo, side="left"))
    b = int(ts.search_sorted(hi, side="left"))
    parts = []
    if a:
        parts.append(buffer.slice(0, a).unique(subset=["sensor"], keep="last"))
    parts.append(buffer.slice(a, b - a))
    if pro_rata and b < buffer.height:
        parts.append(buffer.slice(b).unique(subset=["sensor"], keep="first"))
    return pl.concat(parts) if len(parts) > 1 else parts[0]


def pruned(buffer: pl.DataFrame, keep_from: int) -> pl.DataFrame:
    """The readings from ``keep_from`` on, and each meter's last one before it."""
    older = buffer.filter(pl.col("ts") < keep_from)
    last = older.group_by("sensor").agg(pl.all().sort_by("ts").last())
    return pl.concat([last.select(buffer.columns), buffer.filter(pl.col("ts") >= keep_from)])
