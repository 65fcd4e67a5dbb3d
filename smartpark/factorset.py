"""Factor sets: coefficients for energy and carbon, each with its source and vintage.

``factors`` in the processing configuration names a shipped set
(``smartpark/factors/*.yaml``) or a file of the user's, or a list of them: later ones
override earlier ones entry by entry (a new year's grid factor is one line of YAML in a
file of one's own; the installed package is never edited). A measured natural-gas net
calorific value (``natural_gas_ncv``) gives both its kgce and its CO2 coefficient:
kgce/m3 = NCV / 29,307.6 kJ; kgCO2/m3 = NCV x 15.3 tC/TJ x 99 % x 44/12.

In the core because two stages read it: processing computes the KPIs with it, and the
API's greenhouse-gas inventory names and shows the coefficients the KPI points name by id
(:func:`configured` reads the processing configuration's choice).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from smartpark import config as config_files
from smartpark.config import Strict
from smartpark.errors import ConfigError
from smartpark.model import ID_RE, Id

FACTORS_DIR = Path(__file__).resolve().parent / "factors"


class Coefficient(Strict):
    value: float = Field(gt=0)
    unit: str
    source: str
    vintage: int
    verify: bool = False


class GridFactor(Strict):
    value: float = Field(gt=0)
    region: str
    year: int
    basis: Literal["average", "residual", "fossil", "market_reporting"]
    source: str
    verify: bool = False


KJ_PER_KGCE = 29_307.6  # GB/T 2589-2020: 1 kgce = 29,307.6 kJ (7,000 kcal)
GAS_CARBON_TC_PER_TJ = 15.3  # natural gas carbon content (IPCC default)
GAS_OXIDATION = 0.99


class GasNcv(Strict):
    """A measured natural-gas net calorific value: both coefficients follow from it."""

    kj_per_m3: float = Field(gt=20_000, lt=60_000)
    reference_c: Literal[0, 20] = Field(description="the volume's reference temperature")
    source: str
    vintage: int
    verify: bool = False

    def energy(self) -> Coefficient:
        return Coefficient(
            value=self.kj_per_m3 / KJ_PER_KGCE, unit="kgce/m3", vintage=self.vintage,
            source=f"measured NCV {self.kj_per_m3:,.0f} kJ/m3 at {self.reference_c} C / "
            f"29,307.6 kJ/kgce ({self.source})", verify=self.verify,
        )  # fmt: skip

    def co2(self) -> Coefficient:
        kg = self.kj_per_m3 / 1e9 * GAS_CARBON_TC_PER_TJ * GAS_OXIDATION * 44 / 12 * 1000
        return Coefficient(
            value=kg, unit="kgCO2/m3", vintage=self.vintage,
            source=f"measured NCV {self.kj_per_m3:,.0f} kJ/m3 at {self.reference_c} C x 15.3 "
            f"tC/TJ x 99 % x 44/12 ({self.source})", verify=self.verify,
        )  # fmt: skip


class FactorSet(Strict):
    """A shipped set, or a file of one's own: every table may be partial, for a file
    that only adds or overrides entries of the sets before it."""

    id: Id
    energy_kgce: dict[str, Coefficient] = Field(default_factory=dict)
    co2_kg: dict[str, Coefficient] = Field(default_factory=dict)
    grid_kg_per_kwh: dict[str, GridFactor] = Field(default_factory=dict)
    natural_gas_ncv: dict[str, GasNcv] = Field(
        default_factory=dict, description="measured NCVs, by the id methods.gas names"
    )

    def over(self, base: FactorSet) -> FactorSet:
        """This set's entries over ``base``'s, entry by entry; the id names both
        (``cn+tianfu-park``: not an id itself, so built from the validated parts)."""
        return FactorSet.model_construct(
            id=f"{base.id}+{self.id}",
            energy_kgce={**base.energy_kgce, **self.energy_kgce},
            co2_kg={**base.co2_kg, **self.co2_kg},
            grid_kg_per_kwh={**base.grid_kg_per_kwh, **self.grid_kg_per_kwh},
            natural_gas_ncv={**base.natural_gas_ncv, **self.natural_gas_ncv},
        )

    def expanded(self) -> FactorSet:
        """Measured NCVs turned into their energy and CO2 coefficients."""
        return self.model_copy(
            update={
                "energy_kgce": {
                    **self.energy_kgce, **{k: n.energy() for k, n in self.natural_gas_ncv.items()}
                },
                "co2_kg": {**self.co2_kg, **{k: n.co2() for k, n in self.natural_gas_ncv.items()}},
            }
        )  # fmt: skip


def load_factor_set(name: str | list[str], *, directory: Path = FACTORS_DIR) -> FactorSet:
    """One factor set, or several merged in order; each a shipped id or a file path."""
    names = [name] if isinstance(name, str) else name
    if not names:
        raise ConfigError("factors: name at least one factor set")
    merged: FactorSet | None = None
    for entry in names:
        one = _one_factor_set(entry, directory)
        merged = one if merged is None else one.over(merged)
    assert merged is not None
    return merged.expanded()


def _one_factor_set(name: str, directory: Path) -> FactorSet:
    shipped = directory / f"{name}.yaml"
    if ID_RE.fullmatch(name) and shipped.is_file():
        return config_files.load(FactorSet, shipped, what="factor set")
    path = Path(name)
    if path.suffix in (".yaml", ".yml"):
        return config_files.load(FactorSet, path, what="factor set")
    known = sorted(p.stem for p in directory.glob("*.yaml"))
    raise ConfigError(
        f"unknown factor set {name!r}; shipped: {', '.join(known)}, or a path to a .yaml file"
    )


def relative_to(config_path: Path, names: str | list[str]) -> str | list[str]:
    """``names`` with each factor-set file taken relative to the configuration at
    ``config_path`` (shipped ids and absolute paths as they are)."""
    listed = [names] if isinstance(names, str) else names
    resolved = [
        str(config_path.parent / n)
        if Path(n).suffix in (".yaml", ".yml") and not Path(n).is_absolute() else n
        for n in listed
    ]  # fmt: skip
    return resolved[0] if isinstance(names, str) else resolved


class FactorChoice(BaseModel):
    """The factor sets a processing configuration chooses (the rest is the processor's)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    factors: str | list[str] = "cn"


def configured(config_path: Path) -> FactorSet:
    """The factor set the processing configuration at ``config_path`` chooses, merged as
    the processor merges it; ``ConfigError`` when it cannot be read."""
    raw = config_files.read_yaml(config_path)
    choice = config_files.validate(
        FactorChoice, raw, source=str(config_path), what="processing configuration"
    )
    return load_factor_set(relative_to(config_path, choice.factors))
