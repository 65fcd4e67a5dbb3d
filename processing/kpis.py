"""Energy, carbon and clean-energy KPIs from window totals (pure polars).

Input: one row per scope and window (an enterprise, or the park) with the metered
totals ``grid_kwh`` (grid import), ``green_kwh`` (of it, under green-power contracts
with certificates), ``pv_kwh`` (on-site PV, self-consumed), ``gas_m3``,
``steam_kg`` (purchased steam) and, where known, ``added_value_cny`` and ``output``.
Every KPI is computed from the totals of its own scope (a park's share is not an
average of its enterprises' shares), and every row carries the coefficients and
methods that made it (:meth:`Coefficients.tags`).

Methods:
- energy: ``energy_tce`` and every ratio built on it use the basis chosen (当量值
  ``electricity_equivalent`` by default, 等价值 ``electricity_equal_value``; tag
  ``energy_basis``); both bases are also reported by name (``energy_equivalent_tce``,
  ``energy_equal_value_tce``: the mu-average evaluation uses 等价值). Self-consumed
  PV counts as energy consumed; gas and steam by their own coefficients.
- CO2 location-based: all grid kWh x the grid's average factor; market-based: green
  kWh x 0, the rest x the residual factor; PV 0; gas and steam by their factors.
- clean energy (清洁能源) counts gas + PV + proven green power; non-fossil (非化石)
  the same without gas (method ``proven``). The ``grid_implied`` variants also credit
  the grid's own non-fossil share, 1 - grid factor / fossil-only factor; the
  ``grid_implied_equal_value`` ones count every kWh at 等价值 (numerator and total), as
  the regional statistics behind the city's milestones do.
- quotas (能耗双控, 用能权): ``energy_excl_renewables_tce`` takes out on-site PV and green
  power with certificates (发改运行[2022]1258号: renewable electricity is deducted from
  total-consumption checks, not from intensity checks); quota burn-down, forecast and
  quota alerts use it, intensities use the gross ``energy_tce``.
- ``green_kwh`` arrives already clipped to each enterprise's own grid import
  (``engine.allocations``): green power one enterprise cannot use never lowers
  another's market-based CO2 in the park's sum.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import polars as pl

from smartpark.carriers import FUEL_COLUMNS
from smartpark.targets import TARGETS, judged_column

# carriers that can be 原料用能 (energy used as raw material)
FEEDSTOCK_COLUMNS = ("grid_kwh", "gas_m3", "steam_kg", *(c for c in FUEL_COLUMNS if c != "heat_gj"))
BASE_COLUMNS = (
    "grid_kwh", "green_kwh", "pv_kwh", "gas_m3", "steam_kg", *FUEL_COLUMNS, "certificates_kwh",
    "pv_sold_kwh", *(f"feedstock_{c}" for c in FEEDSTOCK_COLUMNS),
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class FuelFactor:
    """A carrier of ``smartpark.carriers.FUELS`` as one computation counts it: its KPI
    total (``column``) and that unit's kgce and kgCO2, from factor-set entry ``factor``."""

    column: str
    factor: str
    kgce_per_unit: float
    co2_kg_per_unit: float

    @property
    def name(self) -> str:
        """The carrier's name (``coal`` of ``coal_kg``), as its tag and tce field say it."""
        return self.column.rsplit("_", 1)[0]


@dataclass(frozen=True, slots=True)
class Coefficients:
    """The numbers one KPI computation uses, with the ids they came from."""

    factor_set: str
    electricity_basis: str
    electricity_kgce_per_kwh: float
    equivalent_kgce_per_kwh: float  # 当量值, always reported as energy_equivalent_tce
    equal_value_kgce_per_kwh: float  # 等价值, always reported as energy_equal_value_tce
    gas_factor: str
    gas_kgce_per_m3: float
    gas_co2_kg_per_m3: float
    steam_factor: str
    steam_kgce_per_kg: float
    steam_co2_kg_per_kg: float
    grid_factor: str
    grid_co2_kg_per_kwh: float
    residual_factor: str
    residual_co2_kg_per_kwh: float
    fossil_factor: str
    fossil_co2_kg_per_kwh: float
    # the temperature the gas coefficient's m3 refer to: a measured NCV states it (0 or
    # 20 C); None for a table row. Meters on another basis are converted to it.
    gas_reference_c: int | None = None
    # coal, diesel, fuel oil, LPG, purchased heat (smartpark.carriers): none, a carrier
    # counts 0 (a computation without them, as in the worked example)
    fuels: tuple[FuelFactor, ...] = ()
    # unbundled certificates (绿证): two separate choices (methods.certificates_in_*)
    certificates_in_quota: bool = True
    certificates_in_market_co2: bool = False

    def tags(self) -> dict[str, str]:
        """What made a KPI point: every coefficient's id and both certificate choices."""
        return {
            "factor_set": self.factor_set,
            "energy_basis": self.electricity_basis,
            "grid_factor": self.grid_factor,
            "residual_factor": self.residual_factor,
            "fossil_factor": self.fossil_factor,
            "gas_factor": self.gas_factor,
            "steam_factor": self.steam_factor,
            **{f"{f.name}_factor": f.factor for f in self.fuels},
            "certificates_in_quota": str(self.certificates_in_quota).lower(),
            "certificates_in_market_co2": str(self.certificates_in_market_co2).lower(),
        }


def _share(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    return pl.when(whole > 0).then(part / whole * 100.0).otherwise(None)


def _ratio(part: pl.Expr, whole: pl.Expr) -> pl.Expr:
    return pl.when(whole > 0).then(part / whole).otherwise(None)


def energy_carbon(totals: pl.DataFrame, c: Coefficients) -> pl.DataFrame:
    """Add the energy, CO2, share and intensity KPIs to a frame of window totals."""
    frame = totals.with_columns(
        [pl.lit(0.0).alias(col) for col in BASE_COLUMNS if col not in totals.columns]
    )
    grid, green, pv = (
        pl.col("grid_kwh"),
        pl.col("green_kwh").clip(upper_bound=pl.col("grid_kwh")),
        pl.col("pv_kwh"),
    )
    elec_tce = (grid + pv) * c.electricity_kgce_per_kwh / 1000
    gas_tce = pl.col("gas_m3") * c.gas_kgce_per_m3 / 1000
    # steam and every other carrier but electricity and gas: by their own coefficients
    fuel_tce = {f.name: pl.col(f.column) * f.kgce_per_unit / 1000 for f in c.fuels}
    steam_tce = pl.col("steam_kg") * c.steam_kgce_per_kg / 1000
    others_tce = pl.sum_horizontal(steam_tce, *fuel_tce.values())
    fuel_co2 = (
        pl.sum_horizontal(
            pl.col("gas_m3") * c.gas_co2_kg_per_m3,
            pl.col("steam_kg") * c.steam_co2_kg_per_kg,
            *(pl.col(f.column) * f.co2_kg_per_unit for f in c.fuels),
        )
        / 1000
    )
    # PV whose certificates were sold is still consumed (energy, location-based 0), but no
    # longer the enterprise's to claim: not green, not deducted, residual in market-based
    sold = pl.col("pv_sold_kwh").clip(upper_bound=pv)
    claimed = pv - sold
    pv_tce = claimed * c.electricity_kgce_per_kwh / 1000
    # unbundled certificates cover at most the grid import green power left uncovered
    certs = pl.col("certificates_kwh").clip(lower_bound=0, upper_bound=grid - green)
    proof = certs if c.certificates_in_quota else pl.lit(0.0)
    market_zero = green + (certs if c.certificates_in_market_co2 else pl.lit(0.0))
    green = green + proof  # proven green electricity: traded, and certificates as proof
    green_tce = green * c.electricity_kgce_per_kwh / 1000
    implied = 1 - c.grid_co2_kg_per_kwh / c.fossil_co2_kg_per_kwh
    implied_tce = ((grid - green) * implied) * c.electricity_kgce_per_kwh / 1000
    # the regional statistics' basis: primary electricity at 等价值, numerator and total
    ev = c.equal_value_kgce_per_kwh / 1000
    ev_non_fossil = (claimed + green + (grid - green) * implied) * ev
    frame = frame.with_columns(
        electricity_kwh=grid + pv,
        energy_tce=elec_tce + gas_tce + others_tce,
        energy_excl_renewables_tce=elec_tce + gas_tce + others_tce - pv_tce - green_tce,
        # 原料用能: energy used as raw material, where declared (a total of its own)
        energy_excl_feedstock_tce=elec_tce
        + gas_tce
        + others_tce
        - (
            pl.col("feedstock_grid_kwh") * c.electricity_kgce_per_kwh
            + pl.col("feedstock_gas_m3") * c.gas_kgce_per_m3
            + pl.col("feedstock_steam_kg") * c.steam_kgce_per_kg
            + pl.sum_horizontal(
                pl.lit(0.0),
                *(
                    pl.col(f"feedstock_{f.column}") * f.kgce_per_unit
                    for f in c.fuels
                    if f.column in FEEDSTOCK_COLUMNS
                ),
            )
        )
        / 1000,
        # energy by carrier, each in tce (the monthly report's table)
        electricity_tce=elec_tce,
        gas_tce=gas_tce,
        steam_tce=steam_tce,
        **{f"{name}_tce": tce for name, tce in fuel_tce.items()},
        energy_equivalent_tce=(grid + pv) * c.equivalent_kgce_per_kwh / 1000 + gas_tce + others_tce,
        energy_equal_value_tce=(grid + pv) * c.equal_value_kgce_per_kwh / 1000
        + gas_tce
        + others_tce,
        co2_location_t=grid * c.grid_co2_kg_per_kwh / 1000 + fuel_co2,
        co2_market_t=(grid - market_zero + sold) * c.residual_co2_kg_per_kwh / 1000 + fuel_co2,
        pv_certificates_sold_kwh=sold,
        _clean=gas_tce + pv_tce + green_tce,
        _fuel_clean=gas_tce,
        _ev_non_fossil=ev_non_fossil,
        _non_fossil=pv_tce + green_tce,
        _implied=implied_tce,
    )
    energy = pl.col("energy_tce")
    frame = frame.with_columns(
        co2_location_t_per_tce=_ratio(pl.col("co2_location_t"), energy),
        co2_market_t_per_tce=_ratio(pl.col("co2_market_t"), energy),
        clean_energy_share_pct=_share(pl.col("_clean"), energy),
        non_fossil_share_pct=_share(pl.col("_non_fossil"), energy),
        clean_energy_share_grid_implied_pct=_share(pl.col("_clean") + pl.col("_implied"), energy),
        clean_energy_share_grid_implied_equal_value_pct=_share(
            pl.col("_ev_non_fossil") + pl.col("_fuel_clean"), pl.col("energy_equal_value_tce")
        ),
        non_fossil_share_grid_implied_equal_value_pct=_share(
            pl.col("_ev_non_fossil"), pl.col("energy_equal_value_tce")
        ),
        non_fossil_share_grid_implied_pct=_share(
            pl.col("_non_fossil") + pl.col("_implied"), energy
        ),
        renewable_electricity_share_pct=_share(claimed + green, grid + pv),
    ).drop("_clean", "_non_fossil", "_implied", "_fuel_clean", "_ev_non_fossil")
    if "added_value_cny" in frame.columns:
        per_10k = pl.col("added_value_cny") / 10_000
        frame = frame.with_columns(
            energy_tce_per_10k_cny=_ratio(energy, per_10k),
            # 发改环资[2024]113号: the intensity assessment leaves non-fossil energy out
            # (certified renewables: on-site PV, green power with certificates)
            energy_excl_renewables_tce_per_10k_cny=_ratio(
                pl.col("energy_excl_renewables_tce"), per_10k
            ),
            co2_location_t_per_10k_cny=_ratio(pl.col("co2_location_t"), per_10k),
            co2_market_t_per_10k_cny=_ratio(pl.col("co2_market_t"), per_10k),
        )
    if "output" in frame.columns:
        frame = frame.with_columns(
            energy_kgce_per_output=_ratio(energy * 1000, pl.col("output")),
            co2_location_kg_per_output=_ratio(pl.col("co2_location_t") * 1000, pl.col("output")),
        )
    return frame


def target_in_force(targets: Mapping[str, float], name: str, year: int) -> float | None:
    """The park's target ``name`` for ``year``: ``name`` itself, or ``name_YYYY`` milestones.

    A milestone binds from its year on; before the first, the first one is the aim.
    """
    if name in targets:
        return targets[name]
    milestones = sorted(
        (int(key.rsplit("_", 1)[1]), value)
        for key, value in targets.items()
        if key.startswith(name + "_") and key.rsplit("_", 1)[1].isdigit()
    )
    if not milestones:
        return None
    due = [value for y, value in milestones if y <= year]
    return due[-1] if due else milestones[0][1]


def against_targets(
    frame: pl.DataFrame,
    targets: Mapping[str, float],
    *,
    years: pl.Series,
    variants: Mapping[str, str] | None = None,
) -> pl.DataFrame:
    """Add ``<kpi>_target`` and ``<kpi>_met`` for every target the park has, on the KPI
    column of the target's variant (the column's name says which); ``years`` gives each
    row's local year (a milestone binds from 1 January of its year in the park's time
    zone)."""
    variants = variants or {}
    columns = []
    for name, spec in TARGETS.items():
        kpi = judged_column(name, variants, milestone=name not in targets)
        in_force = {y: target_in_force(targets, name, y) for y in years.unique().to_list()}
        if kpi is None or kpi not in frame.columns or all(v is None for v in in_force.values()):
            continue
        target = years.replace_strict(in_force, return_dtype=pl.Float64)
        value = pl.col(kpi)
        met = value >= pl.lit(target) if spec.higher else value <= pl.lit(target)
        columns += [pl.lit(target).alias(f"{kpi}_target"), met.alias(f"{kpi}_met")]
    return frame.with_columns(columns) if columns else frame


def at_previous_year_prices(
    frame: pl.DataFrame, *, years: pl.Series, price_index: Mapping[int, float]
) -> pl.DataFrame:
    """Add ``energy_tce_per_10k_cny_prev_year_prices`` where the row's local year has a
    price index of added value (previous year = 100): the intensity on added value
    deflated to the year before's prices, so its change against last year's figure is the
    official reduction rate of 单位工业增加值能耗 at comparable prices. Rows of a year
    without an index get none: their change can only be nominal."""
    if "energy_tce_per_10k_cny" not in frame.columns or not price_index:
        return frame
    index = years.replace_strict(dict(price_index), default=None, return_dtype=pl.Float64)
    return frame.with_columns(
        energy_tce_per_10k_cny_prev_year_prices=pl.col("energy_tce_per_10k_cny")
        * pl.lit(index)
        / 100
    )


# 碳效码 (carbon-efficiency code, the Zhejiang/Huzhou model): L = CO2 per 10k CNY of added
# value (location-based, so self-generated renewables are already out); the level by L,
# the grade by K = L / the industry's average L. Levels: 1 low-carbon (L <= 0.6),
# 2 medium (<= 2.0), 3 high; grades 1-5 at K <= 0.6, 0.8, 1.2, 2.0 and above.
CARBON_LEVEL_BOUNDS = (0.6, 2.0)
CARBON_GRADE_BOUNDS = (0.6, 0.8, 1.2, 2.0)


def _step(value: pl.Expr, bounds: tuple[float, ...]) -> pl.Expr:
    """1 + the number of bounds ``value`` is above (a bound itself falls in the lower step)."""
    return (
        pl.when(value.is_null())
        .then(None)
        .otherwise(pl.sum_horizontal([(value > b).cast(pl.Int64) for b in bounds]) + 1)
    )


def carbon_efficiency(
    frame: pl.DataFrame, *, industry: Mapping[str, str], average_t_per_10k_cny: Mapping[str, float]
) -> pl.DataFrame:
    """Add ``carbon_efficiency_level`` (1-3) and, where the scope's industry has a
    configured average, ``carbon_efficiency_k`` and ``carbon_efficiency_grade`` (1-5) to
    rows that carry ``co2_location_t_per_10k_cny``; ``industry``: scope -> industry."""
    if "co2_location_t_per_10k_cny" not in frame.columns:
        return frame
    level = pl.col("co2_location_t_per_10k_cny")
    average = pl.col("scope").replace_strict(
        {s: average_t_per_10k_cny.get(i) for s, i in industry.items()},
        default=None, return_dtype=pl.Float64,
    )  # fmt: skip
    k = pl.when(average > 0).then(level / average)
    return frame.with_columns(
        carbon_efficiency_level=_step(level, CARBON_LEVEL_BOUNDS),
        carbon_efficiency_k=k,
        carbon_efficiency_grade=_step(k, CARBON_GRADE_BOUNDS),
    )
