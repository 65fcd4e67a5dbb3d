"""Alert benchmark: over-limit reading -> webhook latency under background load, and
rule-evaluation throughput.

    .venv/bin/python -m bench.bench_alerts            # or: ./dev bench alerts

  evaluation  the example rules (examples/alerts.yaml) over 1 M readings of the example
              park in one process: readings/s through the rule engine
  latency     Mosquitto, InfluxDB and `smartpark alerts run` (its own process) on
              loopback; two publisher processes send 10,000 readings/s of ordinary
              (in-limit) readings of the park as gateway arrays of 10; meanwhile a probe
              sends one reading over a 7,500 kW limit, then one back under, every 0.5 s.
              Latency: from publishing the over-limit reading to its webhook call
              arriving at a real HTTP receiver (HMAC-signed, after the alert is in
              SQLite and its event queued for InfluxDB).
  bare path   the same load and probes through the plainest path, in the same run: a
              paho subscriber that POSTs the over-limit reading at once (no rules, no
              state, no outbox). What the service adds = its latency - the bare path's.
The last line is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import orjson
import yaml

from alerts.engine import Engine
from alerts.rules import load as load_rules
from devstack.servers import InfluxDB, Mosquitto, free_port
from smartpark import registry as registry_mod
from smartpark.mqtt import BoundedPublisher, connect, make_client
from smartpark.settings import AlertsSettings, InfluxSettings, MqttSettings, Settings, to_env
from smartpark.wire import readings_filter, topic_for

ROOT = Path(__file__).resolve().parent.parent

REGISTRY = ROOT / "examples" / "park.yaml"
RULES = ROOT / "examples" / "alerts.yaml"


def evaluation(n: int) -> dict:
    park = registry_mod.load(REGISTRY)
    engine = Engine(load_rules(RULES).rules, park)
    sensors = [s for s in park.sensors() if s.ref.kind in ("electricity", "gas", "pv")]
    t0 = time.perf_counter()
    now = int(time.time() * 1000)
    conditions = 0
    for i in range(n):
        s = sensors[i % len(sensors)]
        step = i // len(sensors)  # each sensor reads once a minute
        values = {
            "power_kw": 1000.0 + step % 5,
            "energy_kwh": float(step),
            "flow_m3h": 50.0,
            "volume_m3": float(step),
        }
        ts = now + step * 60_000
        conditions += len(engine.reading(s.ref, ts, values, ts))
    rate = n / (time.perf_counter() - t0)
    print(
        f"evaluation: {n:,} readings through {len(engine.rules)} rules: {rate:,.0f} readings/s ({conditions} conditions)"
    )
    return {"evaluation_readings_per_s": round(rate)}


def _background(
    settings: Settings, topics: list[str], rate: float, seconds: float, batch: int, results
) -> None:
    pub = BoundedPublisher(settings.mqtt, client_id=f"bench-bg-{os.getpid()}", persistent=False)
    pub.wait_connected(10)
    start = time.monotonic()
    sent = 0
    i = 0
    while (elapsed := time.monotonic() - start) < seconds:
        wait = start + sent / rate - time.monotonic()
        if wait > 0:
            time.sleep(min(wait, 0.01))
            continue
        now = int(time.time() * 1000)
        readings = [
            {"ts": now - batch + k, "values": {"power_kw": 1000.0 + k}} for k in range(batch)
        ]
        pub.publish(topics[i % len(topics)], orjson.dumps(readings))
        i += 1
        sent += batch
    pub.wait_all(30)
    results.put(sent / elapsed)
    pub.close()


class Rig:
    """Mosquitto, InfluxDB and a real HTTP receiver that notes when each probe's call
    arrives (by the probe's value)."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.broker, self.influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
        self.broker.start()
        self.influx.start()
        self.arrivals: dict[float, float] = {}
        lock = self.lock = threading.Lock()
        arrivals = self.arrivals

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = orjson.loads(self.rfile.read(int(self.headers["Content-Length"])))
                now = time.monotonic()
                self.send_response(200)
                self.end_headers()
                if body["event"] == "firing" and body["subject"] == "e08-grid-6":
                    with lock:
                        arrivals[body["value"]] = now

            def log_message(self, *args) -> None:
                return

        self.http_port = free_port()
        self.receiver = ThreadingHTTPServer(("127.0.0.1", self.http_port), Handler)
        threading.Thread(target=self.receiver.serve_forever, daemon=True).start()
        self.settings = Settings(
            mqtt=MqttSettings(port=self.broker.port, topic_root="bench", client_id="bench-alerts"),
            influx=InfluxSettings(url=self.influx.url, database="bench"),
        )

    def close(self) -> None:
        self.receiver.shutdown()
        self.broker.stop()
        self.influx.stop()


def measure(rig: Rig, *, rate: float, probes: int, batch: int, what: str) -> dict:
    """Background load from two publisher processes; a probe sends one reading over the
    limit, then one back under, every 0.5 s; latency: probe published -> call arrived."""
    with rig.lock:
        rig.arrivals.clear()
    park = registry_mod.load(REGISTRY)
    topics = [
        topic_for("bench", s.ref)
        for s in park.sensors()
        if s.ref.kind == "electricity" and s.ref.sensor != "e08-grid-6"
    ]
    seconds = probes * 0.5 + 4
    results: mp.Queue = mp.Queue()
    procs = [
        mp.Process(
            target=_background, args=(rig.settings, topics, rate / 2, seconds, batch, results)
        )
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    time.sleep(2)  # background at full rate first
    probe = BoundedPublisher(rig.settings.mqtt, client_id="bench-probe", persistent=False)
    probe.wait_connected(10)
    topic = "bench/tianfu-np/e08-anode/electricity/e08-grid-6"
    sent: dict[float, float] = {}
    for k in range(probes):
        value = 8000.0 + k
        now = int(time.time() * 1000)
        sent[value] = time.monotonic()
        probe.publish(topic, orjson.dumps({"ts": now, "values": {"power_kw": value}}))
        time.sleep(0.25)
        probe.publish(topic, orjson.dumps({"ts": now + 250, "values": {"power_kw": 6000.0}}))
        time.sleep(0.25)
    offered = sum(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join()
    time.sleep(2)
    probe.close()
    with rig.lock:
        lat = sorted((rig.arrivals[v] - t) * 1000 for v, t in sent.items() if v in rig.arrivals)
    missing = len(sent) - len(lat)
    p50 = statistics.median(lat)
    p99 = lat[min(len(lat) - 1, round(0.99 * (len(lat) - 1)))]
    print(
        f"{what}: {len(lat)} over-limit readings under {offered:,.0f} background readings/s "
        f"(arrays of {batch}): reading -> HTTP call p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {lat[-1]:.1f} ms; missing {missing}"
    )
    return {
        "p50_ms": round(p50, 1), "p99_ms": round(p99, 1), "max_ms": round(lat[-1], 1),
        "background_readings_per_s": round(offered), "probes": len(sent), "missing": missing,
    }  # fmt: skip


def _relay(mqtt: MqttSettings, url: str, ready) -> None:
    """The bare path: a paho subscriber to every reading that POSTs the over-limit probe
    straight away. No rules, no state, no outbox, no signature."""
    http = httpx.Client(timeout=10)

    def on_message(_c, _u, msg) -> None:
        if not msg.topic.endswith("/e08-grid-6"):
            return
        value = orjson.loads(msg.payload)["values"]["power_kw"]
        if value > 7500:
            body = {"event": "firing", "subject": "e08-grid-6", "value": value}
            http.post(url, content=orjson.dumps(body), headers={"Content-Type": "application/json"})

    client = make_client(mqtt, client_id="bench-bare-relay")
    client.on_connect = lambda c, *_: c.subscribe(readings_filter(mqtt.topic_root), qos=1)
    client.on_subscribe = lambda *_: ready.set()
    client.on_message = on_message
    connect(client, mqtt, persistent=False)
    client.loop_forever()


def bare_path(rig: Rig, *, rate: float, probes: int, batch: int) -> dict:
    ready = mp.Event()
    relay = mp.Process(
        target=_relay, args=(rig.settings.mqtt, f"http://127.0.0.1:{rig.http_port}/bare", ready)
    )
    relay.start()
    try:
        if not ready.wait(20):
            raise RuntimeError("the bare relay did not subscribe")
        return measure(rig, rate=rate, probes=probes, batch=batch, what="bare path (no rules)")
    finally:
        relay.terminate()
        relay.join(10)


def service_path(rig: Rig, *, rate: float, probes: int, batch: int) -> dict:
    work = rig.work
    config = yaml.safe_load(RULES.read_text())
    config["operator"] = []
    config["enterprises"] = {
        "e08-anode": [
            {"type": "webhook", "url": f"http://127.0.0.1:{rig.http_port}/e08", "secret": "e08"}
        ]
    }
    config["lifecycle"] = {"resolve_after_s": 0}
    for rule in config["rules"]:
        if rule["id"] == "grid-power-high":
            rule["for_s"] = 0  # fire on the first reading over the limit
    rules_path = work / "alerts.yaml"
    rules_path.write_text(yaml.safe_dump(config))
    settings = rig.settings.model_copy(
        update={
            "alerts": AlertsSettings(
                config=rules_path, db=work / "alerts.db",
                webhook_secrets={"e08": "bench-secret"}, http_port=free_port(),
            )
        }
    )  # fmt: skip
    env = os.environ | to_env(settings) | {"SMARTPARK_PARK__REGISTRY": str(REGISTRY)}
    log = (work / "alerts.log").open("ab")
    service = subprocess.Popen(
        [sys.executable, "-m", "smartpark", "alerts", "run", "--log-level", "WARNING"],
        env=env, stdout=log, stderr=log, cwd=ROOT,
    )  # fmt: skip
    try:
        time.sleep(3)  # the service connects and subscribes
        return measure(rig, rate=rate, probes=probes, batch=batch, what="alert service")
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(30)
        log.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--readings", type=int, default=1_000_000)
    parser.add_argument("--rate", type=float, default=10_000, help="background readings/s")
    parser.add_argument("--batch", type=int, default=10, help="readings per background message")
    parser.add_argument("--probes", type=int, default=100)
    args = parser.parse_args()
    evaluated = evaluation(args.readings)
    rig = Rig(Path(tempfile.mkdtemp(prefix="smartpark-bench-alerts-")))
    try:
        load = {"rate": args.rate, "probes": args.probes, "batch": args.batch}
        bare = bare_path(rig, **load)
        service = service_path(rig, **load)
    finally:
        rig.close()
    over = {q: round(service[f"{q}_ms"] - bare[f"{q}_ms"], 1) for q in ("p50", "p99")}
    print(f"the alert service adds p50 {over['p50']} ms, p99 {over['p99']} ms to the bare path")
    figures = {
        "added_over_bare_ms": over,
        "service": service,
        "bare": bare,
        "on_this_host": evaluated,
        "missing": service["missing"] + bare["missing"],
        "cores": os.cpu_count(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
