"""Mu-average grading with the grade quotas, and quota burn-down (pure)."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

import polars as pl
import pytest

from processing.muju import MujuRules, grade
from processing.quota import burn_down

BENCH = {
    "revenue_per_mu": 5e6,
    "tax_per_mu": 2e5,
    "revenue_per_employee": 1e6,
    "revenue_per_tce": 2e4,
    "rd_intensity_pct": 3.0,
    "local_score": 100,
}


def _enterprises(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "enterprise": [f"e{i:02d}" for i in range(n)],
            "revenue_cny": [1e8 * (i + 1) for i in range(n)],
            "tax_cny": [4e6 * (i + 1) for i in range(n)],
            "land_mu": [100.0] * n,
            "employees": [300] * n,
            "energy_tce": [5_000.0] * n,
            "rd_cny": [3e6 * (i + 1) for i in range(n)],
            "local_score": [60.0 + i for i in range(n)],
            "veto": [False] * n,
        }
    )


@pytest.mark.parametrize("n", [3, 7, 10, 12, 25])
def test_grade_quotas_at_most_30_percent_a_and_at_least_10_percent_c(n: int) -> None:
    out = grade(_enterprises(n), MujuRules(benchmarks=BENCH))
    counts = Counter(out["grade"])
    assert counts["A"] <= 0.30 * n
    assert counts["C"] + counts["D"] >= 0.10 * n
    assert out["grade"].to_list() == sorted(out["grade"].to_list())  # best scores, best grades
    assert out["enterprise"][0] == f"e{n - 1:02d}"  # the biggest earner per mu leads


def test_scores_are_value_over_benchmark_times_weight_capped() -> None:
    frame = _enterprises(1).with_columns(
        revenue_cny=pl.lit(5e8), tax_cny=pl.lit(2e7), rd_cny=pl.lit(1.5e7), local_score=pl.lit(50.0)
    )
    row = grade(frame, MujuRules(benchmarks=BENCH)).row(0, named=True)
    # revenue/mu 5e6 = benchmark -> 20; tax/mu 2e5 -> 20; revenue/employee 1.67e6 capped 1.5 -> 30;
    # revenue/tce 1e5 capped -> 7.5; R&D 3 % -> 5; local 50/100 -> 15
    assert row["score"] == pytest.approx(20 + 20 + 30 + 7.5 + 5 + 15)


def test_a_veto_keeps_an_enterprise_out_of_a_and_b() -> None:
    frame = _enterprises(10).with_columns(veto=pl.Series([i == 9 for i in range(10)]))
    out = grade(frame, MujuRules(benchmarks=BENCH))
    assert out.filter(pl.col("enterprise") == "e09")["grade"].item() == "C"
    assert Counter(out["grade"])["A"] == 3


def test_zhejiang_style_bottom_five_percent_d() -> None:
    rules = MujuRules(benchmarks=BENCH, d_share=0.05)
    counts = Counter(grade(_enterprises(40), rules)["grade"])
    assert counts["D"] == 2 and counts["C"] + counts["D"] >= 4 and counts["A"] == 12


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="sum to 100"):
        MujuRules(weights={"tax_per_mu": 50}, benchmarks=BENCH)
    with pytest.raises(ValueError, match="no benchmark"):
        MujuRules(benchmarks={})


def test_quota_forecast_breaks_before_the_quota_is_used_up() -> None:
    days = [date(2026, 11, 1) + timedelta(days=i) for i in range(30)]
    daily = pl.DataFrame(
        {
            "enterprise": ["e08"] * 30 + ["e09"] * 30,
            "day": days * 2,
            "energy_tce": [100.0 if d.day < 10 else 125.0 for d in days] + [40.0] * 30,
        }
    )
    out = burn_down(
        daily, {"e08": 3_200.0, "e09": 1_300.0, "e10": 500.0}, as_of=date(2026, 11, 15)
    ).to_dicts()
    e08, e09, e10 = out
    assert e08["used_tce"] == 9 * 100 + 6 * 125 and e08["days_elapsed"] == 15
    assert e08["forecast_tce"] == pytest.approx(1_650 / 15 * 30)
    assert e08["forecast_breach"] and not e08["breached"]
    assert not e09["forecast_breach"] and e09["used_pct"] == pytest.approx(600 / 1_300 * 100)
    assert e10["used_tce"] == 0.0  # a quota without data yet
