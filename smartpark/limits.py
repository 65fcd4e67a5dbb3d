"""Monthly limits a park declares, energy-use quotas (tce, 能耗双控 / 用能权) and carbon
budgets (tCO2, 碳排放双控), and the month-end forecast they are burned with (pure).

Processing's scheduled burn-down (``quotas_tce_month``, ``carbon_budgets`` in
``processing.yaml``) and the alert rules' live forecasts (``quota_forecast``,
``carbon_budget_forecast`` in ``alerts.yaml``) declare their limits with these types and
forecast with :func:`month_end_forecast`, so the two stages cannot burn a month apart.
The API reads what ``processing.yaml`` configures (:func:`load`, :func:`for_scope`) to
tell "configured, not yet computed" from "not configured" without a burn-down point
(there is none before the month's first daily job).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import polars as pl
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from smartpark import config as config_files
from smartpark import schema
from smartpark.config import Strict
from smartpark.model import PARK_SCOPE, Id

Co2Method = Literal["location", "market"]
"""Which CO2 burns a carbon budget: location-based (grid factor) or market-based
(residual factor, traded green power deducted)."""

QuotasTceMonth = Annotated[
    dict[Id, PositiveFloat], Field(description="tce per month, by enterprise id")
]
BudgetsTMonth = Annotated[
    dict[Id | Literal["_park"], PositiveFloat],
    Field(description="tCO2 per month, by enterprise id or _park"),
]

#: The KPI field a quota burns: energy less on-site PV and certified green power
#: (发改运行[2022]1258号); points written before it existed fall back to ``energy_tce``.
QUOTA_FIELD, QUOTA_FALLBACK = schema.KPI.names("energy_excl_renewables_tce", "energy_tce")


def budget_field(method: Co2Method) -> str:
    """The KPI field a carbon budget on ``method`` burns (``co2_location_t``...)."""
    return schema.KPI.field(f"co2_{method}_t").name


class CarbonBudgets(Strict):
    """Monthly CO2 budgets that burn like energy-use quotas, per enterprise and for the park
    as a whole (``_park``), on one stated CO2 method."""

    method: Co2Method = "location"
    t_month: BudgetsTMonth = Field(default_factory=dict)


Used = TypeVar("Used", float, pl.Expr)


def month_end_forecast(used: Used, *, through: date) -> Used:
    """What the month of ``through`` will have used by its end: ``used`` (the month's days
    up to and including ``through``) at its mean daily rate over every day of the month.
    ``used`` is a number or a polars expression."""
    days_in_month = calendar.monthrange(through.year, through.month)[1]
    return used / through.day * days_in_month


class MonthlyLimits(BaseModel):
    """The limits' part of a processing configuration (the rest is the processor's)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    quotas_tce_month: QuotasTceMonth = Field(default_factory=dict)
    carbon_budgets: CarbonBudgets = CarbonBudgets()


@dataclass(frozen=True, slots=True)
class ScopeLimits:
    """What is configured for one scope (an enterprise or ``_park``); ``None`` throughout
    when the configuration could not be read (unknown, not "not configured")."""

    quota_tce_month: float | None
    carbon_budget_t_month: float | None
    carbon_budget_method: str | None
    known: bool

    def public(self) -> dict[str, Any]:
        known = self.known or None
        return {
            "quota_configured": known and self.quota_tce_month is not None,
            "quota_tce_month": self.quota_tce_month,
            "carbon_budget_configured": known and self.carbon_budget_t_month is not None,
            "carbon_budget_t_month": self.carbon_budget_t_month,
            "carbon_budget_method": self.carbon_budget_method,
        }


UNKNOWN = ScopeLimits(None, None, None, known=False)


def for_scope(limits: MonthlyLimits | None, scope: str) -> ScopeLimits:
    """The quota (enterprises only) and carbon budget configured for ``scope``."""
    if limits is None:
        return UNKNOWN
    budget = limits.carbon_budgets.t_month.get(scope)
    return ScopeLimits(
        quota_tce_month=None if scope == PARK_SCOPE else limits.quotas_tce_month.get(scope),
        carbon_budget_t_month=budget,
        carbon_budget_method=limits.carbon_budgets.method if budget is not None else None,
        known=True,
    )


def load(path: Path) -> MonthlyLimits:
    """The limits of the processing configuration at ``path``; ``ConfigError`` when it
    cannot be read or they are invalid (the processor refuses the same file)."""
    raw = config_files.read_yaml(path)
    return config_files.validate(
        MonthlyLimits, raw, source=str(path), what="processing configuration"
    )
