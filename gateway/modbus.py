"""One poller per Modbus device (TCP, or RTU over a serial line): a thread that reads the
device's register map once per interval in as few reads as the map allows, and hands
the reading to the gateway. A device that does not answer is reported once when it goes
(and once when it is back) and never holds up the others: each has its own thread and
its own client with a short timeout."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.framer import FramerType

from gateway.registers import Read, plan, values_of
from smartpark.clock import Clock
from smartpark.gatewayspec import ModbusDevice

logger = logging.getLogger(__name__)

OnReading = Callable[[ModbusDevice, int, dict[str, float]], None]
OnState = Callable[[ModbusDevice, bool, str], None]


@dataclass
class DeviceStats:
    polls: int = 0
    failed_polls: int = 0
    bad_values: int = 0  # NaN or infinity read from a float register
    up: bool = False
    last_error: str = ""
    fields: dict[str, float] = field(default_factory=dict)


def make_client(device: ModbusDevice) -> ModbusTcpClient | ModbusSerialClient:
    """pymodbus's client for the device's transport (no retries: the next poll is the retry)."""
    if device.serial is not None:
        line = device.serial
        return ModbusSerialClient(
            line.port, framer=FramerType.RTU, baudrate=line.baudrate, parity=line.parity,
            stopbits=line.stopbits, bytesize=line.bytesize, timeout=device.timeout_s, retries=0,
        )  # fmt: skip
    assert device.host is not None
    return ModbusTcpClient(device.host, port=device.port, timeout=device.timeout_s, retries=0)


def read_once(
    client: ModbusTcpClient | ModbusSerialClient, device: ModbusDevice, reads: list[Read]
) -> dict[str, float | None]:
    """Every field of the map in one pass of reads; raises ModbusException or OSError."""
    if not client.connected and not client.connect():
        raise ModbusException(f"cannot connect to {device.host or device.serial}")
    values: dict[str, float | None] = {}
    for read in reads:
        call = (
            client.read_holding_registers
            if read.table == "holding"
            else client.read_input_registers
        )
        answer = call(read.start, count=read.count, device_id=device.unit)
        if answer.isError():
            raise ModbusException(f"{read.table} {read.start}+{read.count}: {answer}")
        values.update(values_of(read, answer.registers))
    return values


class DevicePoller:
    def __init__(
        self, device: ModbusDevice, *, clock: Clock, on_reading: OnReading, on_state: OnState
    ) -> None:
        self.device = device
        self.stats = DeviceStats()
        self._clock = clock
        self._reads = plan(device.registers)
        self._on_reading, self._on_state = on_reading, on_state
        self._stop = threading.Event()
        self._client = make_client(device)
        self._thread = threading.Thread(target=self._run, name=f"modbus-{device.id}", daemon=True)
        self._reported: bool | None = None  # the state last reported (None: none yet)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(self.device.timeout_s * len(self._reads) + 5)
        self._client.close()  # type: ignore[no-untyped-call]

    def poll(self) -> None:
        """One poll: a reading, or the device reported unreachable."""
        ts_ms = self._clock.now_ms()
        self.stats.polls += 1
        try:
            values = read_once(self._client, self.device, self._reads)
        except (ModbusException, OSError) as exc:
            self.stats.failed_polls += 1
            self.stats.last_error = str(exc)[:200]
            self._client.close()  # type: ignore[no-untyped-call]  # a fresh connection next time
            self._state(False, self.stats.last_error)
            return
        good = {k: v for k, v in values.items() if v is not None}
        self.stats.bad_values += len(values) - len(good)
        self.stats.fields = good
        self._state(True, "")
        if good:
            self._on_reading(self.device, ts_ms, good)

    def _state(self, up: bool, detail: str) -> None:
        self.stats.up = up
        if self._reported is not up:
            self._reported = up
            self._on_state(self.device, up, detail)

    def _run(self) -> None:
        interval = self.device.poll_s
        next_at = self._clock.monotonic()
        while not self._stop.is_set():
            self.poll()
            next_at += interval
            now = self._clock.monotonic()
            if next_at < now:  # a slow device: skip the missed polls, do not burst
                next_at = now + interval - (now - next_at) % interval
            self._stop.wait(next_at - now)
