"""Processing benchmark: KPI engine throughput, and reading -> KPI freshness live.

    .venv/bin/python -m bench.bench_processing        # or: ./dev bench processing

  engine     10 M counter readings of the example park's 79 carrier meters (88 days
             at 1 minute) in memory -> use -> enterprise and park KPIs, per window
             size; median of 3 runs each; beside it, in the same run, the plainest
             polars computation of the core (each counter's deltas summed per sensor
             and window) on the same frame: engine / plain is the figure that carries
             over between hosts
  freshness  Mosquitto, InfluxDB, the collector and `smartpark process` (each its own
             process) on loopback; an hour of the simulated park replayed at 60x
             (a 1-minute window closes every second). For every window: from the
             moment its closing reading is published (the first reading at or past
             the window's end) to the moment the last of its 13 KPI updates (12
             enterprises and the park) arrives on MQTT, which the processor sends
             only after the points are written to InfluxDB.
  catchup    a year of 1-minute history of one new meter (525,600 readings in arrays
             of 60) backfilled while the live feed replays at 60x: the catch-up job's
             windows/s and readings/s (wall, and busy) beside the plain roll-up of the
             same period on the same store, and the live freshness meanwhile
             (``bench/catchup.py``).
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import orjson
import polars as pl

from bench.catchup import catchup
from bench.harness import CollectorProc
from devstack.servers import InfluxDB, Mosquitto, free_port
from processing.config import coefficients, load, load_factor_set
from processing.engine import Park, kpis
from simulators import recording
from simulators.scenario import at
from simulators.stream import ParkFeed
from smartpark import registry as registry_mod
from smartpark.mqtt import BoundedPublisher, connect, make_client
from smartpark.settings import (
    InfluxSettings,
    IngestSettings,
    MqttSettings,
    ProcessingSettings,
    Settings,
    to_env,
)
from smartpark.wire import kpi_filter

ROOT = Path(__file__).resolve().parent.parent

REGISTRY = ROOT / "examples" / "park.yaml"
CONFIG = ROOT / "examples" / "processing.yaml"
CST = timezone(timedelta(hours=8))


def engine(n: int, runs: int) -> dict:
    park_reg = registry_mod.load(REGISTRY)
    config = load(CONFIG)
    coef = coefficients(config, load_factor_set(config.factors))
    park = Park.from_registry(park_reg, "tianfu-np", config)
    sensors = park.meters["sensor"].to_list()
    per = n // len(sensors)
    start = int(datetime(2026, 9, 1, tzinfo=CST).timestamp() * 1000)
    rng = np.random.default_rng(1)
    # Plausible counters: each minute adds 5-60 % of the meter's rated use (register units).
    rated = park.meters["max_per_ms"].fill_null(2.0 / 60_000).to_numpy() * 60_000
    rated = rated / config.meters.tolerance
    steps = (rng.uniform(0.05, 0.6, size=(len(sensors), per)) * rated[:, None]).cumsum(axis=1)
    frame = pl.DataFrame(
        {
            "sensor": np.repeat(np.array(sensors), per),
            "ts": np.tile(start + np.arange(per, dtype=np.int64) * 60_000, len(sensors)),
            "value": steps.ravel(),
        }
    )
    print(
        f"engine: {frame.height:,} readings, {len(sensors)} meters, {per / 1440:.0f} days at 1 minute"
    )
    rates, base, ratios = {}, {}, {}
    for window in ("1m", "15m", "1h", "1d", "1mo"):
        times, plain = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            out = kpis(frame, park, config, coef, window=window)
            times.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            baseline(frame, window)
            plain.append(time.perf_counter() - t0)
        rates[window] = frame.height / statistics.median(times)
        base[window] = frame.height / statistics.median(plain)
        ratios[window] = rates[window] / base[window]
        print(
            f"  window {window:>3}: {out.height:>9,} KPI rows, median {statistics.median(times):.2f}s = {rates[window] / 1e6:.1f} M readings/s; "
            f"plain polars deltas per sensor and window {base[window] / 1e6:.1f} M readings/s; engine / plain = {ratios[window]:.2f}"
        )
    # Pro rata (methods.interval_boundary): every interval of minute-aligned readings ends
    # on a window boundary, so each one is cut or moved: the worst case for 1-minute windows.
    pro = config.model_copy(
        update={"methods": config.methods.model_copy(update={"interval_boundary": "pro_rata"})}
    )
    pro_park = Park.from_registry(park_reg, "tianfu-np", pro)
    pro_ratios = {}
    for window in ("1m", "1h", "1d"):
        times = []
        for _ in range(runs):
            t0 = time.perf_counter()
            kpis(frame, pro_park, pro, coef, window=window)
            times.append(time.perf_counter() - t0)
        pro_ratios[window] = frame.height / statistics.median(times) / base[window]
        print(
            f"  pro rata {window:>3}: median {statistics.median(times):.2f}s; engine pro rata / plain = {pro_ratios[window]:.2f}"
        )
    return {
        "engine_readings": frame.height,
        "engine_vs_plain_polars": {k: round(v, 2) for k, v in ratios.items()},
        "engine_pro_rata_vs_plain_polars": {k: round(v, 2) for k, v in pro_ratios.items()},
        "on_this_host": {
            "engine_readings_per_s_by_window": {k: round(v) for k, v in rates.items()},
            "plain_polars_readings_per_s_by_window": {k: round(v) for k, v in base.items()},
        },
    }


def baseline(frame: pl.DataFrame, window: str) -> pl.DataFrame:
    """The plainest polars computation of the same thing's core: each counter's deltas,
    summed per sensor and window. No validation, rollovers, outliers, carriers or KPIs."""
    return (
        frame.sort("sensor", "ts")
        .with_columns(
            use=pl.col("value").diff().over("sensor"),
            window=pl.from_epoch("ts", time_unit="ms").dt.truncate(window),
        )
        .group_by("sensor", "window")
        .agg(pl.col("use").sum())
    )


class KpiWatch:
    """Arrival time of the last KPI update (revision 0) of each 1-minute window."""

    def __init__(self, settings: MqttSettings, scopes: int) -> None:
        self.scopes = scopes
        self.seen: dict[int, int] = {}
        self.done: dict[int, float] = {}
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = make_client(settings, client_id="bench-kpi-watch")
        self.client.on_connect = lambda c, *_: c.subscribe(kpi_filter(settings.topic_root), qos=1)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = self.on_message
        connect(self.client, settings, persistent=False)
        self.client.loop_start()

    def on_message(self, _c, _u, msg) -> None:
        now = time.monotonic()
        body = orjson.loads(msg.payload)
        if body["window"] != "1m" or body["revision"] != 0:
            return
        with self.lock:
            start = body["start_ms"]
            self.seen[start] = self.seen.get(start, 0) + 1
            if self.seen[start] == self.scopes:
                self.done[start] = now

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def freshness(work: Path, minutes: int, speed: float) -> dict:
    broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
    broker.start()
    influx.start()
    procs = []
    try:
        settings = Settings(
            mqtt=MqttSettings(port=broker.port, topic_root="bench", client_id="bench-collector"),
            influx=InfluxSettings(url=influx.url, database="bench"),
            ingest=IngestSettings(
                registry=REGISTRY, spool_dir=work / "spool", http_port=free_port()
            ),
            processing=ProcessingSettings(
                config=CONFIG, http_port=free_port(), state_dir=work / "processing"
            ),
        )
        collector = CollectorProc(settings, work / "collector.log")
        procs.append(collector)
        log = (work / "processor.log").open("ab")
        processor = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "smartpark",
                "process",
                "--config",
                str(CONFIG),
                "--log-level",
                "WARNING",
            ],
            env=os.environ | to_env(settings),
            stdout=log,
            stderr=log,
            cwd=ROOT,
        )
        park = registry_mod.load(REGISTRY)
        watch = KpiWatch(settings.mqtt, scopes=len(park.parks["tianfu-np"].enterprises) + 1)
        assert watch.ready.wait(10)
        time.sleep(3)  # the processor subscribes (it rebuilds from an empty store first)
        start = datetime(2026, 11, 3, 8, tzinfo=CST)
        scenario = at(start, minutes / 1440, seed=5, latency_ms=[0, 0])
        feed = ParkFeed(park, scenario, root="bench")
        messages = [
            m
            for f in feed.frames(scenario.start_ms, scenario.end_ms)
            for m in recording.frame_messages(f)
        ]
        publisher = BoundedPublisher(settings.mqtt, client_id="bench-feed", persistent=False)
        assert publisher.wait_connected(10)
        closed: dict[int, float] = {}  # window start -> when its closing reading was published
        t0 = time.monotonic()
        for m in messages:
            due = t0 + (m.t_ms - messages[0].t_ms) / 1000 / speed
            while (wait := due - time.monotonic()) > 0:
                time.sleep(min(wait, 0.05))
            ts = orjson.loads(m.payload)["ts"]
            if ts - 60_000 not in closed and ts > messages[0].t_ms:
                closed[ts - 60_000] = time.monotonic()
            publisher.publish(m.topic, m.payload)
        publisher.wait_all(30)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(watch.done) < len(closed):
            time.sleep(0.1)
        watch.close()
        publisher.close()
        lat = sorted((watch.done[w] - closed[w]) * 1000 for w in closed if w in watch.done)
        missing = len(closed) - len(lat)
        processor.send_signal(signal.SIGTERM)
        processor.wait(30)
        log.close()
        p50 = lat[len(lat) // 2]
        p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
        print(
            f"freshness: {len(lat)} one-minute windows ({minutes} simulated minutes at {speed:.0f}x, "
            f"{len(messages):,} messages): window close -> all 13 KPI points stored and published "
            f"p50 {p50:.0f} ms, p99 {p99:.0f} ms, max {lat[-1]:.0f} ms; windows without KPIs: {missing}"
        )
        return {
            "freshness_p50_ms": round(p50),
            "freshness_p99_ms": round(p99),
            "freshness_max_ms": round(lat[-1]),
            "freshness_windows": len(lat),
            "freshness_missing": missing,
        }
    finally:
        for proc in procs:
            proc.stop()
        broker.stop()
        influx.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--minutes", type=int, default=60, help="simulated minutes replayed")
    parser.add_argument(
        "--speed", type=float, default=60.0, help="live replay speed (freshness and catch-up)"
    )
    parser.add_argument("--backfill-days", type=int, default=365, help="catch-up: days backfilled")
    parser.add_argument(
        "--sections", default="engine,freshness,catchup", help="comma-separated sections to run"
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    figures: dict = {}
    if "engine" in sections:
        figures |= engine(args.readings, args.runs)
    if "freshness" in sections:
        figures |= freshness(
            Path(tempfile.mkdtemp(prefix="smartpark-bench-proc-")), args.minutes, args.speed
        )
    if "catchup" in sections:
        figures |= catchup(
            Path(tempfile.mkdtemp(prefix="smartpark-bench-catchup-")),
            registry_path=REGISTRY,
            config_path=CONFIG,
            days=args.backfill_days,
            watch_cls=KpiWatch,
            speed=args.speed,
        )
    figures["cores"] = os.cpu_count()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
