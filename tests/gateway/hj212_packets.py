"""HJ 212-2017 packets built the way the standard describes them, for the tests: written
apart from ``gateway.hj212`` (its own CRC), so a parser bug is not mirrored
here. Times are Beijing time without an offset."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8))


def crc(data: bytes) -> int:
    """The standard's CRC16, step by step as its text gives it (not the Modbus CRC: the
    register's low byte is dropped before each byte goes in)."""
    register = 0xFFFF
    for byte in data:
        register = (register >> 8) ^ byte
        for _ in range(8):
            register, shifted_out = divmod(register, 2)
            if shifted_out:
                register ^= 0xA001
    return register


def local(ts_ms: int) -> str:
    """``yyyyMMddHHmmss`` in Beijing time."""
    return datetime.fromtimestamp(ts_ms / 1000, UTC).astimezone(BEIJING).strftime("%Y%m%d%H%M%S")


def segment(
    *, cn: str, mn: str, pw: str, ts_ms: int, values: dict[str, tuple[float, str]],
    flag: int = 5, st: str = "31", qn: str = "20261124160000123",
) -> str:  # fmt: skip
    """A data segment: per code (value, flag letter); real-time packets carry ``-Rtd``,
    minute and hourly ones ``-Avg`` with ``-Min`` and ``-Max`` beside it."""
    kind = "Rtd" if cn == "2011" else "Avg"
    groups = [f"DataTime={local(ts_ms)}"]
    for code, (value, letter) in values.items():
        group = f"{code}-{kind}={value}"
        if kind == "Avg":
            group += f",{code}-Min={value},{code}-Max={value}"
        groups.append(f"{group},{code}-Flag={letter}")
    cp = ";".join(groups)
    return f"QN={qn};ST={st};CN={cn};PW={pw};MN={mn};Flag={flag};CP=&&{cp}&&"


def packet(text: str, *, bad_crc: bool = False) -> bytes:
    data = text.encode("ascii")
    check = crc(data) ^ (0x0101 if bad_crc else 0)
    return b"##" + f"{len(data):04d}".encode() + data + f"{check:04X}".encode() + b"\r\n"
