"""What processing reads back from the store, as typed queries built by the InfluxQL
builder (never pasted text): counter readings, CEMS minutes, per-sensor counts and
newest times, stored KPI series (the roll-ups' names and fields are ``smartpark.schema``'s).
Used by the scheduled jobs and the stream's restart."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

import polars as pl

from processing.engine import COLUMNS, Park
from processing.meters import window_starts
from smartpark import schema
from smartpark.model import PARK_SCOPE
from smartpark.store import policy_for
from smartpark.store.base import Store
from smartpark.store.influxql import Aggregate, Select

READINGS_SCHEMA = {"sensor": pl.Utf8, "ts": pl.Int64, "value": pl.Float64}
# How far the search for a meter's reading around a period reaches before it widens
# (then it has no bound): a week finds nearly every meter, a quarter the silent ones.
EDGE_SEARCH_DAYS = (7, 92)


def utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


class StoreReads:
    """The reads of one park's data."""

    def __init__(self, store: Store, park: Park) -> None:
        self.store = store
        self.park = park

    def series(
        self, kind: str, fields: list[str], lo_ms: int, hi_ms: int | None
    ) -> list[tuple[str, list[list[Any]]]]:
        """(sensor, rows of [ts, *fields]) of ``kind`` in [lo, hi)."""
        query = Select(
            kind,
            fields,
            tags={"park": self.park.id},
            start=utc(lo_ms),
            end=None if hi_ms is None else utc(hi_ms),
            group_by_tags=["sensor"],
            retention_policy=policy_for(self.store, kind),
        )
        return [(s.tags.get("sensor", ""), s.values) for s in self.store.query(query.to_influxql())]

    def counter_kinds(self) -> dict[str, str]:
        """The carrier kinds of the park's meters and each one's counter field."""
        return dict(self.park.meters.select("kind", "field").unique().iter_rows())

    def counter_readings(self, lo_ms: int, hi_ms: int | None = None) -> pl.DataFrame:
        """Every meter's counter readings (sensor, ts, value) in [lo, hi)."""
        rows: list[tuple[str, int, float]] = []
        for kind, fld in self.counter_kinds().items():
            for sensor, values in self.series(kind, [fld], lo_ms, hi_ms):
                rows += [(sensor, int(v[0]), float(v[1])) for v in values if v[1] is not None]
        return pl.DataFrame(rows, schema=READINGS_SCHEMA, orient="row")

    def last_before(self, lo_ms: int) -> pl.DataFrame:
        """Each meter's last counter reading before ``lo_ms``, however old: the start of
        its first interval, so a meter silent for weeks keeps its delta (the stream keeps
        each meter's last reading indefinitely too). See :meth:`_edge` for the cost."""
        return self._edge("last", lo_ms)

    def first_after(self, hi_ms: int) -> pl.DataFrame:
        """Each meter's first counter reading at or after ``hi_ms``, however late: pro
        rata, the end of the interval that reaches back into the last window before it."""
        return self._edge("first", hi_ms)

    def _edge(self, aggregate: Literal["first", "last"], at_ms: int) -> pl.DataFrame:
        """Per meter, the ``last`` reading before ``at_ms`` or the ``first`` at or after it.

        Bounded cost: the search widens in steps (``EDGE_SEARCH_DAYS``, then without a
        bound) and each wider step runs only while some meter has not been found, so the
        usual case is one query of a week per kind, and a meter silent for months is still
        found (a meter that never sent costs the widest query)."""
        rows: list[tuple[str, int, float]] = []
        for kind, fld in self.counter_kinds().items():
            wanted = set(self.park.meters.filter(pl.col("kind") == kind)["sensor"].to_list())
            near = at_ms
            for days in (*EDGE_SEARCH_DAYS, None):
                far = None if days is None else (
                    at_ms - days * 86_400_000 if aggregate == "last" else at_ms + days * 86_400_000
                )  # fmt: skip
                lo, hi = (far, near) if aggregate == "last" else (near, far)
                query = Select(
                    kind,
                    [fld],
                    aggregate=aggregate,
                    tags={"park": self.park.id},
                    start=None if lo is None else utc(lo),
                    end=None if hi is None else utc(hi),
                    group_by_tags=["sensor"],
                    retention_policy=policy_for(self.store, kind),
                )
                for s in self.store.query(query.to_influxql()):
                    sensor = s.tags.get("sensor", "")
                    found = [(sensor, int(v[0]), float(v[1])) for v in s.values
                             if v[1] is not None]  # fmt: skip
                    if sensor in wanted and found:
                        rows += found[:1]
                        wanted.discard(sensor)
                if not wanted or far is None:
                    break
                near = far
        return pl.DataFrame(rows, schema=READINGS_SCHEMA, orient="row")

    def counters_from(
        self, lo_ms: int, hi_ms: int | None = None, *, first_after: bool = False
    ) -> pl.DataFrame:
        """The counter readings in [lo, hi), each meter's last one before ``lo`` and, with
        ``first_after`` (pro rata), its first one at or after ``hi``."""
        parts = [self.last_before(lo_ms), self.counter_readings(lo_ms, hi_ms)]
        if first_after and hi_ms is not None:
            parts.append(self.first_after(hi_ms))
        return pl.concat(parts)

    def newest_counter_ms(self) -> int | None:
        """The time of the newest stored counter reading of the park, if any."""
        newest = None
        for kind, fld in self.counter_kinds().items():
            query = Select(kind, [fld], aggregate="last", tags={"park": self.park.id},
                           retention_policy=policy_for(self.store, kind))  # fmt: skip
            for series in self.store.query(query.to_influxql()):
                for ts, _value in series.values:
                    newest = max(newest or ts, ts)
        return newest

    def per_sensor(
        self, kind: str, field: str, aggregate: Aggregate, lo_ms: int, hi_ms: int | None = None
    ) -> dict[str, list[Any]]:
        """One aggregate row ([ts, value]) per sensor of ``kind`` in [lo, hi)."""
        query = Select(
            kind,
            [field],
            aggregate=aggregate,
            tags={"park": self.park.id},
            start=utc(lo_ms),
            end=None if hi_ms is None else utc(hi_ms),
            group_by_tags=["sensor"],
            retention_policy=policy_for(self.store, kind),
        )
        return {
            s.tags.get("sensor", ""): s.values[0]
            for s in self.store.query(query.to_influxql())
            if s.values
        }

    def kpi_by_scope(
        self,
        field: str,
        *,
        window: str,
        start: datetime,
        end: datetime,
        aggregate: Aggregate | None = None,
    ) -> list[tuple[str, list[list[Any]]]]:
        """(scope, rows of [ts, value]) of a stored KPI field of ``window`` in [start, end)."""
        query = Select(
            schema.KPI.name,
            schema.KPI.names(field),
            aggregate=aggregate,
            tags={"park": self.park.id, "window": window},
            start=start,
            end=end,
            group_by_tags=["scope"],
        )
        return [(s.tags.get("scope", ""), s.values) for s in self.store.query(query.to_influxql())]

    def days_grid(self, lo_ms: int, hi_ms: int) -> pl.DataFrame:
        """The stored days' grid import per enterprise (``enterprise``, ``day``,
        ``month_start``, ``grid_kwh``) of the local months [lo, hi) touches, days that
        start before ``hi`` only: what settles green power on the month (``allocate``)."""
        first = int(window_starts(pl.Series([lo_ms], dtype=pl.Int64), window="1mo",
                                  tz=self.park.tz)[0])  # fmt: skip
        rows = [
            (scope, int(ts), float(value))
            for scope, values in self.kpi_by_scope(
                "grid_kwh", window="1d", start=utc(first), end=utc(hi_ms)
            )
            if scope != PARK_SCOPE
            for ts, value in values
            if value is not None
        ]
        days = pl.DataFrame(
            rows, schema={"enterprise": pl.Utf8, "day": pl.Int64, "grid_kwh": pl.Float64},
            orient="row",
        )  # fmt: skip
        return days.with_columns(
            month_start=window_starts(days["day"], window="1mo", tz=self.park.tz)
        )

    def day_totals(self, lo_ms: int, hi_ms: int) -> pl.DataFrame:
        """The stored days' totals per enterprise (``engine.totals`` columns) in [lo, hi):
        what a month to date adds today's totals to."""
        fields = schema.KPI.names(*COLUMNS, "readings", "flags")
        query = Select(schema.KPI.name, fields, tags={"park": self.park.id, "window": "1d"},
                       start=utc(lo_ms), end=utc(hi_ms), group_by_tags=["scope"])  # fmt: skip
        rows = [
            (s.tags.get("scope", ""), int(v[0]), *v[1:])
            for s in self.store.query(query.to_influxql())
            if s.tags.get("scope") != PARK_SCOPE
            for v in s.values
        ]
        dtypes = {
            "enterprise": pl.Utf8,
            "window": pl.Int64,
            **dict.fromkeys(fields, pl.Float64),
        }
        return pl.DataFrame(rows, schema=dtypes, orient="row").with_columns(
            pl.col("readings", "flags").fill_null(0).cast(pl.Int64)
        )  # fmt: skip
