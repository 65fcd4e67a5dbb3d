"""The registry's edge gateways: which sensors each serves, its Modbus devices with their
register maps, its HJ 212 instruments (schema; ``gateway/`` runs them).

A gateway has its own broker account (``gateway.{park}.{id}``) that may publish the
readings of the sensors it serves and nothing else.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from smartpark.config import Strict
from smartpark.model import Id

RegisterType = Literal[
    "int16", "uint16", "int32", "uint32", "float32", "int64", "uint64", "float64"
]
REGISTER_WORDS: dict[str, int] = {
    "int16": 1, "uint16": 1, "int32": 2, "uint32": 2, "float32": 2,
    "int64": 4, "uint64": 4, "float64": 4,
}  # fmt: skip
MAX_READ_REGISTERS = 125  # the Modbus limit of one read


class RegisterMap(Strict):
    field: Id
    table: Literal["holding", "input"] = "holding"
    address: int = Field(ge=0, le=65535, description="0-based register address")
    type: RegisterType
    word_order: Literal["big", "little"] = Field(
        default="big", description="big: the first register holds the high word"
    )
    byte_order: Literal["big", "little"] = Field(
        default="big", description="big: each register's high byte first (Modbus standard)"
    )
    scale: float = 1.0
    offset: float = 0.0

    @property
    def words(self) -> int:
        return REGISTER_WORDS[self.type]


class SerialLine(Strict):
    port: str = Field(min_length=1, description="e.g. /dev/ttyUSB0")
    baudrate: int = Field(default=9600, gt=0)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    bytesize: Literal[7, 8] = 8


class ModbusDevice(Strict):
    id: Id
    sensor: Id
    host: str | None = Field(default=None, description="Modbus TCP: the device's address")
    port: int = Field(default=502, ge=1, le=65535)
    serial: SerialLine | None = Field(default=None, description="Modbus RTU over a serial line")
    unit: int = Field(default=1, ge=0, le=247, description="Modbus unit (device) id")
    poll_s: float = Field(default=10.0, gt=0)
    timeout_s: float = Field(default=1.0, gt=0)
    registers: list[RegisterMap] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_transport(self) -> ModbusDevice:
        if (self.host is None) == (self.serial is None):
            raise ValueError("give host (Modbus TCP) or serial (Modbus RTU), one of them")
        return self


class Hj212Instrument(Strict):
    """A CEMS data acquisition instrument; which sensor each kind of its data goes to."""

    mn: str = Field(pattern=r"^[0-9A-Za-z]{1,24}$", description="the instrument's MN")
    pw: str = Field(min_length=1, max_length=6, description="its access password (PW)")
    minute_sensor: Id | None = Field(default=None, description="CN 2051 minute data")
    realtime_sensor: Id | None = Field(default=None, description="CN 2011 real-time data")
    hourly_sensor: Id | None = Field(default=None, description="CN 2061 hourly data")

    @model_validator(mode="after")
    def _some_sensor(self) -> Hj212Instrument:
        if not self.sensors():
            raise ValueError("name minute_sensor, realtime_sensor or hourly_sensor")
        return self

    def sensors(self) -> dict[str, str]:
        """CN -> the sensor its data goes to."""
        by_cn = {"2051": self.minute_sensor, "2011": self.realtime_sensor}
        by_cn["2061"] = self.hourly_sensor
        return {cn: s for cn, s in by_cn.items() if s is not None}


class GatewaySpec(Strict):
    id: Id
    sensors: list[Id] = Field(
        default_factory=list, description="sensors it serves besides its devices' (native)"
    )
    mappings: list[Id] = Field(
        default_factory=list, description="the park's mappings whose topics it publishes on"
    )
    modbus: list[ModbusDevice] = Field(default_factory=list)
    hj212: list[Hj212Instrument] = Field(default_factory=list)

    def served(self) -> list[str]:
        """Every sensor id this gateway publishes readings of."""
        ids = [*self.sensors, *(d.sensor for d in self.modbus)]
        ids += [s for i in self.hj212 for s in i.sensors().values()]
        return list(dict.fromkeys(ids))


def gateway_problems(
    where: str,
    gateway: GatewaySpec,
    sensors: dict[str, tuple[dict[str, bool], float | None]],
    mappings: set[str],
) -> list[str]:
    """What is wrong with one gateway given the park's sensors (id -> ({field: is counter},
    rollover)) and mapping ids: unknown sensors, mappings and fields, overlapping registers,
    and counters read from integer registers whose sensor does not state where they wrap."""
    problems: list[str] = []
    for name in gateway.sensors:
        if name not in sensors:
            problems.append(f"{where}.sensors: {name!r} is not a sensor of the park")
    for name in gateway.mappings:
        if name not in mappings:
            problems.append(f"{where}.mappings: {name!r} is not a mapping of the park")
    for d_i, device in enumerate(gateway.modbus):
        at = f"{where}.modbus[{d_i} id={device.id!r}]"
        found = sensors.get(device.sensor)
        if found is None:
            problems.append(f"{at}.sensor: {device.sensor!r} is not a sensor of the park")
            continue
        fields, rollover = found
        taken: dict[tuple[str, int], str] = {}
        for r_i, reg in enumerate(device.registers):
            where_r = f"{at}.registers[{r_i}]"
            if reg.field not in fields:
                problems.append(f"{where_r}.field: {reg.field!r} is not a field of the sensor")
                continue
            for address in range(reg.address, reg.address + reg.words):
                other = taken.get((reg.table, address))
                if other is not None:
                    problems.append(f"{where_r}: register {address} is also read for {other}")
                taken[(reg.table, address)] = reg.field
            wraps = 2 ** (16 * reg.words) * reg.scale
            if fields[reg.field] and not reg.type.startswith("float") and rollover is None:
                problems.append(
                    f"{where_r}: counter {reg.field} wraps with its {reg.type} register; set the "
                    f"sensor's rollover (at {wraps:g} for an unsigned register x scale)"
                )
    for i_i, inst in enumerate(gateway.hj212):
        for cn, name in inst.sensors().items():
            if name not in sensors:
                problems.append(f"{where}.hj212[{i_i}]: {name!r} (CN {cn}) is not a sensor")
    return problems
