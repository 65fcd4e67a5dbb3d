"""The registry's gateways: every mistake reported by ``config check`` with its place."""

from __future__ import annotations

import copy
from typing import Any

import pytest
import yaml

from smartpark import registry as registry_mod
from tests.conftest import EXAMPLE_PARK

DOC = yaml.safe_load(EXAMPLE_PARK.read_text())
WHERE = "parks[0 id='tianfu-np'].gateways[0 id='gw-e04']"


def _check(change: Any) -> list[str]:
    doc = copy.deepcopy(DOC)
    change(doc["parks"][0]["gateways"])
    registry, problems = registry_mod.parse(doc)
    assert registry is None
    return problems


def _meter(gws: list[dict[str, Any]]) -> dict[str, Any]:
    return gws[0]["modbus"][0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda g: _meter(g).update(sensor="e99-x"), ".modbus[0 id='grid-1-meter'].sensor: 'e99-x' is not a sensor"),
        (lambda g: _meter(g).pop("host"), "give host (Modbus TCP) or serial (Modbus RTU)"),
        (lambda g: _meter(g)["registers"][0].update(field="nox_mg_m3"), ".registers[0].field: 'nox_mg_m3' is not a field"),
        (lambda g: _meter(g)["registers"][1].update(address=1), "register 1 is also read for power_kw"),
        (lambda g: _meter(g)["registers"][0].update(type="float16"), ".modbus[0 id='grid-1-meter'].registers[0].type"),
        (lambda g: _meter(g).update(unit=300), ".modbus[0 id='grid-1-meter'].unit"),
        (lambda g: g[0]["hj212"].append(dict(g[0]["hj212"][0])), "MN '88888880000001' is used twice"),
        (lambda g: g[0]["hj212"][0].update(pw="1234567"), ".hj212[0].pw"),
        (lambda g: g[1].update(mappings=["nope"]), "mappings: 'nope' is not a mapping of the park"),
        (lambda g: g[1].update(id="gw-e04"), "duplicate gateway id 'gw-e04'"),
        (lambda g: g[1].update(sensors=["e99-x"]), "sensors: 'e99-x' is not a sensor of the park"),
    ],
)  # fmt: skip
def test_config_check_locates_gateway_errors(change: Any, message: str) -> None:
    text = "\n".join(_check(change))
    assert message in text and "parks[0 id='tianfu-np'].gateways" in text, text


def test_a_counter_from_an_integer_register_needs_the_sensors_rollover() -> None:
    doc = copy.deepcopy(DOC)
    for ent in doc["parks"][0]["enterprises"]:
        for sensor in ent["sensors"]:
            if sensor["id"] == "e04-grid-1":
                sensor.pop("rollover")
    registry, problems = registry_mod.parse(doc)
    assert registry is None
    assert problems == [
        f"{WHERE}.modbus[0 id='grid-1-meter'].registers[1]: counter energy_kwh wraps with its "
        "uint32 register; set the sensor's rollover (at 4.29497e+07 for an unsigned register "
        "x scale)"
    ]
