"""Simulator benchmark: feed generation to a file, and a simulated day backfilled for real.

    .venv/bin/python -m bench.bench_simulate          # or: ./dev bench simulate

  generate  the normal-week scenario (1.02 M readings, its faults on) written to a
            recording file; median of 3 runs; beside it, in the same run, writing the
            same pre-encoded lines to the same file (generation / write carries over)
  backfill  one day of the example park at 1-minute resolution (145,440 readings),
            published as fast as the broker takes it through the live collector
            (its own process) into InfluxDB on loopback, until every reading is
            queryable; once as single-reading messages, once as gateway arrays of 5.
            The ceiling for single-reading messages is one Python publisher
            (about 12-15k QoS 1 messages/s on 2 cores, measured in the same run).
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

from bench.harness import CollectorProc
from devstack.servers import InfluxDB, Mosquitto, free_port
from simulators import recording
from simulators.player import play
from simulators.scenario import load as load_scenario
from simulators.stream import ParkFeed
from smartpark import registry as registry_mod
from smartpark.clock import SystemClock
from smartpark.mqtt import BoundedPublisher
from smartpark.settings import InfluxSettings, IngestSettings, MqttSettings, Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.store.influxql import Select

ROOT = Path(__file__).resolve().parent.parent

REGISTRY = ROOT / "examples" / "park.yaml"
NORMAL_WEEK = ROOT / "examples" / "scenarios" / "normal-week.yaml"


def generate(work: Path, runs: int) -> dict:
    park = registry_mod.load(REGISTRY)
    scenario = load_scenario(NORMAL_WEEK)
    rates, sizes, write_rates = [], [], []
    lines: list[bytes] = []
    for run in range(runs):
        out = work / f"week-{run}.jsonl"
        feed = ParkFeed(park, scenario, root="smartpark")
        written = recording.Written()
        t0 = time.perf_counter()
        with out.open("wb") as handle:
            handle.write(recording.header(source="bench", scenario=scenario.name))
            recording.write_frames(handle, feed.frames(scenario.start_ms, scenario.end_ms), written)
        elapsed = time.perf_counter() - t0
        rates.append(written.readings / elapsed)
        sizes.append(out.stat().st_size)
        print(
            f"generate run {run + 1}: {written.readings:,} readings in {written.messages:,} messages, "
            f"{elapsed:.2f}s = {written.readings / elapsed:,.0f} readings/s, {out.stat().st_size / 1e6:.0f} MB"
        )
        if not lines:
            lines = out.read_bytes().splitlines(keepends=True)
        # the baseline: the same pre-encoded lines written to the same file
        t0 = time.perf_counter()
        with out.open("wb") as handle:
            for line in lines:
                handle.write(line)
        write_rates.append(written.readings / (time.perf_counter() - t0))
        out.unlink()
    gen, write = statistics.median(rates), statistics.median(write_rates)
    print(
        f"baseline: the same {len(lines):,} pre-encoded lines written to the same file: "
        f"{write:,.0f} readings/s; generation / write = {gen / write:.2f}"
    )
    return {
        "generate_vs_write": round(gen / write, 3),
        "on_this_host": {
            "generate_readings_per_s": round(gen),
            "write_readings_per_s": round(write),
            "file_mb": round(sizes[0] / 1e6),
        },
    }


def _count(store: Influx1Store, kinds: dict[str, str]) -> int:
    total = 0
    for kind, field in kinds.items():
        series = store.query(
            Select(
                kind, [field], aggregate="count", retention_policy=store.raw_policy
            ).to_influxql()
        )
        total += int(series[0].values[0][1]) if series else 0
    return total


def backfill(settings: Settings, work: Path, *, batch: int, day_offset: int) -> dict:
    """One day through the live collector; wall time until every reading is queryable."""
    park = registry_mod.load(REGISTRY)
    base = load_scenario(NORMAL_WEEK)
    scenario = base.with_changes(start=base.start + timedelta(days=day_offset), days=1, batch=batch)
    scenario = scenario.model_copy(update={"faults": scenario.faults.off()})
    database = f"backfill_{batch}"
    settings = settings.model_copy(
        update={"influx": settings.influx.model_copy(update={"database": database})}
    )
    store = Influx1Store(url=settings.influx.url, database=database)
    store.ensure_database()
    collector = CollectorProc(settings, work / f"collector-{batch}.log")
    publisher = BoundedPublisher(
        settings.mqtt, client_id=f"bench-backfill-{batch}", persistent=False
    )
    assert publisher.wait_connected(10)
    feed = ParkFeed(park, scenario, root=settings.mqtt.topic_root)
    expected = feed.expected_readings(scenario.start_ms, scenario.end_ms)
    messages = [
        m
        for f in feed.frames(scenario.start_ms, scenario.end_ms)
        for m in recording.frame_messages(f)
    ]
    kinds = {s.ref.kind: next(iter(s.fields)) for s in park.sensors()}
    t0 = time.perf_counter()
    stats = play(iter(messages), publisher.publish, clock=SystemClock(), speed=None)
    publisher.wait_all(120)
    published_s = time.perf_counter() - t0
    deadline = time.monotonic() + 300
    while collector.stats()["stored_readings"] < expected and time.monotonic() < deadline:
        time.sleep(0.05)
    stored_s = time.perf_counter() - t0
    while _count(store, kinds) < expected and time.monotonic() < deadline:
        time.sleep(0.2)
    landed = _count(store, kinds)
    peak_rss = collector.peak_rss_mb()
    cpu_s = collector.cpu_s()
    collector.stop()
    publisher.close()
    store.close()
    result = {
        "batch": batch,
        "readings": expected,
        "messages": stats.messages,
        "published_s": round(published_s, 2),
        "stored_s": round(stored_s, 2),
        "readings_per_s": round(expected / stored_s),
        "publish_msgs_per_s": round(stats.messages / published_s),
        "lost": expected - landed,
        "collector_peak_rss_mb": round(peak_rss, 1),
        "collector_cpu_us_per_reading": round(cpu_s / expected * 1e6, 2),
    }
    print(
        f"backfill batch={batch}: {expected:,} readings in {stats.messages:,} messages; published in "
        f"{published_s:.2f}s ({result['publish_msgs_per_s']:,} msgs/s), all stored after {stored_s:.2f}s = "
        f"{result['readings_per_s']:,} readings/s; in InfluxDB {landed:,} (lost {result['lost']}); "
        f"collector CPU {result['collector_cpu_us_per_reading']} us/reading, peak RSS {peak_rss:.0f} MB"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="generation runs (median)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="smartpark-bench-sim-"))
    gen = generate(work, args.runs)
    broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
    broker.start()
    influx.start()
    try:
        settings = Settings(
            mqtt=MqttSettings(
                port=broker.port, topic_root="bench", client_id="bench-sim-collector"
            ),
            influx=InfluxSettings(url=influx.url, database="unused"),
            ingest=IngestSettings(
                registry=REGISTRY, spool_dir=work / "spool", http_port=free_port()
            ),
        )
        single = backfill(settings, work, batch=1, day_offset=0)
        arrays = backfill(settings, work, batch=5, day_offset=1)
    finally:
        broker.stop()
        influx.stop()
    figures = {
        "generate_vs_write": gen["generate_vs_write"],
        # single-reading backfill against the one publisher that feeds it (its ceiling)
        "backfill_vs_publisher": round(single["readings_per_s"] / single["publish_msgs_per_s"], 2),
        "on_this_host": {
            **gen["on_this_host"],
            "backfill_readings_per_s": single["readings_per_s"],
            "backfill_readings": single["readings"],
            "backfill_wall_s": single["stored_s"],
            "backfill_publish_msgs_per_s": single["publish_msgs_per_s"],
            "backfill_batch5_readings_per_s": arrays["readings_per_s"],
            "backfill_batch5_wall_s": arrays["stored_s"],
        },
        "lost": single["lost"] + arrays["lost"],
        "cores": os.cpu_count(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
