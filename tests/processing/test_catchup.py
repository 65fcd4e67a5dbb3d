"""Readings older than the lateness horizon reach every window they belong to: the
processor (``smartpark process``, its own process, through the CLI) records the windows
they dirty in its ledger and its catch-up job recomputes them from the store, without
any manual command."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import polars as pl
import pytest

from devstack.servers import free_port
from processing import config as config_mod
from processing.engine import Park, kpis
from processing.reads import StoreReads
from simulators.recording import Message
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.store.influxql import Select
from tests.conftest import CollectorFactory, wait_until
from tests.processing.test_recovery import (
    CONFIG_PATH,
    HOUR_MS,
    Processor,
    _counter_readings,
    _mismatches,
    _model,
    _publish,
    _readings,
    _stored_counter_readings,
)
from tests.processing.test_stream import CST, _messages

START = datetime(2026, 11, 2, 0, tzinfo=CST)


def _month_mismatches(store: Influx1Store, park: Registry) -> list[str]:
    """Month points (to date) that differ from the roll-up of the stored readings before
    the point's ``complete_to_ms`` (complete minutes, as the live path and the jobs)."""
    query = Select("kpi", ["energy_tce", "complete_to_ms"], tags={"window": "1mo"},
                   group_by_tags=["scope"])  # fmt: skip
    points = [(s.tags["scope"], int(v[0]), v[1], v[2])
              for s in store.query(query.to_influxql()) for v in s.values]  # fmt: skip
    if not points:
        return ["no month point"]
    config = config_mod.load(CONFIG_PATH)
    coef = config_mod.coefficients(config, config_mod.load_factor_set(config.factors))
    model = Park.from_registry(park, "tianfu-np", config)
    readings = StoreReads(store, model).counter_readings(0)
    out = []
    for scope, start, energy_tce, complete_to in points:
        upto = readings.filter(pl.col("ts") < int(complete_to))
        want = kpis(upto, model, config, coef, window="1mo").filter(
            (pl.col("scope") == scope) & (pl.col("window") == start)
        )["energy_tce"]
        if want.len() != 1 or abs(want[0] - energy_tce) > 1e-9 * max(1.0, want[0]):
            out.append(f"1mo {scope} {start}: {energy_tce} != {want.to_list()}")
    return out


pytestmark = pytest.mark.slow


def test_hours_forwarded_a_day_late_reach_every_window(
    settings: Settings,
    park: Registry,
    make_collector: CollectorFactory,
    store: Influx1Store,
    tmp_path: Path,
) -> None:
    config = tmp_path / "processing.yaml"
    config.write_text(CONFIG_PATH.read_text() + "\ncatchup_delay_s: 2\n")
    settings.processing = settings.processing.model_copy(
        update={"config": config, "http_port": free_port()}
    )
    # each sensor's readings ten minutes a message (a gateway's arrays, sent when the
    # last is taken): the held hours are whole messages
    messages = _messages(park, settings.mqtt.topic_root, 26, start=START, batch=10)
    t0 = int(START.timestamp() * 1000)
    meters = _model(park).meters
    # two meters of two enterprises: a gateway that held their hours 3-5 back
    held = set(meters.unique("enterprise", keep="first").sort("enterprise")["sensor"][:2])

    def late(m: Message) -> bool:
        first = _readings(m)[0]["ts"]
        return m.topic.rsplit("/", 1)[1] in held and t0 + 3 * HOUR_MS <= first < t0 + 6 * HOUR_MS

    make_collector(settings)
    processor = Processor(settings, tmp_path / "processor.log")
    try:
        _publish(settings, [m for m in messages if not late(m)])
        first_last = max(r["ts"] for m in messages if not late(m) for r in _readings(m))
        wait_until(lambda: processor.caught_up(first_last), 120, "the in-order readings")
        _publish(settings, [m for m in messages if late(m)])  # about 20 hours late
        total = _counter_readings(park, messages)
        wait_until(lambda: _stored_counter_readings(store, park) >= total, 120, "stored")

        def taken_as_late() -> bool:
            stats = processor.health().get("stats")
            return isinstance(stats, dict) and stats["readings_too_late"] > 0

        wait_until(taken_as_late, 30, "the held hours taken as late")
        wait_until(lambda: not _mismatches(store, park, first_last), 240, "every window equal")
        wait_until(lambda: not _month_mismatches(store, park), 60, "the month equal")
        wait_until(lambda: processor.health()["ledger"]["spans"] == 0, 60, "ledger empty")
    finally:
        processor.stop()
