"""The catch-up section of the processing benchmark (``bench/bench_processing.py`` runs it: ``./dev bench processing``).

A year (``days``) of 1-minute history of one new meter (no live readings of its own) is
published in gateway arrays of 60 while the park's live feed replays (at 60x unless
``speed`` says otherwise: 1 is a park's real time); the
collector stores it, ``smartpark process`` (its own process, through the CLI) puts it in
its ledger and its catch-up job recomputes every window of it, rate-limited. Measured:

- the catch-up: windows and readings recomputed per second of wall time, from the
  backfill's first message to the empty ledger (what a user waits), and per second
  the job was busy (its batches, without the rate limit's pauses);
- its plain baseline, in the same run and on the same store: the roll-up of the same
  period (``Jobs.rollup`` per window size, what ``smartpark rollup`` runs);
- the live path's freshness while the catch-up runs (1-minute windows' closing reading
  to their last KPI update, as the freshness section).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import orjson

from bench.harness import CollectorProc
from devstack.servers import InfluxDB, Mosquitto, free_port
from processing import app as processing_app
from processing.engine import Park
from simulators import recording
from simulators.scenario import at
from simulators.stream import ParkFeed
from smartpark import registry as registry_mod
from smartpark.clock import SystemClock
from smartpark.mqtt import BoundedPublisher
from smartpark.settings import (
    InfluxSettings,
    IngestSettings,
    MqttSettings,
    ProcessingSettings,
    Settings,
    to_env,
)
from smartpark.wire import topic_for

CST = timezone(timedelta(hours=8))
PER_MESSAGE = 60
SIZES = ("1m", "15m", "1h", "1d")
BASELINE_S = 60.0  # live alone before the backfill: 60 one-minute windows at 60x


def _metrics(url: str) -> dict[str, float]:
    out = {}
    for line in httpx.get(url, timeout=5).text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def _latencies(
    done: dict[int, float], closed: dict[int, float], lo: float, hi: float
) -> list[float]:
    """Freshness (ms) of the 1-minute windows whose closing reading was sent in [lo, hi)."""
    return sorted((done[w] - t) * 1000 for w, t in closed.items() if w in done and lo <= t < hi)


def _quantile(values: list[float], q: float) -> int | None:
    """The ``q`` quantile in whole ms; None when no window closed (a short catch-up
    beside a live feed at 1x can end before the next minute does)."""
    if not values:
        return None
    return round(values[min(len(values) - 1, round(q * (len(values) - 1)))])


def _ms(value: int | None) -> str:
    return "n/a" if value is None else f"{value} ms"


def _backfill_meter(park: Park) -> tuple[str, str, float]:
    """(sensor, counter field, use per minute: 30 % of its rating) of an electricity meter."""
    meters = park.meters.filter(park.meters["kind"] == "electricity").sort("sensor")
    row = meters.row(0, named=True)
    per_min = float(row["max_per_ms"] or 2.0 / 60_000) * 60_000 * 0.3
    return row["sensor"], row["field"], per_min


def catchup(
    work: Path,
    *,
    registry_path: Path,
    config_path: Path,
    days: int,
    watch_cls: Any,
    speed: float = 60.0,
) -> dict:
    """Run the section; ``watch_cls`` is the freshness section's ``KpiWatch``."""
    broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
    broker.start()
    influx.start()
    config = work / "processing.yaml"
    config.write_text(config_path.read_text() + "\ncatchup_delay_s: 2\n")
    procs: list[Any] = []
    try:
        settings = Settings(
            mqtt=MqttSettings(port=broker.port, topic_root="bench", client_id="bench-collector"),
            influx=InfluxSettings(url=influx.url, database="bench"),
            ingest=IngestSettings(registry=registry_path, spool_dir=work / "spool",
                                  http_port=free_port()),
            processing=ProcessingSettings(config=config, http_port=free_port(),
                                          state_dir=work / "processing"),
        )  # fmt: skip
        collector = CollectorProc(settings, work / "collector.log")
        procs.append(collector)
        log = (work / "processor.log").open("ab")
        processor = subprocess.Popen(
            [sys.executable, "-m", "smartpark", "process", "--log-level", "WARNING"],
            env=os.environ | to_env(settings),
            stdout=log,
            stderr=log,
        )
        health = f"http://127.0.0.1:{settings.processing.http_port}/healthz"
        metrics = health.replace("/healthz", "/metrics")
        registry = registry_mod.load(registry_path)
        setup = processing_app.load(settings)
        park = Park.from_registry(registry, setup.park_id, setup.config)
        sensor, field, per_min = _backfill_meter(park)
        ref = next(s.ref for s in registry.sensors() if s.ref.sensor == sensor)
        topic = topic_for("bench", ref)
        watch = watch_cls(settings.mqtt, scopes=len(registry.parks[setup.park_id].enterprises) + 1)
        assert watch.ready.wait(10)
        time.sleep(3)
        # the live feed starts yesterday 08:00 (the backfill must stay within the
        # collector's accepted past, 400 days) and runs until the catch-up is done
        now = datetime.now(CST)
        live_start = (now - timedelta(days=1)).replace(hour=8, minute=0, second=0, microsecond=0)
        scenario = at(live_start, 1.0, seed=5, latency_ms=[0, 0])
        feed = ParkFeed(registry, scenario, root="bench")
        live = [m for f in feed.frames(scenario.start_ms, scenario.end_ms)
                for m in recording.frame_messages(f) if not m.topic.endswith("/" + sensor)]  # fmt: skip
        publisher = BoundedPublisher(settings.mqtt, client_id="bench-feed", persistent=False)
        assert publisher.wait_connected(10)
        closed: dict[int, float] = {}
        stop = threading.Event()
        live_started = threading.Event()

        def play_live() -> None:
            t0 = time.monotonic()
            for m in live:
                if stop.is_set():
                    return
                due = t0 + (m.t_ms - live[0].t_ms) / 1000 / speed
                while (wait := due - time.monotonic()) > 0:
                    time.sleep(min(wait, 0.05))
                ts = orjson.loads(m.payload)["ts"]
                if ts - 60_000 not in closed and ts > live[0].t_ms:
                    closed[ts - 60_000] = time.monotonic()
                publisher.publish(m.topic, m.payload)
                live_started.set()

        player = threading.Thread(target=play_live, daemon=True)
        player.start()
        assert live_started.wait(30)
        time.sleep(5)  # the processor's watermark is at the live feed
        quiet_from = time.monotonic()
        time.sleep(BASELINE_S)  # the live path's freshness without a backfill, same run
        # the backfill: one reading a minute for ``days`` up to two hours before the live
        # start (all of it beyond the lateness horizon, so all of it the ledger's)
        last = int(live_start.timestamp() * 1000) - 2 * 3_600_000
        first = last - days * 86_400_000
        n = days * 1440
        backfill = BoundedPublisher(settings.mqtt, client_id="bench-backfill", persistent=False)
        assert backfill.wait_connected(10)
        began = time.monotonic()
        for i in range(0, n, PER_MESSAGE):
            body = [
                {"ts": first + k * 60_000, "values": {field: round(1000.0 + k * per_min, 3)}}
                for k in range(i, min(n, i + PER_MESSAGE))
            ]
            backfill.publish(topic, orjson.dumps(body))
        assert backfill.wait_all(600)
        published_s = time.monotonic() - began
        # done: every backfilled reading taken (all are beyond the horizon), ledger empty;
        # or, should a few never reach the processor, the ledger empty and nothing new
        # taken for 15 s (the readings taken are reported)
        seen, still = -1, time.monotonic()
        while True:
            time.sleep(1)
            facts = httpx.get(health, timeout=5).json()
            taken, empty = facts["stats"]["readings_too_late"], facts["ledger"]["spans"] == 0
            if taken != seen or not empty:
                seen, still, done_s = taken, time.monotonic(), time.monotonic() - began
            if empty and (taken >= n or time.monotonic() - still > 15):
                done_s = time.monotonic() - began if taken >= n else done_s
                break
            assert time.monotonic() - began < 3 * 3600, "the catch-up did not finish"
        window_to = time.monotonic()
        stop.set()
        player.join(10)
        figures = _metrics(metrics)
        windows = figures["smartpark_processing_catchup_windows_total"]
        readings = figures["smartpark_processing_catchup_readings_total"]
        busy_s = figures["smartpark_processing_catchup_seconds_total"]
        lat = _latencies(watch.done, closed, began, window_to)
        quiet = _latencies(watch.done, closed, quiet_from, began)
        watch.close()
        publisher.close()
        backfill.close()
        processor.send_signal(signal.SIGTERM)
        processor.wait(60)
        log.close()
        # the plain baseline: the roll-up of the same period, on the same store
        jobs = processing_app.jobs(setup, settings, clock=SystemClock())
        lo = datetime.fromtimestamp(first / 1000, UTC)
        hi = datetime.fromtimestamp(last / 1000, UTC)
        t0 = time.perf_counter()
        plain_windows = 0
        for size in SIZES:
            day = lo
            while day < hi:  # a day at a time, as the catch-up batches
                nxt = min(hi, day + timedelta(days=1))
                jobs.rollup(size, day, nxt)
                day = nxt
            plain_windows += {"1m": 1440, "15m": 96, "1h": 24, "1d": 1}[size] * days
        plain_s = time.perf_counter() - t0
        jobs.store.close()
        p50, p99 = _quantile(lat, 0.5), _quantile(lat, 0.99)
        quiet_p50, quiet_p99 = _quantile(quiet, 0.5), _quantile(quiet, 0.99)
        out = {
            "catchup_days": days,
            "catchup_live_speed": speed,
            "catchup_backfill_readings": n,
            "catchup_backfill_readings_taken": int(seen),
            "catchup_published_s": round(published_s, 1),
            "catchup_done_s": round(done_s, 1),
            "catchup_windows": int(windows),
            "catchup_windows_per_s_wall": round(windows / done_s, 1),
            "catchup_readings_per_s_wall": round(readings / done_s),
            "catchup_windows_per_s_busy": round(windows / busy_s, 1),
            "catchup_readings_per_s_busy": round(readings / busy_s),
            # where the pieces' time went, in seconds (the rest of busy: the batches'
            # store reads and slicing outside the pieces)
            **{
                f"catchup_{part}_s": round(
                    figures[f"smartpark_processing_catchup_{part}_seconds_total"], 1
                )
                for part in ("wait", "compute", "write", "publish")
            },
            "rollup_windows_per_s": round(plain_windows / plain_s, 1),
            "rollup_readings_per_s": round(n / plain_s),
            "catchup_busy_vs_rollup": round((windows / busy_s) / (plain_windows / plain_s), 2),
            "freshness_during_catchup_p50_ms": p50,
            "freshness_during_catchup_p99_ms": p99,
            "freshness_during_catchup_windows": len(lat),
            "freshness_without_backfill_p50_ms": quiet_p50,
            "freshness_without_backfill_p99_ms": quiet_p99,
            "freshness_without_backfill_windows": len(quiet),
            "freshness_during_vs_without_p99": (
                round(p99 / quiet_p99, 2) if p99 is not None and quiet_p99 else None
            ),
            "catchup_windows_per_s_wall_vs_rollup": round(
                (windows / done_s) / (plain_windows / plain_s), 2
            ),
        }
        print(
            f"catch-up: {days} days of one new meter ({n:,} readings in arrays of {PER_MESSAGE}, "
            f"published in {published_s:.0f} s), ledger empty after {done_s:.0f} s: "
            f"{int(windows):,} windows, {windows / done_s:,.0f} windows/s and "
            f"{readings / done_s:,.0f} readings/s wall, {windows / busy_s:,.0f} windows/s and "
            f"{readings / busy_s:,.0f} readings/s busy; plain roll-up of the same period "
            f"{plain_windows / plain_s:,.0f} windows/s, {n / plain_s:,.0f} readings/s "
            f"(catch-up busy / roll-up = {out['catchup_busy_vs_rollup']}); live freshness "
            f"meanwhile p50 {_ms(p50)}, p99 {_ms(p99)} over {len(lat)} windows, without the "
            f"backfill (same run, the {BASELINE_S:.0f} s before it) p50 {_ms(quiet_p50)}, "
            f"p99 {_ms(quiet_p99)} over {len(quiet)} windows"
        )
        return out
    finally:
        for proc in procs:
            proc.stop()
        broker.stop()
        influx.stop()
