"""Which park a stage serves: one rule for every stage."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from smartpark import registry as registry_mod
from smartpark.errors import ConfigError
from smartpark.parks import choose_park, processing_config
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


def test_processing_config_is_the_file_or_the_parks_file_in_a_directory(tmp_path: Path) -> None:
    single = tmp_path / "processing.yaml"
    single.write_text("factors: cn\n")
    assert processing_config(single, "p1") == single  # a file: every park alike
    folder = tmp_path / "parks"
    folder.mkdir()
    (folder / "p1.yaml").write_text("factors: cn\n")
    assert processing_config(folder, "p1") == folder / "p1.yaml"
    with pytest.raises(ConfigError) as err:
        processing_config(folder, "p2")
    assert str(err.value) == (
        f"{folder} is a directory of processing configurations and has no p2.yaml for park "
        "'p2' (it has: p1)"
    )
