"""Declarations that stand for every year (``year: every``) or month (``month: every``):
the example's added value and green power still apply in 2027, a period's own entry
replaces the standing one, and a bad period is refused where it is written."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from processing import config as config_mod
from processing.allocate import allocations
from processing.config import Declared, GreenPower, ProcessingConfig
from processing.engine import Park
from smartpark.errors import ConfigError
from smartpark.registry import Registry
from tests.conftest import EXAMPLE_PARK
from tests.processing.test_allocate import _totals

CST = timezone(timedelta(hours=8))
E08 = "e08-anode"
STANDING = ProcessingConfig(
    green_power=[
        GreenPower(enterprise=E08, month="every", kwh=31_000),
        GreenPower(enterprise=E08, month="2027-02", kwh=0),  # February's own: none
    ],
    declared=[
        Declared(enterprise=E08, year="every", added_value_cny=365e6),
        Declared(enterprise=E08, year=2026, added_value_cny=730e6),  # 2026's own
        Declared(enterprise=E08, year="every", month=3, added_value_cny=62e6),  # each March
        Declared(enterprise=E08, year=2028, month=3, added_value_cny=93e6),  # March 2028's own
    ],
)


def ms(*args: int) -> int:
    return int(datetime(*args, tzinfo=CST).timestamp() * 1000)  # type: ignore[misc]


@pytest.fixture(scope="module")
def park(park: Registry) -> Park:
    return Park.from_registry(park, "tianfu-np", STANDING)


@pytest.mark.parametrize(
    ("window", "start", "added_value_cny", "green_kwh"),
    [
        # 2027 declares nothing: the standing year, 365 M less each March's 62 M over the
        # 334 other days; the standing contract is January's
        ("1d", ms(2027, 1, 5), 303e6 / 334, 31_000),
        ("1mo", ms(2027, 1, 1), 303e6 / 334 * 31, 31_000),
        # February 2027 has a contract of its own (none): it replaces the standing one
        ("1mo", ms(2027, 2, 1), 303e6 / 334 * 28, 0.0),
        # each March: the standing month's own figure, 62 M over 31 days
        ("1d", ms(2027, 3, 10), 2e6, 31_000),
        # 2026 declares its year: 730 M less the standing March over 334 days
        ("1d", ms(2026, 11, 4), 668e6 / 334, 31_000),
        # 2028 (a leap year) declares its March: 93 M over 31 days; the rest of the
        # standing year, 365 M - 93 M over its 335 other days
        ("1d", ms(2028, 3, 1), 3e6, 31_000),
        ("1d", ms(2028, 2, 29), 272e6 / 335, 31_000),
    ],
)
def test_standing_declarations_apply_in_any_year(
    park: Park, window: str, start: int, added_value_cny: float, green_kwh: float
) -> None:
    """The grid import is far above the contract: green power used is the contract."""
    row = allocations(_totals([(start, 1e9)]), STANDING, park, window=window).row(0, named=True)
    assert row["added_value_cny"] == pytest.approx(added_value_cny, rel=1e-12)
    assert row["green_kwh"] == pytest.approx(green_kwh, rel=1e-12)


def test_the_example_has_added_value_and_green_power_in_2027(park: Park) -> None:
    """examples/processing.yaml: e08's intensities per 10k CNY do not vanish on 1 January."""
    example = config_mod.load(EXAMPLE_PARK.parent / "processing.yaml")
    row = allocations(_totals([(ms(2027, 1, 5), 1e9)]), example, park, window="1d").row(
        0, named=True
    )
    assert row["added_value_cny"] == pytest.approx(520e6 / 365, rel=1e-12)
    assert row["green_kwh"] == pytest.approx(3_000_000, rel=1e-12)
    assert {(d.enterprise, d.year) for d in example.declared_in([2027])} == {
        ("e01-baijiu", 2027), ("e05-api", 2027), ("e08-anode", 2027), ("_park", 2027)
    }  # fmt: skip


@pytest.mark.parametrize(
    ("yaml_text", "where"),
    [
        ("declared: [{enterprise: e08-anode, year: evry, added_value_cny: 1}]", "declared[0"),
        ("green_power: [{enterprise: e08-anode, month: '2027', kwh: 1}]", "green_power[0"),
        (
            "declared: [{enterprise: e08-anode, year: every, added_value_cny: 1},"
            " {enterprise: e08-anode, year: every, added_value_cny: 2}]",
            "declares e08-anode every again",
        ),
    ],
)
def test_a_bad_standing_period_is_refused_where_it_is(
    tmp_path: Path, yaml_text: str, where: str
) -> None:
    path = tmp_path / "processing.yaml"
    path.write_text(yaml_text + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        config_mod.load(path)
    assert where in " ".join([str(caught.value), *caught.value.problems])
