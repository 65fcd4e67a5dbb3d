"""Real servers for the whole session, started from their binaries on free loopback ports.

Tests isolate by a unique topic root, share group, client id and database each, so
sessions left on the broker by one test never receive another test's messages.
"""

from __future__ import annotations

import itertools
import os
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from devstack.servers import InfluxDB, Mosquitto, VictoriaMetrics
from ingest.collector import Collector
from smartpark import registry as registry_mod
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import (
    AlertsSettings,
    GatewaySettings,
    InfluxSettings,
    IngestSettings,
    MqttSettings,
    ProcessingSettings,
    Settings,
)
from smartpark.store import open_store
from smartpark.store.influx1 import Influx1Store

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_PARK = ROOT / "examples" / "park.yaml"
_ids = itertools.count(1)


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mosquitto]:
    server = Mosquitto(tmp_path_factory.mktemp("mosquitto"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def influxdb(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxDB]:
    server = InfluxDB(tmp_path_factory.mktemp("influxdb"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def victoria(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VictoriaMetrics]:
    server = VictoriaMetrics(tmp_path_factory.mktemp("victoria"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def park() -> Registry:
    return registry_mod.load(EXAMPLE_PARK)


@pytest.fixture
def settings(mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path) -> Settings:
    """Settings unique to this test: topic root, client id, database, spool."""
    n = next(_ids)
    return Settings(
        mqtt=MqttSettings(
            port=mosquitto.port,
            topic_root=f"t{n}-smartpark",
            client_id=f"collector-{n}-a",
            keepalive_s=5,
        ),
        influx=InfluxSettings(url=influxdb.url, database=f"test_{n}"),
        ingest=IngestSettings(
            registry=EXAMPLE_PARK, spool_dir=tmp_path / "spool", http_port=0, batch_max_age_ms=20
        ),
        processing=ProcessingSettings(state_dir=tmp_path / "processing", http_port=0),
        alerts=AlertsSettings(db=tmp_path / "alerts.db", http_port=0),
        gateway=GatewaySettings(buffer_dir=tmp_path / "gateway-buffer", http_port=0),
    )


@pytest.fixture
def store(settings: Settings) -> Iterator[Influx1Store]:
    """A store handle on this test's database, for checking what landed."""
    st = open_store(settings.influx)
    assert isinstance(st, Influx1Store)
    st.ensure_database()
    yield st
    st.close()


CollectorFactory = Callable[..., Collector]


@pytest.fixture
def make_collector(park: Registry) -> Iterator[CollectorFactory]:
    """Start in-process collectors; each is stopped at teardown."""
    started: list[Collector] = []

    def factory(settings: Settings, *, client_id: str | None = None) -> Collector:
        if client_id is not None:
            settings = settings.model_copy(
                update={"mqtt": settings.mqtt.model_copy(update={"client_id": client_id})}
            )
        collector = Collector(settings=settings, registry=park, store=open_store(settings.influx))
        collector.start()
        assert collector.connected.wait(10), "collector did not connect and subscribe"
        started.append(collector)
        return collector

    yield factory
    for collector in started:
        collector.stop()


@pytest.fixture
def publisher(settings: Settings) -> Iterator[BoundedPublisher]:
    pub = BoundedPublisher(
        settings.mqtt, client_id=f"{settings.mqtt.client_id}-pub", persistent=True
    )
    assert pub.wait_connected(10)
    yield pub
    pub.close()


# A wait's timeout only catches a hang: it costs nothing when the predicate comes true,
# so every timeout is stretched by this factor to ride out a loaded CI host (the suite's
# two workers and their servers share two cores). ``SMARTPARK_TEST_PATIENCE=1`` gives
# the timeouts as written.
PATIENCE = float(os.environ.get("SMARTPARK_TEST_PATIENCE", "3"))


def wait_until(predicate: Callable[[], bool], timeout_s: float = 30.0, what: str = "") -> None:
    timeout_s *= PATIENCE
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout_s}s waiting for {what or predicate}")


def clear_of_midnight(zone: str, *, before_s: float, after_s: float) -> None:
    """Wait, if need be, until the park's local day has run ``after_s`` and has at least
    ``before_s`` left: for a test on the wall clock whose figures of "today" must stay in
    one local day (its feed reaches back into the day, its checks run on into it).
    Waits at most ``before_s + after_s``."""
    now = datetime.now(ZoneInfo(zone))
    since = now - now.replace(hour=0, minute=0, second=0, microsecond=0)
    into = since.total_seconds()
    if into < after_s:
        time.sleep(after_s - into)
    elif into > 86_400 - before_s:
        time.sleep(86_400 - into + after_s)


def count_points(store: Influx1Store, measurement: str, field: str) -> int:
    from smartpark.schema import ROLLUPS
    from smartpark.store.influxql import Select

    raw = None if measurement in ROLLUPS else store.raw_policy  # readings: their own policy
    query = Select(measurement, [field], aggregate="count", retention_policy=raw)
    series = store.query(query.to_influxql())
    return int(series[0].values[0][1]) if series else 0


def stored_points(store: Influx1Store, measurement: str, sensor: str) -> list[dict[str, Any]]:
    """Every stored point of one sensor (or roll-up series) as {column: value}, read from
    the retention policy the measurement lives in."""
    from smartpark.store import policy_for
    from smartpark.store.influxql import Select

    query = Select(measurement, ["*"], tags={"sensor": sensor},
                   retention_policy=policy_for(store, measurement))  # fmt: skip
    series = store.query(query.to_influxql())
    if not series:
        return []
    return [dict(zip(series[0].columns, row, strict=True)) for row in series[0].values]
