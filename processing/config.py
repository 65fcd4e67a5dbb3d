"""Processing configuration: which coefficients, contracts, declared values, quotas, rules.

People write it (``examples/processing.yaml``), so it is pydantic with strict keys.
Coefficients live in factor-set files (``smartpark.factorset``), each value with its
source and vintage; the configuration only chooses among them by id.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Annotated, Literal, TypeVar

from pydantic import Field, field_validator, model_validator

from processing.kpis import Coefficients, FuelFactor
from processing.muju import MujuRules
from smartpark import config as config_files
from smartpark.carriers import FUELS, STEAM_KIND
from smartpark.config import Strict
from smartpark.errors import ConfigError
from smartpark.factorset import FactorSet, load_factor_set, relative_to
from smartpark.limits import CarbonBudgets, QuotasTceMonth
from smartpark.model import Id

# the factor sets live in smartpark.factorset (the API reads them too); importable here
__all__ = ["FactorSet", "load_factor_set"]


class Methods(Strict):
    """Which coefficient each part of a KPI uses, by id in the factor set."""

    electricity_basis: Literal["electricity_equivalent", "electricity_equal_value"] = (
        "electricity_equivalent"
    )
    gas: str = "natural_gas"
    steam: str = "steam_low_pressure"
    coal: str = Field(default="raw_coal", description="or a measured coal's own entry")
    diesel: str = "diesel"
    fuel_oil: str = "fuel_oil"
    lpg: str = "lpg"
    heat: str = Field(default="purchased_heat", description="per GJ of delivered heat")
    grid_factor: str = "sichuan-2022"
    residual_factor: str = "national-residual-2023"
    fossil_factor: str = "national-fossil-2023"
    certificates_in_quota: bool = Field(
        default=True,
        description="unbundled certificates (绿证) prove renewable consumption for the "
        "energy-use checks (发改运行[2022]1258号, 发改环资[2024]113号): deducted from "
        "energy_excl_renewables_tce (the quota total) and counted in the proven shares",
    )
    certificates_in_market_co2: bool = Field(
        default=False,
        description="count unbundled certificates at 0 in market-based CO2 (a reporting "
        "choice; traded green power always is)",
    )
    net_unbundled_certificates: bool = Field(
        default=False,
        description="shorthand for both certificates_in_quota and certificates_in_market_co2",
    )

    def certificates(self) -> tuple[bool, bool]:
        """Whether unbundled certificates count in the quota total and in market CO2."""
        net = self.net_unbundled_certificates
        return self.certificates_in_quota or net, self.certificates_in_market_co2 or net

    interval_boundary: Literal["later_reading", "pro_rata"] = Field(
        default="later_reading",
        description="where the use between two readings goes: the later reading's window "
        "(MyEMS, emoncms), or spread over the windows it spans by time",
    )


class Carrier(Strict):
    """How a registry kind's counter enters the energy balance."""

    field: Id
    column: Literal[
        "grid_kwh", "pv_kwh", "gas_m3", "steam_kg", "coal_kg", "diesel_kg", "fuel_oil_kg",
        "lpg_kg", "heat_gj", "output",
    ]  # fmt: skip
    scale: float = Field(default=1.0, gt=0, description="to the column's unit, e.g. t -> kg: 1000")


DEFAULT_CARRIERS = {
    "electricity": Carrier(field="energy_kwh", column="grid_kwh"),
    "pv": Carrier(field="energy_kwh", column="pv_kwh"),
    "gas": Carrier(field="volume_m3", column="gas_m3"),
    "production": Carrier(field="output", column="output"),
}
#: The built-in carriers beside the core kinds; a configuration may map them otherwise
#: (a diesel meter in litres: ``{field: volume_l, column: diesel_kg, scale: 0.84}``).
CARRIER_DEFAULTS = {
    STEAM_KIND: Carrier(field="mass_t", column="steam_kg", scale=1000),
    **{f.kind: Carrier.model_validate({"field": f.field, "column": f.column, "scale": f.scale})
       for f in FUELS},
}  # fmt: skip


EVERY: Literal["every"] = "every"
# a month ``YYYY-MM``, or ``every``: a standing figure for each month without its own entry
MONTH_PATTERN = r"^(\d{4}-(0[1-9]|1[0-2])|every)$"


class GreenPower(Strict):
    """Green electricity of one month (``month: every``: a standing contract, each month
    the enterprise has no entry of its own of this kind): ``traded`` green power with
    its certificates (绿电交易), zero in the market-based method; or ``certificates``
    bought unbundled (绿证), reported apart (``certificates_kwh``), deducted from the
    quota total by ``methods.certificates_in_quota`` and zero in market CO2 by
    ``methods.certificates_in_market_co2``: two separate choices."""

    enterprise: Id
    month: str = Field(pattern=MONTH_PATTERN)
    kwh: float = Field(ge=0)
    kind: Literal["traded", "certificates"] = "traded"


class PvCertificatesSold(Strict):
    """Certificates of an enterprise's on-site PV sold to others in one month (``every``:
    each month without its own entry): that energy leaves the enterprise's green claims
    (still consumed, no longer its to claim)."""

    enterprise: Id
    month: str = Field(pattern=MONTH_PATTERN)
    kwh: float = Field(ge=0)


class Declared(Strict):
    """Declared economic figures of an enterprise for a year, or a month of it; the
    park's own (``enterprise: _park``, added value only) replace the sum of its
    enterprises' in the park's rows. ``year: every``: standing figures, taken as the
    figures of each year in which the enterprise declares nothing of its own."""

    enterprise: Id | Literal["_park"]
    year: Annotated[int, Field(ge=2000, le=2100)] | Literal["every"]
    month: int | None = Field(default=None, ge=1, le=12)
    added_value_cny: float | None = Field(default=None, ge=0)
    revenue_cny: float | None = Field(default=None, ge=0)
    tax_cny: float | None = Field(default=None, ge=0)
    rd_cny: float | None = Field(default=None, ge=0)
    local_score: float | None = Field(default=None, ge=0)
    pollutant_t: float | None = Field(
        default=None, ge=0,
        description="main pollutants emitted (t), e.g. from the discharge-permit report; "
        "without it the mu-average takes the SO2 and NOx its CEMS stacks measured",
    )  # fmt: skip
    veto: bool = False

    @model_validator(mode="after")
    def _park_declares_added_value(self) -> Declared:
        evaluated = ("revenue_cny", "tax_cny", "rd_cny", "local_score", "pollutant_t")
        if self.enterprise == "_park" and (
            self.veto or any(getattr(self, f) is not None for f in evaluated)
        ):
            raise ValueError("the park (_park) declares added_value_cny only: the mu-average "
                             "evaluates enterprises")  # fmt: skip
        return self


class CemsConfig(Strict):
    o2_max_valid_pct: float = Field(default=19.0, gt=0, lt=21)
    min_valid_minutes: int = Field(default=45, ge=1, le=60)


class MujuConfig(Strict):
    weights: dict[str, float] = Field(
        default_factory=lambda: {
            "revenue_per_mu": 20.0,
            "tax_per_mu": 20.0,
            "revenue_per_employee": 20.0,
            "revenue_per_tce": 5.0,
            "rd_intensity_pct": 5.0,
            "local_score": 30.0,
        }
    )
    benchmarks: dict[str, float] = Field(default_factory=dict)
    cap: float = Field(default=1.5, gt=0)
    a_max_share: float = Field(default=0.30, ge=0, le=1)
    c_min_share: float = Field(default=0.10, ge=0, le=1)
    d_share: float = Field(default=0.0, ge=0, le=1)
    min_enterprises: int = Field(default=4, ge=1, description="fewer: scores, no grades")
    energy_basis: Literal["equal_value", "equivalent"] = Field(
        default="equal_value",
        description="等价值 (Zhejiang's scheme) or 当量值; Sichuan's is not verified",
    )

    def rules(self) -> MujuRules:
        """The evaluation's rules; ValueError names what the monthly job would refuse."""
        return MujuRules(
            weights=self.weights,
            benchmarks=self.benchmarks,
            cap=self.cap,
            a_max_share=self.a_max_share,
            c_min_share=self.c_min_share,
            d_share=self.d_share,
            min_enterprises=self.min_enterprises,
        )


class CarbonEfficiency(Strict):
    """碳效码: each industry's average CO2 per 10k CNY of added value, the yardstick of
    the grade (the level needs none). Fix the grid factor policy per report: the factor
    chosen can move an enterprise across a level."""

    industry_average_t_per_10k_cny: dict[str, float] = Field(default_factory=dict)


class MeterRules(Strict):
    """How counter readings are judged (see ``processing.meters``)."""

    tolerance: float = Field(
        default=1.5,
        ge=1,
        description="a plausible interval adds at most rated_per_h x tolerance per hour",
    )


FeedstockColumn = Literal[
    "grid_kwh", "gas_m3", "steam_kg", "coal_kg", "diesel_kg", "fuel_oil_kg", "lpg_kg"
]  # fmt: skip


class ProcessingConfig(Strict):
    factors: str | list[str] = Field(
        default="cn",
        description="a shipped factor set's id or a factor-set file (relative to this "
        "file), or a list of them, later ones overriding earlier ones entry by entry",
    )
    methods: Methods = Methods()
    carriers: dict[Id, Carrier] = Field(default_factory=dict, description="beyond the core kinds")
    lateness_s: int = Field(default=3_600, ge=0, le=7 * 86_400)
    catchup_delay_s: int = Field(
        default=30, ge=0, description="wait before a late reading's windows are recomputed"
    )
    catchup_windows_per_s: float = Field(
        default=2_000.0, gt=0, description="the catch-up's rate limit, in windows a second"
    )
    catchup_busy_share: float = Field(
        default=0.5,
        gt=0,
        le=1,
        description="the catch-up's other limit: the share of wall time its batches may "
        "take (after a batch of t seconds it pauses t x (1 - share) / share at least), so "
        "the live path keeps the CPU it needs however slow the host",
    )
    catchup_updates_per_s: float = Field(
        default=5_000.0,
        gt=0,
        description="the most KPI updates (revisions) a second the catch-up publishes: "
        "subscribers take updates in order, so a burst of them delays the live ones",
    )
    max_gap_s: int = Field(default=300, gt=0)
    green_power: list[GreenPower] = Field(default_factory=list)
    pv_certificates_sold: list[PvCertificatesSold] = Field(default_factory=list)
    feedstock: dict[Id, dict[FeedstockColumn, float]] = Field(
        default_factory=dict,
        description="原料用能: per enterprise, the share (0-1) of a carrier used as raw material",
    )
    declared: list[Declared] = Field(default_factory=list)
    added_value_price_index: dict[int, float] = Field(
        default_factory=dict,
        description="price index of industrial added value per year, the year before = 100 "
        "(e.g. 2026: 101.5): 单位工业增加值能耗's change at comparable prices; without one a "
        "year's change is nominal",
    )
    quotas_tce_month: QuotasTceMonth = Field(default_factory=dict)
    carbon_budgets: CarbonBudgets = CarbonBudgets()
    cems: CemsConfig = CemsConfig()
    meters: MeterRules = MeterRules()
    carbon_efficiency: CarbonEfficiency = CarbonEfficiency()
    muju: MujuConfig | None = Field(
        default=None, description="the mu-average evaluation; none when not configured"
    )

    @property
    def lookback_ms(self) -> int:
        """How far before a window its meters' previous readings are looked for (a counter's
        first delta and an interval's pro-rata need the reading before the window)."""
        return max(self.max_gap_s * 1000, 900_000)

    @model_validator(mode="after")
    def _no_core_override(self) -> ProcessingConfig:
        clash = set(self.carriers) & set(DEFAULT_CARRIERS)
        if clash:
            raise ValueError(f"carriers: core kinds are built in: {sorted(clash)}")
        return self

    @field_validator("declared")
    @classmethod
    def _one_declaration_per_period(cls, declared: list[Declared]) -> list[Declared]:
        # Readers disagreed on a repeated period (the month allocation summed it, the year
        # rest and the mu-average took the last): refused, where it is, instead.
        first: dict[tuple[str, int | str, int | None], int] = {}
        repeated = []
        for i, d in enumerate(declared):
            key = (d.enterprise, d.year, d.month)
            if key in first:
                period = f"{d.year}" if d.month is None else f"{d.year}-{d.month:02d}"
                repeated.append(
                    f"declared[{i}] declares {d.enterprise} {period} again (declared[{first[key]}]"
                    "): one entry per enterprise and period"
                )
            first.setdefault(key, i)
        if repeated:
            raise ValueError("; ".join(repeated))
        return declared

    @model_validator(mode="after")
    def _feedstock_shares(self) -> ProcessingConfig:
        bad = [
            f"{e}.{c}" for e, cs in self.feedstock.items() for c, v in cs.items() if not 0 <= v <= 1
        ]
        if bad:
            raise ValueError(f"feedstock: shares are between 0 and 1: {', '.join(bad)}")
        return self

    @model_validator(mode="after")
    def _muju_complete(self) -> ProcessingConfig:
        # Checked when the file is read, so that --check refuses what the monthly
        # evaluation would otherwise refuse months later.
        if self.muju is not None:
            try:
                self.muju.rules()
            except ValueError as exc:
                raise ValueError(f"muju: {exc}") from exc
        return self

    def declared_in(self, years: Iterable[int]) -> list[Declared]:
        """The declarations that apply in ``years``: each year's own, and the standing
        ones (``year: every``) as that year's where the enterprise declares nothing of its
        own for the same period (the year, or that month of it)."""
        return declared_in(self.declared, years)

    def all_carriers(self) -> dict[str, Carrier]:
        return {**CARRIER_DEFAULTS, **DEFAULT_CARRIERS, **self.carriers}


def declared_in(declared: list[Declared], years: Iterable[int]) -> list[Declared]:
    """See :meth:`ProcessingConfig.declared_in`."""
    wanted = sorted(set(years))
    own = {(d.enterprise, d.year, d.month) for d in declared if d.year != EVERY}
    out = [d for d in declared if d.year != EVERY and d.year in wanted]
    for year in wanted:
        out += [
            d.model_copy(update={"year": year})
            for d in declared
            if d.year == EVERY and (d.enterprise, year, d.month) not in own
        ]
    return out


Monthly = TypeVar("Monthly", GreenPower, PvCertificatesSold)


def monthly_in(entries: list[Monthly], months: Iterable[tuple[int, int]]) -> list[Monthly]:
    """The entries of one kind that apply in ``months`` (year, month): each month's own,
    else each enterprise's standing ones (``month: every``) as that month's."""
    wanted = sorted(set(months))
    named = {f"{y:04d}-{m:02d}" for y, m in wanted}
    own = {(g.enterprise, g.month) for g in entries if g.month != EVERY}
    out = [g for g in entries if g.month in named]
    for y, m in wanted:
        month = f"{y:04d}-{m:02d}"
        out += [
            g.model_copy(update={"month": month})
            for g in entries
            if g.month == EVERY and (g.enterprise, month) not in own
        ]
    return out


def coefficients(config: ProcessingConfig, factors: FactorSet) -> Coefficients:
    """Resolve the configured ids to numbers, or say which id is missing."""
    m = config.methods
    checks: tuple[tuple[str, str, Mapping[str, object]], ...] = (
        ("electricity_basis", m.electricity_basis, factors.energy_kgce),
        ("electricity_basis", "electricity_equivalent", factors.energy_kgce),
        ("electricity_basis", "electricity_equal_value", factors.energy_kgce),
        ("gas", m.gas, factors.energy_kgce),
        ("gas", m.gas, factors.co2_kg),
        ("steam", m.steam, factors.energy_kgce),
        ("steam", m.steam, factors.co2_kg),
        *(
            (f.name, getattr(m, f.name), table)
            for f in FUELS
            for table in (factors.energy_kgce, factors.co2_kg)
        ),
        ("grid_factor", m.grid_factor, factors.grid_kg_per_kwh),
        ("residual_factor", m.residual_factor, factors.grid_kg_per_kwh),
        ("fossil_factor", m.fossil_factor, factors.grid_kg_per_kwh),
    )
    problems = [
        f"methods.{field}: {value!r} is not in factor set {factors.id!r}"
        for field, value, table in checks
        if value not in table
    ]
    if problems:
        raise ConfigError("processing configuration names unknown coefficients", problems)
    grid = factors.grid_kg_per_kwh
    in_quota, in_market = m.certificates()
    return Coefficients(
        factor_set=factors.id,
        electricity_basis=m.electricity_basis,
        electricity_kgce_per_kwh=factors.energy_kgce[m.electricity_basis].value,
        equivalent_kgce_per_kwh=factors.energy_kgce["electricity_equivalent"].value,
        equal_value_kgce_per_kwh=factors.energy_kgce["electricity_equal_value"].value,
        gas_factor=m.gas,
        gas_kgce_per_m3=factors.energy_kgce[m.gas].value,
        gas_co2_kg_per_m3=factors.co2_kg[m.gas].value,
        steam_factor=m.steam,
        steam_kgce_per_kg=factors.energy_kgce[m.steam].value,
        steam_co2_kg_per_kg=factors.co2_kg[m.steam].value,
        grid_factor=m.grid_factor,
        grid_co2_kg_per_kwh=grid[m.grid_factor].value,
        residual_factor=m.residual_factor,
        residual_co2_kg_per_kwh=grid[m.residual_factor].value,
        fossil_factor=m.fossil_factor,
        fossil_co2_kg_per_kwh=grid[m.fossil_factor].value,
        gas_reference_c=ncv.reference_c if (ncv := factors.natural_gas_ncv.get(m.gas)) else None,
        fuels=tuple(
            FuelFactor(
                column=f.column,
                factor=getattr(m, f.name),
                kgce_per_unit=factors.energy_kgce[getattr(m, f.name)].value,
                co2_kg_per_unit=factors.co2_kg[getattr(m, f.name)].value,
            )
            for f in FUELS
        ),
        certificates_in_quota=in_quota,
        certificates_in_market_co2=in_market,
    )


def load(path: Path) -> ProcessingConfig:
    """Read and validate a processing configuration file; factor-set files it names are
    relative to it."""
    config = config_files.load(ProcessingConfig, path, what="processing configuration")
    return config.model_copy(update={"factors": relative_to(path, config.factors)})
