"""HJ 212-2017 codec and packet handling, as tables: packets built per the standard by a
helper that is not the parser."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import orjson
import pytest

from gateway import hj212
from gateway.hj212server import Hj212Handler, packet_time
from smartpark import registry as registry_mod
from smartpark.gatewayspec import Hj212Instrument
from tests.conftest import EXAMPLE_PARK
from tests.gateway import hj212_packets as build

TZ = ZoneInfo("Asia/Shanghai")
TS = 1_795_507_200_000  # 2026-11-24 16:00:00 Beijing time
MN, PW = "88888880000001", "123456"
FIELDS = frozenset({"so2_mg_m3", "nox_mg_m3", "pm_mg_m3", "o2_pct", "flow_m3h", "data_flag"})


def test_crc_of_the_standards_own_example() -> None:
    # the example packet in HJ 212-2017: ##0101QN=...&&RtdInterval=30&&1C80
    seg = b"QN=20160801085857223;ST=32;CN=1062;PW=100000;MN=010000A8900016F000169DC0;Flag=5;CP=&&RtdInterval=30&&"
    assert len(seg) == 101
    assert hj212.crc16(seg) == build.crc(seg) == 0x1C80
    assert hj212.frame(seg.decode()) == b"##0101" + seg + b"1C80\r\n"


def _minute(ts: int = TS, flag: str = "N", **kw: object) -> bytes:
    values = {"a21002": (25.5, flag), "a21026": (3.0, flag), "a19001": (5.2, flag)}
    return build.packet(build.segment(cn="2051", mn=MN, pw=PW, ts_ms=ts, values=values, **kw))  # type: ignore[arg-type]


def test_split_and_concatenated_packets_on_one_stream_are_each_found_once() -> None:
    one, two = _minute(), _minute(TS + 60_000, "M")
    stream = b"noise" + one + two + b"\r\n" + build.packet("QN=1;ST=31", bad_crc=True)
    framer = hj212.Framer()
    found: list[bytes | hj212.FrameError] = []
    for i in range(0, len(stream), 7):  # seven bytes at a time: every split point
        found += framer.feed(stream[i : i + 7])
    segments = [f for f in found if isinstance(f, bytes)]
    errors = [f for f in found if isinstance(f, hj212.FrameError)]
    assert segments == [one[6:-6], two[6:-6]]
    assert [e.code for e in errors if e.code == hj212.QN_CRC_ERROR] == [hj212.QN_CRC_ERROR]
    assert errors[-1].segment == b"QN=1;ST=31"
    # the whole stream at once gives the same
    again = hj212.Framer().feed(stream)
    assert [f for f in again if isinstance(f, bytes)] == segments


def test_a_packet_whose_length_field_lies_is_skipped_and_the_next_one_read() -> None:
    good = _minute()
    liar = b"##0010QN=1;ST=31;CN=2051;XXXX\r\n"
    found = hj212.Framer().feed(liar + good)
    assert [f for f in found if isinstance(f, bytes)] == [good[6:-6]]


def test_parse_reads_header_and_cp_groups() -> None:
    packet = hj212.parse(_minute()[6:-6])
    assert isinstance(packet, hj212.Packet)
    assert (packet.st, packet.cn, packet.pw, packet.mn, packet.flag) == ("31", "2051", PW, MN, 5)
    assert packet.wants_answer
    assert packet.cp["a21002-Avg"] == "25.5" and packet.cp["a21002-Flag"] == "N"
    assert packet.cp["DataTime"] == "20261124160000"


@pytest.mark.parametrize(
    ("segment", "reason"),
    [
        (b"QN=1;ST=31;CN=2051;PW=1;MN=2;Flag=5", "no CP=&&...&& in the data segment"),
        (b"QN=1;ST=31;CN=2051;MN=2;Flag=5;CP=&&&&", "missing PW"),
        (b"QN=1;ST=31;CN=2051;PW=1;MN=2;Flag=x;CP=&&&&", "Flag is not a number: 'x'"),
        ("QN=1;ST=31;CN=2051;PW=1;MN=2;CP=&&DataTime=é&&".encode(), "data segment is not ASCII"),
    ],
)
def test_parse_says_why_a_segment_is_not_a_packet(segment: bytes, reason: str) -> None:
    assert hj212.parse(segment) == reason


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("20261124160000", TS), ("20261124250000", None), ("2026112416", None), (None, None)],
)
def test_packet_times_are_beijing_time(raw: str | None, expected: int | None) -> None:
    assert packet_time(raw, TZ) == expected


def _handler() -> Hj212Handler:
    inst = Hj212Instrument(
        mn=MN, pw=PW, minute_sensor="stack", realtime_sensor="stack-rt", hourly_sensor="stack-h"
    )
    return Hj212Handler(
        [inst], fields_of={"stack": FIELDS, "stack-rt": FIELDS, "stack-h": FIELDS}, tz=TZ
    )


def _segment(**kw: object) -> bytes:
    args: dict = {"cn": "2051", "mn": MN, "pw": PW, "ts_ms": TS,
                  "values": {"a21002": (25.5, "N"), "a00000": (2.0, "N")}} | kw  # fmt: skip
    return build.packet(build.segment(**args))[6:-6]


def _reply(raw: bytes | None) -> dict[str, str] | None:
    if raw is None:
        return None
    found = hj212.Framer().feed(raw)
    assert len(found) == 1 and isinstance(found[0], bytes)
    packet = hj212.parse(found[0])
    assert isinstance(packet, hj212.Packet)
    return {"CN": packet.cn, "ST": packet.st, "MN": packet.mn, **packet.cp}


@pytest.mark.parametrize(
    ("segment", "reading", "reply"),
    [
        # a minute packet with an answer asked for (Flag 5): flow m3/s -> m3/h
        (_segment(), ("stack", TS, {"nox_mg_m3": 25.5, "flow_m3h": 7200.0, "data_flag": 0.0}),
         {"CN": "9014", "ST": "91", "MN": MN}),
        # no answer asked for (Flag 4)
        (_segment(flag=4), ("stack", TS, {"nox_mg_m3": 25.5, "flow_m3h": 7200.0, "data_flag": 0.0}), None),
        # maintenance minute: the flag letter M as data_flag 2; over range T as 6
        (_segment(values={"a21002": (25.5, "M")}), ("stack", TS, {"nox_mg_m3": 25.5, "data_flag": 2.0}),
         {"CN": "9014", "ST": "91", "MN": MN}),
        (_segment(values={"a21002": (250.0, "T")}, flag=4), ("stack", TS, {"nox_mg_m3": 250.0, "data_flag": 6.0}), None),
        # real-time (Rtd) and hourly packets go to their own sensors
        (_segment(cn="2011", flag=4), ("stack-rt", TS, {"nox_mg_m3": 25.5, "flow_m3h": 7200.0, "data_flag": 0.0}), None),
        (_segment(cn="2061", flag=4), ("stack-h", TS, {"nox_mg_m3": 25.5, "flow_m3h": 7200.0, "data_flag": 0.0}), None),
        # refusals, with the standard's return codes
        (_segment(mn="99999999999999"), None, {"CN": "9011", "ST": "91", "MN": "99999999999999", "QnRtn": "4"}),
        (_segment(pw="654321"), None, {"CN": "9011", "ST": "91", "MN": MN, "QnRtn": "3"}),
        (hj212.FrameError(hj212.QN_CRC_ERROR, "bad", _segment()), None,
         {"CN": "9011", "ST": "91", "MN": MN, "QnRtn": "9"}),
    ],
)  # fmt: skip
def test_packets_become_readings_answers_or_refusals(
    segment: bytes | hj212.FrameError, reading: tuple | None, reply: dict | None
) -> None:
    outcome = _handler().handle(segment)
    assert outcome.reading == reading
    assert _reply(outcome.reply) == reply


def test_values_the_sensor_cannot_hold_are_counted_and_mixed_flags_take_the_non_normal_one() -> (
    None
):
    handler = _handler()
    seg = _segment(flag=4, values={"a21002": (20.0, "N"), "a21026": (1.0, "C"),
                                   "a99999": (1.0, "N"), "a01012": (140.0, "N")})  # fmt: skip
    outcome = handler.handle(seg)
    assert outcome.reading == ("stack", TS, {"nox_mg_m3": 20.0, "so2_mg_m3": 1.0, "data_flag": 5.0})
    assert handler.stats.mixed_flags == 1
    assert handler.stats.values_not_stored == {
        "a99999: not in the code table": 1,
        "a01012: sensor has no field flue_temp_c": 1,
        "unknown flag letter": 0,
    }


def _readme_block(name: str) -> str:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    after = readme.split(f"<!-- example: {name} -->", 1)[1]
    return after.split("```", 2)[1].split("\n", 1)[1]


def test_the_readme_worked_example_of_a_cems_instrument() -> None:
    registry = registry_mod.load(EXAMPLE_PARK)
    gw = registry.parks["tianfu-np"].gateways[0]
    stack = registry.sensor("tianfu-np", "e04-stack-1")
    assert stack is not None
    handler = Hj212Handler(gw.hj212, fields_of={"e04-stack-1": frozenset(stack.fields)}, tz=TZ)
    packet = _readme_block("hj212 packet").strip().encode() + b"\r\n"
    expected = orjson.loads(_readme_block("hj212 reading"))
    found = hj212.Framer().feed(packet)
    assert len(found) == 1 and isinstance(found[0], bytes)
    outcome = handler.handle(found[0])
    assert outcome.reading is not None
    sensor, ts_ms, values = outcome.reading
    assert f"smartpark/tianfu-np/e04-cannery/emissions/{sensor}" == expected["topic"]
    assert {"ts": ts_ms, "values": values} == expected["payload"]
    assert outcome.reply == expected["answer"].encode() + b"\r\n"
