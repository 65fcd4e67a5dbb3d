"""The registry: the example park loads; every problem of a bad file is reported with where it is."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from smartpark import registry as registry_mod
from smartpark.errors import ConfigError
from smartpark.model import Reason
from tests.conftest import EXAMPLE_PARK


def test_example_park_is_a_realistic_park(park: registry_mod.Registry) -> None:
    enterprises = [e for p in park.parks.values() for e in p.enterprises]
    kinds = {s.ref.kind for s in park.sensors()}
    assert 10 <= len(enterprises) <= 14
    assert 90 <= len(park) <= 120
    assert {"electricity", "pv", "gas", "emissions", "production", "steam"} <= kinds
    industries = {e.industry.split("/")[0] for e in enterprises}
    assert {"food_beverage", "pharmaceuticals", "new_materials", "energy"} <= industries


def test_resolve_tells_unknown_from_misplaced_sensors(park: registry_mod.Registry) -> None:
    found = park.resolve("tianfu-np", "e01-baijiu", "electricity", "e01-grid-1")
    assert isinstance(found, registry_mod.RegisteredSensor)
    assert found.spec.multiplier == 80
    assert found.fields["energy_kwh"].semantics == "counter"
    assert park.resolve("tianfu-np", "e01-baijiu", "electricity", "nope") is Reason.UNKNOWN_SENSOR
    assert park.resolve("other", "e01-baijiu", "electricity", "e01-grid-1") is Reason.UNKNOWN_SENSOR
    assert (
        park.resolve("tianfu-np", "e02-bottling", "electricity", "e01-grid-1")
        is Reason.SENSOR_MISMATCH
    )
    assert park.resolve("tianfu-np", "e01-baijiu", "gas", "e01-grid-1") is Reason.SENSOR_MISMATCH


def test_production_output_takes_the_sensor_unit(park: registry_mod.Registry) -> None:
    found = park.resolve("tianfu-np", "e08-anode", "production", "e08-output-1")
    assert isinstance(found, registry_mod.RegisteredSensor)
    assert found.fields["output"].unit == "t"


def _broken() -> dict:
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    park = doc["parks"][0]
    park["timezone"] = "Mars/Olympus"
    ent0, ent1 = park["enterprises"][0], park["enterprises"][1]
    ent0["sensors"][0]["kind"] = "electrcity"  # typo: unknown kind
    ent0["sensors"][1]["multiplier"] = -1
    ent1["land_mu"] = "large"
    ent1["sensors"][0]["id"] = "Bad Id"
    return doc


def test_every_structural_problem_is_reported_with_its_place() -> None:
    registry, problems = registry_mod.parse(_broken())
    assert registry is None
    text = "\n".join(problems)
    assert "parks[0 id='tianfu-np'].timezone" in text and "Mars/Olympus" in text
    assert "enterprises[0 id='e01-baijiu'].sensors[1 id='e01-grid-2'].multiplier" in text
    assert "enterprises[1 id='e02-bottling'].land_mu" in text
    assert "enterprises[1 id='e02-bottling'].sensors[0 id='Bad Id'].id" in text
    # identity checks run on the raw file too: the unknown kind is in the same run
    assert "sensors[0 id='e01-grid-1'].kind: unknown kind 'electrcity'" in text
    assert len(problems) == 5


def test_semantic_problems_are_all_reported() -> None:
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    ents = doc["parks"][0]["enterprises"]
    ents[0]["sensors"][0]["kind"] = "electrcity"
    ents[1]["sensors"][0]["id"] = "e01-grid-2"  # used by e01 already
    ents[2]["id"] = ents[3]["id"]
    ents[3]["sensors"].append({"id": "e04-steam-x", "kind": "steam", "unit": "t", "rated_per_h": 2})
    ents[4]["sensors"].append({"id": "e05-out-x", "kind": "production", "rated_per_h": 5})
    registry, problems = registry_mod.parse(doc)
    assert registry is None
    text = "\n".join(problems)
    assert "unknown kind 'electrcity'" in text
    assert (
        "sensor id 'e01-grid-2' already used in park 'tianfu-np' by enterprise 'e01-baijiu'" in text
    )
    assert "duplicate enterprise id 'e04-cannery'" in text
    assert "only production sensors take a unit" in text
    assert "production sensors need the unit of output" in text
    assert len(problems) == 5


def test_load_raises_with_all_problems(tmp_path: Path) -> None:
    path = tmp_path / "park.yaml"
    path.write_text(yaml.safe_dump(_broken()))
    with pytest.raises(ConfigError) as err:
        registry_mod.load(path)
    assert len(err.value.problems) == 5


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"parks: [", "not valid YAML"),
        (b"\xff\xfe", "not UTF-8"),
        (b"parks: []", "at least 1 item"),
    ],
)
def test_unreadable_files_are_reported(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "park.yaml"
    path.write_bytes(content)
    _, problems = registry_mod.check(path)
    assert message in problems[0]


def test_plant_facts_for_simulation_and_compliance_are_validated() -> None:
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    ents = doc["parks"][0]["enterprises"]
    ents[0]["load_class"] = "sometimes"
    stack = next(s for s in ents[0]["sensors"] if s["kind"] == "emissions")
    stack["limits"] = {"nox_mg_m3": 30, "flow_m3h": -1, "volume_m3": 5}
    grid = ents[1]["sensors"][0]
    grid["limits"] = {"power_kw": 100}
    grid["rated_per_h"] = 0
    registry, problems = registry_mod.parse(doc)
    assert registry is None
    text = "\n".join(problems)
    assert (
        "enterprises[0 id='e01-baijiu'].load_class: Input should be 'continuous', 'shift' or 'batch'"
        in text
    )
    assert "limits.flow_m3h: Input should be greater than 0" in text
    assert "rated_per_h: Input should be greater than 0" in text
    stack["limits"] = {"nox_mg_m3": 30, "volume_m3": 5}
    grid["rated_per_h"] = 500
    ents[0]["load_class"] = "batch"
    registry, problems = registry_mod.parse(doc)
    assert registry is None
    assert any(p.endswith("limits.volume_m3: not a gauge field of emissions") for p in problems)
    assert any("e02-grid-1'].limits: only sensors with an o2_pct field" in p for p in problems)


def test_example_stacks_carry_their_limits_and_source(park: registry_mod.Registry) -> None:
    stacks = [s for s in park.sensors() if s.ref.kind == "emissions"]
    assert stacks and all(
        s.spec.limits["nox_mg_m3"] == 30 and s.spec.ref_o2_pct == 3.5 for s in stacks
    )
    assert all("GB 13271-2014" in (s.spec.limits_source or "") for s in stacks)
    classes = {e.load_class for p in park.parks.values() for e in p.enterprises}
    assert classes == {"continuous", "shift", "batch"}


def test_a_broken_file_reports_duplicates_and_unknown_kinds_with_everything_else() -> None:
    """The first hour's registry: a duplicate sensor id, an unknown kind, a bad timezone,
    negative multipliers and a bad id, all in one run."""
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    park = doc["parks"][0]
    park["timezone"] = "Nowhere/City"
    ents = park["enterprises"]
    ents[0]["sensors"][1]["id"] = ents[0]["sensors"][0]["id"]  # duplicate
    ents[0]["sensors"][2]["kind"] = "electrcity"
    ents[1]["sensors"][0]["multiplier"] = -1
    ents[2]["sensors"][0]["id"] = "Bad Id"
    _registry, problems = registry_mod.parse(doc)
    text = "\n".join(problems)
    for expected in ("timezone", "multiplier", "'Bad Id'", "already used in park",
                     "unknown kind 'electrcity'"):  # fmt: skip
        assert expected in text, expected


def test_stack_limits_without_their_reference_o2_are_refused() -> None:
    """No silent 3.5 %: a coal boiler's 9 % read as a gas boiler's would overstate its
    NOx 1.46 times (21 - 3.5) / (21 - 9)."""
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    stack = next(s for e in doc["parks"][0]["enterprises"] for s in e["sensors"] if s.get("limits"))
    del stack["ref_o2_pct"]
    _registry, problems = registry_mod.parse(doc)
    assert any(
        f"{stack['id']}" in p and "limits need the reference O2 they are stated at" in p
        for p in problems
    ), problems


def test_every_counter_sensor_states_its_rating() -> None:
    """Issue 25, item 2: without a rating a glitch 0 in the register's top band was a wrap
    and a replacement meter starting higher was use; each unrated counter is named."""
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    ent = doc["parks"][0]["enterprises"][1]
    del ent["sensors"][0]["rated_per_h"]  # e02-grid-1, a counter
    stack = next(s for s in ent["sensors"] if s["kind"] == "emissions")
    del stack["rated_per_h"]  # gauges only: a rating is optional
    registry, problems = registry_mod.parse(doc)
    assert registry is None
    assert problems == [
        "parks[0 id='tianfu-np'].enterprises[1 id='e02-bottling'].sensors[0 id='e02-grid-1']"
        ".rated_per_h: counter sensors need their full-load rate per hour: without it a "
        "glitch read or a replacement meter is counted as use"
    ]
