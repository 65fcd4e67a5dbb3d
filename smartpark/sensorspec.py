"""What a sensor is (schema): its kind's fields with their units and semantics, the
built-in kinds (the core ones and every carrier of ``smartpark.carriers``), and one
registered sensor's spec (multiplier, register rollover, rated rate, CEMS limits).

The registry (``smartpark.registry``) holds these per park; the stages read them from
there.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Literal

from pydantic import Field, PositiveFloat

from smartpark.carriers import FUELS, STEAM_KIND
from smartpark.config import Strict
from smartpark.model import CORE_KINDS, Id, Semantics


class FieldSpec(Strict):
    unit: str = Field(min_length=1, max_length=32)
    semantics: Semantics = Semantics.GAUGE


class KindSpec(Strict):
    fields: dict[Id, FieldSpec] = Field(min_length=1)
    interval_s: int = Field(
        default=60,
        gt=0,
        le=86_400,
        description="how often a sensor of this kind reports by default (completeness is "
        "counted against it)",
    )


def _counter(unit: str) -> FieldSpec:
    return FieldSpec(unit=unit, semantics=Semantics.COUNTER)


def _gauge(unit: str) -> FieldSpec:
    return FieldSpec(unit=unit, semantics=Semantics.GAUGE)


CORE_KIND_SPECS: Mapping[str, KindSpec] = {
    "electricity": KindSpec(fields={"energy_kwh": _counter("kWh"), "power_kw": _gauge("kW")}),
    "pv": KindSpec(fields={"energy_kwh": _counter("kWh"), "power_kw": _gauge("kW")}),
    "gas": KindSpec(fields={"volume_m3": _counter("m3"), "flow_m3h": _gauge("m3/h")}),
    "emissions": KindSpec(
        fields={
            "so2_mg_m3": _gauge("mg/m3"),
            "nox_mg_m3": _gauge("mg/m3"),
            "pm_mg_m3": _gauge("mg/m3"),
            "o2_pct": _gauge("%"),
            "flow_m3h": _gauge("m3/h"),
            # the analyser's HJ 212 data flag (smartpark.cems.DATA_FLAGS); 0 = normal
            "data_flag": _gauge("code"),
        }
    ),
    # The unit of ``output`` (pieces, t, kL ...) is set per sensor with ``unit:``.
    "production": KindSpec(fields={"output": _counter("unit")}),
}
assert tuple(CORE_KIND_SPECS) == CORE_KINDS

#: The carriers beside the core kinds (``smartpark.carriers``), built in so that a coal
#: boiler's coal or a backup generator's diesel needs no ``kinds:`` entry; a registry may
#: define one of its own under the same name (more fields), keeping the counter.
CARRIER_KIND_SPECS: Mapping[str, KindSpec] = {
    **{f.kind: KindSpec(fields={f.field: _counter(f.field_unit)}) for f in FUELS},
    STEAM_KIND: KindSpec(fields={"mass_t": _counter("t"), "flow_t_h": _gauge("t/h")}),
}
BUILT_IN_KINDS: Mapping[str, KindSpec] = {**CORE_KIND_SPECS, **CARRIER_KIND_SPECS}


class SensorSpec(Strict):
    id: Id
    kind: Id
    description: str | None = None
    multiplier: float = Field(default=1.0, gt=0, description="CT x PT ratio or pulse weight")
    rollover: float | None = Field(
        default=None, gt=0, description="the largest value the counter register shows"
    )
    resolution: float | None = Field(
        default=None,
        gt=0,
        description="the register's last digit (0.01 for 999,999.99); by default the "
        "last decimal place of rollover: the register wraps at rollover + resolution",
    )
    unit: str | None = Field(default=None, min_length=1, max_length=32)
    fields: dict[Id, FieldSpec] = Field(default_factory=dict, description="extra fields")
    volume_basis_c: Literal[0, 20] | None = Field(
        default=None,
        description="the temperature its m3 refer to: 0 (standard state) or 20 (as gas is "
        "billed); converted to the reference of a measured NCV (7.3 % apart)",
    )
    interval_s: int | None = Field(
        default=None,
        gt=0,
        le=86_400,
        description="its reporting interval: 900 for a 15-minute utility meter, 3600 for "
        "an hourly gas meter; default the kind's (60)",
    )
    rated_per_h: float | None = Field(
        default=None,
        gt=0,
        description="full-load rate of the sensor's main quantity per hour: kW for "
        "electricity and PV (kWp), m3/h for gas, water and stack flue gas, output unit/h",
    )

    def modulus(self) -> float | None:
        """What a wrap adds: ``rollover`` + one step of the register's last digit
        (999,999.99 -> 0.00 is 0.01 of use, so 999,999.99 wraps at 1,000,000.00)."""
        if self.rollover is None:
            return None
        return self.rollover + (self.resolution or last_digit(self.rollover))

    limits: dict[Id, PositiveFloat] = Field(
        default_factory=dict,
        description="emission limits by field, e.g. nox_mg_m3: 30 (dry, standard state, "
        "at ref_o2_pct)",
    )
    ref_o2_pct: float | None = Field(default=None, ge=0, lt=21)
    limits_source: str | None = None
    range_mg_m3: dict[Id, PositiveFloat] = Field(
        default_factory=dict,
        description="the analyser's range maximum by pollutant: an over-range minute (HJ 212 "
        "flag T) counts at least at it",
    )


def last_digit(value: float) -> float:
    """One step of the last decimal place ``value`` is written with (999,999.99 -> 0.01,
    99,999,999 -> 1)."""
    exponent = Decimal(repr(value)).normalize().as_tuple().exponent
    assert isinstance(exponent, int)  # finite: the registry refuses nan and inf
    return float(Decimal(1).scaleb(min(exponent, 0)))
