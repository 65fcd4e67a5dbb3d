"""单位产品能耗 against the national limits: what an enterprise declares of its product.

Energy-intensive products have a national 单位产品能源消耗限额 standard (the GB 2xxxx /
GB 3xxxx family) with three levels: 限定值 ``limit`` (what an existing plant must
meet), 准入值 ``entry`` (new plants) and 先进值 ``advanced``; the NDRC's 2023 list of
能效标杆水平 ``benchmark`` and 基准水平 ``baseline`` adds two for the listed industries.
Each is in kgce per unit of output, on the standard's own energy boundary and basis.
Where no national standard covers a product (graphite anode materials, baijiu, meat,
most pharmaceuticals), the enterprise declares its reference values with their source,
or none: a limit is never invented. Processing judges ``energy_kgce_per_output`` per
window against every declared level (``processing.products``).
"""

from __future__ import annotations

import itertools
from typing import Literal

from pydantic import Field, PositiveFloat

from smartpark.config import Strict

ProductLevel = Literal["limit", "entry", "advanced", "benchmark", "baseline"]
#: lower is better: each level at most as high as the one before it
LEVEL_ORDER: tuple[tuple[ProductLevel, ...], ...] = (
    ("limit", "entry", "advanced"),
    ("baseline", "benchmark"),
)
LEVEL_NAMES: dict[ProductLevel, str] = {
    "limit": "限定值", "entry": "准入值", "advanced": "先进值",
    "benchmark": "标杆水平", "baseline": "基准水平",
}  # fmt: skip


class ProductSpec(Strict):
    """An enterprise's product and the energy levels it is judged against."""

    name: str = Field(min_length=1)
    unit: str = Field(min_length=1, description="the output unit the levels are per")
    standard: str | None = Field(
        default=None,
        description="the national limit standard (e.g. 'GB 21256'); none where no "
        "national standard covers the product",
    )
    source: str = Field(min_length=1, description="where the values come from")
    basis: Literal["equivalent", "equal_value"] = Field(
        default="equivalent", description="the standard's electricity basis: 当量值 or 等价值"
    )
    boundary: str | None = Field(default=None, description="the standard's energy boundary")
    levels_kgce: dict[ProductLevel, PositiveFloat] = Field(
        default_factory=dict, description="kgce per unit of output, by level"
    )
    verify: bool = Field(default=False, description="values recalled, not read in the source")


def problems(product: ProductSpec, *, output_unit: str | None, where: str) -> list[str]:
    """A product whose unit is not its enterprise's output unit, or whose levels are out of
    order (a 先进值 above the 限定值)."""
    found = []
    if output_unit != product.unit:
        found.append(
            f"{where}.unit: the levels are per {product.unit!r}, the enterprise's output is "
            f"counted in {output_unit!r}"
        )
    for order in LEVEL_ORDER:
        given = [(level, product.levels_kgce[level]) for level in order
                 if level in product.levels_kgce]  # fmt: skip
        for (a, va), (b, vb) in itertools.pairwise(given):
            if vb > va:
                found.append(f"{where}.levels_kgce.{b}: {vb:g} is above {a} {va:g}")
    return found
