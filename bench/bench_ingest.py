"""Ingest benchmark: the collector's capacity, beside baselines measured in the same run.

    .venv/bin/python -m bench.bench_ingest            # or: ./dev bench

Starts Mosquitto and InfluxDB on loopback, then measures in one run:
  ceiling   pre-built 5,000-line batches POSTed straight to InfluxDB /write
  drain     the collector's capacity without the publishers: N readings are published
            while the collector is stopped (the broker queues them for its persistent
            session), then the collector is started and timed from its first message to
            the last reading stored; single-reading messages and gateway arrays of 50
  bare      the same pre-filled queue drained by a bare paho QoS 1 subscriber (its own
            process, same protocol and receive maximum, auto-ack, no work): its drain
            rate and CPU per message are the baseline of the collector's
  latency   single-reading messages at 25, 50 and 75 % of the measured single drain
            rate from the publisher processes (each its share of the meters), reading
            ts = publish time; publish -> durable from the collector's lag histogram
For every phase the readings in InfluxDB are counted against those published. The
collector runs as its own process (``smartpark collect``); its CPU time and peak RSS are
read from /proc. The last line is one JSON object with the figures, the baselines and
the ratios (hosts here differ 3x from day to day: the ratios are what carries over).
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from bench.harness import CollectorProc, bare_drain, bare_session
from devstack.servers import InfluxDB, Mosquitto, free_port
from smartpark import registry as registry_mod
from smartpark.mqtt import BoundedPublisher
from smartpark.settings import InfluxSettings, IngestSettings, MqttSettings, Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.store.influxql import Select
from smartpark.wire import topic_for

ROOT = Path(__file__).resolve().parent.parent

REGISTRY = ROOT / "examples" / "park.yaml"


def _meters(root: str) -> list[str]:
    park = registry_mod.load(REGISTRY)
    return [topic_for(root, s.ref) for s in park.sensors() if s.ref.kind == "electricity"]


def _publisher_proc(settings: Settings, topics: list[str], job: dict, ready, go, results) -> None:
    """Child process: build its messages, wait for the start signal, publish them all."""
    per_msg, base_ms, worker, workers, total = (
        job[k] for k in ("per_msg", "base_ms", "worker", "workers", "total")
    )
    m = len(topics)
    # Worker w takes every workers-th message; each message holds one sensor's readings.
    msgs: list[tuple[str, bytes]] = []
    if per_msg == 1:
        for i in range(worker, total, workers):
            msgs.append(
                (
                    topics[i % m],
                    orjson.dumps(
                        {
                            "ts": base_ms + i // m,
                            "values": {"energy_kwh": float(i), "power_kw": 1.5},
                        }
                    ),
                )
            )
    else:
        # batches: message j holds readings of sensor j % m, ts base + (j // m) * per_msg + k
        n_msgs = total // per_msg
        for j in range(worker, n_msgs, workers):
            sensor, block = j % m, j // m
            readings = [
                {
                    "ts": base_ms + block * per_msg + k,
                    "values": {"energy_kwh": float(j * per_msg + k), "power_kw": 1.5},
                }
                for k in range(per_msg)
            ]
            msgs.append((topics[sensor], orjson.dumps(readings)))
    pub = BoundedPublisher(
        settings.mqtt, client_id=f"bench-pub-{os.getpid()}", max_unacked=20_000, persistent=False
    )
    pub.wait_connected(10)
    ready.set()
    go.wait()
    t0 = time.monotonic()
    for topic, payload in msgs:
        pub.publish(topic, payload)
    pub.wait_all(600)
    results.put((worker, time.monotonic() - t0, len(msgs)))
    pub.close()


def quantile(
    before: list[tuple[float, float]], after: list[tuple[float, float]], q: float
) -> float:
    """Quantile in ms from cumulative bucket deltas, interpolated inside the bucket (like histogram_quantile)."""
    deltas = [(le, a - b) for (le, a), (_, b) in zip(after, before, strict=True)]
    total = deltas[-1][1]
    if total <= 0:
        return float("nan")
    rank = q * total
    prev_le, prev_count = 0.0, 0.0
    for le, count in deltas:
        if count >= rank:
            if le == float("inf"):
                return prev_le * 1000
            return (
                prev_le + (le - prev_le) * (rank - prev_count) / max(count - prev_count, 1e-9)
            ) * 1000
        prev_le, prev_count = le, count
    return float("nan")


def ceiling(influx_url: str, *, points: int, runs: int) -> float:
    """Raw InfluxDB write rate: pre-built 5,000-line batches POSTed on one connection."""
    http = httpx.Client(base_url=influx_url, timeout=60)
    http.post("/query", data={"q": 'CREATE DATABASE "ceiling"'})
    rates = []
    base = int(time.time() * 1000) - 3_000_000
    for run in range(runs):
        bodies = []
        for start in range(0, points, 5_000):
            lines = [
                f"electricity,enterprise=e01-baijiu,park=tianfu-np,sensor=m{i % 40} energy_kwh={float(i)!r},power_kw=1.5 {base + run * points + i // 40}"
                for i in range(start, start + 5_000)
            ]
            bodies.append("\n".join(lines).encode())
        t0 = time.perf_counter()
        for body in bodies:
            r = http.post("/write", params={"db": "ceiling", "precision": "ms"}, content=body)
            r.raise_for_status()
        rates.append(points / (time.perf_counter() - t0))
    http.close()
    return statistics.median(rates)


def count_range(store: Influx1Store, lo: int, hi: int) -> int:
    from datetime import UTC, datetime

    q = Select(
        "electricity",
        ["energy_kwh"],
        aggregate="count",
        start=datetime.fromtimestamp(lo / 1000, UTC),
        end=datetime.fromtimestamp((hi + 1) / 1000, UTC),
        retention_policy=store.raw_policy,
    )
    series = store.query(q.to_influxql())
    return int(series[0].values[0][1]) if series else 0


def prefill(
    settings: Settings, topics: list[str], *, total: int, per_msg: int, workers: int, base_ms: int
) -> float:
    """Publish ``total`` readings (``per_msg`` a message) from ``workers`` processes and
    wait until the broker acknowledged them all; returns the publishers' rate (msgs/s)."""
    ctx = mp.get_context("fork")
    ready = [ctx.Event() for _ in range(workers)]
    go, results = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(
            target=_publisher_proc,
            args=(
                settings,
                topics,
                {
                    "per_msg": per_msg,
                    "base_ms": base_ms,
                    "worker": w,
                    "workers": workers,
                    "total": total,
                },
                ready[w],
                go,
                results,
            ),
        )
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    for r in ready:
        r.wait(120)
    go.set()
    done = [results.get(timeout=900) for _ in procs]
    for p in procs:
        p.join(30)
    return sum(d[2] for d in done) / max(d[1] for d in done)


def collector_drain(
    settings: Settings, work: Path, store: Influx1Store, topics: list[str], *,
    total: int, per_msg: int, workers: int, base_ms: int,
) -> dict:  # fmt: skip
    """The collector's drain of a pre-filled session: from its first message to the last
    reading stored, wall and CPU time; then every reading counted in InfluxDB."""
    CollectorProc(settings, work / "collector.log").stop()  # its session, subscribed
    offered = prefill(settings, topics, total=total, per_msg=per_msg, workers=workers,
                      base_ms=base_ms)  # fmt: skip
    collector = CollectorProc(settings, work / "collector.log", wait=False)
    while True:  # the first message: the clock starts (as for the bare subscriber)
        stats = collector.stats_or_none()
        if stats is not None and stats["received"] > 0:
            break
        time.sleep(0.002)
    t0, cpu0, first = time.monotonic(), collector.cpu_s(), stats["received"]
    deadline = t0 + 900
    while collector.stats()["stored_readings"] < total and time.monotonic() < deadline:
        time.sleep(0.01)
    elapsed, cpu = time.monotonic() - t0, collector.cpu_s() - cpu0
    peak = collector.peak_rss_mb()
    collector.stop()
    stored = count_range(store, base_ms, base_ms + total)
    messages = total // per_msg
    taken = messages - first  # messages the collector took while the clock ran
    return {
        "readings": total, "messages": messages, "seconds": elapsed,
        "msgs_per_s": taken / elapsed, "readings_per_s": taken * per_msg / elapsed,
        "cpu_us_per_msg": cpu / taken * 1e6, "cpu_us_per_reading": cpu / (taken * per_msg) * 1e6,
        "prefill_msgs_per_s": offered, "stored": stored, "lost": max(total - stored, 0),
        "duplicated": max(stored - total, 0), "peak_rss_mb": peak,
    }  # fmt: skip


def bare_baseline(
    settings: Settings, topics: list[str], *, total: int, per_msg: int, workers: int, base_ms: int
) -> dict:
    """A bare paho subscriber on the same pre-filled queue (topics under another root, so
    the collector's session does not queue them too)."""
    root = "bare"
    mqtt = settings.mqtt.model_copy(update={"topic_root": root})
    bare_settings = settings.model_copy(update={"mqtt": mqtt})
    bare_topics = [root + t[t.index("/") :] for t in topics]
    bare_session(mqtt, "bench-bare", f"{root}/#")
    prefill(bare_settings, bare_topics, total=total, per_msg=per_msg, workers=workers,
            base_ms=base_ms)  # fmt: skip
    got = bare_drain(mqtt, "bench-bare", total // per_msg)
    n = got["messages"] - 1  # the clock starts at the first message
    return {
        "messages": got["messages"], "seconds": got["seconds"],
        "msgs_per_s": n / got["seconds"], "cpu_us_per_msg": got["cpu_s"] / n * 1e6,
    }  # fmt: skip


def _paced_publisher(
    settings: Settings, topics: list[str], rate: float, seconds: float, out
) -> None:
    """Child process: single-reading messages at ``rate``, reading ts = publish time."""
    pub = BoundedPublisher(
        settings.mqtt, client_id=f"bench-latency-{os.getpid()}", max_unacked=20_000,
        persistent=False,
    )  # fmt: skip
    pub.wait_connected(10)
    m = len(topics)
    last_ts = [0] * m
    n = int(rate * seconds)
    lo = hi = 0
    t0 = time.monotonic()
    for i in range(n):
        delay = t0 + i / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        s = i % m
        ts = max(time.time_ns() // 1_000_000, last_ts[s] + 1)
        last_ts[s] = ts
        lo = lo or ts
        hi = max(hi, ts)
        pub.publish(
            topics[s], orjson.dumps({"ts": ts, "values": {"energy_kwh": float(i), "power_kw": 1.0}})
        )
    achieved = n / (time.monotonic() - t0)
    pub.wait_all(120)
    pub.close()
    out.put((n, lo, hi, achieved))


def run_latency(
    settings: Settings,
    collector: CollectorProc,
    store: Influx1Store,
    topics: list[str],
    *,
    rate: int,
    seconds: float,
    publishers: int,
) -> dict:
    """``rate`` single-reading messages/s from ``publishers`` processes (each its own share
    of the meters), publish -> durable from the collector's lag histogram."""
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_paced_publisher,
                    args=(settings, topics[w::publishers], rate / publishers, seconds, out))
        for w in range(publishers)
    ]  # fmt: skip
    before = collector.lag_buckets()
    stored0 = collector.stats()["stored_readings"]
    busy0 = host_cpu()
    for p in procs:
        p.start()
    done = [out.get(timeout=seconds + 180) for _ in procs]
    busy1 = host_cpu()
    for p in procs:
        p.join(30)
    n = sum(d[0] for d in done)
    lo, hi = min(d[1] for d in done), max(d[2] for d in done)
    deadline = time.monotonic() + 60
    while collector.stats()["stored_readings"] - stored0 < n and time.monotonic() < deadline:
        time.sleep(0.02)
    after = collector.lag_buckets()
    time.sleep(0.5)
    stored = count_range(store, lo, hi)
    return {
        "offered_msgs_per_s": rate,
        "achieved_msgs_per_s": sum(d[3] for d in done),
        "messages": n,
        "stored": stored,
        "lost": max(n - stored, 0),
        "latency_p50_ms": quantile(before, after, 0.50),
        "latency_p99_ms": quantile(before, after, 0.99),
        "host_cpu_busy": (busy1[0] - busy0[0]) / max(busy1[1] - busy0[1], 1),
    }


def host_cpu() -> tuple[int, int]:
    """(busy, total) jiffies of all cores from /proc/stat: how much of the host was used."""
    fields = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--single", type=int, default=200_000, help="single-reading messages")
    parser.add_argument(
        "--batched", type=int, default=1_000_000, help="readings in 50-reading messages"
    )
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes (pre-fill)")
    parser.add_argument(
        "--fractions", default="0.25,0.5,0.75", help="latency runs: of the drain rate"
    )
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="smartpark-bench-"))
    broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
    broker.start()
    influx.start()
    try:
        print(f"servers: mosquitto :{broker.port}, influxdb :{influx.port}, work dir {work}")
        ceil = ceiling(influx.url, points=500_000, runs=3)
        print(
            f"ceiling: raw InfluxDB /write, 5,000-line batches: {ceil:,.0f} points/s (median of 3)"
        )

        settings = Settings(
            mqtt=MqttSettings(port=broker.port, topic_root="bench", client_id="bench-collector"),
            influx=InfluxSettings(url=influx.url, database="bench"),
            ingest=IngestSettings(
                registry=REGISTRY, spool_dir=work / "spool", http_port=free_port()
            ),
        )
        store = Influx1Store(url=influx.url, database="bench")
        store.ensure_database()
        topics = _meters("bench")
        now = int(time.time() * 1000)
        n_batched = args.batched - args.batched % (50 * len(topics))
        common = {"workers": args.publishers}

        bare1 = bare_baseline(settings, topics, total=args.single, per_msg=1,
                              base_ms=now - 50 * 86_400_000, **common)  # fmt: skip
        print(f"bare subscriber, single-reading messages: {bare1['msgs_per_s']:,.0f} msgs/s, "
              f"CPU {bare1['cpu_us_per_msg']:.1f} us/msg")  # fmt: skip
        single = collector_drain(settings, work, store, topics, total=args.single, per_msg=1,
                                 base_ms=now - 40 * 86_400_000, **common)  # fmt: skip
        print(
            f"collector drain, single-reading messages: {single['msgs_per_s']:,.0f} msgs/s "
            f"({single['msgs_per_s'] / bare1['msgs_per_s']:.2f} x bare), CPU "
            f"{single['cpu_us_per_msg']:.1f} us/msg ({single['cpu_us_per_msg'] / bare1['cpu_us_per_msg']:.2f} x bare); "
            f"lost {single['lost']} duplicated {single['duplicated']}"
        )
        bare50 = bare_baseline(settings, topics, total=n_batched, per_msg=50,
                               base_ms=now - 35 * 86_400_000, **common)  # fmt: skip
        print(f"bare subscriber, 50-reading messages: {bare50['msgs_per_s']:,.0f} msgs/s, "
              f"CPU {bare50['cpu_us_per_msg']:.1f} us/msg")  # fmt: skip
        batch = collector_drain(settings, work, store, topics, total=n_batched, per_msg=50,
                                base_ms=now - 30 * 86_400_000, **common)  # fmt: skip
        print(
            f"collector drain, 50-reading messages: {batch['readings_per_s']:,.0f} readings/s "
            f"= {batch['readings_per_s'] / ceil:.0%} of the raw ceiling; {batch['msgs_per_s']:,.0f} msgs/s "
            f"({batch['msgs_per_s'] / bare50['msgs_per_s']:.2f} x bare); CPU {batch['cpu_us_per_reading']:.2f} us/reading; "
            f"lost {batch['lost']} duplicated {batch['duplicated']}"
        )

        collector = CollectorProc(settings, work / "collector.log")
        latency = []
        for fraction in (float(f) for f in args.fractions.split(",")):
            rate = int(single["msgs_per_s"] * fraction)
            res = run_latency(
                settings, collector, store, topics, rate=rate, seconds=args.latency_seconds,
                publishers=args.publishers,
            )  # fmt: skip
            res["fraction_of_drain"] = fraction
            # The one publisher could not keep the pace: the host's cores are spent (the
            # publisher, broker, collector and InfluxDB share them) and what is measured
            # is the publisher's own queue, not the collector's latency.
            res["generator_bound"] = res["achieved_msgs_per_s"] < 0.95 * rate
            latency.append(res)
            print(
                f"latency @ {fraction:.0%} of the drain rate = {rate:,} msgs/s offered "
                f"({res['achieved_msgs_per_s']:,.0f} achieved"
                f"{'; the publisher could not keep up: queueing in it' if res['generator_bound'] else ''}): "
                f"publish->durable p50 {res['latency_p50_ms']:.1f} ms, p99 {res['latency_p99_ms']:.1f} ms; "
                f"host CPU {res['host_cpu_busy']:.0%} busy; lost {res['lost']}"
            )
        peak_rss = max(collector.peak_rss_mb(), single["peak_rss_mb"], batch["peak_rss_mb"])
        print(f"collector peak RSS: {peak_rss:.1f} MB")
        collector.stop()
        store.close()
        at_half = min(latency, key=lambda r: abs(r["fraction_of_drain"] - 0.5))
        figures = {
            "ratios": {
                "cpu_per_msg_vs_bare": round(single["cpu_us_per_msg"] / bare1["cpu_us_per_msg"], 2),
                "drain_vs_bare": round(single["msgs_per_s"] / bare1["msgs_per_s"], 2),
                "batch_drain_vs_bare": round(batch["msgs_per_s"] / bare50["msgs_per_s"], 2),
                "batch_readings_vs_ceiling": round(batch["readings_per_s"] / ceil, 3),
            },
            "latency": [
                {
                    "fraction": r["fraction_of_drain"],
                    "offered": r["offered_msgs_per_s"],
                    "achieved": round(r["achieved_msgs_per_s"]),
                    "p50_ms": round(r["latency_p50_ms"], 1),
                    "p99_ms": round(r["latency_p99_ms"], 1),
                    "generator_bound": r["generator_bound"],
                    "host_cpu_busy": round(r["host_cpu_busy"], 2),
                }
                for r in latency
            ],
            "latency_p99_ms_at_half": round(at_half["latency_p99_ms"], 1),
            "on_this_host": {
                "single_drain_msgs_per_s": round(single["msgs_per_s"]),
                "bare_drain_msgs_per_s": round(bare1["msgs_per_s"]),
                "cpu_us_per_msg": round(single["cpu_us_per_msg"], 1),
                "bare_cpu_us_per_msg": round(bare1["cpu_us_per_msg"], 1),
                "batch_readings_per_s": round(batch["readings_per_s"]),
                "cpu_us_per_batched_reading": round(batch["cpu_us_per_reading"], 2),
                "influx_ceiling_points_per_s": round(ceil),
                "peak_rss_mb": round(peak_rss, 1),
            },
            "lost": single["lost"] + batch["lost"] + sum(r["lost"] for r in latency),
            "duplicated": single["duplicated"] + batch["duplicated"],
            "cores": os.cpu_count(),
        }
        print(orjson.dumps(figures).decode())
    finally:
        broker.stop()
        influx.stop()


if __name__ == "__main__":
    main()
