"""A catch-up piece joins what the live path holds for it now (the stream's buffer, read
while its tick waits): a reading the live path took after the batch read the store is
never left out, so the catch-up cannot overwrite the live path's newer point with its
older snapshot. Real InfluxDB; the catch-up's step called directly (no thread)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from processing.catchup import CatchUp, LedgerFile
from processing.emit import SEND_CHUNK, Emitter
from processing.jobs import Jobs
from processing.ledger import Span
from processing.stats import ProcessorStats
from smartpark.clock import SystemClock
from smartpark.registry import Registry
from smartpark.store.influx1 import Influx1Store
from smartpark.store.lineprotocol import encode_point
from smartpark.wire import decode_kpi_update
from tests.processing.test_stream import COEF, CONFIG, CST, _stored

M = 60_000
SCHEMA = {"sensor": pl.Utf8, "ts": pl.Int64, "value": pl.Float64}


@pytest.mark.parametrize("live_holds_more", [True, False])
def test_a_piece_counts_what_the_live_path_took_since_the_batch_read(
    park: Registry, store: Influx1Store, tmp_path: Path, live_holds_more: bool
) -> None:
    jobs = Jobs(registry=park, park_id="tianfu-np", config=CONFIG, coefficients=COEF,
                store=store, clock=SystemClock())  # fmt: skip
    meter = (
        jobs.park.meters.filter(pl.col("kind") == "electricity").sort("sensor").row(0, named=True)
    )
    sensor, field, kind = meter["sensor"], meter["field"], meter["kind"]
    ref = next(s.ref for s in park.sensors() if s.ref.sensor == sensor)
    day = int(datetime(2026, 11, 4, tzinfo=CST).timestamp() * 1000)
    stored = [(sensor, day + m * M, 100.0 + 0.1 * m) for m in range(10)]  # 00:00-00:09
    tags = {"park": ref.park, "enterprise": ref.enterprise, "sensor": sensor}
    store.write("\n".join(encode_point(kind, tags, {field: v}, ts) for _, ts, v in stored).encode())
    # the live path took 00:10-00:14 after the batch read the store (not stored yet)
    fresh = pl.DataFrame([(sensor, day + m * M, 100.9 + 0.2 * (m - 9)) for m in range(10, 15)],
                         schema=SCHEMA, orient="row")  # fmt: skip
    published: dict[int, float] = {}

    def publish(size: str, frame: pl.DataFrame, ends: dict[int, int]) -> None:
        if size == "1m":
            for r in frame.filter(pl.col("scope") == ref.enterprise).iter_rows(named=True):
                published[r["window"]] = r["grid_kwh"]

    def recent(lo: int, hi: int) -> pl.DataFrame:
        if not live_holds_more:
            return pl.DataFrame(schema=SCHEMA)
        return fresh.filter((pl.col("ts") >= lo) & (pl.col("ts") < hi))

    ledger = LedgerFile(tmp_path / "ledger.json")
    ledger.add(Span(day, day + 14 * M, frozenset([sensor]), 0, widened=True))
    catchup = CatchUp(jobs=jobs, ledger_file=ledger,
                      journal=lambda lo, hi: pl.DataFrame(schema=SCHEMA),
                      revise=lambda size, frame, ends: lambda _pause: publish(size, frame, ends),
                      watermark=lambda: day + 20 * M, clock=SystemClock(), windows_per_s=1e9,
                      recent=recent)  # fmt: skip
    catchup.step()
    assert ledger.spans() == []
    # the fresh readings' minutes use twice the stored ones' (0.2 a minute, not 0.1)
    late_minutes = [published.get(day + m * M) for m in range(10, 14)]
    if live_holds_more:
        assert all(v is not None and v > 0 for v in late_minutes), late_minutes
        assert published[day + 12 * M] == pytest.approx(2 * published[day + 5 * M])
    else:  # without the live path's readings the snapshot has nothing after 00:09
        assert all(not v for v in late_minutes), late_minutes


def test_a_piece_published_after_the_live_path_rewrote_a_window_sends_only_the_newest(
    park: Registry, store: Influx1Store
) -> None:
    """The catch-up numbers its updates under the tick lock and publishes them after it:
    a window the live path wrote and published anew in between keeps the live path's
    newer update as its last one (the older one is not sent, and counted)."""
    jobs = Jobs(registry=park, park_id="tianfu-np", config=CONFIG, coefficients=COEF,
                store=store, clock=SystemClock())  # fmt: skip
    sensor = jobs.park.meters.filter(pl.col("kind") == "electricity").sort("sensor")["sensor"][0]
    day = int(datetime(2026, 11, 4, tzinfo=CST).timestamp() * 1000)
    readings = pl.DataFrame([(sensor, day + m * M, 100.0 + 0.1 * m) for m in range(5)],
                            schema=SCHEMA, orient="row")  # fmt: skip
    frame, _points = jobs.windows("1m", readings, day, day + 4 * M, newest_ms=day + 5 * M)
    ends = {w: w + M for w in frame["window"].to_list()}
    sent: list[tuple[str, bytes]] = []
    stats = ProcessorStats()
    emitter = Emitter(store=store, publish=lambda topic, payload: sent.append((topic, payload)),
                      park_id="tianfu-np", topic_root="sp", coefficients=COEF, stats=stats,
                      clock=SystemClock())  # fmt: skip
    send = emitter.revise("1m", frame, ends)  # under the tick lock, after the piece's write
    rewritten = frame.filter(pl.col("window") == day + 2 * M)  # the live path, in between
    assert emitter.emit("1m", rewritten, None, {day + 2 * M: day + 3 * M})
    assert send(lambda _n: None) == frame.height - rewritten.height
    updates = [u for _t, p in sent if (u := decode_kpi_update(p)) is not None]
    assert len(updates) == frame.height
    last: dict[tuple[str, int], int] = {}
    for u in updates:  # in the order sent, each window's revisions only grow
        assert u.revision > last.get((u.scope, u.start_ms), -1), u
        last[(u.scope, u.start_ms)] = u.revision
    assert {k: r for k, r in last.items() if k[1] == day + 2 * M} == {
        (scope, day + 2 * M): 2 for scope in rewritten["scope"]
    }
    assert set(last.values()) == {1, 2}
    assert stats.superseded == rewritten.height


@pytest.mark.parametrize("live_writes_meanwhile", [True, False])
def test_a_piece_written_beside_the_live_path_is_written_again_after_a_live_write(
    park: Registry, store: Influx1Store, tmp_path: Path, live_writes_meanwhile: bool
) -> None:
    """Beside a quiet live path a piece is computed and written before the tick lock: a
    live write of one of its windows that lands meanwhile (here, a stale point of 00:03)
    may be newer in the store than the piece's own, so the piece is computed and
    written again while the tick waits. Without one, it is written once."""
    jobs = Jobs(registry=park, park_id="tianfu-np", config=CONFIG, coefficients=COEF,
                store=store, clock=SystemClock())  # fmt: skip
    meter = (
        jobs.park.meters.filter(pl.col("kind") == "electricity").sort("sensor").row(0, named=True)
    )
    sensor, enterprise = meter["sensor"], meter["enterprise"]
    ref = next(s.ref for s in park.sensors() if s.ref.sensor == sensor)
    day = int(datetime(2026, 11, 4, tzinfo=CST).timestamp() * 1000)
    rows = [(sensor, day + m * M, 100.0 + 0.1 * m) for m in range(10)]
    tags = {"park": ref.park, "enterprise": enterprise, "sensor": sensor}
    store.write("\n".join(encode_point(meter["kind"], tags, {meter["field"]: v}, ts)
                          for _, ts, v in rows).encode())  # fmt: skip
    emitter = Emitter(store=store, publish=lambda topic, payload: None, park_id="tianfu-np",
                      topic_root="sp", coefficients=COEF, stats=ProcessorStats(),
                      clock=SystemClock())  # fmt: skip
    # the stale point: 00:03 as if the meter had used ten times as much
    stale = pl.DataFrame([(sensor, day + m * M, 100.0 + (1.0 if m > 2 else 0.1) * m)
                          for m in range(5)], schema=SCHEMA, orient="row")  # fmt: skip
    stale_frame, _ = jobs.windows("1m", stale, day + 3 * M, day + 4 * M, newest_ms=day + 5 * M)
    writes: list[str] = []
    write_points = jobs.write_points

    def write_and_meanwhile(job: str, lines: list[str], **batches: Any) -> int:
        written = write_points(job, lines, **batches)
        minutes = [line for line in lines if line.startswith("kpi,") and ",window=1m " in line]
        if minutes:
            writes.append("1m")
            if live_writes_meanwhile and len(writes) == 1:  # the live path's, landing after
                assert emitter.emit("1m", stale_frame, None, {day + 3 * M: day + 4 * M})
        return written

    jobs.write_points = write_and_meanwhile  # type: ignore[method-assign]
    ledger = LedgerFile(tmp_path / "ledger.json")
    ledger.add(Span(day, day + 9 * M, frozenset([sensor]), 0, widened=True))
    catchup = CatchUp(jobs=jobs, ledger_file=ledger,
                      journal=lambda lo, hi: pl.DataFrame(schema=SCHEMA),
                      revise=emitter.revise, watermark=lambda: day + 20 * M,
                      clock=SystemClock(), windows_per_s=1e9, live_load=lambda: 0.0,
                      recent=lambda lo, hi: pl.DataFrame(schema=SCHEMA),
                      writes=emitter.writes)  # fmt: skip
    catchup.step()
    assert ledger.spans() == []
    assert writes == (["1m", "1m"] if live_writes_meanwhile else ["1m"])
    minutes = _stored(store, "1m").filter(pl.col("scope") == enterprise).sort("window")
    use = dict(zip(minutes["window"].to_list(), minutes["grid_kwh"].to_list(), strict=True))
    assert use[day + 3 * M] == pytest.approx(use[day + 2 * M]) and use[day + 2 * M] > 0


def test_a_pieces_updates_are_published_at_most_at_the_catchups_rate(
    park: Registry, store: Influx1Store, tmp_path: Path
) -> None:
    """A day recomputed publishes some 3,000 updates; at ``updates_per_s`` they go out a
    chunk at a time no faster than that, so a subscriber (which takes them in order) never
    has a burst of them ahead of a live update; the pauses count as rest."""
    jobs = Jobs(registry=park, park_id="tianfu-np", config=CONFIG, coefficients=COEF,
                store=store, clock=SystemClock())  # fmt: skip
    meter = (
        jobs.park.meters.filter(pl.col("kind") == "electricity").sort("sensor").row(0, named=True)
    )
    sensor, enterprise = meter["sensor"], meter["enterprise"]
    day = int(datetime(2026, 11, 4, tzinfo=CST).timestamp() * 1000)
    tags = {"park": "tianfu-np", "enterprise": enterprise, "sensor": sensor}
    store.write("\n".join(encode_point(meter["kind"], tags, {meter["field"]: 100.0 + 0.1 * m},
                                       day + m * M) for m in range(1441)).encode())  # fmt: skip
    sent: list[tuple[float, bytes]] = []
    clock = SystemClock()
    emitter = Emitter(store=store, publish=lambda _t, payload: sent.append((clock.monotonic(),
                      payload)), park_id="tianfu-np", topic_root="sp", coefficients=COEF,
                      stats=ProcessorStats(), clock=clock)  # fmt: skip
    ledger = LedgerFile(tmp_path / "ledger.json")
    ledger.add(Span(day, day + 1440 * M, frozenset([sensor]), 0, widened=True))
    rate = 4_000.0
    catchup = CatchUp(jobs=jobs, ledger_file=ledger,
                      journal=lambda lo, hi: pl.DataFrame(schema=SCHEMA),
                      revise=emitter.revise, watermark=lambda: day + 1441 * M,
                      clock=clock, windows_per_s=1e9, live_load=lambda: 0.0,
                      busy_share=1.0, updates_per_s=rate)  # fmt: skip
    catchup.step()
    assert ledger.spans() == []
    updates = [u for _t, p in sent if (u := decode_kpi_update(p)) is not None]
    assert len(updates) == len(sent) > 2_880  # the day's minutes of the enterprise and park
    assert {u.revision for u in updates} == {1}
    began = sent[0][0]
    for i, (at, _p) in enumerate(sent):  # the chunk of update i began (i - chunk) / rate in
        assert at - began >= (i - SEND_CHUNK) / rate - 1e-3, i
    assert catchup._rested >= (len(sent) - 2 * SEND_CHUNK) / rate
