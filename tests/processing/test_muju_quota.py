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


def _given(frame: pl.DataFrame, enterprise: str, **values: float) -> pl.DataFrame:
    """``frame`` with one enterprise's inputs replaced by ``values``."""
    return frame.with_columns(
        pl.when(pl.col("enterprise") == enterprise).then(pl.lit(v)).otherwise(pl.col(k)).alias(k)
        for k, v in values.items()
    )


@pytest.mark.parametrize("n", [4, 7, 10, 12, 25])
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


def test_equal_scores_share_a_rank_and_the_lower_grade_of_their_places() -> None:
    """Ten enterprises, e06 given e07's figures: both rank 3 (no 4th place). The 3 A places
    of 10 would split them (e07 A, e06 B): they both get B, so there are never more than
    30 % A; a tie at the C boundary goes to C the same way."""
    # e06 now equals e07 on every input
    frame = _given(_enterprises(10), "e06", revenue_cny=8e8, tax_cny=3.2e7, rd_cny=2.4e7,
                   local_score=67.0)  # fmt: skip
    out = grade(frame, MujuRules(benchmarks=BENCH))
    by = {r["enterprise"]: r for r in out.iter_rows(named=True)}
    assert by["e06"]["score"] == by["e07"]["score"]
    assert [by[e]["rank"] for e in ("e09", "e08", "e07", "e06", "e05")] == [1, 2, 3, 3, 5]
    assert [by[e]["grade"] for e in ("e09", "e08", "e07", "e06")] == ["A", "A", "B", "B"]
    # at the bottom: e00 and e01 tied for the last two places, one of which is C
    low = _given(_enterprises(10), "e01", revenue_cny=1e8, tax_cny=4e6, rd_cny=3e6,
                 local_score=60.0)  # fmt: skip
    graded = {
        r["enterprise"]: r["grade"]
        for r in grade(low, MujuRules(benchmarks=BENCH)).iter_rows(named=True)
    }
    assert graded["e00"] == graded["e01"] == "C"


def test_fewer_than_four_enterprises_get_scores_and_ranks_but_no_grades() -> None:
    out = grade(_enterprises(3), MujuRules(benchmarks=BENCH))
    assert out["grade"].to_list() == [None, None, None]
    assert out["rank"].to_list() == [1, 2, 3] and out["score"].is_not_null().all()
    assert (
        grade(_enterprises(3), MujuRules(benchmarks=BENCH, min_enterprises=3))["grade"].null_count()
        == 0
    )


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
            "used": [100.0 if d.day < 10 else 125.0 for d in days] + [40.0] * 30,
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


def test_added_value_per_tonne_of_pollutant_with_none_emitted_scoring_the_cap() -> None:
    """Zhejiang's 单位排放增加值 against a benchmark of 10 M CNY per t: a emits 20 t on
    100 M CNY (5 M/t, half the benchmark: 25 of 50 points); b emits nothing on its 100 M
    (the best figure: the 1.5 cap, 75 points), c emits nothing and makes nothing (0)."""
    rules = MujuRules(
        weights={"added_value_per_pollutant_t": 50, "added_value_per_tce": 50},
        benchmarks={"added_value_per_pollutant_t": 1e7, "added_value_per_tce": 1e4},
        min_enterprises=1,
    )
    frame = pl.DataFrame(
        {"enterprise": ["a", "b", "c"], "added_value_cny": [1e8, 1e8, 0.0],
         "pollutant_t": [20.0, 0.0, 0.0], "energy_tce": [10_000.0, 20_000.0, 100.0],
         "veto": [False] * 3}
    )  # fmt: skip
    out = {r["enterprise"]: r for r in grade(frame, rules).iter_rows(named=True)}
    assert out["a"]["added_value_per_pollutant_t"] == 5e6
    assert out["a"]["score"] == pytest.approx(25 + 50)
    assert out["b"]["score"] == pytest.approx(75 + 25)
    assert out["c"]["score"] == 0.0
    assert [out[e]["rank"] for e in "bac"] == [1, 2, 3]
