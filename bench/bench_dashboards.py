"""Dashboard benchmark: every panel's queries over 30 days of the quota-breach month.

    .venv/bin/python -m bench.bench_dashboards [--runs 5] [--days 30]     # or: ./dev bench dashboards

InfluxDB on loopback; the ``quota-breach-month`` scenario (4.4 M readings, faults off)
written as the collector writes it, then rolled up by the processing jobs into what the
panels read (``kpi`` and ``sensor_use`` at 1 h, 1 d and 1 month, ``cems_hourly``,
``data_quality`` and ``quota`` per day). Then every InfluxQL query of every dashboard,
expanded as Grafana expands it for a 30-day range, ``--runs`` times each: p50 / p99 per
dashboard and the slowest panel. The raw write rate of the fill is printed beside them
(the ceiling of the same run). The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import orjson

from dashboards import build, expand
from devstack.servers import InfluxDB
from processing import app as processing_stage
from simulators import recording
from simulators import scenario as scenario_mod
from simulators.stream import ParkFeed
from smartpark import registry as registry_mod
from smartpark.clock import SystemClock
from smartpark.settings import InfluxSettings, ProcessingSettings, Settings
from smartpark.store import open_store
from smartpark.store.lineprotocol import encode_point

ROOT = Path(__file__).resolve().parent.parent

SCENARIO = ROOT / "examples" / "scenarios" / "quota-breach-month.yaml"


def fill(settings: Settings, days: float) -> tuple[int, float]:
    """Write the scenario's readings; (readings, seconds spent writing)."""
    scenario = scenario_mod.load(SCENARIO).with_changes(days=days)
    scenario = scenario.model_copy(update={"faults": scenario.faults.off()})
    registry = registry_mod.load(scenario.registry)
    feed = ParkFeed(registry, scenario, root="bench")
    store = open_store(settings.influx)
    written, write_s, lines = 0, 0.0, []
    for frame in feed.frames(scenario.start_ms, scenario.end_ms):
        for m in recording.frame_messages(frame):
            _root, park, enterprise, kind, sensor = m.topic.split("/")
            tags = {"park": park, "enterprise": enterprise, "sensor": sensor}
            body = orjson.loads(m.payload)
            for r in body if isinstance(body, list) else [body]:
                values = {k: float(v) for k, v in r["values"].items()}
                lines.append(encode_point(kind, tags, values, r["ts"]))
            if len(lines) >= 20_000:
                t0 = time.perf_counter()
                store.write("\n".join(lines).encode())
                write_s += time.perf_counter() - t0
                written += len(lines)
                lines = []
    if lines:
        t0 = time.perf_counter()
        store.write("\n".join(lines).encode())
        write_s += time.perf_counter() - t0
        written += len(lines)
    store.close()
    return written, write_s


def rollups(settings: Settings, days: float) -> None:
    scenario = scenario_mod.load(SCENARIO)
    setup = processing_stage.load(settings)
    jobs = processing_stage.jobs(setup, settings, clock=SystemClock())
    start = scenario.start.astimezone(jobs.zone)
    end = start + timedelta(days=days)
    for window in ("1h", "1d", "1mo"):
        t0 = time.perf_counter()
        jobs.rollup(window, start, end)
        print(f"  roll-up {window}: {time.perf_counter() - t0:.1f}s")
    jobs.cems_hourly(start, end)
    day = start
    while day < end:
        jobs.completeness(day.date())
        jobs.quota(day.date())
        day += timedelta(days=1)
    jobs.store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--days", type=float, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="smartpark-bench-dash-"))
    influx = InfluxDB(work / "influxdb")
    influx.start()
    settings = Settings(
        influx=InfluxSettings(url=influx.url, database="bench"),
        processing=ProcessingSettings(config=ROOT / "examples" / "processing.yaml"),
    )
    settings.park = settings.park.model_copy(update={"registry": ROOT / "examples" / "park.yaml"})
    try:
        t0 = time.perf_counter()
        readings, write_s = fill(settings, args.days)
        ceiling = readings / write_s
        print(f"filled {readings:,} readings in {time.perf_counter() - t0:.0f}s "
              f"(raw write rate {ceiling:,.0f} points/s)")  # fmt: skip
        rollups(settings, args.days)
        scenario = scenario_mod.load(SCENARIO)
        from_ms = scenario.start_ms
        to_ms = from_ms + int(args.days * 86_400_000)
        registry = registry_mod.load(ROOT / "examples" / "park.yaml")
        boards = build.dashboards(registry, settings)
        store = open_store(settings.influx)
        variables = {"park": "tianfu-np", "enterprise": "e08-anode"}
        per_board: dict[str, list[float]] = {}
        per_panel: dict[str, list[float]] = {}
        queries = 0
        for uid, board in boards.items():
            for panel in board["panels"]:
                for target in panel.get("targets", []):
                    if "query" not in target:
                        continue  # PromQL: Prometheus, not this benchmark
                    text = expand.influxql(target["query"], from_ms=from_ms, to_ms=to_ms,
                                           variables=variables)  # fmt: skip
                    queries += 1
                    for _ in range(args.runs):
                        t0 = time.perf_counter()
                        store.query(text)
                        ms = (time.perf_counter() - t0) * 1000
                        per_board.setdefault(uid, []).append(ms)
                        per_panel.setdefault(f"{uid}: {panel['title']}", []).append(ms)
        store.close()

        def p(values: list[float], q: int) -> float:
            return statistics.quantiles(values, n=100)[q - 1] if len(values) > 1 else values[0]

        for uid, values in per_board.items():
            print(f"{uid:<24} queries x runs {len(values):3d}  p50 {p(values, 50):7.1f} ms  "
                  f"p99 {p(values, 99):7.1f} ms")  # fmt: skip
        slowest = max(per_panel, key=lambda k: p(per_panel[k], 99))
        print(f"slowest panel: {slowest}  p99 {p(per_panel[slowest], 99):.1f} ms "
              f"(target <= 500 ms); raw write ceiling {ceiling:,.0f} points/s")  # fmt: skip
        print(json.dumps({
            "slowest_panel_p99_ms": round(p(per_panel[slowest], 99), 1),
            "slowest_panel": slowest,
            "panels": len(per_panel),
            "queries": queries,
            "runs": args.runs,
            "days": args.days,
            "readings": readings,
            "per_dashboard_p99_ms": {k: round(p(v, 99), 1) for k, v in per_board.items()},
            "raw_write_points_per_s": round(ceiling),
        }))  # fmt: skip
    finally:
        influx.stop()


if __name__ == "__main__":
    main()
