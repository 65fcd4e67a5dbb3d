"""Every fuel and bought energy a park burns beside electricity and gas (pure vocabulary).

Coal, diesel, fuel oil, LPG, purchased heat and steam are carriers like electricity and
gas: a registry kind meters each (a counter of the unit below), processing turns the
counter into a KPI total (``column``, unit in its name) and the factor set gives its
kgce and kgCO2 per unit of that column (by the id ``methods.<name>`` names, default
``factor``). The registry, processing, the report and the dashboards take the list from
here, so a carrier added here is in every KPI, quota and report.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Fuel:
    """One carrier: the registry kind and counter field that meter it, the KPI total it
    becomes (``column``, in ``unit``), the field-to-column ``scale`` (t -> kg: 1000) and
    the factor-set id of its coefficients by default."""

    name: str
    kind: str
    field: str
    field_unit: str
    column: str
    unit: str
    scale: float
    factor: str


FUELS: tuple[Fuel, ...] = (
    Fuel("coal", "coal", "mass_t", "t", "coal_kg", "kg", 1000.0, "raw_coal"),
    Fuel("diesel", "diesel", "mass_kg", "kg", "diesel_kg", "kg", 1.0, "diesel"),
    Fuel("fuel_oil", "fuel_oil", "mass_kg", "kg", "fuel_oil_kg", "kg", 1.0, "fuel_oil"),
    Fuel("lpg", "lpg", "mass_kg", "kg", "lpg_kg", "kg", 1.0, "lpg"),
    Fuel("heat", "heat", "heat_gj", "GJ", "heat_gj", "GJ", 1.0, "purchased_heat"),
)
"""Coal is weighed in t (its kgce per kg by a measured NCV or GB/T 2589's 0.7143 for raw
coal), diesel, fuel oil and LPG in kg (a meter in litres is a kind of one's own with the
density as the carrier's scale), purchased heat in GJ of delivered heat."""

STEAM_KIND = "steam"
"""Purchased steam: a counter of t (``mass_t``), the KPI total ``steam_kg``."""

FUEL_COLUMNS = tuple(f.column for f in FUELS)
