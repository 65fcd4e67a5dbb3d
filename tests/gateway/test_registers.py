"""Register maps as tables: decoding by type, word and byte order, scale and offset; reads
batched into contiguous ranges."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
import yaml

from gateway.registers import Read, decode, plan
from smartpark.gatewayspec import RegisterMap
from tests.gateway.conftest import meter_registers


def words(fmt: str, value: float) -> list[int]:
    raw = struct.pack(">" + fmt, value)
    return [int.from_bytes(raw[i : i + 2], "big") for i in range(0, len(raw), 2)]


def reg(type_: str, **kw: object) -> RegisterMap:
    return RegisterMap.model_validate({"field": "x", "address": 0, "type": type_, **kw})


@pytest.mark.parametrize(
    ("spec", "registers", "expected"),
    [
        (reg("int16"), [0xFF85], -123.0),
        (reg("int16", scale=0.1), [0xFF85], -12.3),
        (reg("uint16", scale=0.01, offset=1), [50000], 501.0),
        (reg("uint16", scale=1e-5), [12345], 0.12345),
        (reg("uint16", scale=10, offset=0.5), [7], 70.5),
        (reg("uint32"), [0x0001, 0x0002], 65538.0),
        (reg("uint32", word_order="little"), [0x0002, 0x0001], 65538.0),
        (reg("uint32", scale=0.01), [0xFFFF, 0xFFFB], 42949672.91),
        (reg("int32"), [0xFFFF, 0xFFFE], -2.0),
        (reg("int32", word_order="little"), [0xFFFE, 0xFFFF], -2.0),
        (reg("float32"), words("f", 12.5), 12.5),
        (reg("float32", word_order="little"), words("f", 12.5)[::-1], 12.5),
        # byte-swapped registers (some meters): each word's low byte first
        (reg("float32", byte_order="little"),
         [int.from_bytes(w.to_bytes(2, "big"), "little") for w in words("f", 12.5)], 12.5),
        (reg("float64"), words("d", -0.001), -0.001),
        (reg("float64", word_order="little"), words("d", 1e9)[::-1], 1e9),
        (reg("uint64"), [0, 0, 1, 0], 65536.0),
        (reg("int64"), [0xFFFF] * 4, -1.0),
        (reg("float32"), words("f", float("nan")), None),
        (reg("float32"), words("f", float("inf")), None),
    ],
)  # fmt: skip
def test_decode(spec: RegisterMap, registers: list[int], expected: float | None) -> None:
    got = decode(registers, spec)
    if spec.type.startswith("float"):
        assert got == (pytest.approx(expected) if expected is not None else None)
    else:  # integer registers scaled by a decimal: the decimal, exactly
        assert got == expected


def _at(field: str, address: int, type_: str, table: str = "holding") -> RegisterMap:
    return RegisterMap.model_validate(
        {"field": field, "address": address, "type": type_, "table": table}
    )


def test_contiguous_registers_are_read_together_and_gaps_and_tables_apart() -> None:
    a, b, c = _at("a", 0, "float32"), _at("b", 2, "uint32"), _at("c", 4, "int16")
    far, inp = _at("d", 100, "int16"), _at("e", 0, "int16", "input")
    assert plan([c, a, far, b, inp]) == [
        Read("holding", 0, 5, (a, b, c)),
        Read("holding", 100, 1, (far,)),
        Read("input", 0, 1, (inp,)),
    ]


def test_one_read_never_exceeds_the_modbus_limit() -> None:
    regs = [_at(f"f{i}", i * 2, "float32") for i in range(100)]  # 200 registers in a row
    reads = plan(regs)
    assert [(r.start, r.count) for r in reads] == [(0, 124), (124, 76)]
    assert sum(len(r.fields) for r in reads) == 100


def test_the_readme_worked_example_of_a_modbus_meter() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    part = readme.split("**Connecting a Modbus meter**", 1)[1]
    doc = yaml.safe_load(part.split("```yaml", 1)[1].split("```", 1)[0])
    device = doc["gateways"][0]["modbus"][0]
    power, energy = (RegisterMap.model_validate(r) for r in device["registers"])
    assert plan([power, energy]) == [Read("holding", 0, 4, (power, energy))]
    assert decode([0x4148, 0x0000], power) == 12.5
    assert decode([0xFFFB, 0xFFFF], energy) == 42949672.91
    assert decode([0x0003, 0x0000], energy) == 0.03
    # the map tests/gateway/test_modbus.py serves, polls and stores is this one
    assert [r.model_dump() for r in (power, energy)] == [
        RegisterMap.model_validate(r).model_dump() for r in meter_registers()[:2]
    ]
