"""The stored measurements, each one typed definition: name, tags, fields with their unit
and meaning (pure).

The writer encodes points through :meth:`Measurement.point` (an undeclared tag or field is
a :class:`~smartpark.errors.SchemaError`, never a silent new column), and every reader
names fields through :meth:`Measurement.names` or :meth:`Measurement.field`, so a reader
cannot ask for a field the writer never writes and a unit shown beside a number comes
from the same definition as the number. Units are the symbols of :data:`UNITS`.

Roll-ups written by processing: :data:`KPI`, :data:`SENSOR_USE`, :data:`CEMS_HOURLY`,
:data:`DATA_QUALITY`, :data:`QUOTA`, :data:`CARBON_BUDGET`, :data:`MUJU`; the alert
service's :data:`ALERT_EVENTS`; the readings, one measurement per sensor kind, from the
registry (:func:`readings`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from smartpark.carriers import FUELS
from smartpark.errors import SchemaError
from smartpark.model import KPI_METHOD_TAGS
from smartpark.products import LEVEL_NAMES
from smartpark.sensorspec import KindSpec
from smartpark.store.lineprotocol import encode_point
from smartpark.targets import TARGETS

# -- units (symbols as people write them; dashboards map them to their own unit ids) --

TCE = "tce"
TCO2 = "tCO2"
KWH = "kWh"
M3 = "m³"
KG = "kg"
GJ = "GJ"
CNY = "CNY"
PCT = "%"
MG_M3 = "mg/m³"
T_PER_TCE = "tCO2/tce"
TCE_PER_10K_CNY = "tce/10k CNY"
T_PER_10K_CNY = "tCO2/10k CNY"
KGCE_PER_OUTPUT = "kgce/output unit"
KG_PER_OUTPUT = "kgCO2/output unit"
OUTPUT = "output unit"
COUNT = "count"
MINUTES = "min"
DAYS = "d"
RATIO = "ratio"
LEVEL = "level"
TEXT = "text"
FLAG = "yes/no"
BITS = "bits"
MS = "ms since epoch"
UNITS = frozenset(
    {
        TCE, TCO2, KWH, M3, KG, GJ, CNY, PCT, MG_M3, T_PER_TCE, TCE_PER_10K_CNY, T_PER_10K_CNY,
        KGCE_PER_OUTPUT, KG_PER_OUTPUT, OUTPUT, COUNT, MINUTES, DAYS, RATIO, LEVEL, TEXT, FLAG,
        BITS, MS,
    }
)  # fmt: skip

Type = Literal["float", "bool", "str"]


@dataclass(frozen=True, slots=True)
class Field:
    """One field of a measurement: its unit (a symbol of :data:`UNITS`, or a registry
    field's own unit) and what it means."""

    name: str
    unit: str
    meaning: str
    type: Type = "float"


@dataclass(frozen=True, slots=True)
class Measurement:
    """One stored measurement: its tags and its fields."""

    name: str
    meaning: str
    tags: tuple[str, ...]
    fields: Mapping[str, Field]

    def field(self, name: str) -> Field:
        """The field ``name``; a :class:`SchemaError` when the measurement has none."""
        try:
            return self.fields[name]
        except KeyError:
            raise SchemaError(f"measurement {self.name!r} has no field {name!r}") from None

    def names(self, *names: str) -> list[str]:
        """``names`` as a list, each checked to be a field (what a query selects)."""
        return [self.field(n).name for n in names]

    def unit(self, name: str) -> str:
        return self.field(name).unit

    def tag(self, name: str) -> str:
        """``name``, checked to be a tag (what a query filters or groups by)."""
        if name not in self.tags:
            raise SchemaError(f"measurement {self.name!r} has no tag {name!r}")
        return name

    def point(
        self, tags: Mapping[str, str], fields: Mapping[str, float | bool | str], ts_ms: int
    ) -> str:
        """One line of line protocol, every tag and field checked against the definition."""
        for name in tags:
            self.tag(name)
        for name in fields:
            self.field(name)
        return encode_point(self.name, tags, fields, ts_ms)


def _measurement(
    name: str, meaning: str, tags: Iterable[str], fields: Iterable[Field]
) -> Measurement:
    return Measurement(name, meaning, tuple(tags), {f.name: f for f in fields})


def _f(name: str, unit: str, meaning: str, type_: Type = "float") -> Field:
    return Field(name, unit, meaning, type_)


# -- kpi -----------------------------------------------------------------------------

#: KPI fields a park target can judge (every variant of ``smartpark.targets.TARGETS``):
#: each also has ``<name>_target`` and ``<name>_met``.
TARGETABLE = tuple(sorted({c for t in TARGETS.values() for c in t.columns.values()}))
#: Units of the carriers' KPI totals (``smartpark.carriers``).
_CARRIER_UNITS = {"kg": KG, "GJ": GJ}

_KPI_FIELDS = [
    _f("grid_kwh", KWH, "grid import"),
    _f("green_kwh", KWH, "of the grid import, under green-power contracts with certificates"),
    _f("green_unused_kwh", KWH, "contracted green power beyond the grid import"),
    _f("pv_kwh", KWH, "on-site PV, self-consumed"),
    _f("gas_m3", M3, "natural gas"),
    _f("steam_kg", KG, "purchased steam"),
    _f("certificates_kwh", KWH, "green certificates held"),
    _f("pv_sold_kwh", KWH, "PV whose certificates were sold"),
    _f("feedstock_grid_kwh", KWH, "grid import used as raw material (原料用能)"),
    _f("feedstock_gas_m3", M3, "gas used as raw material"),
    _f("feedstock_steam_kg", KG, "steam used as raw material"),
    *(_f(f.column, _CARRIER_UNITS[f.unit], f"{f.name.replace('_', ' ')}") for f in FUELS),
    *(
        _f(f"feedstock_{f.column}", _CARRIER_UNITS[f.unit], f"{f.name} used as raw material")
        for f in FUELS
        if f.column != "heat_gj"  # heat is not a raw material
    ),
    _f("added_value_cny", CNY, "added value"),
    _f("output", OUTPUT, "production output, in the sensor's unit"),
    _f("electricity_kwh", KWH, "grid import + self-consumed PV"),
    _f("energy_tce", TCE, "energy on the chosen electricity basis"),
    _f("energy_excl_renewables_tce", TCE, "energy less PV and certified green power"),
    _f("energy_excl_feedstock_tce", TCE, "energy less raw-material use"),
    _f("energy_equivalent_tce", TCE, "energy, electricity at 当量值"),
    _f("energy_equal_value_tce", TCE, "energy, electricity at 等价值"),
    _f("electricity_tce", TCE, "electricity (grid + PV) on the chosen basis"),
    _f("gas_tce", TCE, "natural gas"),
    _f("steam_tce", TCE, "purchased steam"),
    *(_f(f"{f.name}_tce", TCE, f.name.replace("_", " ")) for f in FUELS),
    _f("co2_location_t", TCO2, "CO2, location-based"),
    _f("co2_market_t", TCO2, "CO2, market-based"),
    _f("pv_certificates_sold_kwh", KWH, "PV certificates sold (clipped to the PV)"),
    _f("co2_location_t_per_tce", T_PER_TCE, "location-based CO2 per tce"),
    _f("co2_market_t_per_tce", T_PER_TCE, "market-based CO2 per tce"),
    _f("clean_energy_share_pct", PCT, "clean-energy share, proven"),
    _f("non_fossil_share_pct", PCT, "non-fossil share, proven"),
    _f("clean_energy_share_grid_implied_pct", PCT, "clean-energy share, grid-implied"),
    _f("non_fossil_share_grid_implied_pct", PCT, "non-fossil share, grid-implied"),
    _f(
        "clean_energy_share_grid_implied_equal_value_pct",
        PCT,
        "clean-energy share, grid-implied, primary electricity at 等价值",
    ),
    _f(
        "non_fossil_share_grid_implied_equal_value_pct",
        PCT,
        "non-fossil share, grid-implied, primary electricity at 等价值",
    ),
    _f("renewable_electricity_share_pct", PCT, "renewable share of electricity"),
    _f("energy_tce_per_10k_cny", TCE_PER_10K_CNY, "energy per 10k CNY of added value"),
    _f(
        "energy_excl_renewables_tce_per_10k_cny",
        TCE_PER_10K_CNY,
        "energy less certified renewables per 10k CNY (发改环资[2024]113号)",
    ),
    _f(
        "energy_tce_per_10k_cny_prev_year_prices",
        TCE_PER_10K_CNY,
        "energy per 10k CNY of added value at the year before's prices",
    ),
    _f("co2_location_t_per_10k_cny", T_PER_10K_CNY, "location-based CO2 per 10k CNY"),
    _f("co2_market_t_per_10k_cny", T_PER_10K_CNY, "market-based CO2 per 10k CNY"),
    _f("energy_kgce_per_output", KGCE_PER_OUTPUT, "energy per unit of output"),
    _f("co2_location_kg_per_output", KG_PER_OUTPUT, "location-based CO2 per unit of output"),
    _f(
        "product_energy_kgce_per_output",
        KGCE_PER_OUTPUT,
        "单位产品能耗 on the product standard's electricity basis",
    ),
    *(
        _f(f"product_{level}_kgce_per_output", KGCE_PER_OUTPUT, f"the product's {name}")
        for level, name in LEVEL_NAMES.items()
    ),
    *(
        _f(f"product_{level}_met", FLAG, f"at or below the product's {name}", "bool")
        for level, name in LEVEL_NAMES.items()
    ),
    _f("carbon_efficiency_level", LEVEL, "碳效码 level 1-3"),
    _f("carbon_efficiency_k", RATIO, "CO2 per 10k CNY over the industry's average"),
    _f("carbon_efficiency_grade", LEVEL, "碳效码 grade 1-5"),
    _f("readings", COUNT, "readings that made the window"),
    _f("flags", BITS, "meter flags of the window's readings (reset, implausible step), OR-ed"),
    _f("complete_to_ms", MS, "the window's data is complete up to here"),
    _f("provisional", FLAG, "the window is not complete yet (today, the month to date)", "bool"),
    _f("revision", COUNT, "0 for the first computation, +1 for each rewrite"),
]
_KPI_UNITS = {f.name: f.unit for f in _KPI_FIELDS}
_KPI_FIELDS += [_f(f"{k}_target", _KPI_UNITS[k], f"the park's target for {k}") for k in TARGETABLE]
_KPI_FIELDS += [_f(f"{k}_met", FLAG, f"{k} meets its target", "bool") for k in TARGETABLE]

KPI = _measurement(
    "kpi",
    "energy, carbon and clean-energy KPIs per scope (an enterprise or _park) and window, "
    "tagged with the coefficients and methods that made them",
    ("park", "scope", "window", *KPI_METHOD_TAGS),
    _KPI_FIELDS,
)

#: Units whose KPI fields add up over periods (totals); ratios and shares do not.
ADDITIVE_UNITS = frozenset({TCE, TCO2, KWH, M3, KG, CNY})
#: KPI fields that add up over periods (totals, by their unit): the API's year totals and
#: the annual report sum these.
KPI_ADDITIVE = frozenset(f.name for f in KPI.fields.values() if f.unit in ADDITIVE_UNITS)

# -- the other roll-ups --------------------------------------------------------------

SENSOR_USE = _measurement(
    "sensor_use",
    "use per sensor and window, the field named by its carrier and unit",
    ("park", "enterprise", "kind", "sensor", "window"),
    [
        _f("grid_kwh", KWH, "grid import"),
        _f("pv_kwh", KWH, "PV generation"),
        _f("gas_m3", M3, "gas"),
        _f("steam_kg", KG, "steam"),
        *(_f(f.column, _CARRIER_UNITS[f.unit], f.name.replace("_", " ")) for f in FUELS),
        _f("output", OUTPUT, "production output"),
        _f("readings", COUNT, "readings in the window"),
        _f("flags", BITS, "meter flags of the window's readings, OR-ed"),
    ],
)

POLLUTANTS = ("so2", "nox", "pm")
CEMS_HOURLY = _measurement(
    "cems_hourly",
    "per stack and local hour: valid minutes, O2-corrected means, limits, exceedances",
    ("park", "enterprise", "sensor"),
    [
        _f("minutes", MINUTES, "minutes with readings"),
        _f("valid_minutes", MINUTES, "valid minutes"),
        _f("hour_valid", FLAG, "enough valid minutes for a valid hour", "bool"),
        _f("mass_minutes", MINUTES, "unflagged minutes with flow"),
        _f("over_range_minutes", MINUTES, "valid minutes the analyser was over range (T)"),
        _f("over_range", FLAG, "some minute over range, counted at the range maximum", "bool"),
        *(_f(f"{p}_mg_m3_corrected", MG_M3, f"{p} hourly mean, O2-corrected") for p in POLLUTANTS),
        *(_f(f"{p}_mg_m3_limit", MG_M3, f"{p} limit") for p in POLLUTANTS),
        *(_f(f"{p}_mg_m3_exceeded", FLAG, f"{p} over its limit", "bool") for p in POLLUTANTS),
        *(_f(f"{p}_kg", KG, f"{p} mass emitted") for p in POLLUTANTS),
    ],
)

DATA_QUALITY = _measurement(
    "data_quality",
    "completeness per sensor and local day",
    ("park", "enterprise", "sensor"),
    [
        _f("readings", COUNT, "readings received"),
        _f("expected", COUNT, "readings expected"),
        _f("completeness_pct", PCT, "readings over expected"),
        _f("complete", FLAG, "complete enough", "bool"),
    ],
)


def burn_down_fields(quantity: str, limit: str, unit: str) -> list[Field]:
    """The fields of a month's burn-down of ``quantity`` (in ``unit``) against ``limit``."""
    return [
        _f(f"used_{quantity}", unit, "used this month so far"),
        _f(f"{limit}_{quantity}", unit, f"the month's {limit}"),
        _f(f"forecast_{quantity}", unit, "month-end forecast"),
        _f("used_pct", PCT, f"used over the {limit}"),
        _f("forecast_pct", PCT, f"forecast over the {limit}"),
        _f("days_elapsed", DAYS, "days of the month so far"),
        _f("days_in_month", DAYS, "days in the month"),
        _f("breached", FLAG, f"used over the {limit}", "bool"),
        _f("forecast_breach", FLAG, f"forecast over the {limit}", "bool"),
    ]


QUOTA = _measurement(
    "quota",
    "energy-use quota burn-down and forecast per enterprise and month (能耗双控), tagged "
    "with what made the figures: the KPI total burned, energy basis, factors, certificates",
    (
        "park",
        "enterprise",
        "quota_total",
        "factor_set",
        "energy_basis",
        "gas_factor",
        "steam_factor",
        "certificates_in_quota",
    ),
    burn_down_fields("tce", "quota", TCE),
)

CARBON_BUDGET = _measurement(
    "carbon_budget",
    "carbon-budget burn-down and forecast per scope and month (碳排放双控), tagged with "
    "the CO2 method and factor that made the figures",
    ("park", "scope", "co2_method", "co2_factor", "factor_set"),
    burn_down_fields("co2_t", "budget", TCO2),
)

MUJU = _measurement(
    "muju",
    "mu-average grade, score and rank per enterprise and period (``year`` or ``01-MM``), "
    "tagged with the energy basis and factor set of its per-tce indicators; the grade is a "
    "field, so a re-evaluation overwrites the period's point instead of adding a series",
    ("park", "enterprise", "period", "energy_basis", "factor_set"),
    [
        _f("score", RATIO, "weighted score"),
        _f("rank", COUNT, "rank in the park"),
        _f("grade", TEXT, "A, B, C or D (- with too few enterprises)", "str"),
        _f(
            "evaluated",
            TEXT,
            "the period evaluated: 2025, or 2026-01..2026-11 for an interim view (annualised)",
            "str",
        ),
    ],
)

ALERT_EVENTS = _measurement(
    "alert_events",
    "one point per alert notice (firing, reminder, escalated, acknowledged, resolved), at "
    "the event time of what it tells; ``subject`` (what the alert is about) is a tag",
    ("park", "enterprise", "rule", "severity", "event", "subject"),
    [
        _f("id", TEXT, "alert id", "str"),
        _f("message", TEXT, "the alert's message", "str"),
        _f("value", RATIO, "the value judged, in the rule's unit"),
        _f("limit", RATIO, "the rule's limit, in the rule's unit"),
    ],
)

ROLLUPS: Mapping[str, Measurement] = {
    m.name: m
    for m in (KPI, SENSOR_USE, CEMS_HOURLY, DATA_QUALITY, QUOTA, CARBON_BUDGET, MUJU, ALERT_EVENTS)
}


def rollup(name: str) -> Measurement:
    """The roll-up ``name``; a :class:`SchemaError` when there is none."""
    try:
        return ROLLUPS[name]
    except KeyError:
        raise SchemaError(f"not a stored roll-up: {name!r}") from None


#: The tags of every roll-up (the rest of a stored row are fields).
ROLLUP_TAGS = frozenset(t for m in ROLLUPS.values() for t in m.tags)

# -- readings ------------------------------------------------------------------------

READING_TAGS = ("park", "enterprise", "sensor")


def readings(kind: str, spec: KindSpec) -> Measurement:
    """The measurement of one sensor kind's readings: named by the kind, its fields and
    units those of the registry (a sensor's extra fields are added by the registry)."""
    fields = [
        Field(name, f.unit, f"{f.semantics.value} reading") for name, f in spec.fields.items()
    ]
    return _measurement(kind, f"raw {kind} readings", READING_TAGS, fields)
