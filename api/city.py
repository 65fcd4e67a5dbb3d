"""A city's parks side by side (pure): each park's month-to-date figures against its
targets, on the variant each target is judged on, its quota, carbon budget and data
completeness, ranked; and the city's totals as the sum of its parks (never netted across
parks, as within a park)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from smartpark import limits as limits_mod
from smartpark import schema
from smartpark.limits import MonthlyLimits
from smartpark.model import PARK_SCOPE
from smartpark.registry import ParkSpec
from smartpark.targets import judged_column

#: The city's targets as the registry names them, and the shares' milestone years.
SHARE = "clean_energy_share_pct"
CARBON = "co2_per_energy_t_per_tce"
#: Additive figures: a city's total is the sum of its parks'.
ADDITIVE = ("energy_tce", "electricity_kwh", "co2_location_t", "co2_market_t")
#: Intensities shown as each park's own (never summed).
INTENSITIES = ("energy_tce_per_10k_cny", "co2_location_t_per_10k_cny")
FIELDS = schema.KPI.names(*ADDITIVE, *INTENSITIES)  # declared KPI fields, or it refuses
#: The stored roll-ups the month's evaluations come from, and the fields read of them.
QUOTA, BUDGET, QUALITY = schema.QUOTA, schema.CARBON_BUDGET, schema.DATA_QUALITY
COMPLETENESS = QUALITY.field("completeness_pct").name
_BUDGET_FIELDS = ("used_co2_t", "budget_co2_t", "forecast_co2_t", "used_pct", "forecast_pct")
_BUDGET_TAGS = ("co2_method", "co2_factor", "factor_set")
_ = BUDGET.names(*_BUDGET_FIELDS), [BUDGET.tag(t) for t in _BUDGET_TAGS]

Status = Literal[
    "breached", "forecast_breach", "on_track", "not_computed", "not_configured", "unknown"
]
"""A month's burn-down at a glance: over its limit already; forecast over it by month
end; within it; configured but no burn-down point yet (the daily job writes the first
for the month's first day); not configured; or unknown (the park's processing
configuration could not be read)."""


@dataclass(frozen=True, slots=True)
class Evaluations:
    """What a park's month holds beside its KPIs, as read: its enterprises' quota points
    (tags and fields flat), its own (``_park``) carbon-budget point, per enterprise the
    sum of its sensor-days' completeness and their number, and the quotas and budgets its
    processing configuration declares (None: unread)."""

    quotas: Sequence[Mapping[str, Any]] = ()
    budget: Mapping[str, Any] | None = None
    completeness_sum_pct: Mapping[str, float] = field(default_factory=dict)
    sensor_days: Mapping[str, float] = field(default_factory=dict)
    limits: MonthlyLimits | None = None


def status(point: Mapping[str, Any] | None, *, configured: bool | None) -> Status:
    """One burn-down's :data:`Status` from its stored point (None: none stored)."""
    if point is not None:
        if point.get("breached") is True:
            return "breached"
        return "forecast_breach" if point.get("forecast_breach") is True else "on_track"
    if configured is None:
        return "unknown"
    return "not_computed" if configured else "not_configured"


def quota(evaluations: Evaluations, enterprises: Sequence[str]) -> dict[str, Any]:
    """The park's energy-use quotas this month (they are its enterprises'): the worst
    enterprise's status, how many have a quota (``enterprises``) and a burn-down point
    (``computed``), how many are over (``breached``) or forecast over and not yet over
    (``forecast_breach``), and the highest forecast share of a quota. No enterprise
    named."""
    points = evaluations.quotas
    declared = (
        None if evaluations.limits is None
        else sum(e in evaluations.limits.quotas_tce_month for e in enterprises)
    )  # fmt: skip
    order: tuple[Status, ...] = ("breached", "forecast_breach", "on_track")
    found = [status(p, configured=True) for p in points]
    worst = next((s for s in order if s in found), None)
    forecasts = [float(p["forecast_pct"]) for p in points
                 if isinstance(p.get("forecast_pct"), int | float)]  # fmt: skip
    return {
        "status": worst or status(None, configured=None if declared is None else declared > 0),
        "enterprises": declared,
        "computed": len(points),
        "breached": found.count("breached"),
        "forecast_breach": found.count("forecast_breach"),
        "max_forecast_pct": max(forecasts) if forecasts else None,
    }


def budget(evaluations: Evaluations) -> dict[str, Any]:
    """The park's own carbon budget (``_park``) this month: status, what is configured,
    and the burn-down with the CO2 method, factor and factor set that made it."""
    configured = limits_mod.for_scope(evaluations.limits, PARK_SCOPE)
    point = evaluations.budget or {}
    return {
        "status": status(
            evaluations.budget,
            configured=None
            if not configured.known
            else configured.carbon_budget_t_month is not None,
        ),
        "budget_t_month": configured.carbon_budget_t_month,
        **{key: point.get(key) for key in (*_BUDGET_FIELDS, *_BUDGET_TAGS)},
    }


def completeness(evaluations: Evaluations) -> dict[str, Any]:
    """The park's data completeness this month: the mean over its sensor-days of each
    one's readings against those due (each capped at 100 % by the job), and how many
    sensor-days that is."""
    days = sum(evaluations.sensor_days.values())
    total = sum(evaluations.completeness_sum_pct.values())
    return {"mean_pct": total / days if days else None, "sensor_days": int(days)}


def park_row(
    park: ParkSpec, figures: Mapping[str, Any] | None, evaluations: Evaluations | None = None
) -> dict[str, Any]:
    """One park's month to date: the clean-energy share on its judged variant against
    the milestones, CO2 per tce against its target, the additive figures and intensities
    (None where the month has no point yet), its quota, carbon budget and completeness."""
    found = evaluations or Evaluations()
    variants = park.target_variants
    share_column = judged_column(SHARE, variants, milestone=True)
    carbon_column = judged_column(CARBON, variants, milestone=False)
    milestones = {key.rpartition("_")[2]: value for key, value in park.targets.items()
                  if key.startswith(SHARE + "_") and key.rpartition("_")[2].isdigit()}  # fmt: skip
    values = dict(figures or {})

    def number(column: str | None) -> float | None:
        value = values.get(column) if column is not None else None
        return float(value) if isinstance(value, int | float) else None

    share = number(share_column)
    carbon = number(carbon_column)
    carbon_target = park.targets.get(CARBON)
    return {
        "park": park.id,
        "name": park.name,
        "stored": figures is not None,
        "clean_energy_share": {
            "column": share_column, "value_pct": share, "milestones_pct": milestones,
            "met_pct": {year: share >= target for year, target in milestones.items()}
            if share is not None else {},
        },
        "co2_per_energy": {
            "column": carbon_column, "value_t_per_tce": carbon, "target_t_per_tce": carbon_target,
            "met": None if carbon is None or carbon_target is None else carbon <= carbon_target,
        },
        **{key: number(key) for key in (*ADDITIVE, *INTENSITIES)},
        "quota": quota(found, [e.id for e in park.enterprises]),
        "carbon_budget": budget(found),
        "completeness": completeness(found),
    }  # fmt: skip


def ranked(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Parks by clean-energy share, highest first (parks without a figure last), each
    with its ``rank`` (1-based; None without a figure)."""

    def share(row: dict[str, Any]) -> float | None:
        value = row["clean_energy_share"]["value_pct"]
        return value if isinstance(value, float) else None

    ordered = sorted(rows, key=lambda r: (share(r) is None, -(share(r) or 0.0), r["park"]))
    return [r | {"rank": i + 1 if share(r) is not None else None} for i, r in enumerate(ordered)]


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The city's totals: each additive figure summed over the parks that have it; the
    enterprises over (or forecast over) their quota and the parks over (or forecast over)
    their carbon budget counted; completeness over all the city's sensor-days."""
    out: dict[str, Any] = {"parks": len(rows), "parks_stored": sum(r["stored"] for r in rows)}
    for key in ADDITIVE:
        found = [r[key] for r in rows if r[key] is not None]
        out[key] = sum(found) if found else None
    out["quota_breached"] = sum(r["quota"]["breached"] for r in rows)
    out["quota_forecast_breach"] = sum(r["quota"]["forecast_breach"] for r in rows)
    budgets = [r["carbon_budget"]["status"] for r in rows]
    out["budgets_breached"] = budgets.count("breached")
    out["budgets_forecast_breach"] = budgets.count("forecast_breach")
    days = sum(r["completeness"]["sensor_days"] for r in rows)
    weighted = sum(r["completeness"]["mean_pct"] * r["completeness"]["sensor_days"]
                   for r in rows if r["completeness"]["mean_pct"] is not None)  # fmt: skip
    out["completeness"] = {"mean_pct": weighted / days if days else None, "sensor_days": days}
    return out
