"""HJ 212-2017 packets, pure: CRC, framing on a TCP stream, the data segment, the answers,
and the pollutant codes as emissions fields (``POLLUTANTS``; docs/hj212.md has the
table and its source).

A packet is ``##`` + the data segment's length (4 decimal digits) + the data segment +
its CRC (4 hex digits) + CR LF. The data segment is ``QN=...;ST=..;CN=....;PW=...;
MN=...;Flag=.;CP=&&...&&``; inside CP, ``;`` separates groups and ``,`` the ``key=value``
pairs of a group (``a21002-Rtd=12.3,a21002-Flag=N``). Decoding never raises on what an
instrument sends: :class:`Framer` yields packets and errors, :func:`parse` a packet or
the answer code that refuses it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

MAX_SEGMENT = 9999  # what the 4-digit length field can say
CN_REALTIME, CN_MINUTE, CN_HOURLY, CN_DAILY = "2011", "2051", "2061", "2031"
DATA_CNS = frozenset((CN_REALTIME, CN_MINUTE, CN_HOURLY))
#: Which value of a code a packet carries per CN: real-time values, else the average.
VALUE_SUFFIX = {CN_REALTIME: "Rtd", CN_MINUTE: "Avg", CN_HOURLY: "Avg"}

#: The standard's data flags (letters) as the ``data_flag`` numbers readings carry
#: (``smartpark.cems.DATA_FLAGS``).
FLAG_NUMBERS = {"N": 0, "F": 1, "M": 2, "S": 3, "D": 4, "C": 5, "T": 6, "B": 7}

#: QnRtn codes of the 9011 answer (request answer) that refuse a packet.
QN_REFUSED, QN_PW_ERROR, QN_MN_ERROR, QN_ST_ERROR, QN_CN_ERROR, QN_CRC_ERROR = 2, 3, 4, 5, 8, 9


@dataclass(frozen=True, slots=True)
class Pollutant:
    field: str  # the emissions field it becomes
    factor: float  # x the packet's value = the field's unit (m3/s -> m3/h: 3600)
    name: str


#: HJ 212-2017 codes (appendix B, table B.1 of the standard) the gateway maps to fields.
POLLUTANTS: dict[str, Pollutant] = {
    "a21026": Pollutant("so2_mg_m3", 1.0, "SO2 (mg/m3)"),
    "a21002": Pollutant("nox_mg_m3", 1.0, "NOx (mg/m3)"),
    "a34013": Pollutant("pm_mg_m3", 1.0, "particulate matter (mg/m3)"),
    "a19001": Pollutant("o2_pct", 1.0, "O2 (%)"),
    "a00000": Pollutant("flow_m3h", 3600.0, "flue gas flow (m3/s, standard state)"),
    "a01011": Pollutant("flue_velocity_m_s", 1.0, "flue gas velocity (m/s)"),
    "a01012": Pollutant("flue_temp_c", 1.0, "flue gas temperature (C)"),
    "a01013": Pollutant("flue_pressure_kpa", 1.0, "flue gas pressure (kPa)"),
    "a01014": Pollutant("flue_humidity_pct", 1.0, "flue gas humidity (%)"),
}


def crc16(data: bytes) -> int:
    """HJ 212's CRC16 of a data segment: register 0xFFFF; per byte, register = (register
    >> 8) XOR byte, then eight times shift right, XOR 0xA001 when a 1 was shifted out."""
    reg = 0xFFFF
    for byte in data:
        reg = (reg >> 8) ^ byte
        for _ in range(8):
            out = reg & 1
            reg >>= 1
            if out:
                reg ^= 0xA001
    return reg


def frame(segment: str) -> bytes:
    """A whole packet for ``segment`` (what instruments send and answers are)."""
    data = segment.encode("ascii")
    return b"##%04d%s%04X\r\n" % (len(data), data, crc16(data))


@dataclass(frozen=True, slots=True)
class FrameError:
    code: int  # a QnRtn code: QN_CRC_ERROR for a bad CRC, QN_REFUSED for the rest
    detail: str
    segment: bytes = b""  # the segment, when its CRC was wrong (for the answer's QN)


class Framer:
    """Packets out of a TCP byte stream: split and concatenated packets, garbage between
    them skipped (and reported). ``feed`` returns the segments (bytes) and errors found."""

    def __init__(self, max_buffer: int = 4 * MAX_SEGMENT) -> None:
        self._buf = bytearray()
        self._max = max_buffer

    def feed(self, data: bytes) -> list[bytes | FrameError]:
        self._buf += data
        out: list[bytes | FrameError] = []
        while True:
            start = self._buf.find(b"##")
            if start < 0:
                if len(self._buf) > 1:  # keep a last '#' that may begin the next header
                    out.append(
                        FrameError(QN_REFUSED, f"{len(self._buf) - 1} bytes outside packets")
                    )
                    del self._buf[: len(self._buf) - 1]
                return out
            if start:
                out.append(FrameError(QN_REFUSED, f"{start} bytes before a packet skipped"))
                del self._buf[:start]
            if len(self._buf) < 6:
                return out
            digits = bytes(self._buf[2:6])
            if not digits.isdigit():
                out.append(FrameError(QN_REFUSED, f"bad length field {digits!r}"))
                del self._buf[:2]
                continue
            size = int(digits)
            end = 6 + size + 6
            if len(self._buf) < end:
                if len(self._buf) > self._max:
                    out.append(FrameError(QN_REFUSED, "packet larger than the buffer"))
                    self._buf.clear()
                return out
            segment = bytes(self._buf[6 : 6 + size])
            crc_text, tail = (
                bytes(self._buf[6 + size : 10 + size]),
                bytes(self._buf[10 + size : end]),
            )
            if tail != b"\r\n":
                out.append(FrameError(QN_REFUSED, "packet does not end with CR LF at its length"))
                del self._buf[:2]  # resynchronise on the next '##'
                continue
            del self._buf[:end]
            try:
                crc_ok = int(crc_text, 16) == crc16(segment)
            except ValueError:
                crc_ok = False
            if crc_ok:
                out.append(segment)
            else:
                out.append(FrameError(QN_CRC_ERROR, f"CRC {crc_text!r} wrong", segment))


@dataclass(frozen=True, slots=True)
class Packet:
    qn: str
    st: str
    cn: str
    pw: str
    mn: str
    flag: int
    cp: dict[str, str] = field(default_factory=dict)

    @property
    def wants_answer(self) -> bool:
        """Flag bit 0 (A): the instrument asks for a data answer (9014)."""
        return bool(self.flag & 1)


def header(segment: bytes) -> dict[str, str]:
    """The ``key=value`` fields before CP (what an answer echoes), as far as readable."""
    text = segment.decode("ascii", "replace").split("CP=&&", 1)[0]
    return dict(part.split("=", 1) for part in text.split(";") if "=" in part)


def parse(segment: bytes) -> Packet | str:
    """The packet of a data segment, or why it is not one."""
    try:
        text = segment.decode("ascii")
    except UnicodeDecodeError:
        return "data segment is not ASCII"
    head, sep, rest = text.partition("CP=&&")
    if not sep or not rest.endswith("&&"):
        return "no CP=&&...&& in the data segment"
    fields = dict(part.split("=", 1) for part in head.split(";") if "=" in part)
    missing = [k for k in ("ST", "CN", "PW", "MN") if not fields.get(k)]
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        flag = int(fields.get("Flag", "4"))
    except ValueError:
        return f"Flag is not a number: {fields['Flag'][:8]!r}"
    cp: dict[str, str] = {}
    for group in rest[:-2].split(";"):
        for pair in group.split(","):
            key, eq, value = pair.partition("=")
            if eq:
                cp[key.strip()] = value.strip()
    return Packet(
        fields.get("QN", ""), fields["ST"], fields["CN"], fields["PW"], fields["MN"], flag, cp
    )


def values(packet: Packet) -> Iterator[tuple[str, str, float | str, str | None]]:
    """(code, field, value or a reason, flag letter or None) of each pollutant the packet
    carries (its ``-Rtd`` for real-time data, ``-Avg`` for minute and hourly data)."""
    suffix = VALUE_SUFFIX.get(packet.cn, "Avg")
    for key, raw in packet.cp.items():
        code, dash, kind = key.partition("-")
        if not dash or kind != suffix:
            continue
        pollutant = POLLUTANTS.get(code)
        flag = packet.cp.get(f"{code}-Flag")
        if pollutant is None:
            yield code, "", "not in the code table", flag
            continue
        try:
            number = float(raw)
        except ValueError:
            yield code, pollutant.field, f"not a number: {raw[:16]!r}", flag
            continue
        if number != number or number in (float("inf"), float("-inf")):
            yield code, pollutant.field, "not finite", flag
            continue
        yield code, pollutant.field, number * pollutant.factor, flag


def answer(request: dict[str, str], *, cn: str, cp: str) -> bytes:
    """An answer to ``request`` (its header fields): ST=91, the same QN, PW and MN, Flag 4
    (the 2017 version, no answer wanted)."""
    segment = (
        f"QN={request.get('QN', '')};ST=91;CN={cn};PW={request.get('PW', '')};"
        f"MN={request.get('MN', '')};Flag=4;CP=&&{cp}&&"
    )
    return frame(segment)


def data_answer(request: dict[str, str]) -> bytes:
    """9014, the data answer an upload with Flag bit 0 set asks for."""
    return answer(request, cn="9014", cp="")


def refusal(request: dict[str, str], code: int) -> bytes:
    """9011 with QnRtn ``code``: the request is refused (3 PW, 4 MN, 9 CRC error ...)."""
    return answer(request, cn="9011", cp=f"QnRtn={code}")
