"""Scenario files: what a simulated park does over a period, and which faults it suffers.

A scenario is YAML written by people, so it is a pydantic model with strict keys and
clear errors (``load(path)``). It names a registry, a seed, a period, the calendar,
the PV weather, events (CEMS exceedance episodes, load changes) and fault rates.

Rates: faults that act on readings (silence, gap, clock_skew, spike, stuck,
counter_reset) are the probability that a given reading starts the fault; faults
that act on messages (duplicate, late, out_of_order, malformed) are the probability
for a given message. With ``batch: 1`` a message is one reading.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, AwareDatetime, Field, model_validator

from smartpark import config as config_files
from smartpark.config import Strict
from smartpark.errors import ConfigError
from smartpark.model import Id


def _ordered(pair: tuple[float, float]) -> tuple[float, float]:
    if pair[0] > pair[1]:
        raise ValueError(f"range must be [low, high]: {list(pair)}")
    return pair


Span = Annotated[tuple[float, float], AfterValidator(_ordered)]
Rate = Annotated[float, Field(ge=0, le=1)]


class Fault(Strict):
    rate: Rate = 0.0


class EpisodeFault(Fault):
    duration_min: Span = (5.0, 30.0)


class SkewFault(EpisodeFault):
    skew_s: Span = (-240.0, 240.0)


class SpikeFault(Fault):
    factor: Span = (5.0, 20.0)


class DelayFault(Fault):
    delay_s: Span = (120.0, 1800.0)


class Faults(Strict):
    """Fault rates; all zero unless the scenario sets them."""

    silence: Fault = Fault()
    gap: EpisodeFault = EpisodeFault()
    stuck: EpisodeFault = EpisodeFault(duration_min=(30.0, 120.0))
    clock_skew: SkewFault = SkewFault(duration_min=(60.0, 240.0))
    spike: SpikeFault = SpikeFault()
    counter_reset: Fault = Fault()
    duplicate: DelayFault = DelayFault(delay_s=(0.1, 60.0))
    late: DelayFault = DelayFault()
    out_of_order: Fault = Fault()
    malformed: Fault = Fault()

    def off(self) -> Faults:
        return Faults()


READING_FAULTS = ("silence", "gap", "stuck", "clock_skew", "spike", "counter_reset")
MESSAGE_FAULTS = ("duplicate", "late", "out_of_order", "malformed")


class Pv(Strict):
    """Rooftop PV weather: clear-sky output x a daily clearness drawn from a beta law."""

    performance_ratio: float = Field(default=0.80, gt=0, le=1)
    clearness_mean: float = Field(default=0.50, gt=0, le=1, description="Sichuan basin: hazy")
    clearness_sd: float = Field(default=0.22, ge=0, lt=0.5)
    minute_sd: float = Field(default=0.10, ge=0, lt=1, description="passing clouds")


class CemsEpisode(Strict):
    """One planned exceedance: the corrected concentration held at ``factor`` x the limit."""

    sensor: Id
    start: AwareDatetime
    duration_min: float = Field(gt=0)
    field: Id = "nox_mg_m3"
    factor: float = Field(default=1.6, gt=0)


class Cems(Strict):
    rate_per_day: float = Field(default=0.0, ge=0, description="random episodes per stack-day")
    duration_min: Span = (60.0, 180.0)
    factor: Span = (1.2, 2.0)
    field: Id = "nox_mg_m3"
    episodes: list[CemsEpisode] = Field(default_factory=list)
    default_limits_mg_m3: dict[Id, float] = Field(
        default_factory=lambda: {"pm_mg_m3": 20.0, "so2_mg_m3": 50.0, "nox_mg_m3": 200.0},
        description="for stacks without limits in the registry: GB 13271-2014 table 2",
    )
    default_ref_o2_pct: float = 3.5


class LoadChange(Strict):
    """The enterprise's load multiplied by ``factor`` on [start, end)."""

    enterprise: Id
    start: AwareDatetime
    end: AwareDatetime
    factor: float = Field(gt=0)


class AlertCheck(Strict):
    """An alert the pipeline must raise exactly once for this subject."""

    rule: Id
    subject: str = Field(min_length=1)
    fired_from: AwareDatetime = Field(description="earliest accepted fired_at (event time)")
    fired_to: AwareDatetime = Field(description="latest accepted fired_at (event time)")
    value: tuple[float, float] | None = Field(default=None, description="[low, high]")
    resolved: bool = Field(default=False, description="it must also be resolved")


class KpiCheck(Strict):
    """A stored KPI point that must fall within a range."""

    scope: str = Field(min_length=1, description="an enterprise id or _park")
    window: Literal["1h", "1d"]
    start: AwareDatetime
    field: Id
    range: tuple[float, float]


class Checks(Strict):
    """Machine-readable expectations, run by ``smartpark scenario check`` through the
    whole pipeline. Only the listed alerts may come from ``rules``."""

    rules: list[dict[str, Any]] = Field(min_length=1, description="alert rules, as in alerts.yaml")
    alerts: list[AlertCheck] = Field(default_factory=list)
    kpis: list[KpiCheck] = Field(default_factory=list)
    enterprises: list[Id] = Field(default_factory=list, description="publish only these")
    kinds: list[Id] = Field(default_factory=list, description="publish only these kinds")


class Scenario(Strict):
    name: Id
    description: str = Field(min_length=1)
    expect: list[str] = Field(default_factory=list, description="what the pipeline should do")
    checks: Checks | None = None
    registry: Path = Path("../park.yaml")
    seed: int = 0
    start: AwareDatetime
    days: float = Field(gt=0, le=400)
    interval_s: int = Field(default=60, ge=1)
    batch: int = Field(default=1, ge=1, le=1000, description="readings per message")
    latency_ms: Span = (20.0, 800.0)
    holidays: list[date] = Field(default_factory=list)
    workdays: list[date] = Field(default_factory=list, description="weekend days worked")
    near_rollover: float = Field(
        default=0.1,
        ge=0,
        le=1,
        description="share of registers that start a day's use short of their rollover",
    )
    pv: Pv = Pv()
    cems: Cems = Cems()
    load_changes: list[LoadChange] = Field(default_factory=list)
    faults: Faults = Faults()

    @model_validator(mode="after")
    def _grid_fits_a_day(self) -> Scenario:
        if 86_400 % self.interval_s:
            raise ValueError(f"interval_s must divide a day: {self.interval_s}")
        return self

    @property
    def start_ms(self) -> int:
        return int(self.start.timestamp() * 1000)

    @property
    def end_ms(self) -> int:
        return int((self.start + timedelta(days=self.days)).timestamp() * 1000)

    def with_changes(self, **changes: Any) -> Scenario:
        """A validated copy with some fields replaced (CLI overrides)."""
        data = self.model_dump()
        data.update({k: v for k, v in changes.items() if v is not None})
        return Scenario.model_validate(data)


def find(name: Path, folder: Path) -> Path:
    """A scenario file by path, or by the name of one in ``folder`` (``normal-week``)."""
    if name.exists():
        return name
    candidate = folder / f"{name.name}.yaml"
    if name.suffix == "" and candidate.exists():
        return candidate
    known = ", ".join(sorted(p.stem for p in folder.glob("*.yaml"))) or "none"
    raise ConfigError(f"{name}: no such file, and no scenario of that name in {folder} ({known})")


def load(path: Path) -> Scenario:
    """Read a scenario file; its ``registry`` is resolved against the file's folder."""
    scenario = config_files.load(Scenario, path, what="scenario")
    if not scenario.registry.is_absolute():
        scenario = scenario.model_copy(update={"registry": path.parent / scenario.registry})
    return scenario


def at(start: datetime, days: float, **fields: Any) -> Scenario:
    """A scenario built in code (tests, benchmarks): defaults plus ``fields``."""
    return Scenario.model_validate(
        {"name": "adhoc", "description": "built in code", "start": start, "days": days, **fields}
    )
