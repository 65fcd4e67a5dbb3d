"""Line protocol and InfluxQL: escaping tables, and hostile names round-tripped through a real InfluxDB."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from smartpark.errors import StoreRejected
from smartpark.store.influx1 import Influx1Store
from smartpark.store.influxql import Select, quote_ident, quote_string
from smartpark.store.lineprotocol import (
    encode_fast,
    encode_point,
    escape_key,
    escape_measurement,
    format_value,
)


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("plain", "plain"),
        ("a b", r"a\ b"),
        ("a,b", r"a\,b"),
        ("a=b", r"a\=b"),
        ("a ,=", r"a\ \,\="),
    ],
)
def test_escape_key(raw: str, escaped: str) -> None:
    assert escape_key(raw) == escaped


@pytest.mark.parametrize(
    ("raw", "escaped"), [("cpu", "cpu"), ("a b", r"a\ b"), ("a,b", r"a\,b"), ("a=b", "a=b")]
)
def test_escape_measurement(raw: str, escaped: str) -> None:
    assert escape_measurement(raw) == escaped


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (1, "1.0"),
        (2.5, "2.5"),
        (-0.0, "-0.0"),
        (1e16, "1e+16"),
        (True, "true"),
        ('say "hi"\\', r'"say \"hi\"\\"'),
    ],
)
def test_format_value(value: object, text: str) -> None:
    assert format_value(value) == text  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["a\nb", "a\rb", "", "back\\slash", "trailing\\"])
def test_names_line_protocol_cannot_carry_are_refused(bad: str) -> None:
    with pytest.raises(ValueError, match=r"newline|empty|backslash"):
        escape_key(bad)
    with pytest.raises(ValueError, match=r"newline|empty|backslash"):
        escape_measurement(bad)


def test_non_finite_values_are_refused() -> None:
    with pytest.raises(ValueError, match="non-finite"):
        format_value(float("nan"))


def test_fast_encoder_matches_the_general_one() -> None:
    tags = {"park": "p", "enterprise": "e", "sensor": "s"}
    values = {"energy_kwh": 12, "power_kw": 3.25}
    from smartpark.store.lineprotocol import series_key

    assert encode_fast(series_key("electricity", tags), values, 5) == encode_point(
        "electricity", tags, values, 5
    )


@pytest.mark.parametrize(
    ("text", "ident", "literal"),
    [
        ("plain", '"plain"', "'plain'"),
        ("it's", '"it\'s"', "'it\\'s'"),
        ('say "x"', '"say \\"x\\""', "'say \"x\"'"),
        ("back\\slash", '"back\\\\slash"', "'back\\\\slash'"),
    ],
)
def test_influxql_quoting(text: str, ident: str, literal: str) -> None:
    assert quote_ident(text) == ident
    assert quote_string(text) == literal


def test_influxql_refuses_newlines_and_naive_times() -> None:
    with pytest.raises(ValueError):
        quote_string("x'\nDROP DATABASE y")
    with pytest.raises(ValueError):
        Select("m", ["f"], start=datetime(2026, 1, 1)).to_influxql()


HOSTILE = [
    "comma,tag",
    "space tag",
    "equals=tag",
    'double"quote',
    "single'quote",
    "all of ,= \"' them",
    "'; DROP DATABASE x; --",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_names_round_trip_through_a_real_influxdb(
    store: Influx1Store, hostile: str
) -> None:
    """What is written under a name is read back under exactly that name, and nothing else is."""
    measurement = f"m {hostile}"
    text = f'v "{hostile}" \\ end\\'  # string fields do carry backslashes
    t0 = int(datetime.now(UTC).timestamp()) * 1000  # recent: a raw reading's policy keeps it
    line_a = encode_point(
        measurement, {"tag": hostile, "other": "x"}, {hostile: 1.5, "f": text}, t0
    )
    line_b = encode_point(
        measurement, {"tag": hostile + "-not", "other": "x"}, {hostile: 9.0}, t0 + 1_000
    )
    store.write(f"{line_a}\n{line_b}".encode())
    query = Select(
        measurement, [hostile, "f"], tags={"tag": hostile}, start=datetime(1970, 1, 1, tzinfo=UTC),
        retention_policy=store.raw_policy,
    )  # fmt: skip
    series = store.query(query.to_influxql())
    assert len(series) == 1
    assert series[0].name == measurement
    assert series[0].values == [[t0, 1.5, text]]


def test_a_field_type_conflict_is_a_rejection_not_an_outage(store: Influx1Store) -> None:
    t0 = int(datetime.now(UTC).timestamp()) * 1000
    store.write(f"conflict f=1.0 {t0}".encode())
    with pytest.raises(StoreRejected) as err:
        store.write(f'conflict f="text" {t0 + 1000}'.encode())
    assert err.value.status == 400


def test_reading_a_database_nothing_was_written_to_yet_gives_no_series(settings) -> None:  # type: ignore[no-untyped-def]
    fresh = Influx1Store(url=settings.influx.url, database=f"{settings.influx.database}_never",
                         raw_policy="raw", raw_days=410)  # fmt: skip
    try:
        query = Select("electricity", ["energy_kwh"], retention_policy=fresh.raw_policy)
        assert query.to_influxql().startswith('SELECT "energy_kwh" FROM "raw"."electricity"')
        assert fresh.query(query.to_influxql()) == []
        with pytest.raises(StoreRejected, match="error parsing query"):
            fresh.query("SELECT FROM WHERE")
    finally:
        fresh.close()
