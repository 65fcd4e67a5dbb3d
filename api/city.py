"""A city's parks side by side (pure): each park's month-to-date figures against its
targets, on the variant each target is judged on, ranked; and the city's totals as the
sum of its parks (never netted across parks, as within a park)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from smartpark import schema
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


def park_row(park: ParkSpec, figures: Mapping[str, Any] | None) -> dict[str, Any]:
    """One park's month to date: the clean-energy share on its judged variant against
    the milestones, CO2 per tce against its target, the additive figures and intensities
    (None where the month has no point yet)."""
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
    """The city's totals: each additive figure summed over the parks that have it."""
    out: dict[str, Any] = {"parks": len(rows), "parks_stored": sum(r["stored"] for r in rows)}
    for key in ADDITIVE:
        found = [r[key] for r in rows if r[key] is not None]
        out[key] = sum(found) if found else None
    return out
