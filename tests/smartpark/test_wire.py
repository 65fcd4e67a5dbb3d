"""Topic grammar and payload decoding, as tables."""

from __future__ import annotations

import orjson
import pytest

from smartpark.model import Reason, SensorRef
from smartpark.wire import Limits, Problem, decode, parse_topic, parse_ts

NOW = 1_795_000_000_000
FIELDS = frozenset({"energy_kwh", "power_kw"})
LIMITS = Limits(
    max_payload_bytes=1024, max_readings=3, max_future_ms=300_000, max_past_ms=86_400_000
)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("sp/p1/e1/electricity/m1", SensorRef("p1", "e1", "electricity", "m1")),
        ("sp/p-1/e_1/gas/0abc", SensorRef("p-1", "e_1", "gas", "0abc")),
        ("sp/_deadletter/bad_json", None),
        ("sp/p1/e1/_alerts", None),
        ("sp/p1/e1/electricity", Reason.BAD_TOPIC),
        ("other/p1/e1/electricity/m1", Reason.BAD_TOPIC),
        ("sp/P1/e1/electricity/m1", Reason.BAD_TOPIC),
        ("sp/p1/e1/electricity/-m1", Reason.BAD_TOPIC),
        ("sp/p1/e1/electricity/m 1", Reason.BAD_TOPIC),
        ("sp/p1//electricity/m1", Reason.BAD_TOPIC),
        ("sp/p1/e1/electricity/" + "m" * 65, Reason.BAD_TOPIC),
    ],
)
def test_parse_topic(topic: str, expected: SensorRef | Reason | None) -> None:
    got = parse_topic(topic, "sp")
    if isinstance(expected, Reason):
        assert isinstance(got, Problem) and got.reason is expected
    else:
        assert got == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1_795_000_000_123, 1_795_000_000_123),
        ("2026-11-24T08:00:00Z", 1_795_507_200_000),
        ("2026-11-24T16:00:00.250+08:00", 1_795_507_200_250),
        ("2026-11-24 16:00:00+08:00", 1_795_507_200_000),
    ],
)
def test_parse_ts_accepts_epoch_ms_and_offset_timestamps(raw: object, expected: int) -> None:
    assert parse_ts(raw) == expected


@pytest.mark.parametrize("raw", [None, "2026-11-24T08:00:00", "noon", 1.5, True, [1]])
def test_parse_ts_refuses_the_rest_with_a_reason(raw: object) -> None:
    assert isinstance(parse_ts(raw), str)


def _decode(doc: object) -> tuple[list, list[Problem]]:
    payload = doc if isinstance(doc, bytes) else orjson.dumps(doc)
    return decode(payload, fields=FIELDS, now_ms=NOW, limits=LIMITS)


@pytest.mark.parametrize(
    ("doc", "readings"),
    [
        ({"ts": NOW, "values": {"energy_kwh": 1.5}}, [(NOW, {"energy_kwh": 1.5}, None)]),
        ({"ts": NOW, "values": {"power_kw": 3}, "seq": 9}, [(NOW, {"power_kw": 3}, 9)]),
        (
            [
                {"ts": NOW - 1, "values": {"energy_kwh": 1.0}},
                {"ts": NOW, "values": {"power_kw": -2.5}},
            ],
            [(NOW - 1, {"energy_kwh": 1.0}, None), (NOW, {"power_kw": -2.5}, None)],
        ),
        (
            {"ts": NOW + 300_000, "values": {"energy_kwh": 0}},
            [(NOW + 300_000, {"energy_kwh": 0}, None)],
        ),
    ],
)
def test_good_payloads_decode_to_readings(doc: object, readings: list) -> None:
    assert _decode(doc) == (readings, [])


@pytest.mark.parametrize(
    ("doc", "reason"),
    [
        (b"{", Reason.BAD_JSON),
        (b"\xff", Reason.BAD_ENCODING),
        (b"x" * 1025, Reason.PAYLOAD_TOO_LARGE),
        ([], Reason.BAD_SHAPE),
        ("text", Reason.BAD_SHAPE),
        ([{"ts": NOW, "values": {"energy_kwh": 1}}] * 4, Reason.TOO_MANY_READINGS),
        ({"ts": NOW + 300_001, "values": {"energy_kwh": 1}}, Reason.TS_OUT_OF_RANGE),
        ({"ts": NOW - 86_400_001, "values": {"energy_kwh": 1}}, Reason.TS_OUT_OF_RANGE),
        ({"ts": NOW, "values": {"gas_m3": 1}}, Reason.UNKNOWN_FIELD),
        ({"ts": NOW, "values": {"energy_kwh": False}}, Reason.BAD_VALUE),
        ({"ts": NOW, "values": {"energy_kwh": 1}, "seq": 1.0}, Reason.BAD_SEQ),
    ],
)
def test_bad_payloads_decode_to_one_problem(doc: object, reason: Reason) -> None:
    readings, problems = _decode(doc)
    assert readings == []
    assert [p.reason for p in problems] == [reason]


def test_an_array_keeps_its_good_readings_and_indexes_its_bad_ones() -> None:
    readings, problems = _decode(
        [
            {"ts": NOW, "values": {"energy_kwh": 1}},
            {"ts": "later", "values": {"energy_kwh": 2}},
            {"ts": NOW + 1, "values": {"energy_kwh": 3}},
        ]
    )
    assert readings == [(NOW, {"energy_kwh": 1}, None), (NOW + 1, {"energy_kwh": 3}, None)]
    assert [(p.reason, p.index) for p in problems] == [(Reason.BAD_TS, 1)]


def test_ts_in_seconds_gets_a_hint() -> None:
    _, problems = _decode({"ts": NOW // 1000, "values": {"energy_kwh": 1}})
    assert "seconds instead of milliseconds" in problems[0].detail
