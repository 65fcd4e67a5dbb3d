"""Modbus register maps, pure: a map's reads batched into contiguous ranges, and register
words decoded into values (type, word order, byte order, scale and offset)."""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass

from smartpark.gatewayspec import MAX_READ_REGISTERS, RegisterMap

_CODES = {
    "int16": "h", "uint16": "H", "int32": "i", "uint32": "I", "float32": "f",
    "int64": "q", "uint64": "Q", "float64": "d",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Read:
    """One Modbus read: ``count`` registers of ``table`` from ``start``, and the fields in it."""

    table: str
    start: int
    count: int
    fields: tuple[RegisterMap, ...]


def plan(registers: Sequence[RegisterMap], *, max_count: int = MAX_READ_REGISTERS) -> list[Read]:
    """The fewest reads of contiguous (or overlapping) registers, at most ``max_count`` each."""
    reads: list[Read] = []
    for reg in sorted(registers, key=lambda r: (r.table, r.address)):
        end = reg.address + reg.words
        last = reads[-1] if reads else None
        if (
            last is not None
            and last.table == reg.table
            and reg.address <= last.start + last.count
            and max(end, last.start + last.count) - last.start <= max_count
        ):
            count = max(end, last.start + last.count) - last.start
            reads[-1] = Read(last.table, last.start, count, (*last.fields, reg))
        else:
            reads.append(Read(reg.table, reg.address, reg.words, (reg,)))
    return reads


def decode(words: Sequence[int], reg: RegisterMap) -> float | None:
    """The value of ``reg`` from its registers (``reg.words`` 16-bit words, in the order the
    device sent them); None when the device sent NaN or infinity."""
    ordered = list(words) if reg.word_order == "big" else list(reversed(words))
    raw = b"".join(w.to_bytes(2, reg.byte_order) for w in ordered)
    (value,) = struct.unpack(">" + _CODES[reg.type], raw)
    if not math.isfinite(value):
        return None
    scaled = float(value) * reg.scale + reg.offset
    if reg.type.startswith("float"):
        return scaled
    # an integer register x 0.01 is a number of hundredths: say so, not 42949672.910000004
    return round(scaled, max(_decimals(reg.scale), _decimals(reg.offset)))


def _decimals(number: float) -> int:
    """Decimal places of a scale or offset as written (0.01 -> 2, 1e-05 -> 5, 10 -> 0)."""
    text = repr(float(number))
    if "e-" in text:
        mantissa, exponent = text.split("e-")
        return int(exponent) + len(mantissa.partition(".")[2].rstrip("0"))
    return min(12, len(text.partition(".")[2].rstrip("0")))


def values_of(read: Read, words: Sequence[int]) -> dict[str, float | None]:
    """Each field of one read's answer, by field name."""
    return {
        reg.field: decode(
            words[reg.address - read.start : reg.address - read.start + reg.words], reg
        )
        for reg in read.fields
    }
