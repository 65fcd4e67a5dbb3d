"""The dashboards as Grafana would load them. Grafana cannot be installed on these
machines, so what can be proven without it is: the structure Grafana needs, the
provisioning files current, every panel's query expanded as Grafana expands it and run
against the real InfluxDB (filled by the pipeline) and the real Prometheus (scraping the
services), and ``push`` against a recording HTTP server."""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import orjson
import pytest
import yaml
from grafana_client.api import GrafanaApi

from alerts import app as alerts_stage
from dashboards import build, expand, units
from dashboards.push import push
from devstack.servers import Prometheus, free_port
from ingest import app as ingest_stage
from processing import app as processing_stage
from smartpark import schema
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.influxql import Select
from tests.api.conftest import Park, api_park  # noqa: F401 - the pipeline-filled park fixture
from tests.conftest import ROOT, wait_until

DEPLOY = ROOT / "deploy" / "grafana"
MACROS = {"timeFilter", "__interval", "interval", "__interval_ms", "__rate_interval", "__range"}


def _boards() -> dict[str, dict[str, Any]]:
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8"))
        for p in sorted((DEPLOY / "dashboards").glob("*.json"))
    }


def _targets(board: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            yield panel, target


def _text(target: dict[str, Any]) -> str:
    return str(target.get("query") or target.get("expr") or "")


def test_the_committed_files_are_what_the_code_generates(tmp_path: Path, park: Registry) -> None:
    build.write(tmp_path, park, Settings())
    generated = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    committed = sorted(p.relative_to(DEPLOY) for p in DEPLOY.rglob("*") if p.is_file())
    assert generated == committed
    for rel in generated:
        assert (tmp_path / rel).read_text() == (DEPLOY / rel).read_text(), (
            f"{rel} is stale: run smartpark dashboards build --out deploy/grafana"
        )


def test_structure_grafana_needs() -> None:
    boards = _boards()
    assert len(boards) == 6 and len({b["uid"] for b in boards.values()}) == 6  # 5 + the city
    sources = yaml.safe_load((DEPLOY / "provisioning/datasources/smartpark.yaml").read_text())
    known = {d["uid"]: d["type"] for d in sources["datasources"]}
    provider = yaml.safe_load((DEPLOY / "provisioning/dashboards/smartpark.yaml").read_text())
    assert provider["providers"][0]["folder"] == "smartpark"
    for name, board in boards.items():
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), name
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            g = panel["gridPos"]
            assert g["x"] + g["w"] <= 24, (name, panel["title"])
            mine = {
                (x, y)
                for x in range(g["x"], g["x"] + g["w"])
                for y in range(g["y"], g["y"] + g["h"])
            }
            assert not cells & mine, f"{name}: {panel['title']} overlaps"
            cells |= mine
            assert panel["datasource"]["uid"] in known, (name, panel["title"])
            assert panel["fieldConfig"]["defaults"].get("unit"), (name, panel["title"])
            for target in panel["targets"]:
                assert known[target["datasource"]["uid"]] == target["datasource"]["type"]
        defined = {v["name"] for v in board.get("templating", {}).get("list", [])}
        texts = [_text(t) for _p, t in _targets(board)]
        texts += [
            v.get("query", "")
            for v in board.get("templating", {}).get("list", [])
            if v["type"] == "query"
        ]
        texts += [a.get("query", "") for a in board.get("annotations", {}).get("list", [])]
        used = {m for text in texts for m in re.findall(r"\$\{?(\w+)", text)} - MACROS
        assert used <= defined, f"{name}: undefined {used - defined}"
        assert defined <= used, f"{name}: unused {defined - used}"
        for panel, target in _targets(board):
            if target["datasource"]["type"] == "influxdb":
                assert target["rawQuery"] is True and target["resultFormat"] in (
                    "time_series",
                    "table",
                )
                measurement = re.search(r'FROM "(\w+)"', target["query"]).group(1)  # type: ignore[union-attr]
                assert measurement in {"kpi", "sensor_use", "cems_hourly", "data_quality", "quota",
                                       "carbon_budget", "muju", "alert_events"}, (
                    name, panel["title"])  # fmt: skip


def test_every_board_is_in_the_parks_time_zone_not_the_viewers(park: Registry) -> None:
    """A viewer in another zone must still see the park's "today" (now/d in its zone)."""
    [zone] = {p.timezone for p in park.parks.values()}
    assert {b["timezone"] for b in _boards().values()} == {zone} == {"Asia/Shanghai"}


def test_annotation_columns_are_in_their_queries() -> None:
    """Grafana takes an annotation's text and tags from columns its query returns."""
    checked = 0
    for board in _boards().values():
        for annotation in board.get("annotations", {}).get("list", []):
            if "query" not in annotation:
                continue
            selected = annotation["query"].split(" FROM ")[0]
            for column in ("textColumn", "tagsColumn"):
                if column in annotation:
                    assert f'"{annotation[column]}"' in selected, (annotation["name"], column)
                    checked += 1
    assert checked >= 2


def test_a_table_fed_by_several_queries_joins_them() -> None:
    """Without a join Grafana shows one query's frame at a time (a drop-down)."""
    tables = [p for b in _boards().values() for p in b["panels"]
              if p["type"] == "table" and len(p.get("targets", [])) > 1]  # fmt: skip
    assert tables
    for panel in tables:
        ids = {t["id"] for t in panel.get("transformations", [])}
        assert ids & {"merge", "joinByField"}, panel["title"]


def test_thresholds_are_the_registrys_targets(park: Registry) -> None:
    targets = park.parks["tianfu-np"].targets
    board = _boards()["smartpark-park"]
    by_title = {p["title"]: p for p in board["panels"]}
    clean = by_title["Clean-energy share (judged: grid-implied at equal value by default)"]
    judged = "clean_energy_share_grid_implied_equal_value_pct"  # the milestones' default
    assert judged in clean["targets"][0]["query"]
    steps = [s["value"] for s in clean["fieldConfig"]["defaults"]["thresholds"]["steps"]][1:]
    assert steps == sorted(v for k, v in targets.items() if k.startswith("clean_energy_share_pct"))
    per_tce = by_title["CO2 per tce (threshold 0.20; judged first, then the other method)"]
    assert (
        per_tce["fieldConfig"]["defaults"]["thresholds"]["steps"][1]["value"]
        == targets["co2_per_energy_t_per_tce"]
    )


_SELECTED = re.compile(r'^(?:(\w+)\()?"(\w+)"')


def _columns(query: str) -> tuple[str, list[tuple[str, str | None]]]:
    """The roll-up and its selected (column, aggregate) of one panel query."""
    head, _, rest = query.partition(" FROM ")
    measurement = re.match(r'"(\w+)"', rest).group(1)  # type: ignore[union-attr]
    items = [_SELECTED.match(item.strip()) for item in head.removeprefix("SELECT ").split(",")]
    return measurement, [(m.group(2), m.group(1)) for m in items if m is not None]


def test_every_name_a_panel_reads_is_in_the_schema() -> None:
    """Selected columns, filters and groups of every InfluxQL panel exist in its roll-up."""
    for name, board in _boards().items():
        for panel, target in _targets(board):
            if target["datasource"]["type"] != "influxdb":
                continue
            measurement, columns = _columns(target["query"])
            m = schema.rollup(measurement)
            named = {c for c, _agg in columns}
            named |= set(re.findall(r'"(\w+)" (?:=|!=) ', target["query"]))
            if " GROUP BY " in target["query"]:
                named |= set(re.findall(r'"(\w+)"', target["query"].split(" GROUP BY ")[1]))
            unknown = named - set(m.fields) - set(m.tags)
            assert columns and not unknown, (name, panel["title"], unknown)


def test_every_unit_shown_comes_from_the_schema() -> None:
    """Each column a panel shows has its schema unit (the default or an override matching
    its name), and no unit is shown that none of its columns has."""
    for name, board in _boards().items():
        for panel in board["panels"]:
            targets = [t for t in panel.get("targets", []) if t["datasource"]["type"] == "influxdb"]
            if not targets:
                continue
            config = panel["fieldConfig"]
            overrides = [(o["matcher"]["options"], o["properties"][0]["value"])
                         for o in config["overrides"]]  # fmt: skip
            expected: set[str] = set()
            for target in targets:
                measurement, columns = _columns(target["query"])
                m = schema.rollup(measurement)
                for column, aggregate in columns:
                    want = schema.COUNT if aggregate == "count" else (
                        schema.TEXT if column in m.tags else m.unit(column))  # fmt: skip
                    shown_as = f"{measurement}.{column}"
                    matched = [u for pattern, u in overrides if re.fullmatch(pattern, shown_as)]
                    shown = matched[-1] if matched else config["defaults"]["unit"]
                    assert shown == units.grafana_unit(want), (name, panel["title"], column)
                    expected.add(shown)
            shown_units = {config["defaults"]["unit"], *(u for _p, u in overrides)}
            assert shown_units == expected, (name, panel["title"])


def test_co2_and_percentages_are_never_shown_as_energy_or_tonnes() -> None:
    """The two known slips: CO2 beside energy with a tce suffix; used_pct shown as tCO2."""
    shown = {
        (column, unit)
        for board in _boards().values()
        for panel in board["panels"]
        for o in panel["fieldConfig"]["overrides"]
        for column in re.findall(r"\\b(\w+)\\b", o["matcher"]["options"])
        for unit in [o["properties"][0]["value"]]
    }
    assert ("co2_location_t", "suffix: tCO2") in shown and ("used_pct", "percent") in shown


def test_relative_times_resolve_as_grafana_does_in_the_park_zone() -> None:
    zone = ZoneInfo("Asia/Shanghai")
    now = int(datetime(2026, 3, 31, 6, 30, tzinfo=zone).timestamp() * 1000)
    got = {
        e: datetime.fromtimestamp(expand.relative_ms(e, now_ms=now, zone=zone) / 1000, zone)
        for e in ("now", "now-7d", "now-6h", "now-1y", "now-1M", "now/d", "now/M", "now-1d/d")
    }
    assert [got[e].strftime("%m-%d %H:%M") for e in got] == [
        "03-31 06:30", "03-24 06:30", "03-31 00:30", "03-31 06:30", "02-28 06:30",
        "03-31 00:00", "03-01 00:00", "03-30 00:00",
    ]  # fmt: skip
    assert got["now-1y"].year == 2025
    with pytest.raises(ValueError, match="now\\+1d"):
        expand.relative_ms("now+1d", now_ms=now, zone=zone)


def test_every_influxql_panel_runs_on_the_pipelines_data(api_park: Park) -> None:  # noqa: F811
    # Each panel over the range Grafana would give it: the board's default time range
    # (or the panel's own, e.g. "this month" for a burn-down), in the park's time zone
    # (every board is in the park's zone).
    now = int(time.time() * 1000)
    zone = ZoneInfo("Asia/Shanghai")
    variables = {"park": "tianfu-np", "enterprise": "e08-anode"}
    # (the city's quota table counts enterprises over their quota: none here; its queries
    # run with data in tests/dashboards/test_city_board.py)
    # (the product-limits panel shows the month before: the fixture's readings are today's;
    # tests/dashboards/test_panel_times.py runs it on stored months)
    empty_allowed = {"Exceedance hours", "Mu-average grades and scores (last year evaluated)",
                     "Energy-use quotas by park (highest of its enterprises; how many over, "
                     "forecast over)",
                     "Energy per unit of product against its limit levels (kgce/unit, "
                     "last month)"}  # fmt: skip
    ran = 0
    for name, board in _boards().items():
        queries = [(p["title"], t["query"], p) for p, t in _targets(board)
                   if "query" in t]  # fmt: skip
        queries += [(a["name"], a["query"], {}) for a in board.get("annotations", {})
                    .get("list", []) if "query" in a]  # fmt: skip
        for title_, query, panel in queries:
            start, end = expand.panel_range_ms(panel, board["time"]["from"], now_ms=now,
                                               zone=zone)  # fmt: skip
            text = expand.influxql(query, variables=variables, from_ms=start, to_ms=end)
            series = api_park.store.query(text)  # raises on any InfluxQL error
            ran += 1
            if title_ not in empty_allowed:
                assert series and any(s.values for s in series), (
                    f"{name}: {title_}: no data\n{text}"
                )
    assert ran >= 20
    # A stat panel shows what it claims: the park's energy today is the stored 1d point.
    window = {"from_ms": expand.relative_ms("now/d", now_ms=now, zone=zone), "to_ms": now}
    board = _boards()["smartpark-park"]
    panel = next(p for p in board["panels"] if p["title"] == "Energy today")
    day = datetime.now(UTC).astimezone(datetime.now().astimezone().tzinfo)
    text = expand.influxql(panel["targets"][0]["query"], variables=variables, **window)
    shown = api_park.store.query(text)[0].values[-1][1]
    stored = api_park.store.query(
        Select("kpi", ["energy_tce"], tags={"scope": "_park", "window": "1d"},
               start=day - timedelta(days=1)).to_influxql()
    )[0].values[-1][1]  # fmt: skip
    assert shown == pytest.approx(stored)


@pytest.fixture
def scraped(settings: Settings, tmp_path: Path) -> Iterator[Prometheus]:
    """The collector, processor and alert service with their status servers, scraped by a
    real Prometheus every second."""
    rules = tmp_path / "alerts.yaml"
    rules.write_text(yaml.safe_dump({"rules": [], "mqtt": False}))
    settings.alerts = settings.alerts.model_copy(update={"config": rules, "http_port": 0})
    collector = ingest_stage.build(settings)
    processing = processing_stage.build(settings)
    alerting = alerts_stage.build(settings)
    for stage in (collector, processing, alerting):
        stage.start()
    assert processing.status is not None and alerting.status is not None
    assert collector.http is not None
    ports = [collector.http.port, processing.status.port, alerting.status.port]
    prometheus = Prometheus(tmp_path / "prometheus", [f"127.0.0.1:{p}" for p in ports])
    prometheus.start()
    try:
        yield prometheus
    finally:
        prometheus.stop()
        for stage in (alerting, processing, collector):
            stage.stop()


def test_every_promql_panel_runs_on_the_services_metrics(
    scraped: Prometheus, settings: Settings, publisher: Any
) -> None:
    topic = f"{settings.mqtt.topic_root}/tianfu-np/e08-anode/electricity/e08-grid-1"
    for i in range(20):
        publisher.publish(
            topic, orjson.dumps({"ts": int(time.time() * 1000), "values": {"power_kw": i}})
        )
        time.sleep(0.2)
    publisher.publish(f"{settings.mqtt.topic_root}/tianfu-np/nobody/electricity/x", b"{}")
    board = _boards()["smartpark-health"]
    wait_until(
        lambda: httpx.get(f"{scraped.url}/api/v1/query", params={"query": "up"}).json()["data"]["result"],
        30, "scrapes",
    )  # fmt: skip

    def without_data() -> list[str]:
        """The panels whose query answers nothing yet (rates need two scrapes)."""
        now = int(time.time() * 1000)
        empty = []
        for panel, target in _targets(board):
            expr = expand.promql(target["expr"], from_ms=now - 120_000, to_ms=now, scrape_s=1)
            answer = httpx.get(
                f"{scraped.url}/api/v1/query_range",
                params={"query": expr, "start": (now - 120_000) / 1000, "end": now / 1000,
                        "step": 5},
            ).json()  # fmt: skip
            assert answer["status"] == "success", (panel["title"], answer)
            if not answer["data"]["result"]:
                empty.append(f"{panel['title']}: no data for {expr}")
        return empty

    wait_until(lambda: not without_data(), 30, "every panel's data")


class RecordingGrafana:
    """A real HTTP server that records requests and answers the few Grafana API calls
    ``push`` makes, keeping what was created (so a second push sees it)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, Any]] = []
        self.folders: set[str] = set()
        self.sources: set[str] = set()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, code: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                outer.requests.append((self.command, self.path, body))
                return body

            def do_GET(self) -> None:
                self._record()
                kind, _, uid = self.path.removeprefix("/api/").partition("/")
                if kind == "folders":
                    self._answer(200 if uid in outer.folders else 404, {"uid": uid})
                elif kind == "datasources":
                    uid = uid.removeprefix("uid/")
                    self._answer(200 if uid in outer.sources else 404, {"uid": uid})
                else:
                    self._answer(404, {})

            def do_POST(self) -> None:
                body = self._record()
                if self.path == "/api/folders":
                    outer.folders.add(body["uid"])
                elif self.path == "/api/datasources":
                    outer.sources.add(body["uid"])
                self._answer(200, {"status": "success"})

            def do_PUT(self) -> None:
                self._record()
                self._answer(200, {"status": "success"})

            def log_message(self, *args: Any) -> None:
                return

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_push_upserts_folder_datasources_and_dashboards_idempotently(park: Registry) -> None:
    grafana = RecordingGrafana()
    try:
        api = GrafanaApi.from_url(f"http://127.0.0.1:{grafana.port}", credential="test-token")
        sources = build.datasources(Settings())["datasources"]
        boards = list(build.dashboards(park, Settings()).values())
        first = push(api, datasources=sources, dashboards=boards)
        calls = [(m, p) for m, p, _ in grafana.requests]
        grafana.requests.clear()
        second = push(api, datasources=sources, dashboards=boards)
        again = [(m, p) for m, p, b in grafana.requests]
    finally:
        grafana.stop()
    assert first[0] == "folder smartpark: created" and second[0] == "folder smartpark: exists"
    assert ("POST", "/api/folders") in calls and ("POST", "/api/folders") not in again
    assert calls.count(("POST", "/api/datasources")) == 2
    assert again.count(("PUT", "/api/datasources/uid/smartpark-influxdb")) == 1
    dashboards = [b for m, p, b in grafana.requests if p == "/api/dashboards/db"]
    assert len(dashboards) == 6  # the park's four, the health board, the city's
    assert all(d["folderUid"] == "smartpark" and d["overwrite"] for d in dashboards)
    assert {d["dashboard"]["uid"] for d in dashboards} == {b["uid"] for b in boards}
