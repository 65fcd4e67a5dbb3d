"""The gateway's peers: Modbus devices as pymodbus servers in processes of their own, a
registry with a gateway that serves them, the real collector storing what it publishes."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pymodbus.client import ModbusTcpClient

from devstack.servers import free_port
from gateway.service import Gateway
from ingest.collector import Collector
from smartpark import registry as registry_mod
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store import open_store
from tests.conftest import EXAMPLE_PARK, ROOT, wait_until

COUNTER_TOP = 2**32 * 0.01  # a uint32 register of 0.01 kWh wraps here


class ModbusDeviceProcess:
    """pymodbus's server in its own process; ``stop()`` and ``start()`` keep the port."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "devstack.modbus_device", str(self.port)], cwd=ROOT
        )
        wait_until(self._answers, timeout_s=20, what=f"modbus device on {self.port}")

    def _answers(self) -> bool:
        client = ModbusTcpClient("127.0.0.1", port=self.port, timeout=0.5, retries=0)
        try:
            return bool(client.connect())
        finally:
            client.close()

    def write(self, address: int, words: list[int]) -> None:
        """Set registers as a configuration tool would, over Modbus."""
        client = ModbusTcpClient("127.0.0.1", port=self.port, timeout=2, retries=1)
        try:
            assert client.connect()
            assert not client.write_registers(address, words, device_id=1).isError()
        finally:
            client.close()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def modbus_device() -> Iterator[Callable[[], ModbusDeviceProcess]]:
    started: list[ModbusDeviceProcess] = []

    def factory() -> ModbusDeviceProcess:
        device = ModbusDeviceProcess()
        device.start()
        started.append(device)
        return device

    yield factory
    for device in started:
        device.stop()


def meter_registers() -> list[dict[str, Any]]:
    """The test meters' map: float32 power, a uint32 counter of 0.01 kWh with the low word
    first, a scaled int16 voltage."""
    return [
        {"field": "power_kw", "address": 0, "type": "float32"},
        {"field": "energy_kwh", "address": 2, "type": "uint32", "word_order": "little",
         "scale": 0.01},
        {"field": "voltage_v", "table": "input", "address": 4, "type": "int16", "scale": 0.1},
    ]  # fmt: skip


def gateway_registry(tmp_path: Path, *, devices: list[dict[str, Any]], **extra: Any) -> Registry:
    """The example park with a gateway ``gw-test`` of e04-cannery (its grid meters get a
    ``voltage_v`` field and the uint32 counter's rollover)."""
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    park = doc["parks"][0]
    e04 = next(e for e in park["enterprises"] if e["id"] == "e04-cannery")
    for sensor in e04["sensors"]:
        if sensor["kind"] == "electricity":
            sensor["rollover"] = COUNTER_TOP
            sensor["fields"] = {"voltage_v": {"unit": "V"}}
    park["gateways"] = [{"id": "gw-test", "modbus": devices, **extra}]
    path = tmp_path / "park.yaml"
    path.write_text(yaml.safe_dump(doc))
    return registry_mod.load(path)


def device_spec(device_id: str, sensor: str, port: int, poll_s: float = 0.2) -> dict[str, Any]:
    return {"id": device_id, "sensor": sensor, "host": "127.0.0.1", "port": port,
            "poll_s": poll_s, "timeout_s": 0.5, "registers": meter_registers()}  # fmt: skip


def gateway_settings(settings: Settings, tmp_path: Path, **changes: Any) -> Settings:
    return settings.model_copy(update={"gateway": settings.gateway.model_copy(update=changes)})


@pytest.fixture
def running() -> Iterator[Callable[..., Any]]:
    """Start gateways and collectors; each is stopped at teardown, newest first."""
    started: list[Gateway | Collector] = []

    def start(thing: Gateway | Collector) -> Any:
        thing.start()
        started.append(thing)
        return thing

    yield start
    for thing in reversed(started):
        thing.stop()


def collector_for(settings: Settings, registry: Registry) -> Collector:
    return Collector(settings=settings, registry=registry, store=open_store(settings.influx))
