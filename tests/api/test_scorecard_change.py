"""The scorecard's year-on-year change says its price basis (issue 25, item 8; pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.routes.kpis import card as _card

START = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("point", "change", "basis"),
    [
        # 0.19608 on 2026's nominal added value against 2025's 0.2000: -1.96 % nominal
        ({"energy_tce_per_10k_cny": 0.19608}, -1.96, "nominal"),
        # at 2025's prices (index 102) the same year is 0.2000: no fall at comparable prices
        ({"energy_tce_per_10k_cny": 0.19608, "energy_tce_per_10k_cny_prev_year_prices": 0.2},
         0.0, "comparable"),
    ],
)  # fmt: skip
def test_the_change_of_intensity_is_comparable_where_a_price_index_is(
    point: dict[str, float], change: float, basis: str
) -> None:
    card = _card({"time": 0, **point}, {"time": 0, "energy_tce_per_10k_cny": 0.2}, START)
    [entry] = [k for k in card["kpis"] if k["kpi"] == "energy_tce_per_10k_cny"]
    assert round(entry["change_vs_last_year_pct"], 2) == change
    assert entry["change_basis"] == basis


def test_the_scorecard_shows_energy_per_product_against_each_level() -> None:
    """Issue 25, item 16: 888.9 kgce/t against 限定值 1000 (met) and 先进值 800 (not met)."""
    point = {"time": 0, "product_energy_kgce_per_output": 888.9,
             "product_limit_kgce_per_output": 1000.0, "product_limit_met": True,
             "product_advanced_kgce_per_output": 800.0, "product_advanced_met": False}  # fmt: skip
    card = _card(point, None, START)
    assert [k["kpi"] for k in card["kpis"]] == ["product_energy_kgce_per_output"]
    assert card["kpis"][0]["levels"] == {
        "limit": {"kgce_per_output": 1000.0, "met": True},
        "advanced": {"kgce_per_output": 800.0, "met": False},
    }


def test_29_february_has_no_same_day_a_year_before() -> None:
    """The scorecard's "today" on 29 February compares with nothing (it was a 500: the
    day's ``replace(year=...)`` raised), its month and other days with a year before."""
    from zoneinfo import ZoneInfo

    from api.routes.kpis import a_year_before

    zone = ZoneInfo("Asia/Shanghai")
    assert a_year_before(datetime(2028, 2, 29, tzinfo=zone)) is None
    assert a_year_before(datetime(2028, 2, 1, tzinfo=zone)) == datetime(2027, 2, 1, tzinfo=zone)
    assert a_year_before(datetime(2027, 2, 28, tzinfo=zone)) == datetime(2026, 2, 28, tzinfo=zone)
