"""The gateway against real peers: Modbus devices (pymodbus's server, each its own
process), Mosquitto, the real collector and InfluxDB."""

from __future__ import annotations

import struct
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devstack.servers import Mosquitto
from gateway.service import Gateway
from smartpark.model import is_rollover
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.store.influxql import Select
from tests.conftest import count_points, wait_until
from tests.gateway.conftest import (
    COUNTER_TOP,
    ModbusDeviceProcess,
    collector_for,
    device_spec,
    gateway_registry,
    gateway_settings,
)
from tests.ingest.test_bad_input import DeadLetterListener
from tests.ingest.test_faults import own_broker

__all__ = ["own_broker"]  # a Mosquitto the broker test may stop and start


def set_meter(
    device: ModbusDeviceProcess, *, power_kw: float, counter: int, decivolts: int
) -> None:
    """Registers as the map reads them: float32 at 0, uint32 low word first at 2, int16 at 4."""
    hi, lo = struct.unpack(">HH", struct.pack(">f", power_kw))
    device.write(0, [hi, lo, counter & 0xFFFF, counter >> 16, decivolts & 0xFFFF])


def stored(store: Influx1Store, sensor: str) -> list[dict[str, Any]]:
    series = store.query(
        Select(
            "electricity", ["*"], tags={"sensor": sensor}, retention_policy=store.raw_policy
        ).to_influxql()
    )
    if not series:
        return []
    return [dict(zip(series[0].columns, row, strict=True)) for row in series[0].values]


def test_readings_stored_through_the_collector_equal_the_registers_across_a_counter_wrap(
    settings: Settings,
    tmp_path: Path,
    store: Influx1Store,
    modbus_device: Callable[[], ModbusDeviceProcess],
    running: Callable[..., Any],
) -> None:
    device = modbus_device()
    set_meter(device, power_kw=12.5, counter=2**32 - 5, decivolts=-123)
    registry = gateway_registry(tmp_path, devices=[device_spec("m1", "e04-grid-1", device.port)])
    collector = running(collector_for(settings, registry))
    assert collector.connected.wait(10)
    gateway = running(Gateway(settings=gateway_settings(settings, tmp_path), registry=registry))

    def energies() -> list[float]:
        return [p["energy_kwh"] for p in stored(store, "e04-grid-1")]

    wait_until(lambda: 42949672.91 in energies(), what="the counter before the wrap stored")
    set_meter(device, power_kw=12.5, counter=3, decivolts=-123)
    wait_until(lambda: 0.03 in energies(), what="the counter after the wrap stored")
    points = stored(store, "e04-grid-1")
    assert {(p["power_kw"], p["voltage_v"]) for p in points} == {(12.5, -12.3)}
    before, after = points[energies().index(42949672.91)], points[energies().index(0.03)]
    assert before["time"] < after["time"]
    # what processing and the counter_reset rule see: a wrap, not a reset
    assert is_rollover(before["energy_kwh"], after["energy_kwh"], COUNTER_TOP)
    assert gateway.health()[0]
    polls = gateway.pollers[0].stats.polls
    assert polls >= 2 and gateway.pollers[0].stats.failed_polls == 0


@pytest.mark.slow
def test_a_device_stopped_for_30s_is_reported_without_stalling_the_others_and_recovers(
    settings: Settings,
    tmp_path: Path,
    store: Influx1Store,
    modbus_device: Callable[[], ModbusDeviceProcess],
    running: Callable[..., Any],
) -> None:
    one, two = modbus_device(), modbus_device()
    for device in (one, two):
        set_meter(device, power_kw=1.0, counter=100, decivolts=2300)
    registry = gateway_registry(
        tmp_path,
        devices=[device_spec("m1", "e04-grid-1", one.port), device_spec("m2", "e04-grid-2", two.port)],
    )  # fmt: skip
    deadletters = DeadLetterListener(settings)
    collector = running(collector_for(settings, registry))
    assert collector.connected.wait(10)
    gateway: Gateway = running(
        Gateway(settings=gateway_settings(settings, tmp_path), registry=registry)
    )
    wait_until(lambda: len(stored(store, "e04-grid-1")) >= 3, what="device one's readings")
    one.stop()
    wait_until(lambda: not gateway.health()[0], timeout_s=10, what="health reports the device")
    _ok, facts = gateway.health()
    assert facts["problems"] == ["device unreachable: m1"] and facts["devices"]["m2"]["up"]
    wait_until(lambda: len(deadletters.received) >= 1, timeout_s=10, what="a dead letter")
    topic, body = deadletters.received[0]
    assert topic == f"{settings.mqtt.topic_root}/_deadletter/device_unreachable"
    assert body["topic"].endswith("/e04-cannery/electricity/e04-grid-1")
    assert body["problems"][0]["detail"].startswith("device m1:")
    two_before = len(stored(store, "e04-grid-2"))
    started = time.monotonic()
    time.sleep(30)
    # the other device kept its pace (0.2 s polls) while the first timed out every poll
    two_during = len(stored(store, "e04-grid-2")) - two_before
    assert two_during >= 0.5 * 30 / 0.2, two_during
    assert len(deadletters.received) == 1  # reported once, not once per poll
    one_count = len(stored(store, "e04-grid-1"))
    one.start()  # same port: the device is back, registers as after a power cycle
    set_meter(one, power_kw=2.0, counter=200, decivolts=2300)
    wait_until(lambda: gateway.health()[0], timeout_s=10, what="the device answers again")
    wait_until(lambda: len(stored(store, "e04-grid-1")) > one_count + 2, what="readings resume")
    assert 2.0 in {p["power_kw"] for p in stored(store, "e04-grid-1")}
    assert time.monotonic() - started >= 30
    assert gateway.pollers[0].stats.failed_polls > 10
    deadletters.close()


@pytest.mark.slow
def test_the_broker_stopped_for_30s_loses_no_reading(
    settings: Settings,
    own_broker: Mosquitto,
    tmp_path: Path,
    store: Influx1Store,
    modbus_device: Callable[[], ModbusDeviceProcess],
    running: Callable[..., Any],
) -> None:
    device = modbus_device()
    set_meter(device, power_kw=5.0, counter=1000, decivolts=2200)
    registry = gateway_registry(tmp_path, devices=[device_spec("m1", "e04-grid-1", device.port)])
    collector = running(collector_for(settings, registry))
    assert collector.connected.wait(10)
    gateway: Gateway = running(
        Gateway(settings=gateway_settings(settings, tmp_path), registry=registry)
    )
    wait_until(lambda: count_points(store, "electricity", "power_kw") >= 3, what="readings")
    own_broker.stop()
    wait_until(lambda: not gateway.forwarder.connected.is_set(), timeout_s=10, what="noticed")
    time.sleep(30)
    assert len(gateway.forwarder.buffer) > 100  # 0.2 s polls, one buffer entry each
    own_broker.start()
    wait_until(gateway.forwarder.connected.is_set, timeout_s=20, what="gateway reconnected")
    time.sleep(2)
    for poller in gateway.pollers:
        poller.stop()
    published = gateway.readings_published
    wait_until(lambda: gateway.forwarder.pending == 0, timeout_s=60, what="buffer drained")
    wait_until(
        lambda: count_points(store, "electricity", "power_kw") == published,
        timeout_s=60,
        what=f"all {published} readings stored",
    )
    stats = gateway.forwarder.stats
    assert stats.buffered >= 150 and stats.forwarded_from_buffer >= 150
    assert stats.buffer_full_dropped == 0
