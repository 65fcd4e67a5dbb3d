"""The targets a park may set and the variants each is judged on (pure vocabulary).

``TARGETS`` names every target of the registry (milestones as ``name_YYYY``), the KPI
column of each variant and its default; :func:`judged_column` is what processing judges,
the dashboards show and the registry checks (:func:`problems`), from one table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal, cast

TargetVariant = Literal[
    "proven", "grid_implied", "grid_implied_equal_value", "location", "market", "gross",
    "excl_renewables",
]  # fmt: skip


@dataclass(frozen=True, slots=True)
class Target:
    """A target a park may set: the KPI column of each variant it can be judged on, the
    default variant (None: the park must name one), and whether higher is better."""

    columns: Mapping[TargetVariant, str]
    default: TargetVariant | None
    higher: bool


def _share(kpi: str) -> Target:
    return Target(
        {"proven": f"{kpi}_pct", "grid_implied": f"{kpi}_grid_implied_pct",
         "grid_implied_equal_value": f"{kpi}_grid_implied_equal_value_pct"},
        None, True,
    )  # fmt: skip


#: Every target a park may set (``registry`` targets; milestones as ``name_YYYY``). Share
#: targets credit grid electricity ``proven`` (only proven green power and on-site PV) or
#: ``grid_implied`` (the grid's implied non-fossil share too), the latter at 当量值 or, as
#: the regional statistics count it, at 等价值 (``grid_implied_equal_value``); carbon
#: targets are ``location``- or ``market``-based; intensity ``gross`` or without certified
#: renewables (``excl_renewables``, 发改环资[2024]113号).
TARGETS: Mapping[str, Target] = {
    "clean_energy_share_pct": _share("clean_energy_share"),
    "non_fossil_share_pct": _share("non_fossil_share"),
    "renewable_electricity_share_pct": Target(
        {"proven": "renewable_electricity_share_pct"}, "proven", True
    ),
    "co2_per_energy_t_per_tce": Target(
        {"location": "co2_location_t_per_tce", "market": "co2_market_t_per_tce"},
        "location",
        False,
    ),
    "energy_tce_per_10k_cny": Target(
        {
            "gross": "energy_tce_per_10k_cny",
            "excl_renewables": "energy_excl_renewables_tce_per_10k_cny",
        },
        "gross",
        False,
    ),
    "co2_t_per_10k_cny": Target(
        {"location": "co2_location_t_per_10k_cny", "market": "co2_market_t_per_10k_cny"},
        "location",
        False,
    ),
}
#: The city's clean-energy milestones (``clean_energy_share_pct_2025`` ...) are regional
#: statistics, which include grid hydro and count primary electricity at 等价值: judged on
#: that variant unless the park names another. Every other share target names its own.
MILESTONE_DEFAULT: Mapping[str, TargetVariant] = {
    "clean_energy_share_pct": "grid_implied_equal_value"
}


def target_variant(
    name: str, variants: Mapping[str, str], *, milestone: bool
) -> TargetVariant | None:
    """The variant target ``name`` is judged on: the park's, else its default (None: the
    park must name one; the registry refuses such a file)."""
    stated = variants.get(name)
    if stated is not None:
        return cast(TargetVariant, stated)
    if milestone and name in MILESTONE_DEFAULT:
        return MILESTONE_DEFAULT[name]
    return TARGETS[name].default


def judged_column(name: str, variants: Mapping[str, str], *, milestone: bool) -> str | None:
    """The KPI column target ``name`` is judged on (None: no variant named, no default)."""
    variant = target_variant(name, variants, milestone=milestone)
    return None if variant is None else TARGETS[name].columns.get(variant)


def problems(targets: Mapping[str, float], variants: Mapping[str, str], *, where: str) -> list[str]:
    """Unknown targets, variants a target cannot take, and share targets judged on no
    stated variant (only the city's clean-energy milestones have a default)."""
    problems = []
    for key in targets:
        base, _, year = key.rpartition("_")
        name, milestone = (base, True) if year.isdigit() and base in TARGETS else (key, False)
        if name not in TARGETS:
            problems.append(f"{where}.targets.{key}: unknown target; known: "
                            f"{', '.join(TARGETS)} (milestones: name_YYYY)")  # fmt: skip
        elif target_variant(name, variants, milestone=milestone) is None:
            problems.append(
                f"{where}.targets.{key}: name the variant it is judged on in "
                f"target_variants.{name} ({', '.join(TARGETS[name].columns)}); only the "
                "city's clean-energy milestones default (grid_implied_equal_value)"
            )
    for name, variant in variants.items():
        target = TARGETS.get(name)
        allowed = list(target.columns) if target is not None else []
        if variant not in allowed:
            problems.append(f"{where}.target_variants.{name}: {variant!r} is not a variant "
                            f"of it ({', '.join(allowed) or 'not a target'})")  # fmt: skip
    return problems
