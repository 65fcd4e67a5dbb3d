"""Processor state belongs to its store: another store's state is refused with one line,
and an empty state directory recovers from a filled store alone (``smartpark process``
as its own process, through the CLI)."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest

from devstack.servers import free_port
from processing.statebind import identity
from simulators.recording import Message
from smartpark.registry import Registry
from smartpark.settings import Settings, to_env
from smartpark.store.influx1 import Influx1Store
from tests.conftest import CollectorFactory, wait_until
from tests.processing.test_recovery import (
    CONFIG_PATH,
    HOUR_MS,
    Processor,
    _counter_readings,
    _mismatches,
    _publish,
    _readings,
    _stored_counter_readings,
)
from tests.processing.test_stream import CST, _messages

START = datetime(2026, 11, 2, 21, tzinfo=CST)
pytestmark = pytest.mark.slow


def test_identity_names_store_database_rp_and_park(settings: Settings) -> None:
    ident = identity(settings.influx, "tianfu-np")
    assert ident["database"] == settings.influx.database and ident["park"] == "tianfu-np"
    assert "password" not in ident and "token" not in ident
    other = identity(settings.influx.model_copy(update={"retention_policy": "short"}), "tianfu-np")
    assert other != ident


def test_another_stores_state_is_refused_and_an_empty_state_recovers_from_the_store(
    settings: Settings,
    park: Registry,
    make_collector: CollectorFactory,
    store: Influx1Store,
    tmp_path: Path,
) -> None:
    settings.processing = settings.processing.model_copy(
        update={"config": CONFIG_PATH, "http_port": free_port()}
    )
    messages = _messages(park, settings.mqtt.topic_root, 5, start=START)
    t0 = int(START.timestamp() * 1000)

    def hours(lo: int, hi: int) -> list[Message]:
        return [m for m in messages if t0 + lo * HOUR_MS <= m.t_ms < t0 + hi * HOUR_MS]

    make_collector(settings)
    first = Processor(settings, tmp_path / "processor-1.log")
    try:
        _publish(settings, hours(0, 3))
        wait_until(lambda: first.caught_up(t0 + 3 * HOUR_MS - 60_000), 60, "three hours")
    finally:
        first.stop()

    # The same state directory against a second database: refused, one line.
    other = settings.model_copy(deep=True)
    other.influx = other.influx.model_copy(update={"database": f"{settings.influx.database}_b"})
    refused = subprocess.run(
        [sys.executable, "-m", "smartpark", "process"],
        env=os.environ | to_env(other),
        capture_output=True,
        timeout=60,
        text=True,
    )
    assert refused.returncode == 1
    said = [line for line in (refused.stdout + refused.stderr).splitlines() if line.strip()]
    assert len(said) == 1, said
    assert "belongs to" in said[0] and "SMARTPARK_PROCESSING__STATE_DIR" in said[0]
    assert f"{settings.influx.database}_b" in said[0]

    # An empty state directory on the filled store: the processor recovers from the
    # store alone. Its KPI points are dropped first, so only a recovery brings them back.
    store.query("DROP MEASUREMENT kpi")
    fresh = settings.model_copy(deep=True)
    fresh.processing = fresh.processing.model_copy(update={"state_dir": tmp_path / "fresh"})
    second = Processor(fresh, tmp_path / "processor-2.log")
    try:
        _publish(fresh, hours(3, 5))
        total = _counter_readings(park, messages)
        wait_until(lambda: _stored_counter_readings(store, park) >= total, 60, "stored")
        last = max(r["ts"] for m in messages for r in _readings(m))
        wait_until(lambda: second.caught_up(last), 60, "caught up")
        wait_until(lambda: not _mismatches(store, park, last), 90, "every closed window equal")
        stats = second.health()["stats"]
        assert isinstance(stats, dict) and stats["windows_recovered"] > 0
    finally:
        second.stop()
    assert (tmp_path / "fresh" / "tianfu-np" / "store.json").exists()
