"""The scorecard's today and month to date are open windows: their additive KPIs are
compared with last year's same span (to the same minute of the same local day), not
with last year's whole day or month; ratios with last year's whole period (real
InfluxDB and API)."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import openpyxl
import pytest

from api.keys import KeyStore
from devstack.servers import InfluxDB, Mosquitto
from smartpark.settings import (
    AlertsSettings,
    ApiSettings,
    InfluxSettings,
    IngestSettings,
    MqttSettings,
    Settings,
)
from smartpark.store import open_store
from smartpark.store.influx1 import Influx1Store
from smartpark.store.lineprotocol import encode_point
from tests.api.conftest import serve
from tests.conftest import EXAMPLE_PARK, clear_of_midnight

CST = ZoneInfo("Asia/Shanghai")
E08 = "e08-anode"


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _point(window: str, at: datetime, fields: dict[str, float | bool]) -> str:
    # as the pipeline stores them: with the method that made them
    tags = {"park": "tianfu-np", "scope": E08, "window": window, "factor_set": "cn",
            "grid_factor": "0.5366"}  # fmt: skip
    return encode_point("kpi", tags, fields, _ms(at))


def test_today_and_the_month_so_far_are_compared_with_last_years_same_span(
    mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path: Path
) -> None:
    clear_of_midnight("Asia/Shanghai", before_s=60, after_s=0)  # "today" stays today
    today = datetime.now(CST).replace(hour=0, minute=0, second=0, microsecond=0)
    month = today.replace(day=1)
    if today.month == 2 and today.day == 29:
        pytest.skip("29 February has no same day a year before (the scorecard leaves it out)")
    # this year: today and the month so far, complete to 10:37 of today
    complete_to = today + timedelta(hours=10, minutes=37)
    live = {"provisional": True, "complete_to_ms": float(_ms(complete_to))}
    lines = [
        _point("1d", today, {"energy_tce": 5.3, "energy_tce_per_10k_cny": 0.30, **live}),
        _point("1mo", month, {"energy_tce": 100.0, "energy_tce_per_10k_cny": 0.30, **live}),
    ]
    # last year: whole days of 24 tce (1 an hour, 1/60 a minute), and the whole month
    ago, ago_month = today.replace(year=today.year - 1), month.replace(year=month.year - 1)
    day = ago_month
    while day <= ago:
        lines.append(_point("1d", day, {"energy_tce": 24.0, "energy_tce_per_10k_cny": 0.32}))
        day += timedelta(days=1)
    lines += [_point("1h", ago + timedelta(hours=h), {"energy_tce": 1.0}) for h in range(24)]
    lines += [_point("1m", ago + timedelta(hours=10, minutes=m), {"energy_tce": 1 / 60})
              for m in range(60)]  # fmt: skip
    lines.append(_point("1mo", ago_month, {"energy_tce": 744.0, "energy_tce_per_10k_cny": 0.32}))
    # last year's other months: 500 tce each (the months after this one's are not compared)
    other = [ago_month.replace(month=m) for m in range(1, 13) if m != ago_month.month]
    lines += [_point("1mo", m, {"energy_tce": 500.0}) for m in other]
    settings = Settings(
        mqtt=MqttSettings(port=mosquitto.port, topic_root="scorecard"),
        influx=InfluxSettings(url=influxdb.url, database="scorecard"),
        ingest=IngestSettings(registry=EXAMPLE_PARK, spool_dir=tmp_path / "spool"),
        api=ApiSettings(port=0, keys_db=tmp_path / "api.db"),
        alerts=AlertsSettings(db=tmp_path / "alerts.db"),
    )
    store = open_store(settings.influx)
    assert isinstance(store, Influx1Store)
    try:
        store.write("\n".join(lines).encode())
    finally:
        store.close()
    keys = KeyStore(settings.api.keys_db)
    key = keys.create(role="enterprise", park="tianfu-np", enterprise=E08, name="e08")
    keys.close()
    auth = {"Authorization": f"Bearer {key}"}
    with serve(settings) as url:
        answer = httpx.get(f"{url}/v1/parks/tianfu-np/scopes/{E08}/scorecard",
                           headers=auth, timeout=10)  # fmt: skip
        report = httpx.get(f"{url}/v1/parks/tianfu-np/scopes/{E08}/reports/monthly",
                           params={"period": f"{month:%Y-%m}", "format": "xlsx"},
                           headers=auth, timeout=30)  # fmt: skip
        annual = httpx.get(f"{url}/v1/parks/tianfu-np/scopes/{E08}/reports/annual",
                           params={"year": month.year, "format": "xlsx"},
                           headers=auth, timeout=30)  # fmt: skip
    assert answer.status_code == 200, answer.text
    card = answer.json()
    to_1037 = 10 + 37 / 60  # hours 0-9 whole, then 37 minutes of 10:00
    for name, start, span_start, want_last in (
        ("today", today, ago, to_1037),
        ("month", month, ago_month, (ago - ago_month).days * 24.0 + to_1037),
    ):
        period = card[name]
        assert period["start"] == start.isoformat()
        assert period["last_year_span"] == {
            "start": span_start.isoformat(),
            "end": (ago + timedelta(hours=10, minutes=37)).isoformat(),
        }
        by = {k["kpi"]: k for k in period["kpis"]}
        now = 5.3 if name == "today" else 100.0
        assert by["energy_tce"]["last_year"] == pytest.approx(want_last, rel=1e-9)
        assert by["energy_tce"]["change_vs_last_year_pct"] == pytest.approx(
            (now - want_last) / want_last * 100, rel=1e-9
        )
        # a ratio: against last year's whole day or month
        ratio = by["energy_tce_per_10k_cny"]
        assert (ratio["last_year"], ratio["change_vs_last_year_pct"]) == (
            0.32, pytest.approx(-6.25)
        )  # fmt: skip
    # this month's report compares the same way, and says so
    assert report.status_code == 200, report.text
    book = openpyxl.load_workbook(io.BytesIO(report.content))
    rows = {r[1]: r for sheet in book for r in sheet.iter_rows(values_only=True) if len(r) > 5}
    month_to_1037 = (ago - ago_month).days * 24.0 + to_1037
    assert rows["energy_tce"][3:5] == (100.0, pytest.approx(month_to_1037, rel=1e-9))
    assert rows["energy_tce_per_10k_cny"][3:5] == (0.30, 0.32)
    to = f"{ago + timedelta(hours=10, minutes=37):%Y-%m-%d %H:%M}"
    lines = [str(r[0]) for r in book["能源 Energy"].iter_rows(values_only=True) if r[0]]
    assert any(line.startswith("去年同期") and to in line for line in lines), lines
    # this year's annual report: last year's whole months before this one, then this one
    # to the same moment
    assert annual.status_code == 200, annual.text
    book = openpyxl.load_workbook(io.BytesIO(annual.content))
    rows = {r[1]: r for sheet in book for r in sheet.iter_rows(values_only=True) if len(r) > 5}
    before = 500.0 * (month.month - 1)
    assert rows["energy_tce"][3:5] == (100.0, pytest.approx(before + month_to_1037, rel=1e-9))
    lines = [str(r[0]) for r in book.worksheets[0].iter_rows(values_only=True) if r[0]]
    assert any(line.startswith("去年同期") and to in line for line in lines), lines
