"""An enterprise's daily energy and carbon report as CSV or Parquet (pure).

CSV starts with a UTF-8 byte-order mark (Excel opens Chinese text garbled without it)
and ``#`` lines naming the coefficients and methods; Parquet carries them as file
metadata. Columns: the local day, then the KPI fields, units in their names.
"""

from __future__ import annotations

import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from api.reads import split
from smartpark.carriers import FUEL_COLUMNS, FUELS
from smartpark.model import KPI_METHOD_TAGS

COLUMNS = (
    "grid_kwh", "pv_kwh", "green_kwh", "gas_m3", "steam_kg", *FUEL_COLUMNS,
    "electricity_tce", "gas_tce", "steam_tce", *(f"{f.name}_tce" for f in FUELS),
    "energy_tce", "energy_equivalent_tce", "energy_equal_value_tce",
    "energy_excl_renewables_tce", "co2_location_t", "co2_market_t",
    "co2_location_t_per_tce", "co2_market_t_per_tce", "clean_energy_share_pct",
    "non_fossil_share_pct", "added_value_cny", "energy_tce_per_10k_cny",
    "co2_location_t_per_10k_cny",
)  # fmt: skip
"""Every carrier in physical units and in tce (``smartpark.carriers``), then the totals."""


def report(
    rows: list[dict[str, Any]], *, zone: ZoneInfo, fmt: str, park: str, enterprise: str
) -> tuple[bytes, str]:
    """The report body and its media type."""
    methods: dict[str, str] = {}
    records = []
    for row in rows:
        tags, values = split(row)
        for key in KPI_METHOD_TAGS:
            if key in tags:
                methods.setdefault(key, tags[key])
        day = datetime.fromtimestamp(row["time"] / 1000, zone).date().isoformat()
        records.append({"day": day, **{c: values.get(c) for c in COLUMNS}})
    frame = pl.DataFrame(
        records, schema={"day": pl.Utf8, **{c: pl.Float64 for c in COLUMNS}}, orient="row"
    )
    meta = {"park": park, "enterprise": enterprise, **methods}
    if fmt == "parquet":
        buffer = io.BytesIO()
        frame.write_parquet(buffer, metadata=meta)
        return buffer.getvalue(), "application/vnd.apache.parquet"
    head = "".join(f"# {k}: {v}\n" for k, v in meta.items())
    head += "# co2_location_t: grid kWh x grid_factor; co2_market_t: residual_factor method\n"
    return "\ufeff".encode() + head.encode() + frame.write_csv().encode(), "text/csv; charset=utf-8"
