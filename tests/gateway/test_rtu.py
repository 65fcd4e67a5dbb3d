"""Modbus RTU over a serial line: two pseudo-terminals joined like a null-modem cable, a
pymodbus RTU server (its own process) on one end as the device, the gateway on the
other; its readings stored through the real collector equal the registers."""

from __future__ import annotations

import os
import select
import struct
import subprocess
import sys
import threading
import tty
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from pymodbus.client import ModbusSerialClient
from pymodbus.framer import FramerType

from gateway.service import Gateway
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.store.influxql import Select
from tests.conftest import ROOT, wait_until
from tests.gateway.conftest import collector_for, gateway_registry, gateway_settings

UNIT = 7


@pytest.fixture
def serial_line() -> Iterator[tuple[str, str]]:
    """(the gateway's end, the device's end): two ptys whose masters are bridged."""
    ends = []
    for _ in range(2):
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)
        ends.append((master, slave, os.ttyname(slave)))
    (ma, sa, pa), (mb, sb, pb) = ends
    stop = threading.Event()

    def bridge() -> None:
        while not stop.is_set():
            ready, _, _ = select.select([ma, mb], [], [], 0.2)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    return
                os.write(mb if fd == ma else ma, data)

    thread = threading.Thread(target=bridge, daemon=True)
    thread.start()
    yield pa, pb
    stop.set()
    thread.join(2)
    for fd in (ma, sa, mb, sb):
        os.close(fd)


def test_a_flow_computer_on_a_serial_line_is_polled_over_rtu(
    settings: Settings,
    tmp_path: Path,
    store: Influx1Store,
    serial_line: tuple[str, str],
    running: Callable[..., Any],
) -> None:
    gateway_end, device_end = serial_line
    device = subprocess.Popen(
        [sys.executable, "-m", "devstack.modbus_device", "--serial", device_end, str(UNIT)],
        cwd=ROOT,
    )
    try:
        tool = ModbusSerialClient(gateway_end, framer=FramerType.RTU, baudrate=9600, timeout=1)
        hi, lo = struct.unpack(">HH", struct.pack(">f", 48.25))
        wait_until(
            lambda: (
                tool.connect()
                and not tool.write_registers(10, [hi, lo, 0x0001, 0x86A0], device_id=UNIT).isError()
            ),
            timeout_s=20,
            what="the RTU device answers",
        )
        tool.close()
        spec = {"id": "gas-1", "sensor": "e04-gas-1", "unit": UNIT, "poll_s": 0.3,
                "timeout_s": 1, "serial": {"port": gateway_end, "baudrate": 9600},
                "registers": [
                    {"field": "flow_m3h", "table": "input", "address": 10, "type": "float32"},
                    {"field": "volume_m3", "table": "input", "address": 12, "type": "uint32",
                     "scale": 0.1}]}  # fmt: skip
        registry = gateway_registry(tmp_path, devices=[spec])
        collector = running(collector_for(settings, registry))
        assert collector.connected.wait(10)
        gateway = running(Gateway(settings=gateway_settings(settings, tmp_path), registry=registry))

        def points() -> list[tuple[float, float]]:
            series = store.query(
                Select(
                    "gas",
                    ["flow_m3h", "volume_m3"],
                    tags={"sensor": "e04-gas-1"},
                    retention_policy=store.raw_policy,
                ).to_influxql()
            )
            return [(row[1], row[2]) for row in series[0].values] if series else []

        wait_until(lambda: len(points()) >= 2, what="RTU readings stored")
        assert set(points()) == {(48.25, 10000.0)}  # 0x0001_86A0 = 100,000 x 0.1
        assert gateway.health()[0]
    finally:
        device.terminate()
        device.wait(10)
