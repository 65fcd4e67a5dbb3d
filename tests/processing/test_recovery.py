"""The processor killed at the worst moments: KPI points are at-least-once like readings.

A past evening (21:00-03:00 local, so a day closes) is replayed through the collector
and ``smartpark process`` (its own process, through the CLI); InfluxDB is stopped for a
while; the processor is SIGKILLed during the outage, just after it (writes still
pending) or with nothing pending, and restarted later with readings queued for it on
the broker. Afterwards every 1-minute, 15-minute, hourly and daily KPI point of the park
and of each enterprise equals the roll-up of the stored readings, and the hours of the
closed day add up to the day.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import polars as pl
import pytest

from devstack.servers import InfluxDB, Mosquitto, free_port
from processing import config as config_mod
from processing.engine import Park, kpis
from processing.reads import StoreReads
from simulators.player import play
from simulators.recording import Message
from smartpark.clock import SystemClock
from smartpark.model import PARK_SCOPE
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import Settings, to_env
from smartpark.store import open_store
from smartpark.store.influx1 import Influx1Store
from tests.conftest import EXAMPLE_PARK, CollectorFactory, wait_until
from tests.processing.test_stream import CST, _messages, _stored

CONFIG_PATH = EXAMPLE_PARK.parent / "processing.yaml"
START = datetime(2026, 11, 2, 21, tzinfo=CST)
HOUR_MS = 3_600_000
pytestmark = pytest.mark.slow


@pytest.fixture
def servers(tmp_path: Path, settings: Settings) -> Iterator[InfluxDB]:
    """A broker and an InfluxDB of this test's own (InfluxDB is stopped on purpose)."""
    broker, influx = Mosquitto(tmp_path / "mosquitto"), InfluxDB(tmp_path / "influx")
    broker.start()
    influx.start()
    settings.mqtt = settings.mqtt.model_copy(update={"port": broker.port})
    settings.influx = settings.influx.model_copy(update={"url": influx.url})
    settings.processing = settings.processing.model_copy(
        update={"config": CONFIG_PATH, "http_port": free_port()}
    )
    yield influx
    influx.stop()
    broker.stop()


class Processor:
    """``smartpark process`` as its own process, watched through its /healthz."""

    def __init__(self, settings: Settings, log: Path) -> None:
        self.url = f"http://127.0.0.1:{settings.processing.http_port}/healthz"
        env = os.environ | to_env(settings)
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "smartpark", "process", "--log-level", "INFO"],
                env=env,
                stdout=out,
                stderr=out,
            )
        try:
            wait_until(lambda: self.health().get("connected") is True, 60, "processor subscribed")
        except BaseException:  # never leave a processor running behind a failed start
            self.kill()
            raise

    def health(self) -> dict[str, object]:
        try:
            return dict(httpx.get(self.url, timeout=1).json())
        except httpx.HTTPError:
            assert self.proc.poll() is None, "the processor died"
            return {}

    def caught_up(self, ts_ms: int) -> bool:
        facts = self.health()
        watermark = facts.get("watermark_ms")
        return isinstance(watermark, int) and watermark >= ts_ms

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(30)


def _readings(message: Message) -> list[dict[str, Any]]:
    """The readings of one recorded message (a gateway array or a single object)."""
    body = orjson.loads(message.payload)
    return body if isinstance(body, list) else [body]


def _publish(settings: Settings, messages: list[Message]) -> None:
    publisher = BoundedPublisher(settings.mqtt, client_id=f"replay-{time.monotonic_ns()}")
    assert publisher.wait_connected()
    play(iter(messages), publisher.publish, clock=SystemClock(), speed=None)
    assert publisher.wait_all(60)
    publisher.close()


def _model(park: Registry) -> Park:
    return Park.from_registry(park, "tianfu-np", config_mod.load(CONFIG_PATH))


def _counter_readings(park: Registry, messages: list[Message]) -> int:
    meters = set(_model(park).meters["sensor"].to_list())
    return sum(len(_readings(m)) for m in messages if m.topic.rsplit("/", 1)[1] in meters)


def _stored_counter_readings(store: Influx1Store, park: Registry) -> int:
    return StoreReads(store, _model(park)).counter_readings(0).height


def _expected(store: Influx1Store, park: Registry, window: str) -> pl.DataFrame:
    config = config_mod.load(CONFIG_PATH)
    coef = config_mod.coefficients(config, config_mod.load_factor_set(config.factors))
    model = Park.from_registry(park, "tianfu-np", config)
    readings = StoreReads(store, model).counter_readings(0)
    return kpis(readings, model, config, coef, window=window)


def _mismatches(
    store: Influx1Store, park: Registry, until_ms: int, since_ms: int | None = None
) -> list[str]:
    """Closed windows whose stored point differs from the roll-up of the stored readings
    (``since_ms``: the stored points are read from then on, a month at a time)."""
    out = []
    ends = {"1m": 60_000, "15m": 900_000, "1h": HOUR_MS, "1d": 24 * HOUR_MS}
    for window, length in ends.items():
        expected = _expected(store, park, window).filter(pl.col("window") + length <= until_ms)
        stored = _stored(store, window, since_ms)
        joined = expected.select("scope", "window", "energy_tce", "readings").join(
            stored, on=["scope", "window"], how="left", suffix="_stored"
        )
        for row in joined.iter_rows(named=True):
            got = row["energy_tce_stored"]
            if got is None or abs(got - row["energy_tce"]) > 1e-9 * max(1.0, row["energy_tce"]):
                out.append(f"{window} {row['scope']} {row['window']}: {got} != {row['energy_tce']}")
    return out


@pytest.mark.parametrize("kill", ["during_outage", "after_outage", "nothing_pending"])
def test_a_killed_processor_recomputes_what_it_never_wrote(
    kill: str,
    settings: Settings,
    park: Registry,
    make_collector: CollectorFactory,
    servers: InfluxDB,
    tmp_path: Path,
) -> None:
    messages = _messages(park, settings.mqtt.topic_root, 6, start=START)
    t0 = int(START.timestamp() * 1000)

    def hours(lo: int, hi: int) -> list[Message]:
        return [m for m in messages if t0 + lo * HOUR_MS <= m.t_ms < t0 + hi * HOUR_MS]

    collector = make_collector(settings)
    store = open_store(settings.influx)
    assert isinstance(store, Influx1Store)
    first = Processor(settings, tmp_path / "processor-1.log")
    try:
        _publish(settings, hours(0, 2))
        wait_until(lambda: first.caught_up(t0 + 2 * HOUR_MS - 60_000), 60, "first two hours")
        if kill == "nothing_pending":
            _publish(settings, hours(2, 3))
            wait_until(
                lambda: (
                    first.caught_up(t0 + 3 * HOUR_MS - 60_000)
                    and first.health().get("unwritten_windows") == 0
                ),
                60,
                "hour three written",
            )
            first.kill()
        else:
            # The collector goes down with the store, as in a site power cut: what the
            # first processor took and acknowledged is then nowhere but in its journal.
            servers.stop()
            collector.stop()
            _publish(settings, hours(2, 3))  # windows close while their writes fail
            wait_until(lambda: first.caught_up(t0 + 3 * HOUR_MS - 60_000), 60, "hour three")
            time.sleep(2)
            if kill == "during_outage":
                first.kill()
                servers.start()
            else:
                servers.start()
                time.sleep(0.05)  # its retries may still be under way
                first.kill()
        _publish(settings, hours(3, 5))  # queued on the broker for the dead processor
        second = Processor(settings, tmp_path / "processor-2.log")
        try:
            wait_until(lambda: second.caught_up(t0 + 5 * HOUR_MS - 60_000), 60, "hour five")
            if kill != "nothing_pending":
                make_collector(settings)  # back: it drains what the broker kept for it
            _publish(settings, hours(5, 6))
            total = _counter_readings(park, messages)
            wait_until(
                lambda: _stored_counter_readings(store, park) >= total, 120, "every reading stored"
            )
            last = max(r["ts"] for m in messages for r in _readings(m))
            wait_until(lambda: second.caught_up(last), 60, "the second processor caught up")
            wait_until(lambda: not _mismatches(store, park, last), 90, "every closed window equal")
            facts = second.health()
            assert facts["unwritten_windows"] == 0
            stats = facts["stats"]
            assert isinstance(stats, dict)
            if kill == "during_outage":  # its failed windows: recomputed, written, published
                assert stats["windows_recovered"] > 0
            # The closed day: its hours add up to it, for the park and each enterprise.
            day = int(datetime(2026, 11, 2, tzinfo=CST).timestamp() * 1000)
            hourly = _stored(store, "1h").filter(
                (pl.col("window") >= day) & (pl.col("window") < day + 24 * HOUR_MS)
            )
            daily = _stored(store, "1d").filter(pl.col("window") == day)
            sums = hourly.group_by("scope").agg(pl.col("energy_tce").sum())
            both = daily.join(sums, on="scope", suffix="_hours")
            assert both.height == daily.height and PARK_SCOPE in both["scope"].to_list()
            for row in both.iter_rows(named=True):
                assert row["energy_tce_hours"] == pytest.approx(row["energy_tce"], rel=1e-9)
        finally:
            second.stop()
    finally:
        first.stop()
        store.close()
