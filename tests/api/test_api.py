"""The API against a park the real pipeline filled: who sees what (as a table), values
equal to the store, acknowledgements reaching the alert service, the live stream,
exports and bad input."""

from __future__ import annotations

import io
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import orjson
import polars as pl
import pytest

from processing.output import muju_points
from smartpark.mqtt import BoundedPublisher, connect, make_client
from smartpark.store.influxql import Select
from smartpark.wire import KpiUpdate, alert_filter, encode_kpi_update, kpi_topic
from tests.api.conftest import Park
from tests.api.reports_check import (
    check_annual_xlsx,
    check_ghg_xlsx,
    check_monthly_xlsx,
    report_path,
    this_month,
)
from tests.conftest import wait_until
from tests.reports.test_monthly import inked, pdf_pages

NOW = datetime.now(UTC)
RANGE = {
    "start": (NOW - timedelta(hours=6)).isoformat(),
    "end": (NOW + timedelta(hours=1)).isoformat(),
}
E08 = "/v1/parks/tianfu-np/enterprises/e08-anode"
MONTH = {"period": this_month()[0], "format": "xlsx"}
YEAR = {"year": this_month()[1].year, "format": "pdf"}
GHG = {"period": str(this_month()[1].year), "format": "xlsx"}

# route (GET), query, who may see it: callers "e08" (the owner), "operator" (the park's)
ROUTES = [
    ("/v1/parks/tianfu-np", {}, {"e08", "e01", "operator"}),
    ("/v1/cities/chengdu/scorecard", {}, {"city"}),
    ("/v1/cities/mianyang/scorecard", {}, set()),  # othercity's own: no park names it
    (f"{E08}/sensors", {}, {"e08", "operator"}),
    (f"{E08}/latest", {}, {"e08", "operator"}),
    (f"{E08}/sensors/e08-grid-1/series", {"field": "power_kw", **RANGE}, {"e08", "operator"}),
    ("/v1/parks/tianfu-np/scopes/e08-anode/kpis", {"window": "1h", **RANGE}, {"e08", "operator"}),
    ("/v1/parks/tianfu-np/scopes/e08-anode/scorecard", {}, {"e08", "operator"}),
    ("/v1/parks/tianfu-np/scopes/_park/kpis", {"window": "1h", **RANGE}, {"operator"}),
    ("/v1/parks/tianfu-np/scopes/_park/scorecard", {}, {"operator"}),
    (f"{E08}/cems", RANGE, {"e08", "operator"}),
    (f"{E08}/completeness", RANGE, {"e08", "operator"}),
    (f"{E08}/quota", RANGE, {"e08", "operator"}),
    (f"{E08}/report", RANGE, {"e08", "operator"}),
    ("/v1/parks/tianfu-np/scopes/e08-anode/carbon-budget", RANGE, {"e08", "operator"}),
    ("/v1/parks/tianfu-np/scopes/_park/carbon-budget", RANGE, {"operator"}),
    ("/v1/parks/tianfu-np/scopes/e08-anode/limits", {}, {"e08", "operator"}),
    ("/v1/parks/tianfu-np/scopes/_park/limits", {}, {"operator"}),
    (f"{E08}/deadletters", {}, {"e08", "operator"}),
    (report_path("e08-anode"), MONTH, {"e08", "operator"}),
    (report_path("_park"), MONTH, {"operator"}),
    (report_path("e08-anode", "annual"), YEAR, {"e08", "operator"}),
    (report_path("e08-anode", "ghg"), GHG, {"e08", "operator"}),
    (report_path("_park", "ghg"), GHG, {"operator"}),
    ("/v1/parks/tianfu-np/alerts", {"enterprise": "e08-anode"}, {"e08", "operator"}),
]


@pytest.mark.parametrize(("path", "query", "allowed"), ROUTES, ids=[r[0] for r in ROUTES])
def test_who_sees_what(api_park: Park, path: str, query: dict, allowed: set[str]) -> None:
    # a city key reads what the operator of a park of its city reads; another city's nothing
    allowed = allowed | ({"city"} if "operator" in allowed else set())
    for who in ("e08", "e01", "operator", "city", "othercity", "stranger", "revoked", None):
        response = api_park.get(path, who, **query)
        if who in (None, "revoked"):
            assert response.status_code == 401, (who, response.text)
        elif who in allowed:
            assert response.status_code == 200, (who, response.text)
        else:
            assert response.status_code == 404, (who, response.text)
            assert "e08" not in response.text and "tianfu" not in response.text
        if who == "e01" and response.status_code == 200:
            assert "e08" not in response.text  # the park view lists only its own enterprise


def test_a_city_key_lists_its_citys_parks_and_writes_nothing(api_park: Park) -> None:
    assert [p["id"] for p in api_park.get("/v1/parks", "city").json()] == ["tianfu-np"]
    assert api_park.get("/v1/parks", "othercity").json() == []
    assert api_park.get("/v1/parks", "stranger").json() == []
    [alert, *_] = api_park.get("/v1/parks/tianfu-np/alerts", "city").json()["alerts"]
    for answer in (
        api_park.post(f"/v1/alerts/{alert['id']}/ack", "city"),
        api_park.post("/v1/stream/ticket", "city"),
    ):
        assert answer.status_code == 404, answer.text
    # the page signs a city key in (its city's page); its cookie writes nothing either
    page = httpx.post(f"{api_park.url}/session", json={"key": api_park.keys["city"]}, timeout=10)
    assert page.status_code == 200 and page.json()["role"] == "city"
    for path in (f"/v1/alerts/{alert['id']}/ack", "/v1/stream/ticket"):
        answer = httpx.post(api_park.url + path, cookies=page.cookies, timeout=10,
                            headers={"X-CSRF-Token": page.json()["csrf"]})  # fmt: skip
        assert answer.status_code == 404, answer.text


def test_the_city_scorecard_shows_each_park_as_its_operator_sees_it(api_park: Park) -> None:
    card = api_park.get("/v1/cities/chengdu/scorecard", "city").json()
    [row] = card["parks"]
    assert row["park"] == "tianfu-np" and row["rank"] == 1 and row["stored"]
    park = api_park.get("/v1/parks/tianfu-np/scopes/_park/scorecard", "operator").json()
    month = {k["kpi"]: k["value"] for k in park["month"]["kpis"]}
    share = row["clean_energy_share"]
    assert share["column"] == "clean_energy_share_grid_implied_equal_value_pct"
    assert share["value_pct"] == pytest.approx(month[share["column"]])
    assert row["energy_tce"] == pytest.approx(month["energy_tce"]) and row["energy_tce"] > 0
    assert card["totals"]["energy_tce"] == pytest.approx(row["energy_tce"])
    assert card["totals"]["parks"] == card["totals"]["parks_stored"] == 1


def test_the_city_scorecard_has_each_parks_quota_budget_and_completeness(
    api_park: Park,
) -> None:
    """The same stored points as the park's own routes, summed up per park: the jobs of
    the fixture wrote this month's quotas (e08, e09), the park's carbon budget and today's
    completeness."""
    [row] = api_park.get("/v1/cities/chengdu/scorecard", "city").json()["parks"]
    month = datetime.fromisoformat(row["month_start"])
    span = {
        "start": month.isoformat(),
        "end": (month + timedelta(days=32)).replace(day=1).isoformat(),
    }
    quotas = [api_park.get(f"/v1/parks/tianfu-np/enterprises/{e}/quota", "operator", **span).json()
              for e in ("e08-anode", "e09-anode")]  # fmt: skip
    assert all(len(q) == 1 for q in quotas)
    quota = row["quota"]
    assert (quota["enterprises"], quota["computed"]) == (2, 2)
    assert quota["breached"] == sum(q[0]["breached"] for q in quotas)
    assert quota["max_forecast_pct"] == pytest.approx(max(q[0]["forecast_pct"] for q in quotas))
    assert quota["status"] in ("on_track", "forecast_breach", "breached")
    [budget] = api_park.get("/v1/parks/tianfu-np/scopes/_park/carbon-budget", "operator",
                            **span).json()  # fmt: skip
    card = row["carbon_budget"]
    assert card["budget_t_month"] == budget["budget_co2_t"] == 6000
    assert card["used_co2_t"] == pytest.approx(budget["used_co2_t"]) and card["used_co2_t"] > 0
    assert (card["co2_method"], card["co2_factor"]) == (budget["co2_method"], budget["co2_factor"])
    days = []
    for e in api_park.get("/v1/parks/tianfu-np/enterprises", "operator").json():
        path = f"/v1/parks/tianfu-np/enterprises/{e['id']}/completeness"
        days += [d["completeness_pct"] for d in api_park.get(path, "operator", **span).json()]
    assert days and row["completeness"]["sensor_days"] == len(days)
    assert row["completeness"]["mean_pct"] == pytest.approx(sum(days) / len(days))


def test_an_enterprise_never_gets_anothers_alerts_or_ids(api_park: Park) -> None:
    own = api_park.get("/v1/parks/tianfu-np/alerts", "e01").json()["alerts"]
    assert own and {a["enterprise"] for a in own} == {"e01-baijiu"}
    everything = api_park.get("/v1/parks/tianfu-np/alerts", "operator").json()["alerts"]
    e08 = next(a for a in everything if a["enterprise"] == "e08-anode")
    assert api_park.get(f"/v1/alerts/{e08['id']}", "e01").status_code == 404
    assert api_park.post(f"/v1/alerts/{e08['id']}/ack", "e01").status_code == 404
    assert api_park.get(f"/v1/alerts/{e08['id']}", "e08").json()["history"][0]["event"] == "firing"
    for trick in ("e08-anode", ".*", "_park"):
        assert api_park.get("/v1/parks/tianfu-np/alerts", "e01", enterprise=trick).status_code in (
            404,
            422,
        )
    assert api_park.get("/v1/parks/tianfu-np/enterprises", "e01").json() == [
        e for e in api_park.get("/v1/parks/tianfu-np/enterprises", "operator").json()
        if e["id"] == "e01-baijiu"
    ]  # fmt: skip


def test_kpis_served_equal_the_stored_points(api_park: Park) -> None:
    body = api_park.get("/v1/parks/tianfu-np/scopes/e08-anode/kpis", "e08", window="1h", **RANGE)
    points = body.json()["points"]
    stored = api_park.store.query(
        Select("kpi", ["energy_tce"], tags={"scope": "e08-anode", "window": "1h"}).to_influxql()
    )[0].values
    assert [(p["start_ms"], p["values"]["energy_tce"]) for p in points] == [
        (int(t), v) for t, v in stored
    ]
    assert points[0]["method"]["factor_set"] == "cn" and "grid_factor" in points[0]["method"]


def test_the_scorecard_carries_the_processing_targets(api_park: Park) -> None:
    card = api_park.get("/v1/parks/tianfu-np/scopes/_park/scorecard", "operator").json()
    assert card["output_unit"] is None  # the park counts t, kL, kpcs and km2: no park output
    today = card["today"]
    assert "energy_kgce_per_output" not in {k["kpi"] for k in today["kpis"]}
    assert today["stored"] and today["method"]["factor_set"] == "cn"
    targeted = [k for k in today["kpis"] if "target" in k]
    assert targeted, today
    start = datetime.fromisoformat(today["start"])
    stored = api_park.store.query(
        Select(
            "kpi", ["*"], tags={"scope": "_park", "window": "1d"}, start=start,
            end=start + timedelta(milliseconds=1),
        ).to_influxql()
    )[0]  # fmt: skip
    row = dict(zip(stored.columns, stored.values[0], strict=True))
    for k in targeted:
        assert k["met"] == row[f"{k['kpi']}_met"] and k["target"] == row[f"{k['kpi']}_target"]


def test_an_acknowledgement_through_the_api_reaches_the_alert_service(api_park: Park) -> None:
    notices: list[dict] = []
    client = make_client(api_park.settings.mqtt, client_id="api-test-watch")
    client.on_connect = lambda c, *_: c.subscribe(alert_filter("apitest"), qos=1)
    client.on_message = lambda _c, _u, m: notices.append(orjson.loads(m.payload))
    connect(client, api_park.settings.mqtt, persistent=False)
    client.loop_start()
    try:
        alerts = api_park.get("/v1/parks/tianfu-np/alerts", "e08", state="firing").json()["alerts"]
        target = alerts[0]["id"]
        accepted = api_park.post(f"/v1/alerts/{target}/ack", "e08")
        assert accepted.status_code == 202, accepted.text
        wait_until(
            lambda: api_park.get(f"/v1/alerts/{target}", "e08").json()["state"] == "acknowledged",
            10,
            "acknowledged in the alert service",
        )
        one = api_park.get(f"/v1/alerts/{target}", "e08").json()
        assert one["acknowledged_by"] == "e08 energy manager"
        wait_until(
            lambda: any(n["event"] == "acknowledged" and n["id"] == target for n in notices),
            10,
            "the acknowledgement notice",
        )

        # Reminders come every 2 s while unacknowledged: none for 3 s now (polled, so a
        # reminder that does come fails at once).
        def reminded() -> bool:
            return any(n["id"] == target and n["event"] == "reminder"
                       and n["at"] > one["acknowledged_at"] for n in notices)  # fmt: skip

        quiet_until = time.monotonic() + 3
        wait_until(lambda: reminded() or time.monotonic() > quiet_until, 10, "3 s")
        assert not reminded()
        assert api_park.post(f"/v1/alerts/{target}/ack", "e08").status_code == 409
    finally:
        client.disconnect()
        client.loop_stop()


def _listen(api_park: Park, who: str, out: list[tuple[str, str]], stop: threading.Event,
            last_id: str | None = None) -> None:  # fmt: skip
    """Append the stream's events to ``out`` until ``stop`` (checked at each line: the
    keep-alive comes every 15 s). A connection that fails or is cut when the module's
    server stops ends the thread with the error in ``out``, never raised in the thread
    (it would surface as an unhandled-thread error in a later test)."""
    ticket = api_park.post("/v1/stream/ticket", who).json()["ticket"]
    headers = {"Last-Event-ID": last_id} if last_id else {}
    try:
        with httpx.stream("GET", f"{api_park.url}/v1/stream", params={"ticket": ticket},
                          headers=headers, timeout=30) as response:  # fmt: skip
            out.append(("", f"x-accel-buffering: {response.headers['x-accel-buffering']}"))
            event_id = ""
            for line in response.iter_lines():
                if line == ": connected":
                    out.append(("", "connected"))  # attached: what is published now is sent
                if line.startswith("id: "):
                    event_id = line[4:]
                if line.startswith("data: "):
                    out.append((event_id, line[6:]))
                if stop.is_set():
                    return
    except httpx.HTTPError as exc:
        out.append(("", f"stream ended: {exc!r}"))


def test_the_live_stream_delivers_within_a_second_and_resumes(api_park: Park) -> None:
    e08: list[tuple[str, str]] = []
    e01: list[tuple[str, str]] = []
    stop = threading.Event()
    threads = [
        threading.Thread(target=_listen, args=(api_park, who, out, stop), daemon=True)
        for who, out in (("e08", e08), ("e01", e01))
    ]
    for t in threads:
        t.start()
    wait_until(lambda: ("", "connected") in e08 and ("", "connected") in e01, 30, "both attached")
    assert ("", "x-accel-buffering: no") in e08  # no proxy buffering of the stream
    publisher = BoundedPublisher(api_park.settings.mqtt, client_id="api-kpi", persistent=False)
    assert publisher.wait_connected()
    update = KpiUpdate("tianfu-np", "e08-anode", "1m", 1, 60_001, 0, {"energy_tce": 4.25})
    sent = time.monotonic()
    publisher.publish(kpi_topic("apitest", "tianfu-np", "e08-anode"), encode_kpi_update(update))
    wait_until(lambda: any("4.25" in d for _, d in e08), 5, "the KPI update on the stream")
    assert time.monotonic() - sent < 1.0
    first_id = next(i for i, d in e08 if "4.25" in d)
    # Missed while away: resumed with Last-Event-ID.
    later = KpiUpdate("tianfu-np", "e08-anode", "1m", 60_001, 120_001, 0, {"energy_tce": 5.5})
    publisher.publish(kpi_topic("apitest", "tianfu-np", "e08-anode"), encode_kpi_update(later))
    publisher.wait_all(5)
    publisher.close()
    resumed: list[tuple[str, str]] = []
    again = threading.Thread(
        target=_listen, args=(api_park, "e08", resumed, stop, first_id), daemon=True
    )
    again.start()
    wait_until(lambda: any("5.5" in d for _, d in resumed), 5, "resumed after reconnect")
    assert not any("4.25" in d for _, d in resumed)
    stop.set()
    assert not any("e08" in d for _, d in e01)  # another enterprise sees nothing of it


def test_carbon_budgets_burn_the_stored_daily_co2_and_name_their_method(api_park: Park) -> None:
    # The fixture burned this month's days (the month of now, in the park's zone).
    month = datetime.now(ZoneInfo("Asia/Shanghai")).replace(
        day=1, hour=0, minute=0, second=0, microsecond=0
    )
    days = {"start": month.isoformat(), "end": RANGE["end"]}
    daily = api_park.store.query(
        Select("kpi", ["co2_location_t"], aggregate="sum", start=month,
               tags={"park": "tianfu-np", "window": "1d"}, group_by_tags=["scope"]).to_influxql()
    )  # fmt: skip
    stored = {s.tags["scope"]: s.values[0][1] for s in daily}
    for scope, budget, who in (("e08-anode", 2_900, "e08"), ("_park", 6_000, "operator")):
        [row] = api_park.get(
            f"/v1/parks/tianfu-np/scopes/{scope}/carbon-budget", who, **days
        ).json()
        assert row["used_co2_t"] == pytest.approx(stored[scope]) and row["used_co2_t"] > 0
        assert row["budget_co2_t"] == budget and row["co2_method"] == "location"
        assert row["co2_factor"] == "sichuan-2022" and row["factor_set"] == "cn"
        elapsed = row["days_elapsed"]
        assert row["forecast_co2_t"] == pytest.approx(
            row["used_co2_t"] / elapsed * row["days_in_month"]
        )


def test_grades_name_the_period_evaluated_and_an_enterprise_sees_only_its_own(
    api_park: Park,
) -> None:
    """The year job's 2025 grades and the interim view of January to November, stored in
    the processor's encoding: the operator gets every enterprise's, each saying which
    period it evaluated and by which energy basis and factor set; e08 gets its own."""
    graded = pl.DataFrame({"enterprise": ["e08-anode", "e01-baijiu", "e09-anode"],
                           "score": [91.5, 80.0, 62.25], "rank": [1, 2, 3],
                           "grade": ["A", "B", None]})  # fmt: skip
    year_ms = int(datetime(2025, 1, 1, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000)
    method = {"energy_basis": "electricity_equivalent", "factor_set": "cn"}
    lines = [
        line
        for period, evaluated in (("year", "2025"), ("01-11", "2025-01..2025-11"))
        for line in muju_points(
            graded,
            park="tianfu-np",
            year_ms=year_ms,
            period=period,
            evaluated=evaluated,
            method=method,
        )
    ]
    api_park.store.write("\n".join(lines).encode())
    path = "/v1/parks/tianfu-np/grades"
    rows = api_park.get(path, "operator", year=2025).json()
    seen = {(r["enterprise"], r["period"]): r for r in rows}
    assert len(rows) == 6 and {p for _e, p in seen} == {"year", "01-11"}
    assert seen[("e08-anode", "year")] == {
        "enterprise": "e08-anode", "period": "year", "evaluated": "2025", "grade": "A",
        "score": 91.5, "rank": 1, **method,
    }  # fmt: skip
    assert seen[("e09-anode", "01-11")]["evaluated"] == "2025-01..2025-11"
    assert seen[("e09-anode", "year")]["grade"] is None  # stored as "-": no grade
    own = api_park.get(path, "e08", year=2025).json()
    assert {(r["enterprise"], r["evaluated"]) for r in own} == {
        ("e08-anode", "2025"),
        ("e08-anode", "2025-01..2025-11"),
    }
    assert api_park.get(path, "e08", year=2024).json() == []


def test_exports_name_their_method_and_open_in_excel(api_park: Park) -> None:
    # From a time of day: the day it falls in is in the report.
    days = {"start": api_park.start.isoformat(), "end": RANGE["end"]}
    csv = api_park.get(f"{E08}/report", "e08", **days)
    assert csv.content.startswith("\ufeff".encode())
    text = csv.content.decode("utf-8-sig")
    assert "# factor_set: cn" in text and "# grid_factor:" in text
    parquet = api_park.get(f"{E08}/report", "e08", format="parquet", **days)
    frame = pl.read_parquet(io.BytesIO(parquet.content))
    assert "energy_tce" in frame.columns and frame.height >= 1
    assert frame["day"][0] == api_park.day_start.date().isoformat()
    meta = pl.read_parquet_metadata(io.BytesIO(parquet.content))
    assert meta["enterprise"] == "e08-anode" and meta["factor_set"] == "cn"


def test_the_monthly_report_files_the_figures_the_api_serves(api_park: Park) -> None:
    """Issue 27: the XLSX's every figure is the API's for the same month."""
    check_monthly_xlsx(api_park, "e08", "e08-anode")
    check_monthly_xlsx(api_park, "operator", "_park")
    check_annual_xlsx(api_park, "e08", "e08-anode")
    check_ghg_xlsx(api_park, "e08", "e08-anode", period=GHG["period"])
    check_ghg_xlsx(api_park, "operator", "e08-anode", period=MONTH["period"])


def test_the_monthly_report_as_pdf_has_pages_with_ink(api_park: Park, tmp_path: Path) -> None:
    answer = api_park.get(report_path("_park"), "operator", period=MONTH["period"], format="pdf")
    assert answer.status_code == 200 and answer.headers["content-type"] == "application/pdf"
    pages = pdf_pages(answer.content, tmp_path)
    assert len(pages) >= 2 and all(inked(p) > 0.005 for p in pages)
    inventory = api_park.get(report_path("e08-anode", "ghg"), "e08", period=MONTH["period"],
                             format="pdf")  # fmt: skip
    assert inventory.status_code == 200, inventory.text
    (tmp_path / "ghg").mkdir()
    pages = pdf_pages(inventory.content, tmp_path / "ghg")
    assert len(pages) >= 2 and all(inked(p) > 0.005 for p in pages)


@pytest.mark.parametrize(
    ("path", "query", "status"),
    [
        ("/v1/parks/TIANFU/scopes/e08-anode/kpis", {"window": "1h", **RANGE}, 422),
        ("/v1/parks/tianfu-np/scopes/e08' or '1'='1/kpis", {"window": "1h", **RANGE}, 422),
        ("/v1/parks/tianfu-np/scopes/e08-anode/kpis",
         {"window": "1h", "start": RANGE["end"], "end": RANGE["start"]}, 422),
        ("/v1/parks/tianfu-np/scopes/e08-anode/kpis",
         {"window": "1m", "start": "2025-01-01T00:00:00+08:00", "end": RANGE["end"]}, 422),
        ("/v1/parks/tianfu-np/scopes/e08-anode/kpis",
         {"window": "1h", "start": "2026-11-01T00:00:00", "end": RANGE["end"]}, 422),
        ("/v1/parks/tianfu-np/scopes/e08-anode/kpis", {"window": "1y", **RANGE}, 422),
        ("/v1/parks/tianfu-np/alerts", {"limit": 100_000}, 422),
        ("/v1/parks/tianfu-np/alerts", {"cursor": "x'--"}, 422),
        ("/v1/parks/tianfu-np/alerts", {"cursor": "9" * 30 + ".0123456789abcdef"}, 422),
        ("/v1/parks/tianfu-np/alerts", {"cursor": "\u00b2.0123456789abcdef"}, 422),
        ("/v1/parks/tianfu-np/alerts", {"since": "2026-11-01T00:00:00"}, 422),
        ("/v1/parks/tianfu-np/alerts", {"until": "9999-12-31T23:59:59-23:59"}, 422),
        ("/v1/parks/tianfu-np/alerts", {"since": "0001-01-01T00:00:00+23:59"}, 422),
        ("/v1/parks/tianfu-np/scopes/e08-anode/kpis",
         {"window": "1h", "start": "0001-01-01T00:00:00+23:59", "end": "0001-01-02T00:00:00Z"}, 422),
        ("/v1/parks/tianfu-np/scopes/e08-anode/kpis",
         {"window": "1h", "start": "9999-12-30T00:00:00Z", "end": "9999-12-31T23:59:59-23:59"}, 422),
        (f"{E08}/cems", {"start": "1500-01-01T00:00:00Z", "end": "1500-01-02T00:00:00Z"}, 422),
        (f"{E08}/sensors/e08-grid-1/series",
         {"field": "power_kw", "start": "2300-01-01T00:00:00Z", "end": "2300-01-02T00:00:00Z"}, 422),
        (f"{E08}/report", {"start": "1677-09-21T00:00:00Z", "end": "1677-09-23T00:00:00Z"}, 422),
        (report_path("e08-anode"), {"period": "2026-13"}, 422),
        (report_path("e08-anode"), {"period": "2026-11", "format": "docx"}, 422),
        (report_path("e08-anode", "annual"), {"year": 1999}, 422),
        (report_path("e08-anode", "ghg"), {"period": "1999"}, 422),
        (report_path("e08-anode", "ghg"), {"period": "2026-00"}, 422),
    ],
)  # fmt: skip
def test_bad_input_gets_a_clear_4xx(api_park: Park, path: str, query: dict, status: int) -> None:
    response = api_park.get(path, "operator", **query)
    assert response.status_code == status, response.text
    assert response.json()["detail"]


def test_a_malformed_last_event_id_is_refused_without_using_up_the_ticket(api_park: Park) -> None:
    headers = {"Authorization": f"Bearer {api_park.keys['e08']}"}
    ticket = httpx.post(api_park.url + "/v1/stream/ticket", headers=headers).json()["ticket"]
    url = f"{api_park.url}/v1/stream"
    for bad in ("\u00b2".encode(), b"9" * 30, b"-1", b"1.5"):
        refused = httpx.get(url, params={"ticket": ticket}, headers={"Last-Event-ID": bad})
        assert refused.status_code == 422, refused.text
    with httpx.stream("GET", url, params={"ticket": ticket}, headers={"Last-Event-ID": "0"},
                      timeout=10) as opened:  # fmt: skip
        assert opened.status_code == 200
        assert next(opened.iter_lines()) == ": connected"


def test_writes_are_audited(api_park: Park) -> None:
    from api.keys import KeyStore

    store = KeyStore(api_park.settings.api.keys_db)
    actions = [a for _t, _k, _w, a, _x in store.audit_log()]
    store.close()
    assert actions.count("key.create") >= 5 and "key.revoke" in actions


def test_an_enterprise_sees_its_own_sensors_dead_letters(api_park: Park) -> None:
    publisher = BoundedPublisher(api_park.settings.mqtt, client_id="api-bad", persistent=False)
    assert publisher.wait_connected()
    topic = "apitest/tianfu-np/e08-anode/electricity/e08-grid-2"
    publisher.publish(topic, b'{"ts": 1, "values": {"power_kw": "high"}}')
    publisher.wait_all(5)
    publisher.close()
    wait_until(lambda: api_park.get(f"{E08}/deadletters", "e08").json(), 10, "the dead letter")
    letter = api_park.get(f"{E08}/deadletters", "e08").json()[0]
    assert letter["sensor"] == "e08-grid-2"
    assert {p["reason"] for p in letter["problems"]} <= {"bad_value", "ts_out_of_range"}
    e01 = api_park.get("/v1/parks/tianfu-np/enterprises/e01-baijiu/deadletters", "e01").json()
    assert "e08" not in str(e01)


def test_the_scorecard_gives_the_change_against_the_same_period_last_year() -> None:
    """单位工业增加值能耗 0.30 tce per 10k CNY this month against 0.32 a year ago: a fall
    of 6.25 % (the reduction rate reporting asks for is its opposite sign)."""
    from datetime import UTC, datetime

    from api.routes.kpis import card as _card

    start = datetime(2026, 11, 1, tzinfo=UTC)
    now = {"time": 1, "park": "p", "scope": "e08-anode", "window": "1mo",
           "energy_tce_per_10k_cny": 0.30, "energy_tce": 10.0}  # fmt: skip
    then = {"time": 0, "park": "p", "scope": "e08-anode", "window": "1mo",
            "energy_tce_per_10k_cny": 0.32, "energy_tce": 0.0}  # fmt: skip
    by = {k["kpi"]: k for k in _card(now, then, start)["kpis"]}
    assert by["energy_tce_per_10k_cny"]["change_vs_last_year_pct"] == pytest.approx(-6.25)
    assert "change_vs_last_year_pct" not in by["energy_tce"]  # nothing to compare with


# scope, who asks -> what examples/processing.yaml configures (quotas_tce_month,
# carbon_budgets), whether or not a burn-down point is stored yet
LIMITS = [
    ("e08-anode", "e08", {"quota_configured": True, "quota_tce_month": 2600.0,
                          "carbon_budget_configured": True, "carbon_budget_t_month": 2900.0,
                          "carbon_budget_method": "location"}),
    ("e01-baijiu", "e01", {"quota_configured": False, "quota_tce_month": None,
                           "carbon_budget_configured": False, "carbon_budget_t_month": None,
                           "carbon_budget_method": None}),
    ("_park", "operator", {"quota_configured": False, "quota_tce_month": None,
                           "carbon_budget_configured": True, "carbon_budget_t_month": 6000.0,
                           "carbon_budget_method": "location"}),
]  # fmt: skip


@pytest.mark.parametrize(("scope", "who", "expected"), LIMITS, ids=[r[0] for r in LIMITS])
def test_limits_say_what_is_configured_not_what_is_stored(
    api_park: Park, scope: str, who: str, expected: dict[str, object]
) -> None:
    assert api_park.get(f"/v1/parks/tianfu-np/scopes/{scope}/limits", who).json() == expected
