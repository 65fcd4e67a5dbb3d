"""单位产品能耗 judged per window against an enterprise's declared levels (pure).

For each row of a scope that declares a product (``smartpark.products``) and has
output: ``product_energy_kgce_per_output``, the energy per unit of output on the
standard's own basis (当量值 or 等价值: ``energy_equivalent_tce`` or
``energy_equal_value_tce``, whatever ``energy_tce``'s basis is), and per declared level
``product_<level>_kgce_per_output`` (the value) and ``product_<level>_met`` (at or below
it). A product without declared levels gets the energy figure and no verdict.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from smartpark.products import ProductSpec


def against_product_limits(
    frame: pl.DataFrame, products: Mapping[str, ProductSpec]
) -> pl.DataFrame:
    """Add the product columns to ``frame`` (one row per scope and window, with
    ``output`` and both named energy totals)."""
    if not products or "output" not in frame.columns or frame.height == 0:
        return frame
    scope = pl.col("scope")
    basis = {s: p.basis for s, p in products.items()}
    energy = (
        pl.when(scope.replace_strict(basis, default=None) == "equal_value")
        .then(pl.col("energy_equal_value_tce"))
        .otherwise(pl.col("energy_equivalent_tce"))
    )
    value = (
        pl.when(scope.is_in(list(products)) & (pl.col("output") > 0))
        .then(energy * 1000 / pl.col("output"))
        .otherwise(None)
    )
    frame = frame.with_columns(product_energy_kgce_per_output=value)
    levels = sorted({level for p in products.values() for level in p.levels_kgce})
    columns = []
    for level in levels:
        limit = scope.replace_strict(
            {s: p.levels_kgce.get(level) for s, p in products.items()},
            default=None,
            return_dtype=pl.Float64,
        )
        met = pl.when(limit.is_not_null()).then(pl.col("product_energy_kgce_per_output") <= limit)
        columns += [
            limit.alias(f"product_{level}_kgce_per_output"),
            met.alias(f"product_{level}_met"),
        ]
    return frame.with_columns(columns)
