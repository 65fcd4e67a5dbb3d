"""API benchmark: an enterprise's scorecard, 30 days of its daily KPIs and its latest
readings under 32 concurrent clients, beside the same InfluxQL sent straight to InfluxDB.

    .venv/bin/python -m bench.bench_api [--seconds 20] [--clients 32]     # or: ./dev bench api

InfluxDB and Mosquitto on loopback; 31 days of e08-anode's meters at 15 minutes written
to InfluxDB and rolled up into daily and monthly KPI points by the processing jobs;
``smartpark api run`` (uvicorn, its own process). For each endpoint, ``--clients``
asyncio clients with an enterprise key for ``--seconds``; then, as the baseline, the same
clients send the InfluxQL statements that endpoint runs (recorded from the API's own read
code against the same store) straight to InfluxDB's ``/query``, one after another per
request. The API's overhead is the ratio of the p99s (target: API p99 <= 2 x raw p99 +
5 ms, 0 errors). The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import httpx

from api.keys import Caller, KeyStore
from api.reads import Reads, split
from api.routes import kpis as kpi_routes
from api.scope import EnterpriseScope, ParkScope
from bench.harness import Recording
from devstack.servers import InfluxDB, Mosquitto, free_port
from processing import app as processing_stage
from smartpark import registry as registry_mod
from smartpark.clock import SystemClock
from smartpark.settings import (
    ApiSettings,
    InfluxSettings,
    MqttSettings,
    ProcessingSettings,
    Settings,
    to_env,
)
from smartpark.store import open_store
from smartpark.store.lineprotocol import encode_point

ROOT = Path(__file__).resolve().parent.parent

REGISTRY = ROOT / "examples" / "park.yaml"
ENTERPRISE = "e08-anode"
COUNTERS = {"electricity": "energy_kwh", "pv": "energy_kwh", "gas": "volume_m3",
            "production": "output", "water": "volume_m3"}  # fmt: skip


def fill(settings: Settings, days: int) -> None:
    registry = registry_mod.load(REGISTRY)
    store = open_store(settings.influx)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = now - timedelta(days=days)
    lines = []
    sensors = [s for s in registry.sensors() if s.ref.enterprise == ENTERPRISE]
    for s in sensors:
        value = 1000.0
        for i in range(days * 96 + 1):
            ts = int((start + timedelta(minutes=15 * i)).timestamp() * 1000)
            values: dict[str, float] = {}
            if s.ref.kind in COUNTERS:
                value += (s.spec.rated_per_h or 100) * 0.25 * 0.5 / s.spec.multiplier
                values[COUNTERS[s.ref.kind]] = round(value, 3)
            if s.ref.kind == "emissions":
                values = {"o2_pct": 5.0, "nox_mg_m3": 20.0, "so2_mg_m3": 1.0, "pm_mg_m3": 1.0}
            tags = {"park": s.ref.park, "enterprise": s.ref.enterprise, "sensor": s.ref.sensor}
            lines.append(encode_point(s.ref.kind, tags, values, ts))
    for i in range(0, len(lines), 5000):
        store.write("\n".join(lines[i : i + 5000]).encode())
    store.close()
    setup = processing_stage.load(settings)
    jobs = processing_stage.jobs(setup, settings, clock=SystemClock())
    local = now.astimezone(jobs.zone)
    jobs.rollup("1d", (local - timedelta(days=days)).replace(hour=0), local + timedelta(days=1))
    jobs.rollup(
        "1mo", (local - timedelta(days=days)).replace(day=1, hour=0), local + timedelta(days=1)
    )
    jobs.store.close()
    open_windows(settings, registry, datetime.now(UTC))


def open_windows(settings: Settings, registry: registry_mod.Registry, now: datetime) -> None:
    """Today's and this month's points as the live path leaves them between its minutes:
    open (``provisional``), complete to the last whole minute; so the scorecard compares
    them with last year's same span, as it does on a live park."""
    store = open_store(settings.influx)
    operator = Caller("bench", "bench", "operator", "tianfu-np", None)
    scope = EnterpriseScope.within(ParkScope.check(registry, operator, "tianfu-np"), ENTERPRISE)
    local = now.astimezone(ZoneInfo(registry.parks["tianfu-np"].timezone))
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    fields = {"provisional": True, "complete_to_ms": float(int(now.timestamp()) // 60 * 60_000)}
    reads = Reads(store, registry)
    for window, start in (("1d", day), ("1mo", day.replace(day=1))):
        row = reads.kpi_at(scope, window, start)
        assert row is not None, f"no {window} point at {start}"
        tags, _ = split(row)
        store.write(encode_point("kpi", tags, fields, row["time"]).encode())
    store.close()


async def hammer(url: str, headers: dict, clients: int, seconds: float, requests: list) -> dict:
    """``clients`` loops each sending ``requests`` (a list of (url, params)) in turn; the
    latency of one round of the list is one sample."""
    samples: list[float] = []
    errors = 0
    deadline = time.monotonic() + seconds

    async def one(client: httpx.AsyncClient) -> None:
        nonlocal errors
        while time.monotonic() < deadline:
            t0 = time.perf_counter()
            for path, params in requests:
                r = await client.get(url + path, params=params, headers=headers)
                if r.status_code != 200:
                    errors += 1
            samples.append((time.perf_counter() - t0) * 1000)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        await asyncio.gather(*(one(client) for _ in range(clients)))
    samples.sort()
    q = statistics.quantiles(samples, n=100)
    return {"requests": len(samples), "rps": len(samples) / seconds, "p50_ms": q[49],
            "p99_ms": q[98], "errors": errors}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--days", type=int, default=31)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="smartpark-bench-api-"))
    broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
    broker.start()
    influx.start()
    api_port = free_port()
    settings = Settings(
        mqtt=MqttSettings(port=broker.port, topic_root="bench"),
        influx=InfluxSettings(url=influx.url, database="bench"),
        processing=ProcessingSettings(config=ROOT / "examples" / "processing.yaml"),
        api=ApiSettings(port=api_port, keys_db=work / "api.db", rate_per_s=1e6, burst=1_000_000),
    )
    settings.park = settings.park.model_copy(update={"registry": REGISTRY})
    settings.alerts = settings.alerts.model_copy(update={"db": work / "alerts.db"})
    proc = None
    try:
        t0 = time.monotonic()
        fill(settings, args.days)
        print(f"filled {args.days} days of {ENTERPRISE} in {time.monotonic() - t0:.1f}s")
        keys = KeyStore(settings.api.keys_db)
        token = keys.create(
            role="enterprise", park="tianfu-np", enterprise=ENTERPRISE, name="bench"
        )
        keys.close()
        log = (work / "api.log").open("ab")
        proc = subprocess.Popen(
            [sys.executable, "-m", "smartpark", "api", "run", "--log-level", "WARNING"],
            env=os.environ | to_env(settings), stdout=log, stderr=log,
        )  # fmt: skip
        url = f"http://127.0.0.1:{api_port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        now = datetime.now(UTC)
        kpis = {"window": "1d", "start": (now - timedelta(days=30)).isoformat(),
                "end": now.isoformat()}  # fmt: skip
        endpoints = {
            "scorecard": (f"/v1/parks/tianfu-np/scopes/{ENTERPRISE}/scorecard", {}),
            "kpis_30d": (f"/v1/parks/tianfu-np/scopes/{ENTERPRISE}/kpis", kpis),
            "latest": (f"/v1/parks/tianfu-np/enterprises/{ENTERPRISE}/latest", {}),
        }
        # The statements each endpoint runs, recorded from the API's own read code.
        registry = registry_mod.load(REGISTRY)
        store = open_store(settings.influx)
        statements = {}
        operator = Caller("bench", "bench", "operator", "tianfu-np", None)
        park = ParkScope.check(registry, operator, "tianfu-np")
        scope = EnterpriseScope.within(park, ENTERPRISE)
        for name in endpoints:
            recorder = Recording(store)
            reads = Reads(recorder, registry)  # type: ignore[arg-type]
            if name == "latest":
                reads.latest(scope, now=now)
            elif name == "kpis_30d":
                reads.kpis(scope, "1d", now - timedelta(days=30), now, limit=5000)
            else:  # the route's own code, on the recording store
                card = kpi_routes.scorecard(scope, SimpleNamespace(reads=reads))  # type: ignore[arg-type]
                spans = [p for p in ("today", "month") if "last_year_span" in card[p]]
                print(f"scorecard: open windows compared over last year's same span: {spans}")
            statements[name] = recorder.statements
        store.close()
        headers = {"Authorization": f"Bearer {token}"}
        results: dict[str, dict] = {}
        for name, (path, params) in endpoints.items():
            api = asyncio.run(hammer(url, headers, args.clients, args.seconds, [(path, params)]))
            raw_requests = [
                ("/query", {"db": "bench", "q": q, "epoch": "ms"}) for q in statements[name]
            ]
            raw = asyncio.run(hammer(influx.url, {}, args.clients, args.seconds, raw_requests))
            results[name] = {"api": api, "raw": raw, "statements": len(statements[name])}
            print(
                f"{name:<10} API {api['rps']:7.0f} req/s  p50 {api['p50_ms']:7.1f} ms  "
                f"p99 {api['p99_ms']:7.1f} ms  errors {api['errors']}   |  raw InfluxQL "
                f"({len(statements[name])} statements) p50 {raw['p50_ms']:6.1f} ms  "
                f"p99 {raw['p99_ms']:6.1f} ms   ratio p99 {api['p99_ms'] / raw['p99_ms']:.2f}"
                f"  target <= {2 * raw['p99_ms'] + 5:.1f} ms"
            )
        figures = {
            "scorecard_p99_ms": round(results["scorecard"]["api"]["p99_ms"], 1),
            "kpis_30d_p99_ms": round(results["kpis_30d"]["api"]["p99_ms"], 1),
            "latest_p99_ms": round(results["latest"]["api"]["p99_ms"], 1),
            "raw_query_p99_ms": {k: round(v["raw"]["p99_ms"], 1) for k, v in results.items()},
            "p99_ratio": {
                k: round(v["api"]["p99_ms"] / v["raw"]["p99_ms"], 2) for k, v in results.items()
            },
            "within_target": {
                k: v["api"]["p99_ms"] <= 2 * v["raw"]["p99_ms"] + 5 for k, v in results.items()
            },
            "rps": {k: round(v["api"]["rps"]) for k, v in results.items()},
            "errors": sum(v["api"]["errors"] for v in results.values()),
            "clients": args.clients,
            "seconds": args.seconds,
        }
        print(json.dumps(figures))
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGTERM)
            proc.wait(30)
        influx.stop()
        broker.stop()


if __name__ == "__main__":
    main()
