"""Monthly limits a park declares, energy-use quotas (tce, 能耗双控 / 用能权) and carbon
budgets (tCO2, 碳排放双控), and the month-end forecast they are burned with (pure).

Processing's scheduled burn-down (``quotas_tce_month``, ``carbon_budgets`` in
``processing.yaml``) and the alert rules' live forecasts (``quota_forecast``,
``carbon_budget_forecast`` in ``alerts.yaml``) declare their limits with these types and
forecast with :func:`month_end_forecast`, so the two stages cannot burn a month apart.
"""

from __future__ import annotations

import calendar
from datetime import date
from typing import Annotated, Literal, TypeVar

import polars as pl
from pydantic import Field, PositiveFloat

from smartpark import schema
from smartpark.config import Strict
from smartpark.model import Id

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
