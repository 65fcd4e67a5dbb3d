"""The daily report has every carrier a park burns (issue 25, item 15; pure)."""

from __future__ import annotations

import io
from zoneinfo import ZoneInfo

import polars as pl
import pytest

from api.export import report
from processing.engine import kpis
from tests.processing.test_audit import EXPECTED, _burning_park


def test_every_carrier_is_in_the_report() -> None:
    """Item 15: the daily report has each carrier in its unit and in tce."""
    park, config, coef, readings = _burning_park()
    row = kpis(readings, park, config, coef, window="1d").filter(pl.col("scope") == "e04-cannery")
    record = {"time": 1_793_548_800_000, **coef.tags(), **row.row(0, named=True)}
    body, _media = report([record], zone=ZoneInfo("Asia/Shanghai"), fmt="csv", park="tianfu-np",
                          enterprise="e04-cannery")  # fmt: skip
    frame = pl.read_csv(io.BytesIO(body.decode("utf-8-sig").encode()), comment_prefix="#")
    for carrier, (column, amount, tce, _co2) in EXPECTED.items():
        assert frame[column][0] == pytest.approx(amount)
        assert frame[f"{carrier}_tce"][0] == pytest.approx(tce)
    assert "# coal_factor: raw_coal" in body.decode("utf-8-sig")
