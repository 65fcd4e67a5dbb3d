"""Bad input: every bad message is dead-lettered with its reason; good traffic is stored whole."""

from __future__ import annotations

import base64
import threading
import time
from typing import Any

import orjson
import paho.mqtt.client as paho
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.wire import topic_for
from tests.conftest import CollectorFactory, count_points, wait_until


def _bad_cases(root: str, now: int) -> list[tuple[str, str, bytes, str]]:
    """(name, topic, payload, expected reason); every (topic, payload) pair is unique."""
    t = f"{root}/tianfu-np/e01-baijiu/electricity/e01-grid-1"

    def one(values: Any = None, **extra: Any) -> bytes:
        body = {"ts": now, "values": values if values is not None else {"energy_kwh": 1.0}}
        body.update(extra)
        return orjson.dumps(body)

    return [
        ("not json", t, b"not json", "bad_json"),
        ("empty payload", t, b"", "bad_json"),
        ("truncated json", t, b'{"ts": 1', "bad_json"),
        ("NaN literal", t, b'{"ts": %d, "values": {"energy_kwh": NaN}}' % now, "bad_json"),
        (
            "Infinity literal",
            t,
            b'{"ts": %d, "values": {"energy_kwh": Infinity}}' % now,
            "bad_json",
        ),
        (
            "-Infinity literal",
            t,
            b'{"ts": %d, "values": {"power_kw": -Infinity}}' % now,
            "bad_json",
        ),
        ("overflowing number", t, b'{"ts": %d, "values": {"energy_kwh": 1e999}}' % now, "bad_json"),
        ("deep nesting", t, b"[" * 5000 + b"]" * 5000, "bad_json"),
        ("trailing garbage", t, one() + b" x", "bad_json"),
        ("invalid utf-8", t, b"\xff\xfe\x00garbage", "bad_encoding"),
        ("invalid utf-8 in a string", t, b'{"ts": "\xc3\x28", "values": {}}', "bad_encoding"),
        (
            "oversized payload",
            t,
            b'{"ts": %d, "values": {"energy_kwh": 1.0}, "pad": "%s"}' % (now, b"x" * 300_000),
            "payload_too_large",
        ),
        ("json string", t, b'"hello"', "bad_shape"),
        ("json number", t, b"42", "bad_shape"),
        ("json null", t, b"null", "bad_shape"),
        ("empty array", t, b"[]", "bad_shape"),
        ("array of numbers", t, b"[1, 2]", "bad_shape"),
        ("values missing", t, orjson.dumps({"ts": now}), "bad_shape"),
        ("values a list", t, orjson.dumps({"ts": now, "values": [1.0]}), "bad_shape"),
        ("values empty", t, orjson.dumps({"ts": now, "values": {}}), "bad_shape"),
        ("unexpected key", t, one(device="gw-1"), "bad_shape"),
        ("ts missing", t, orjson.dumps({"values": {"energy_kwh": 2.0}}), "bad_ts"),
        (
            "ts unparseable",
            t,
            orjson.dumps({"ts": "yesterday", "values": {"energy_kwh": 1}}),
            "bad_ts",
        ),
        (
            "ts without offset",
            t,
            orjson.dumps({"ts": "2026-11-24T08:00:00", "values": {"energy_kwh": 1}}),
            "bad_ts",
        ),
        ("ts float", t, orjson.dumps({"ts": now + 0.5, "values": {"energy_kwh": 1}}), "bad_ts"),
        ("ts boolean", t, orjson.dumps({"ts": True, "values": {"energy_kwh": 1}}), "bad_ts"),
        (
            "ts with newline injection",
            t,
            orjson.dumps(
                {"ts": "2026-11-24T08:00:00Z\nelectricity x=1", "values": {"energy_kwh": 1}}
            ),
            "bad_ts",
        ),
        (
            "ts a day ahead",
            t,
            orjson.dumps({"ts": now + 86_400_000, "values": {"energy_kwh": 1}}),
            "ts_out_of_range",
        ),
        (
            "ts two years ago",
            t,
            orjson.dumps({"ts": now - 2 * 365 * 86_400_000, "values": {"energy_kwh": 1}}),
            "ts_out_of_range",
        ),
        (
            "ts in seconds",
            t,
            orjson.dumps({"ts": now // 1000, "values": {"energy_kwh": 1}}),
            "ts_out_of_range",
        ),
        ("unknown field", t, one({"energy_kwh": 1.0, "volume_m3": 2.0}), "unknown_field"),
        ("field key injection", t, one({"energy_kwh=1,power_kw": 3.0}), "unknown_field"),
        (
            "field key newline",
            t,
            one({"energy_kwh\nelectricity,sensor=x power_kw": 1.0}),
            "unknown_field",
        ),
        ("field key quotes", t, one({'energy"_kwh\\': 1.0}), "unknown_field"),
        ("field key spaces", t, one({"energy kwh": 1.0}), "unknown_field"),
        ("value a string", t, one({"energy_kwh": "12.5"}), "bad_value"),
        (
            "value injection string",
            t,
            one({"energy_kwh": "1 1700000000000\nelectricity,x=1 y=2"}),
            "bad_value",
        ),
        ("value boolean", t, one({"energy_kwh": True}), "bad_value"),
        ("value null", t, one({"energy_kwh": None}), "bad_value"),
        ("value nested object", t, one({"energy_kwh": {"a": {"b": 1}}}), "bad_value"),
        ("value absurdly large", t, one({"energy_kwh": 1e20}), "bad_value"),
        ("value integer beyond 2**53", t, one({"energy_kwh": 2**60}), "bad_value"),
        ("seq negative", t, one(seq=-1), "bad_seq"),
        ("seq string", t, one(seq="7"), "bad_seq"),
        (
            "too many readings",
            t,
            orjson.dumps([{"ts": now, "values": {"energy_kwh": 1}}] * 1001),
            "too_many_readings",
        ),
        (
            "unknown sensor",
            f"{root}/tianfu-np/e01-baijiu/electricity/e01-grid-99",
            one(),
            "unknown_sensor",
        ),
        (
            "unknown park",
            f"{root}/other-park/e01-baijiu/electricity/e01-grid-1",
            one(),
            "unknown_sensor",
        ),
        (
            "sensor under another enterprise",
            f"{root}/tianfu-np/e02-bottling/electricity/e01-grid-1",
            one(),
            "sensor_mismatch",
        ),
        (
            "sensor under another kind",
            f"{root}/tianfu-np/e01-baijiu/gas/e01-grid-1",
            one(),
            "sensor_mismatch",
        ),
        ("uppercase id", f"{root}/tianfu-np/E01-baijiu/electricity/e01-grid-1", one(), "bad_topic"),
        (
            "id with comma, space, equals",
            f"{root}/tianfu-np/e01-baijiu/electricity/e01 grid,x=1",
            one(),
            "bad_topic",
        ),
        (
            "id with quote and backslash",
            f'{root}/tianfu-np/e01-baijiu/electricity/e01"grid\\',
            one(),
            "bad_topic",
        ),
        # (Mosquitto itself refuses topics with control characters such as a newline.)
        ("id not ascii", f"{root}/tianfu-np/e01-baijiu/electricity/e01-grïd", one(), "bad_topic"),
        ("id too long", f"{root}/tianfu-np/e01-baijiu/electricity/{'x' * 65}", one(), "bad_topic"),
        (
            "topic too deep",
            f"{root}/tianfu-np/e01-baijiu/electricity/e01-grid-1/extra",
            one(),
            "bad_topic",
        ),
        ("topic too short", f"{root}/tianfu-np/e01-baijiu", one(), "bad_topic"),
        ("empty level", f"{root}/tianfu-np//electricity/e01-grid-1", one(), "bad_topic"),
    ]


class DeadLetterListener:
    def __init__(self, settings: Settings) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.ready = threading.Event()
        self.client = paho.Client(
            CallbackAPIVersion.VERSION2, client_id=f"{settings.mqtt.client_id}-dl"
        )
        topic = f"{settings.mqtt.topic_root}/_deadletter/#"
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = lambda _c, _u, m: self.received.append(
            (m.topic, orjson.loads(m.payload))
        )
        self.client.connect("127.0.0.1", settings.mqtt.port)
        self.client.loop_start()
        assert self.ready.wait(10)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def deadletters(settings: Settings):
    listener = DeadLetterListener(settings)
    yield listener
    listener.close()


def test_each_bad_message_is_deadlettered_with_its_reason_and_good_ones_are_stored(
    settings: Settings,
    park: Registry,
    make_collector: CollectorFactory,
    publisher: BoundedPublisher,
    store: Influx1Store,
    deadletters: DeadLetterListener,
) -> None:
    collector = make_collector(settings)
    root = settings.mqtt.topic_root
    now = int(time.time() * 1000)
    cases = _bad_cases(root, now)
    assert len(cases) >= 40
    assert len({(c[1], c[2]) for c in cases}) == len(cases)
    good_sensors = [s for s in park.sensors() if s.ref.kind == "gas"]
    good = 0
    for i, (_name, topic, payload, _reason) in enumerate(cases):
        sensor = good_sensors[i % len(good_sensors)]
        reading = {"ts": now - 10_000 + i, "values": {"volume_m3": float(i), "flow_m3h": 1.5}}
        publisher.publish(topic_for(root, sensor.ref), orjson.dumps(reading))
        good += 1
        publisher.publish(topic, payload)
    assert publisher.wait_all(30)

    wait_until(lambda: len(deadletters.received) >= len(cases), what="all dead letters")
    wait_until(lambda: collector.stats.stored_readings >= good, what="good readings stored")
    time.sleep(0.3)  # nothing more may arrive
    assert len(deadletters.received) == len(cases)
    by_message = {
        (body["topic"], base64.b64decode(body["payload_b64"])): (topic, body)
        for topic, body in deadletters.received
    }
    for name, topic, payload, reason in cases:
        dl_topic, body = by_message[(topic, payload[: 64 * 1024])]
        reasons = {p["reason"] for p in body["problems"]}
        assert reasons == {reason}, name
        assert dl_topic == f"{root}/_deadletter/{reason}", name
        assert body["payload_bytes"] == len(payload), name
    assert count_points(store, "gas", "volume_m3") == good
    assert collector.stats.stored_readings == good
    assert sum(collector.stats.deadlettered.values()) == len(cases) + 1  # [1, 2]: two bad readings
    assert count_points(store, "electricity", "energy_kwh") == 0  # no bad reading slipped in


def test_good_readings_of_a_partly_bad_array_are_stored(
    settings: Settings,
    park: Registry,
    make_collector: CollectorFactory,
    publisher: BoundedPublisher,
    store: Influx1Store,
    deadletters: DeadLetterListener,
) -> None:
    collector = make_collector(settings)
    sensor = next(s for s in park.sensors() if s.ref.sensor == "e01-grid-1")
    now = int(time.time() * 1000)
    batch = [
        {"ts": now - 3, "values": {"energy_kwh": 10.0}},
        {"ts": now - 2, "values": {"energy_kwh": "eleven"}},
        {"ts": now - 1, "values": {"energy_kwh": 12.0, "power_kw": 4.0}},
    ]
    publisher.publish(topic_for(settings.mqtt.topic_root, sensor.ref), orjson.dumps(batch))
    assert publisher.wait_all(10)
    wait_until(lambda: collector.stats.stored_readings == 2 and len(deadletters.received) == 1)
    _topic, body = deadletters.received[0]
    assert body["problems"] == [
        {"reason": "bad_value", "index": 1, "detail": "energy_kwh: expected a number, got str"}
    ]
    assert count_points(store, "electricity", "energy_kwh") == 2
    # acknowledged only when both the batch and the dead letter were done
    wait_until(lambda: not collector._held, what="held message released")
