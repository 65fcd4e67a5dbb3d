"""End to end: readings published on a real Mosquitto land exactly in a real InfluxDB."""

from __future__ import annotations

import random
import time

import httpx
import orjson

from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.store.influxql import Select
from smartpark.wire import topic_for
from tests.conftest import CollectorFactory, wait_until

Expected = dict[tuple[str, str, int], dict[str, float]]  # (measurement, sensor, ts) -> fields


def _feed(park: Registry, root: str, *, per_sensor: int, batch: int, seed: int):
    """Messages with random values for every sensor; returns (messages, expected points)."""
    rng = random.Random(seed)
    base = int(time.time() * 1000) - 3_600_000 + seed * 600_000  # feeds never collide
    messages: list[tuple[str, bytes]] = []
    expected: Expected = {}
    for sensor in park.sensors():
        topic = topic_for(root, sensor.ref)
        readings = []
        for i in range(per_sensor):
            ts = base + i * 1000 + rng.randint(0, 999)
            values = {
                name: round(rng.uniform(-1e6, 1e6), rng.randint(0, 6)) for name in sensor.fields
            }
            if i % 3 == 0:  # integers in JSON are stored as the same (float) field
                values = {k: int(v) for k, v in values.items()}
            expected[(sensor.ref.kind, sensor.ref.sensor, ts)] = {
                k: float(v) for k, v in values.items()
            }
            readings.append({"ts": ts, "values": values, "seq": i})
        for start in range(0, per_sensor, batch):
            chunk = readings[start : start + batch]
            body = chunk[0] if batch == 1 else chunk
            messages.append((topic, orjson.dumps(body)))
    rng.shuffle(messages)
    return messages, expected


def _stored(store: Influx1Store, park: Registry) -> Expected:
    out: Expected = {}
    for kind in {s.ref.kind for s in park.sensors()}:
        fields = sorted({f for s in park.sensors() if s.ref.kind == kind for f in s.fields})
        for series in store.query(
            Select(kind, ["sensor", *fields], retention_policy=store.raw_policy).to_influxql()
        ):
            cols = series.columns
            for row in series.values:
                rec = dict(zip(cols, row, strict=True))
                key = (kind, rec.pop("sensor"), rec.pop("time"))
                assert key not in out
                out[key] = {k: v for k, v in rec.items() if v is not None}
    return out


def test_every_published_reading_is_stored_exactly(
    settings: Settings,
    park: Registry,
    make_collector: CollectorFactory,
    publisher: BoundedPublisher,
    store: Influx1Store,
) -> None:
    collector = make_collector(settings)
    single, expected_single = _feed(park, settings.mqtt.topic_root, per_sensor=20, batch=1, seed=1)
    arrays, expected_arrays = _feed(park, settings.mqtt.topic_root, per_sensor=60, batch=30, seed=2)
    expected = expected_single | expected_arrays
    assert len(expected) == len(park) * 80  # distinct timestamps per sensor
    for topic, payload in single + arrays:
        publisher.publish(topic, payload)
    assert publisher.wait_all(30)
    wait_until(lambda: collector.stats.stored_readings >= len(expected), what="all readings stored")
    assert _stored(store, park) == expected
    assert collector.stats.deadlettered == {}
    assert collector.stats.stored_readings == len(expected)


def test_redelivered_reading_is_stored_once(
    settings: Settings,
    park: Registry,
    make_collector: CollectorFactory,
    publisher: BoundedPublisher,
    store: Influx1Store,
) -> None:
    collector = make_collector(settings)
    sensor = next(s for s in park.sensors() if s.ref.kind == "gas")
    topic = topic_for(settings.mqtt.topic_root, sensor.ref)
    reading = {"ts": int(time.time() * 1000), "values": {"volume_m3": 1234.5, "flow_m3h": 12.0}}
    for _ in range(3):  # what a broker redelivery or a retrying gateway produces
        publisher.publish(topic, orjson.dumps(reading))
    assert publisher.wait_all(10)
    wait_until(lambda: collector.stats.stored_readings == 3, what="three writes")
    assert _stored(store, park) == {("gas", sensor.ref.sensor, reading["ts"]): reading["values"]}


def test_status_endpoint_serves_metrics_and_health(
    settings: Settings,
    park: Registry,
    make_collector: CollectorFactory,
    publisher: BoundedPublisher,
) -> None:
    collector = make_collector(settings)
    assert collector.http is not None
    base = f"http://127.0.0.1:{collector.http.port}"
    sensor = next(iter(park.sensors()))
    publisher.publish(topic_for(settings.mqtt.topic_root, sensor.ref), b"not json")
    ok = {"ts": int(time.time() * 1000), "values": {next(iter(sensor.fields)): 1.0}}
    publisher.publish(topic_for(settings.mqtt.topic_root, sensor.ref), orjson.dumps(ok))
    # The third message is the collector's own dead letter coming back: acknowledged, ignored.
    wait_until(lambda: collector.stats.received == 3, what="three messages")
    wait_until(lambda: collector.stats.stored_readings == 1, what="stored")
    # each counter moves a few lines after the one waited on (a message is counted
    # received before it is known to be ignored; a batch stored before its lag is noted)
    wanted = [
        "smartpark_ingest_messages_received_total 3.0",
        "smartpark_ingest_messages_ignored_total 1.0",
        'smartpark_ingest_deadlettered_total{reason="bad_json"} 1.0',
        "smartpark_ingest_readings_stored_total 1.0",
        "smartpark_ingest_reading_lag_seconds_count 1.0",
    ]
    wait_until(
        lambda: all(line in httpx.get(f"{base}/metrics").text for line in wanted),
        10,
        f"the metrics {wanted}",
    )
    health = httpx.get(f"{base}/healthz")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"


def test_connected_but_silent_collector_reports_unhealthy(
    settings: Settings, make_collector: CollectorFactory
) -> None:
    settings.ingest = settings.ingest.model_copy(update={"silence_unhealthy_s": 0.3})
    collector = make_collector(settings)
    assert collector.http is not None
    time.sleep(0.5)
    health = httpx.get(f"http://127.0.0.1:{collector.http.port}/healthz")
    assert health.status_code == 503
    assert health.json()["connected"] is True
    assert any("silent" in p for p in health.json()["problems"])
