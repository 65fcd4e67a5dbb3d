"""Which park a stage serves: one rule for every stage."""

from __future__ import annotations

import pytest
import yaml

from smartpark import registry as registry_mod
from smartpark.errors import ConfigError
from smartpark.parks import choose_park
from smartpark.registry import Registry
from tests.conftest import EXAMPLE_PARK


def _registry(*ids: str) -> Registry:
    """The example park's registry with its park under each of ``ids``."""
    doc = yaml.safe_load(EXAMPLE_PARK.read_text(encoding="utf-8"))
    park = doc["parks"][0]
    doc["parks"] = [{**park, "id": i} for i in ids]
    registry, problems = registry_mod.parse(doc)
    assert registry is not None, problems
    return registry


@pytest.mark.parametrize(
    ("parks", "wanted", "expected"),
    [
        (("p1",), None, "p1"),  # the only park
        (("p1", "p2"), "p2", "p2"),
        (("p1",), "p1", "p1"),
        (("p1", "p2"), None, "the registry has 2 parks (p1, p2): choose one with --park or SMARTPARK_PARK__ID"),
        (("p1",), "p9", "unknown park 'p9'; the registry has p1"),
    ],
)  # fmt: skip
def test_choose_park(parks: tuple[str, ...], wanted: str | None, expected: str) -> None:
    registry = _registry(*parks)
    if expected in parks:
        assert choose_park(registry, wanted) == expected
    else:
        with pytest.raises(ConfigError) as err:
            choose_park(registry, wanted)
        assert str(err.value) == expected
