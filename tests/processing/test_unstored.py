"""A late reading the collector has not stored yet (spooled through an outage, or far
behind a backfill) still reaches every window it belongs to: the catch-up recomputes
from the store joined with the processor's journal, and the journal keeps what the
ledger's spans need until they are recomputed (``processing.stream``'s pruning). Before
that, the journal dropped a reading beyond the lateness horizon at the next tick, and a
catch-up that ran before the collector stored it wrote its windows without it, for good.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from devstack.servers import free_port
from processing import config as config_mod
from processing.engine import kpis
from processing.reads import StoreReads
from simulators.recording import Message
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from tests.conftest import CollectorFactory, wait_until
from tests.processing.test_recovery import (
    CONFIG_PATH,
    HOUR_MS,
    Processor,
    _counter_readings,
    _model,
    _publish,
    _readings,
    _stored_counter_readings,
)
from tests.processing.test_stream import CST, _messages, _stored

START = datetime(2026, 11, 2, 22, tzinfo=CST)  # the late hour is yesterday's at the end
LENGTHS = {"1m": 60_000, "15m": 900_000, "1h": HOUR_MS, "1d": 24 * HOUR_MS}
pytestmark = pytest.mark.slow


def test_a_late_reading_not_yet_stored_still_reaches_its_windows(
    settings: Settings,
    park: Registry,
    make_collector: CollectorFactory,
    store: Influx1Store,
    tmp_path: Path,
) -> None:
    config = tmp_path / "processing.yaml"
    config.write_text(CONFIG_PATH.read_text() + "\nlateness_s: 300\ncatchup_delay_s: 1\n")
    settings.processing = settings.processing.model_copy(
        update={"config": config, "http_port": free_port()}
    )
    messages = _messages(park, settings.mqtt.topic_root, 3, start=START)
    t0 = int(START.timestamp() * 1000)
    meters = _model(park).meters
    row = meters.filter(pl.col("kind") == "electricity").sort("sensor").row(0, named=True)
    held, field = row["sensor"], row["field"]

    def late(m: Message) -> bool:  # a gateway held this meter's first hour back
        return m.topic.endswith("/" + held) and m.t_ms < t0 + HOUR_MS

    in_order = [m for m in messages if not late(m)]
    held_back = [m for m in messages if late(m)]
    collector = make_collector(settings)
    processor = Processor(settings, tmp_path / "processor.log")
    try:
        _publish(settings, in_order)
        last = max(r["ts"] for m in in_order for r in _readings(m))
        wait_until(lambda: processor.caught_up(last), 120, "the in-order readings")
        total = _counter_readings(park, in_order)
        wait_until(lambda: _stored_counter_readings(store, park) >= total, 120, "stored")
        collector.stop()  # from here on nothing reaches the store: a collector far behind
        _publish(settings, held_back)  # about two hours late, a day closed meanwhile

        def caught_up() -> bool:
            facts = processor.health()
            stats, ledger = facts.get("stats"), facts.get("ledger")
            if not (isinstance(stats, dict) and isinstance(ledger, dict)):
                return False
            return stats["readings_too_late"] >= len(held_back) and ledger["spans"] == 0

        wait_until(caught_up, 120, "the catch-up of the held-back hour")
        assert _stored_counter_readings(store, park) == total  # never stored
        extra = pl.DataFrame(
            [(held, r["ts"], float(r["values"][field])) for m in held_back for r in _readings(m)],
            schema={"sensor": pl.Utf8, "ts": pl.Int64, "value": pl.Float64}, orient="row",
        )  # fmt: skip
        truth = pl.concat([StoreReads(store, _model(park)).counter_readings(0), extra])
        wait_until(lambda: not _mismatches(store, park, truth, last), 60, "every window equal")
    finally:
        processor.stop()


def _mismatches(store: Influx1Store, park: Registry, truth: pl.DataFrame, until: int) -> list[str]:
    """The closed windows of the held-back hour's day and the next whose stored point
    differs from the roll-up of ``truth``."""
    cfg = config_mod.load(CONFIG_PATH)
    coef = config_mod.coefficients(cfg, config_mod.load_factor_set(cfg.factors))
    out = []
    for window, length in LENGTHS.items():
        want = kpis(truth, _model(park), cfg, coef, window=window).filter(
            pl.col("window") + length <= until
        )
        got = want.select("scope", "window", "energy_tce").join(
            _stored(store, window), on=["scope", "window"], how="left", suffix="_stored"
        )
        for row in got.iter_rows(named=True):
            value = row["energy_tce_stored"]
            if value is None or abs(value - row["energy_tce"]) > 1e-9 * max(1.0, row["energy_tce"]):
                out.append(
                    f"{window} {row['scope']} {row['window']}: {value} != {row['energy_tce']}"
                )
    return out
