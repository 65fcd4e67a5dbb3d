"""Mu-average evaluation (亩均论英雄): indicator scores, weights and A/B/C/D grades (pure).

Each indicator is value / benchmark x weight (capped at ``cap`` x weight, so one
outstanding figure cannot buy a grade); the score is their sum. Enterprises are
ranked by score: at most ``a_max_share`` of them get A, at least ``c_min_share``
get C or D (the lowest ranks), the bottom ``d_share`` get D; a veto (a safety or
environmental violation) keeps an enterprise out of A and B. Weights and
benchmarks are configuration: the Sichuan set is the default below.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import polars as pl

# indicator -> (numerator column, denominator column or None); all "higher is better".
INDICATORS: Mapping[str, tuple[str, str | None]] = {
    "revenue_per_mu": ("revenue_cny", "land_mu"),
    "tax_per_mu": ("tax_cny", "land_mu"),
    "added_value_per_mu": ("added_value_cny", "land_mu"),
    "revenue_per_employee": ("revenue_cny", "employees"),
    "added_value_per_employee": ("added_value_cny", "employees"),
    "revenue_per_tce": ("revenue_cny", "energy_tce"),
    "added_value_per_tce": ("added_value_cny", "energy_tce"),
    "rd_intensity_pct": ("rd_cny", "revenue_cny"),
    "local_score": ("local_score", None),
    # Zhejiang's 单位排放增加值: CNY of added value per tonne of main pollutants emitted
    "added_value_per_pollutant_t": ("added_value_cny", "pollutant_t"),
}
# Indicators whose denominator is a harm: none of it (with something produced) is the best
# figure, scored at the cap, not a missing one scored 0.
ZERO_IS_BEST = frozenset({"added_value_per_pollutant_t"})


@dataclass(frozen=True, slots=True)
class MujuRules:
    """Weights (summing to 100), benchmarks per indicator, and the grade quotas."""

    weights: Mapping[str, float] = field(
        default_factory=lambda: {
            "revenue_per_mu": 20,
            "tax_per_mu": 20,
            "revenue_per_employee": 20,
            "revenue_per_tce": 5,
            "rd_intensity_pct": 5,
            "local_score": 30,
        }
    )
    benchmarks: Mapping[str, float] = field(default_factory=dict)
    cap: float = 1.5
    a_max_share: float = 0.30
    c_min_share: float = 0.10
    d_share: float = 0.0
    min_enterprises: int = 4  # fewer: scores and ranks, no grades (quotas mean nothing)

    def __post_init__(self) -> None:
        unknown = set(self.weights) - set(INDICATORS)
        if unknown:
            raise ValueError(f"unknown indicators: {sorted(unknown)}")
        missing = set(self.weights) - set(self.benchmarks)
        if missing:
            raise ValueError(f"no benchmark for: {sorted(missing)}")
        if not math.isclose(sum(self.weights.values()), 100.0):
            raise ValueError(f"weights must sum to 100, not {sum(self.weights.values())}")


#: Amounts that grow with the period (annualised in an interim view); the rest (land,
#: employees, the local score, the veto) are the same for a quarter and a year.
AMOUNTS = ("revenue_cny", "tax_cny", "added_value_cny", "rd_cny", "pollutant_t", "energy_tce")


def annualised(frame: pl.DataFrame, *, months: int) -> pl.DataFrame:
    """An interim period's amounts (January to month ``months``) x 12 / ``months``, so
    they compare with the annual benchmarks: per mu and per employee (60 % of Sichuan's
    weight) would otherwise read a quarter as a quarter of a year's figure. Ratios of
    two amounts (revenue per tce, R&D intensity) are unchanged by it."""
    factor = 12 / months
    return frame.with_columns(
        [(pl.col(c) * factor).alias(c) for c in AMOUNTS if c in frame.columns]
    ).with_columns(annualised_from_months=pl.lit(months))


def indicators(frame: pl.DataFrame, rules: MujuRules) -> pl.DataFrame:
    """Add each weighted indicator's value (``rd_intensity_pct`` in %)."""
    columns = []
    for name in rules.weights:
        num, den = INDICATORS[name]
        if den is None:
            value = pl.col(num)
        else:
            value = pl.when(pl.col(den) > 0).then(pl.col(num) / pl.col(den))
            if name in ZERO_IS_BEST:
                best = (pl.col(den) == 0) & (pl.col(num) > 0)
                value = value.when(best).then(float("inf"))
        columns.append((value * (100.0 if name.endswith("_pct") else 1.0)).alias(name))
    return frame.with_columns(columns)


def grade(frame: pl.DataFrame, rules: MujuRules) -> pl.DataFrame:
    """Scores, ranks and grades; ``frame`` has ``enterprise``, the indicator inputs and
    ``veto``. Equal scores share a rank (1, 2, 2, 4) and a grade: the lower grade of the
    places they hold, so a tie never breaks a quota (at most ``a_max_share`` A, at least
    ``c_min_share`` C). With fewer than ``min_enterprises`` there are no grades."""
    scored = indicators(frame, rules)
    parts = [
        (pl.col(name).fill_null(0.0) / rules.benchmarks[name]).clip(0.0, rules.cap) * weight
        for name, weight in rules.weights.items()
    ]
    scored = scored.with_columns(score=pl.sum_horizontal(parts).round(9)).sort(
        ["score", "enterprise"], descending=[True, False]
    )
    rank = pl.col("score").rank(method="min", descending=True).cast(pl.Int64)
    n = scored.height
    if n < rules.min_enterprises:
        return scored.with_columns(grade=pl.lit(None, dtype=pl.Utf8), rank=rank)
    a_max = math.floor(rules.a_max_share * n)
    low = max(math.ceil(rules.c_min_share * n), math.ceil(rules.d_share * n))
    d_count = math.ceil(rules.d_share * n)
    vetoed = scored["veto"].fill_null(False).to_list() if "veto" in scored.columns else [False] * n
    grades: list[str] = []
    a_given = 0
    for place, veto in enumerate(vetoed):
        if place >= n - d_count:
            grades.append("D")
        elif place >= n - low or veto:
            grades.append("C")
        elif a_given < a_max:
            grades.append("A")
            a_given += 1
        else:
            grades.append("B")
    # a tie takes the lower grade of the places it holds ("A" < "B" < "C" < "D"); a
    # vetoed enterprise's C does not pull down the one it ties with
    out = scored.with_columns(grade=pl.Series(grades), rank=rank, _veto=pl.Series(vetoed))
    tied = pl.when(~pl.col("_veto")).then(pl.col("grade")).max().over("score")
    return out.with_columns(
        grade=pl.when(pl.col("_veto")).then(pl.col("grade")).otherwise(tied)
    ).drop("_veto")
