"""The stored measurements' definitions: points are checked against them, and every unit
is a declared one."""

from __future__ import annotations

import pytest

from smartpark import schema
from smartpark.errors import SchemaError
from smartpark.sensorspec import CORE_KIND_SPECS


def test_a_point_is_encoded_from_its_definition() -> None:
    line = schema.QUOTA.point({"park": "p1", "enterprise": "e1"}, {"used_tce": 1.5}, 1_000)
    assert line == "quota,enterprise=e1,park=p1 used_tce=1.5 1000"


@pytest.mark.parametrize(
    ("tags", "fields", "named"),
    [
        ({"park": "p1", "scope": "e1"}, {"used_tce": 1.0}, "used_tce"),  # a field of quota
        ({"park": "p1", "window": "1d"}, {"energy_tce": 1.0}, "window"),  # not a tag here
    ],
)
def test_an_undeclared_tag_or_field_is_refused(
    tags: dict[str, str], fields: dict[str, float], named: str
) -> None:
    with pytest.raises(SchemaError, match=named):
        schema.CARBON_BUDGET.point(tags, fields, 0)


def test_readers_name_fields_through_the_definition() -> None:
    assert schema.KPI.names("energy_tce", "co2_market_t") == ["energy_tce", "co2_market_t"]
    with pytest.raises(SchemaError, match="co2_t"):
        schema.KPI.names("co2_t")
    with pytest.raises(SchemaError, match="readings_raw"):
        schema.rollup("readings_raw")


def test_every_roll_up_field_has_a_declared_unit_and_a_meaning() -> None:
    for m in schema.ROLLUPS.values():
        for f in m.fields.values():
            assert f.unit in schema.UNITS and f.meaning, (m.name, f.name)
            assert (f.type == "bool") == (f.unit == schema.FLAG), (m.name, f.name)


def test_units_follow_the_names() -> None:
    """Units in names (``energy_tce``, ``co2_t``): a field's suffix and its unit agree."""
    suffixes = {"_tce": schema.TCE, "_kwh": schema.KWH, "_m3": schema.M3, "_pct": schema.PCT,
                "_per_tce": schema.T_PER_TCE, "_co2_t": schema.TCO2, "_mg_m3": schema.MG_M3}  # fmt: skip
    for m in schema.ROLLUPS.values():
        for f in m.fields.values():
            name = f.name.removesuffix("_target").removesuffix("_corrected").removesuffix("_limit")
            if f.type != "float":
                continue
            ends = [s for s in suffixes if name.endswith(s)]
            if ends:
                assert f.unit == suffixes[max(ends, key=len)], (m.name, f.name, f.unit)


def test_targets_carry_the_unit_of_their_kpi() -> None:
    for name in schema.TARGETABLE:
        assert schema.KPI.unit(f"{name}_target") == schema.KPI.unit(name)
        assert schema.KPI.field(f"{name}_met").type == "bool"


def test_readings_measurements_come_from_the_registry_kinds() -> None:
    m = schema.readings("gas", CORE_KIND_SPECS["gas"])
    assert (m.name, m.tags) == ("gas", ("park", "enterprise", "sensor"))
    assert {n: f.unit for n, f in m.fields.items()} == {"volume_m3": "m3", "flow_m3h": "m3/h"}


def test_the_api_sums_totals_by_their_unit_not_their_name() -> None:
    from api.reads import ADDITIVE, TAGS

    assert set(schema.KPI.fields) >= ADDITIVE
    assert {"energy_tce", "co2_location_t", "grid_kwh", "added_value_cny"} <= ADDITIVE
    # ratios whose names end like totals are not summed
    assert not {"energy_tce_per_10k_cny", "co2_market_t_per_10k_cny", "used_pct"} & ADDITIVE
    assert set(schema.KPI.tags) <= TAGS and not TAGS & set(schema.KPI.fields)
