"""The InfluxDB 2/3 write path (/api/v2/write through influxdb-client) against a real server.

VictoriaMetrics from Debian speaks /api/v2/write; it stores ``measurement_field``
series with the tags as labels, which is how the test reads them back.
"""

from __future__ import annotations

import time

import httpx
import orjson
import pytest

from devstack.servers import VictoriaMetrics, free_port
from smartpark.errors import StoreUnavailable
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import InfluxSettings, Settings
from smartpark.store.influx2 import Influx2Store
from smartpark.wire import topic_for
from tests.conftest import CollectorFactory, wait_until


def _export(vm: VictoriaMetrics, metric: str, sensor: str) -> list[tuple[int, float]]:
    httpx.get(f"{vm.url}/internal/force_flush")
    response = httpx.get(
        f"{vm.url}/api/v1/export", params={"match[]": f'{metric}{{sensor="{sensor}"}}'}
    )
    points: list[tuple[int, float]] = []
    for line in response.text.splitlines():
        row = orjson.loads(line)
        points += zip(row["timestamps"], row["values"], strict=True)
    return sorted(points)


def test_collector_writes_through_the_v2_api(
    settings: Settings,
    park: Registry,
    make_collector: CollectorFactory,
    publisher: BoundedPublisher,
    victoria: VictoriaMetrics,
) -> None:
    settings.influx = InfluxSettings(
        url=victoria.url, api="v2", token="test-token-1", org="park-org", bucket="readings"
    )
    collector = make_collector(settings)
    sensor = next(s for s in park.sensors() if s.ref.sensor == "e05-gas-1")
    now = int(time.time() * 1000)
    expected = [(now - 5_000 + i * 1000, 100.0 + i) for i in range(5)]
    body = [{"ts": ts, "values": {"volume_m3": v, "flow_m3h": 2.0}} for ts, v in expected]
    publisher.publish(topic_for(settings.mqtt.topic_root, sensor.ref), orjson.dumps(body))
    wait_until(lambda: collector.stats.stored_readings == 5, what="stored via v2")
    wait_until(
        lambda: _export(victoria, "gas_volume_m3", "e05-gas-1") == expected,
        what="points in VictoriaMetrics",
    )


def test_v2_store_translates_outages() -> None:
    down = Influx2Store(
        url=f"http://127.0.0.1:{free_port()}", token="t0ken-x", org="o", bucket="b", timeout_s=1
    )
    with pytest.raises(StoreUnavailable):
        down.write(b"m f=1.0 1")
    assert down.ping() is False
    down.close()
