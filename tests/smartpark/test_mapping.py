"""Uplink mappings of vendor payloads (examples/park.yaml ``mappings``), as tables: each
shape's good message and its bad variants with the reason each is dead-lettered for."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import orjson
import pytest
import yaml

from smartpark import registry as registry_mod
from smartpark.mapping import Mapper, _Bad, parse_time
from smartpark.model import Reason, SensorRef
from smartpark.registry import Registry
from smartpark.wire import Limits
from tests.conftest import EXAMPLE_PARK

NOW = 1_795_507_200_000  # 2026-11-24 08:00:00 UTC = 16:00 Beijing time
NOW_S = NOW // 1000
LIMITS = Limits()
NM3 = 293.15 / 273.15


def ref(enterprise: str, kind: str, sensor: str) -> SensorRef:
    return SensorRef("tianfu-np", enterprise, kind, sensor)


E04 = "e04-cannery"
GRID1, GRID2 = ref(E04, "electricity", "e04-grid-1"), ref(E04, "electricity", "e04-grid-2")
GAS1 = ref(E04, "gas", "e04-gas-1")
E11GRID = ref("e11-coldchain", "electricity", "e11-grid-1")


@pytest.fixture(scope="module")
def mapper() -> Mapper:
    return Mapper(registry_mod.load(EXAMPLE_PARK), LIMITS)


def _points(*points: dict, time: object = NOW_S) -> dict:
    return {"gw": "GW01", "time": time, "points": list(points)}


GOOD = [
    # 1. points list with names, a scaled integer, W -> kW, a point not mapped (Ua)
    (
        "vendor/acrel/GW01/data",
        _points(
            {"dev": "grid-1", "name": "Ep", "value": 12345678},
            {"dev": "grid-1", "name": "P", "value": 250000},
            {"dev": "grid-1", "name": "Ua", "value": 229.8},
            {"dev": "grid-2", "name": "Ep", "value": 50},
        ),
        [(GRID1, NOW, {"energy_kwh": 123456.78, "power_kw": 250.0}),
         (GRID2, NOW, {"energy_kwh": 0.5})],
    ),
    # 2. one object per meter, Wh -> kWh, an optional field absent in one
    (
        "vendor/meters/gw7",
        {"ts": "2026-11-24T16:00:00+08:00",
         "meters": {"e04-grid-1": {"EPI": 1500, "P": 12.5}, "E04-GRID-2": {"EPI": 2500}}},
        [(GRID1, NOW, {"energy_kwh": 1.5, "power_kw": 12.5}), (GRID2, NOW, {"energy_kwh": 2.5})],
    ),
    # 3. arrays of [ts, value]: several timestamps in one message, Nm3 -> m3 at 20 C
    (
        "vendor/history/e04-gas-1",
        {"V": [[NOW - 60_000, 100], [NOW, 101]], "F": [[NOW, 60]]},
        [(GAS1, NOW - 60_000, {"volume_m3": 100 * NM3}),
         (GAS1, NOW, {"volume_m3": 101 * NM3, "flow_m3h": 60 * NM3})],
    ),
    # 4. local (Beijing) time without an offset, numbers as strings
    (
        "vendor/plc/grid-1",
        {"time": "2026-11-24 16:00:00", "Ep": "88.25", "P": " 3.5"},
        [(E11GRID, NOW, {"energy_kwh": 88.25, "power_kw": 3.5})],
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("topic", "doc", "expected"), GOOD, ids=["points", "nested", "series", "local"]
)
def test_each_payload_shape_maps_to_native_readings(
    mapper: Mapper, topic: str, doc: dict, expected: list
) -> None:
    result = mapper.map(topic, orjson.dumps(doc), now_ms=NOW)
    assert result is not None
    readings, problems = result
    assert problems == []
    got = [(r.ref, r.ts_ms, r.values) for r in readings]
    assert len(got) == len(expected)
    for (g_ref, g_ts, g_values), (e_ref, e_ts, e_values) in zip(got, expected, strict=True):
        assert (g_ref, g_ts) == (e_ref, e_ts)
        assert g_values == pytest.approx(e_values)


BAD = [
    # points
    ("vendor/acrel/GW01/data", {"gw": "GW01", "time": NOW_S}, Reason.MAPPING_NO_MATCH, 0),
    ("vendor/acrel/GW01/data", _points({"dev": "grid-1", "name": "Ep"}), Reason.MAPPING_MISSING_FIELD, 0),
    ("vendor/acrel/GW01/data", _points({"name": "Ep", "value": 1}), Reason.MAPPING_MISSING_FIELD, 0),
    ("vendor/acrel/GW01/data", _points({"dev": "grid-1", "name": "Ep", "value": "1"}), Reason.MAPPING_BAD_VALUE, 0),
    ("vendor/acrel/GW01/data", _points({"dev": "grid-9", "name": "Ep", "value": 1}), Reason.MAPPING_UNKNOWN_SENSOR, 0),
    ("vendor/acrel/GW01/data", _points({"dev": "stack-1", "name": "Ep", "value": 1}), Reason.UNKNOWN_FIELD, 0),
    ("vendor/acrel/GW01/data", _points({"dev": "grid-1", "name": "Ep", "value": 1}, time="noon"), Reason.MAPPING_BAD_TIMESTAMP, 0),
    ("vendor/acrel/GW01/data", _points({"dev": "grid-1", "name": "Ep", "value": 1}, time=NOW), Reason.TS_OUT_OF_RANGE, 0),
    # nested: another enterprise's sensor is not this mapping's to write
    ("vendor/meters/gw7", {"ts": "2026-11-24T16:00:00+08:00"}, Reason.MAPPING_NO_MATCH, 0),
    ("vendor/meters/gw7", {"ts": "2026-11-24T16:00:00+08:00", "meters": {"e04-grid-1": {"P": 1}}}, Reason.MAPPING_MISSING_FIELD, 0),
    ("vendor/meters/gw7", {"ts": "2026-11-24T16:00:00", "meters": {"e04-grid-1": {"EPI": 1}}}, Reason.MAPPING_BAD_TIMESTAMP, 0),
    ("vendor/meters/gw7", {"ts": "2026-11-24T16:00:00+08:00", "meters": {"e01-grid-1": {"EPI": 1}}}, Reason.MAPPING_UNKNOWN_SENSOR, 0),
    # series
    ("vendor/history/e04-gas-1", {"F": [[NOW, 1]]}, Reason.MAPPING_MISSING_FIELD, 0),
    ("vendor/history/e04-gas-1", {"V": [[NOW, 1, 2]]}, Reason.MAPPING_BAD_VALUE, 0),
    ("vendor/history/e04-gas-1", {"V": [[NOW_S, 1]]}, Reason.TS_OUT_OF_RANGE, 0),
    ("vendor/history/e04-gas-1", {"V": [["x", 1]]}, Reason.MAPPING_BAD_TIMESTAMP, 0),
    # local time
    ("vendor/plc/grid-1", {"time": "2026-11-24T16:00:00", "Ep": "1"}, Reason.MAPPING_BAD_TIMESTAMP, 0),
    ("vendor/plc/grid-1", {"time": "2026-11-24 16:00:00+08:00", "Ep": "1"}, Reason.MAPPING_BAD_TIMESTAMP, 0),
    ("vendor/plc/grid-1", {"time": "2026-11-24 16:00:00", "Ep": "12,5"}, Reason.MAPPING_BAD_VALUE, 0),
    ("vendor/plc/grid-1", {"time": "2026-11-24 16:00:00", "Ep": 12.5}, Reason.MAPPING_BAD_VALUE, 0),
    ("vendor/plc/Bad Id", {"time": "2026-11-24 16:00:00", "Ep": "1"}, Reason.MAPPING_UNKNOWN_SENSOR, 0),
]  # fmt: skip


@pytest.mark.parametrize(("topic", "doc", "reason", "good"), BAD)
def test_bad_variants_are_refused_with_their_reason(
    mapper: Mapper, topic: str, doc: dict, reason: Reason, good: int
) -> None:
    result = mapper.map(topic, orjson.dumps(doc), now_ms=NOW)
    assert result is not None
    readings, problems = result
    assert len(readings) == good
    assert [p.reason for p in problems] == [reason], problems


def test_one_bad_point_costs_only_itself(mapper: Mapper) -> None:
    doc = _points(
        {"dev": "grid-1", "name": "Ep", "value": 100},
        {"dev": "grid-9", "name": "Ep", "value": 1},
        {"dev": "grid-2", "name": "Ep", "value": "x"},
        {"dev": "grid-2", "name": "P", "value": 1000},
    )
    result = mapper.map("vendor/acrel/GW01/data", orjson.dumps(doc), now_ms=NOW)
    assert result is not None
    readings, problems = result
    assert [(r.ref, r.values) for r in readings] == [
        (GRID1, {"energy_kwh": 1.0}),
        (GRID2, {"power_kw": 1.0}),
    ]
    assert [(p.reason, p.index) for p in problems] == [
        (Reason.MAPPING_UNKNOWN_SENSOR, 1),
        (Reason.MAPPING_BAD_VALUE, 2),
    ]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"{not json", Reason.BAD_JSON), (b"\xff\xfe", Reason.BAD_ENCODING)],
)
def test_unreadable_payloads_keep_the_native_reasons(
    mapper: Mapper, payload: bytes, reason: Reason
) -> None:
    result = mapper.map("vendor/plc/grid-1", payload, now_ms=NOW)
    assert result is not None and [p.reason for p in result[1]] == [reason]


def test_topics_no_mapping_fits_are_not_the_mappers(mapper: Mapper) -> None:
    assert mapper.map("vendor/acrel/GW01", b"{}", now_ms=NOW) is None
    assert mapper.map("other/plc/grid-1", b"{}", now_ms=NOW) is None
    assert set(mapper.filters()) == {
        "vendor/acrel/+/data", "vendor/meters/+", "vendor/history/+", "vendor/plc/+",
    }  # fmt: skip


BERLIN = ZoneInfo("Europe/Berlin")


@pytest.mark.parametrize(
    ("fmt", "raw", "tz", "expected"),
    [
        ("epoch_s", NOW_S, BERLIN, NOW),
        ("epoch_s", str(NOW_S), BERLIN, NOW),
        ("epoch_s", NOW_S + 0.25, BERLIN, NOW + 250),
        ("epoch_ms", NOW, BERLIN, NOW),
        ("epoch_us", NOW * 1000 + 400, BERLIN, NOW),
        ("iso", "2026-11-24T08:00:00Z", BERLIN, NOW),
        ("local", "2026-11-24T16:00:00", ZoneInfo("Asia/Shanghai"), NOW),
        # a repeated hour (end of summer time) takes its first occurrence, +02:00
        ("local", "2026-10-25T02:30:00", BERLIN, 1_792_888_200_000),
        # a skipped hour (start of summer time) does not exist
        ("local", "2026-03-29T02:30:00", BERLIN, None),
        ("epoch_s", True, BERLIN, None),
        ("epoch_ms", "12a", BERLIN, None),
        ("iso", 1, BERLIN, None),
    ],
)
def test_time_formats(fmt: str, raw: object, tz: ZoneInfo, expected: int | None) -> None:
    if expected is None:
        with pytest.raises(_Bad) as caught:
            parse_time(raw, fmt=fmt, tz=tz, local_format=None)
        assert caught.value.reason is Reason.MAPPING_BAD_TIMESTAMP
    else:
        assert parse_time(raw, fmt=fmt, tz=tz, local_format=None) == expected


def _with_mappings(*mappings: dict) -> tuple[Registry | None, list[str]]:
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    doc["parks"][0]["mappings"] = list(mappings)
    return registry_mod.parse(doc)


BASE = {"id": "m1", "topic": "v/{gw}", "enterprises": ["e04-cannery"], "sensor": "{gw}",
        "ts": {"format": "epoch_ms"}, "fields": {"energy_kwh": {"source": "item.E"}}}  # fmt: skip


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"topic": "v/+/x"}, "use {placeholders}"),
        ({"topic": "v/gw-{gw}"}, "a placeholder fills a whole topic level"),
        ({"sensor": "{meter}"}, "sensor template names {meter}"),
        ({"items": "points[?"}, "not a JMESPath expression"),
        ({"enterprises": ["e99"]}, "'e99' is not an enterprise of the park"),
        ({"fields": {"mass_t": {"source": "item.N"}}}, "fields.mass_t: no sensor"),
        ({"shape": "points"}, "shape points needs name and value"),
        ({"ts": {"format": "local"}, "timezone": "Mars/Base"}, "unknown timezone"),
        ({"fields": {"energy_kwh": {"source": "item.E", "convert": "btu_to_kwh"}}}, "convert"),
    ],
)
def test_config_check_locates_mapping_errors(change: dict, message: str) -> None:
    registry, problems = _with_mappings({**BASE, **change})
    assert registry is None
    text = "\n".join(problems)
    assert "parks[0 id='tianfu-np'].mappings[0" in text and message in text, text


def test_two_mappings_of_one_topic_are_refused() -> None:
    registry, problems = _with_mappings(BASE, {**BASE, "id": "m2", "topic": "v/{other}",
                                               "sensor": "{other}"})  # fmt: skip
    assert registry is None
    assert any("another mapping of this park reads 'v/+'" in p for p in problems), problems


def _readme_block(name: str) -> dict:
    readme = (EXAMPLE_PARK.parent.parent / "README.md").read_text(encoding="utf-8")
    after = readme.split(f"<!-- example: {name} -->", 1)[1]
    return orjson.loads(after.split("```json", 1)[1].split("```", 1)[0])


def test_the_readme_worked_example_of_a_vendor_gateway(mapper: Mapper) -> None:
    message = _readme_block("acrel-points message")
    expected = _readme_block("acrel-points readings")
    result = mapper.map(message["topic"], orjson.dumps(message["payload"]), now_ms=NOW)
    assert result is not None
    readings, problems = result
    got = [
        {"topic": f"smartpark/{r.ref.park}/{r.ref.enterprise}/{r.ref.kind}/{r.ref.sensor}",
         "ts": r.ts_ms, "values": r.values}
        for r in readings
    ]  # fmt: skip
    assert got == expected["readings"]
    assert [{"reason": p.reason.value, "index": p.index} for p in problems] == expected[
        "deadletters"
    ]
