"""Alert rules and channels as people write them (YAML, validated with clear errors).

Rule types (``type:``):

- ``threshold``      a reading field (``source: reading``) or a KPI field (``source: kpi``)
                     above/below a limit for ``for_s``; it clears at ``clear`` (hysteresis)
- ``cems_hourly``    a stack's O2-corrected hourly mean above its registry limit
- ``quota_forecast`` the month-end forecast of an enterprise's energy use above its quota
- ``carbon_budget_forecast`` the month-end forecast of an enterprise's or the park's CO2
                     (location- or market-based) above its monthly budget (碳排放双控)
- ``no_data``        a sensor silent for ``after_s``
- ``rate_of_change`` a reading field changing faster than ``max_per_min``
- ``counter_reset``  a counter register going down outside its rollover band
- ``kpi_target``     a KPI below/above its target, for the window or month to date

Scope (``scope:``) narrows a rule to parks, enterprises, sensor kinds and sensors.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, StringConstraints, model_validator

from smartpark import config as config_files
from smartpark import schema
from smartpark.config import Strict
from smartpark.limits import BudgetsTMonth, Co2Method, QuotasTceMonth
from smartpark.model import Id

Severity = Literal["info", "warning", "critical"]
Pollutant = Literal["so2_mg_m3", "nox_mg_m3", "pm_mg_m3"]
POLLUTANTS: tuple[Pollutant, ...] = ("so2_mg_m3", "nox_mg_m3", "pm_mg_m3")


class Scope(Strict):
    parks: list[Id] = Field(default_factory=list)
    enterprises: list[Id | Literal["_park"]] = Field(
        default_factory=list, description="enterprise ids; _park for the park as a whole"
    )
    kinds: list[Id] = Field(default_factory=list)
    sensors: list[Id] = Field(default_factory=list)

    def admits(self, *, park: str, enterprise: str, kind: str = "", sensor: str = "") -> bool:
        return (
            (not self.parks or park in self.parks)
            and (not self.enterprises or enterprise in self.enterprises)
            and (not self.kinds or not kind or kind in self.kinds)
            and (not self.sensors or not sensor or sensor in self.sensors)
        )


def _kpi_field(what: str, name: str) -> None:
    """Refuse a KPI the processor never writes (``smartpark.schema``): it would never fire."""
    if name not in schema.KPI.fields:
        raise ValueError(f"{what}: {name!r} is not a KPI field (see the kpi measurement)")


class _Rule(Strict):
    id: Id
    severity: Severity = "warning"
    description: str = ""
    scope: Scope = Scope()


class ThresholdRule(_Rule):
    type: Literal["threshold"]
    source: Literal["reading", "kpi"] = "reading"
    field: Id
    window: Literal["1m", "15m", "1h", "1d"] | None = Field(
        default=None, description="KPI window (source: kpi)"
    )
    above: float | None = None
    below: float | None = None
    clear: float | None = Field(default=None, description="clears here; default: the limit")
    for_s: float = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _one_side(self) -> ThresholdRule:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above or below")
        limit = self.above if self.above is not None else self.below
        assert limit is not None
        if self.clear is not None and (
            (self.above is not None and self.clear > limit)
            or (self.below is not None and self.clear < limit)
        ):
            raise ValueError(f"clear {self.clear} is on the wrong side of the limit {limit}")
        if self.source == "kpi" and self.window is None:
            raise ValueError("a KPI threshold needs its window (1m, 15m, 1h or 1d)")
        if self.source == "kpi":
            _kpi_field("field", self.field)
        return self


class CemsHourlyRule(_Rule):
    type: Literal["cems_hourly"]
    pollutants: list[Pollutant] = Field(default_factory=lambda: list(POLLUTANTS))
    o2_max_valid_pct: float = Field(default=19.0, gt=0, lt=21)
    min_valid_minutes: int = Field(default=45, ge=1, le=60)


class QuotaForecastRule(_Rule):
    type: Literal["quota_forecast"]
    quotas_tce_month: QuotasTceMonth = Field(min_length=1)


class CarbonBudgetForecastRule(_Rule):
    type: Literal["carbon_budget_forecast"]
    method: Co2Method = "location"
    budgets_t_month: BudgetsTMonth = Field(min_length=1)


class NoDataRule(_Rule):
    type: Literal["no_data"]
    after_s: float = Field(gt=0)


class RateOfChangeRule(_Rule):
    type: Literal["rate_of_change"]
    field: Id
    max_per_min: float = Field(gt=0)
    over_s: float = Field(
        default=60,
        gt=0,
        description="measured against the reading this long before (noise "
        "on second-by-second readings is not a change)",
    )


class CounterResetRule(_Rule):
    type: Literal["counter_reset"]
    field: Id = "energy_kwh"
    tolerance: float = Field(
        default=1.5, ge=1,
        description="a plausible rise: rated_per_h x this (keep it equal to processing's "
        "meters.tolerance, so that the rule and the KPIs judge a reading alike)",
    )  # fmt: skip


class KpiTargetRule(_Rule):
    type: Literal["kpi_target"]
    kpi: Id
    window: Literal["1h", "1d"] = "1d"
    period: Literal["window", "month"] = "month"
    weight: Id = Field(default="energy_tce", description="month-to-date mean weighted by this")
    below: float | None = Field(default=None, description="fires below this (e.g. 65 %)")
    above: float | None = Field(default=None, description="fires above this (e.g. 0.20 t/tce)")

    @model_validator(mode="after")
    def _one_side(self) -> KpiTargetRule:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above or below")
        _kpi_field("kpi", self.kpi)
        _kpi_field("weight", self.weight)
        return self


Rule = Annotated[
    ThresholdRule
    | CemsHourlyRule
    | QuotaForecastRule
    | CarbonBudgetForecastRule
    | NoDataRule
    | RateOfChangeRule
    | CounterResetRule
    | KpiTargetRule,
    Field(discriminator="type"),
]


class Webhook(Strict):
    type: Literal["webhook", "wecom", "dingtalk"] = "webhook"
    url: str = Field(pattern=r"^https?://")
    secret: str | None = Field(
        default=None,
        description="name of the HMAC-SHA256 key in SMARTPARK_ALERTS__WEBHOOK_SECRETS",
    )


class Email(Strict):
    type: Literal["email"]
    to: list[str] = Field(min_length=1)


Channel = Annotated[Webhook | Email, Field(discriminator="type")]


class Smtp(Strict):
    host: str = "127.0.0.1"
    port: int = 25
    sender: str = "smartpark@localhost"
    starttls: bool = False
    username: str | None = None
    # the password comes from SMARTPARK_ALERTS__SMTP_PASSWORD


class Lifecycle(Strict):
    remind_every_s: float = Field(default=3600, gt=0)
    escalate_after_s: float = Field(default=1800, gt=0)
    resolve_after_s: float = Field(
        default=0, ge=0, description="flap damping: a clear must hold this long to resolve"
    )


class Silence(Strict):
    """No notifications for matching alerts in [start, end): maintenance or a known issue."""

    start: AwareDatetime
    end: AwareDatetime
    reason: str = Field(min_length=1)
    rules: list[Id] = Field(default_factory=list)
    scope: Scope = Scope()


#: An enterprise as the channels name it: its id, or ``park/enterprise`` (ids are unique
#: within a park only: with several parks an id two parks use must be named with its park).
EnterpriseKey = Annotated[
    str, StringConstraints(pattern=r"^([a-z0-9][a-z0-9_-]{0,63}/)?[a-z0-9][a-z0-9_-]{0,63}$")
]


class AlertConfig(Strict):
    rules: list[Rule] = Field(default_factory=list)
    operator: list[Channel] = Field(
        default_factory=list, description="the operator's channels, for every park"
    )
    park_operators: dict[Id, list[Channel]] = Field(
        default_factory=dict,
        description="a park's own operator channels, instead of operator for that park",
    )
    enterprises: dict[EnterpriseKey, list[Channel]] = Field(default_factory=dict)

    def enterprise_channels(self, park: str, enterprise: str) -> list[Channel]:
        """An enterprise's channels: those named ``park/enterprise``, else its id's."""
        return self.enterprises.get(f"{park}/{enterprise}", self.enterprises.get(enterprise, []))

    def operator_channels(self, park: str) -> list[Channel]:
        return self.park_operators.get(park, self.operator)

    def channels(self) -> list[Channel]:
        """Every channel configured (operators' and enterprises')."""
        return [*self.operator, *(c for cs in self.park_operators.values() for c in cs),
                *(c for cs in self.enterprises.values() for c in cs)]  # fmt: skip

    mqtt: bool = True
    smtp: Smtp = Smtp()
    lifecycle: Lifecycle = Lifecycle()
    silences: list[Silence] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_ids(self) -> AlertConfig:
        ids = [r.id for r in self.rules]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate rule ids: {dupes}")
        return self


def parse(raw: object, *, source: str = "alerts") -> AlertConfig:
    """Validate parsed YAML, or ``ConfigError`` listing every problem with its place."""
    return config_files.validate(AlertConfig, raw, source=source, what="alert rules")


def load(path: Path) -> AlertConfig:
    """Read and validate an alert rules file."""
    return parse(config_files.read_yaml(path), source=str(path))
