"""Scale: a city of parks on one machine, every service running, beside one park.

    python -m bench.scale [--parks 20] [--enterprises 10] [--meters 50] [--phase-s 90]

A registry of N parks x M electricity meters is generated (default 20 parks of 10
enterprises x 50 meters: 10,000 sensors; the parks in cities of 1, 4 and 15 parks). One
deployment runs on this machine as users run it: Mosquitto, InfluxDB, the collector,
``smartpark process`` (one processor per park under its supervisor), the alert service
(one threshold rule on every meter) and the API. Live feeds (``smartpark simulate fixed``,
timestamps now) publish at one reading per sensor a minute, then every 10 s, then every
second, ``--phase-s`` each. Per phase:

- CPU per reading of each stage (collector, processors, alert service, InfluxDB, the
  broker), from /proc, in microseconds of CPU per reading published;
- whether it was sustained: the processors' lag (now - the oldest park's watermark) at
  the end within the feed's round (it visits the parks in turn) + 15 s, and the
  collector's backlog (published - stored) at the end within 5 s of the feed and gone
  30 s after it;
- freshness: a park's 1-minute window's end to its last park KPI update, p50 and p99;
- the processors' memory (RSS) per 1,000 sensors.

The baseline is one park of the same shape in the same run, at the 10-second phase:
every figure is also given as a ratio to it. Then the city scorecard's latency for cities
of 1, 4 and 15 parks (median of 5), and storage: a separate InfluxDB with quick
compaction holds 100 meters x 7 days at one reading a minute and their roll-ups, and
the bytes per sensor-year on disk of each are printed.

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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import orjson
import yaml

from bench.harness import CLK_TCK, CollectorProc
from bench.storage import storage
from devstack.servers import InfluxDB, Mosquitto, free_port
from smartpark.httpserver import wait_connected
from smartpark.mqtt import connect, make_client
from smartpark.settings import (
    AlertsSettings,
    ApiSettings,
    InfluxSettings,
    IngestSettings,
    MqttSettings,
    ParkSettings,
    ProcessingSettings,
    Settings,
    to_env,
)

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "examples" / "park.yaml"
PY = sys.executable
CITY_SIZES = (1, 4, 15)  # parks per city; the rest of the parks go to the last city


# -- the generated deployment ----------------------------------------------------------


def registry_doc(parks: int, enterprises: int, meters: int) -> dict[str, Any]:
    """N parks like the example park (its targets and time zone), each of ``enterprises``
    enterprises of ``meters`` electricity meters; cities of 1, 4 and 15 parks."""
    doc = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    model = doc["parks"][0]
    plain = {k: v for k, v in model.items() if k not in ("mappings", "gateways", "enterprises")}
    ent_model = next(e for e in model["enterprises"] if e["id"] == "e08-anode")
    ent_plain = {k: v for k, v in ent_model.items() if k not in ("sensors", "product")}
    cities = [f"city{size}" for size in CITY_SIZES for _ in range(size)]
    out = []
    for p in range(parks):
        ents = [
            {**ent_plain, "id": f"e{e:02d}", "name": f"Enterprise {e}",
             "sensors": [{"id": f"e{e:02d}-m{m:03d}", "kind": "electricity",
                          "rollover": 999999.99, "rated_per_h": 300} for m in range(meters)]}
            for e in range(enterprises)
        ]  # fmt: skip
        city = cities[p] if p < len(cities) else cities[-1]
        out.append({**plain, "id": f"park{p:02d}", "name": f"Park {p}", "city": city,
                    "enterprises": ents})  # fmt: skip
    return {"version": 1, "parks": out}


def city_of(doc: dict[str, Any]) -> dict[str, list[str]]:
    cities: dict[str, list[str]] = {}
    for park in doc["parks"]:
        cities.setdefault(park["city"], []).append(park["id"])
    return cities


def write_registry(doc: dict[str, Any], path: Path) -> Path:
    path.write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return path


# -- processes and /proc -----------------------------------------------------------------


def _stat(pid: int) -> tuple[float, float]:
    """(CPU seconds, RSS MiB) of one process; (0, 0) when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (FileNotFoundError, ProcessLookupError):
        return 0.0, 0.0
    cpu = (int(fields[11]) + int(fields[12])) / CLK_TCK
    rss = int(fields[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    return cpu, rss


def children(pid: int) -> list[int]:
    out: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except FileNotFoundError:
            continue
    return out


class Stage:
    """A stage's processes (a supervisor counts with its children)."""

    def __init__(self, name: str, pid: int, *, with_children: bool = False) -> None:
        self.name, self.pid, self.with_children = name, pid, with_children

    def pids(self) -> list[int]:
        return [self.pid, *(children(self.pid) if self.with_children else [])]

    def cpu_s(self) -> float:
        return sum(_stat(p)[0] for p in self.pids())

    def rss_mb(self, *, children_only: bool = False) -> float:
        """Resident memory; ``children_only``: of the children (the park processors under
        their supervisor), or of the process itself when it has none (one park)."""
        pids = self.pids()
        if children_only and len(pids) > 1:
            pids = pids[1:]
        return sum(_stat(p)[1] for p in pids)


def _pid(server: Mosquitto | InfluxDB) -> int:
    assert server.proc is not None, f"{server.name} is not running"
    return server.proc.pid


def _service(argv: list[str], settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    return subprocess.Popen(
        [PY, "-m", "smartpark", *argv], env=os.environ | to_env(settings), stdout=out,
        stderr=out, cwd=ROOT,
    )  # fmt: skip


class ParkWatch:
    """Freshness: the arrival of the last park-scope update (revision 0) of each park's
    1-minute window, against the window's end on the wall clock (the feed is live)."""

    def __init__(self, mqtt: MqttSettings) -> None:
        self.late_ms: dict[tuple[str, int], float] = {}
        self.lock = threading.Lock()
        self.ready = threading.Event()
        self.client = make_client(mqtt, client_id="bench-scale-watch")
        topic = f"{mqtt.topic_root}/+/_park/_kpi"
        self.client.on_connect = lambda c, *_: c.subscribe(topic, qos=0)
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = self.on_message
        connect(self.client, mqtt, persistent=False)
        self.client.loop_start()

    def on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        now_ms = time.time() * 1000
        body = orjson.loads(msg.payload)
        if body.get("window") != "1m" or body.get("revision") != 0:
            return
        with self.lock:
            self.late_ms[(body["park"], int(body["start_ms"]))] = now_ms - int(body["end_ms"])

    def between(self, lo_ms: float, hi_ms: float) -> list[float]:
        with self.lock:
            return sorted(v for (_p, start), v in self.late_ms.items() if lo_ms <= start < hi_ms)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _pct(values: list[float], q: float) -> float | None:
    if not values:
        return None
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


class Deployment:
    """Every service of one registry on this machine's servers."""

    def __init__(self, work: Path, doc: dict[str, Any], broker: Mosquitto, influx: InfluxDB,
                 database: str) -> None:  # fmt: skip
        self.work, self.doc = work, doc
        work.mkdir(parents=True, exist_ok=True)
        registry = write_registry(doc, work / "parks.yaml")
        config = work / "processing.yaml"
        config.write_text("factors: cn\n", encoding="utf-8")
        rules = work / "alerts.yaml"
        rules.write_text(yaml.safe_dump({
            "rules": [{"id": "meter-busy", "type": "threshold", "field": "power_kw",
                       "above": 100_000}],
            "mqtt": False,
        }), encoding="utf-8")  # fmt: skip
        self.settings = Settings(
            park=ParkSettings(registry=registry),
            mqtt=MqttSettings(port=broker.port, topic_root=database, client_id=f"{database}-c"),
            influx=InfluxSettings(url=influx.url, database=database),
            ingest=IngestSettings(spool_dir=work / "spool", http_port=free_port()),
            processing=ProcessingSettings(
                config=config, http_port=free_port(), state_dir=work / "state"
            ),
            alerts=AlertsSettings(config=rules, db=work / "alerts.db", http_port=free_port()),
            api=ApiSettings(port=free_port(), keys_db=work / "api.db", rate_per_s=1000, burst=1000),
        )
        self.sensors = sum(len(e["sensors"]) for p in doc["parks"] for e in p["enterprises"])
        self.collector = CollectorProc(self.settings, work / "collector.log")
        self.processor = _service(["process", "--log-level", "WARNING"], self.settings,
                                  work / "process.log")  # fmt: skip
        self.alerts = _service(["alerts", "run", "--log-level", "WARNING"], self.settings,
                               work / "alerts.log")  # fmt: skip
        self.api = _service(["api", "run", "--log-level", "WARNING"], self.settings,
                            work / "api.log")  # fmt: skip
        self.stages = [
            Stage("collector", self.collector.proc.pid),
            Stage("processors", self.processor.pid, with_children=True),
            Stage("alerts", self.alerts.pid),
            Stage("influxdb", _pid(influx)),
            Stage("mosquitto", _pid(broker)),
        ]
        try:
            self._wait_up()
        except BaseException:
            self.stop()  # never leave a half-started deployment behind
            raise

    def _wait_up(self) -> None:
        proc_url = f"http://127.0.0.1:{self.settings.processing.http_port}"
        alerts_url = f"http://127.0.0.1:{self.settings.alerts.http_port}"
        started = time.monotonic()
        for url, proc in ((proc_url, self.processor), (alerts_url, self.alerts)):
            if not wait_connected(url, timeout_s=900, alive=lambda p=proc: p.poll() is None):
                raise RuntimeError(f"{url} did not come up; see the logs in {self.work}")
        api_url = f"http://127.0.0.1:{self.settings.api.port}/v1/parks"
        while time.monotonic() - started < 300 and self.api.poll() is None:
            try:
                if httpx.get(api_url, timeout=5).status_code == 401:  # up, asking for a key
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        self.started_s = time.monotonic() - started
        self.proc_url = proc_url

    def parks_lag_s(self) -> float | None:
        """now - the oldest park's watermark (None while a park has none)."""
        try:
            health = httpx.get(f"{self.proc_url}/healthz", timeout=30).json()
        except httpx.HTTPError:
            return None
        parks = health.get("parks") or {"one": health}  # a single park runs unsupervised
        marks = [int(f.get("watermark_ms") or 0) for f in parks.values()]
        if not marks or min(marks) == 0:
            return None
        return round(time.time() - min(marks) / 1000, 1)

    def backlog(self, published: int) -> int:
        return published - int(self.collector.stats()["stored_readings"])

    def stop(self) -> None:
        for proc in (self.api, self.alerts, self.processor):
            proc.send_signal(signal.SIGTERM)
        for proc in (self.api, self.alerts, self.processor):
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.collector.stop()


def _publishers(dep: Deployment, per_sensor_s: float, duration_s: float,
                groups: int) -> list[subprocess.Popen[str]]:  # fmt: skip
    """Live feeds of the registry's parks split over ``groups`` processes (each sensor in
    one of them), every sensor once every ``per_sensor_s``."""
    parks = dep.doc["parks"]
    groups = max(1, min(groups, len(parks)))
    procs = []
    for g in range(groups):
        mine = {"version": 1, "parks": parks[g::groups]}
        path = write_registry(mine, dep.work / f"feed-{g}.yaml")
        sensors = sum(len(e["sensors"]) for p in mine["parks"] for e in p["enterprises"])
        rate = sensors / per_sensor_s
        env = os.environ | to_env(dep.settings)
        procs.append(subprocess.Popen(
            [PY, "-m", "smartpark", "simulate", "fixed", "--registry", str(path), "--rate",
             f"{rate:.3f}", "--duration", str(duration_s), "--seed", str(g)],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT,
        ))  # fmt: skip
    return procs


def phase(dep: Deployment, watch: ParkWatch, per_sensor_s: float, duration_s: float,
          groups: int) -> dict[str, Any]:  # fmt: skip
    sent_before = int(dep.collector.stats()["stored_readings"])
    cpu0 = {s.name: s.cpu_s() for s in dep.stages}
    t0 = time.time()
    feeds = _publishers(dep, per_sensor_s, duration_s, groups)
    rate = dep.sensors / per_sensor_s
    time.sleep(duration_s / 2)
    mid = (dep.parks_lag_s(), dep.backlog(sent_before + round(rate * (time.time() - t0))))
    published = 0
    for feed in feeds:
        out, _ = feed.communicate(timeout=duration_s + 300)
        words = dict(w.split("=", 1) for w in out.split() if "=" in w)
        if feed.returncode != 0 or "readings" not in words:
            raise RuntimeError(f"feed failed: {out[-500:]}")
        published += int(words["readings"])
    elapsed = time.time() - t0
    end = (dep.parks_lag_s(), dep.backlog(sent_before + published))
    cpu = {s.name: s.cpu_s() - cpu0[s.name] for s in dep.stages}
    fresh = watch.between(t0 * 1000, time.time() * 1000 - 60_000)
    # drain: what the collector stored once the feed stopped, within 30 s
    deadline = time.monotonic() + 30
    while dep.backlog(sent_before + published) > 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    # Kept up: the oldest park's watermark is within the feed's round (the feed visits the
    # parks in turn, so a park's newest reading is up to one interval old) and 15 s, and
    # the collector's backlog at the end is within 5 s of the feed and drains in 30 s.
    after = dep.backlog(sent_before + published)
    sustained = (
        end[0] is not None and end[0] <= per_sensor_s + 15 and end[1] <= rate * 5 and after <= 0
    )
    return {
        "per_sensor_s": per_sensor_s,
        "sensors": dep.sensors,
        "published": published,
        "readings_per_s": round(published / elapsed),
        "cpu_us_per_reading": {k: round(v / max(published, 1) * 1e6, 1) for k, v in cpu.items()},
        "cpu_cores": {k: round(v / elapsed, 2) for k, v in cpu.items()},
        "processor_lag_s": {"middle": mid[0], "end": end[0]},
        "collector_backlog": {
            "middle": mid[1],
            "end": end[1],
            "after_30s": dep.backlog(sent_before + published),
        },
        "freshness_ms": {"windows": len(fresh), "p50": _pct(fresh, 0.5), "p99": _pct(fresh, 0.99)},
        "processor_rss_mb_per_1000_sensors": round(
            dep.stages[1].rss_mb(children_only=True) / dep.sensors * 1000, 1
        ),
        "sustained": sustained,
    }


# -- queries ---------------------------------------------------------------------------


def _median_ms(get: Any, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        answer = get()
        times.append((time.perf_counter() - t) * 1000)
        answer.raise_for_status()
    return round(statistics.median(times), 1)


def scorecards(dep: Deployment) -> dict[str, float]:
    """The city scorecard's latency (median of 5) per city size, and one park's."""
    from api.keys import KeyStore

    keys = KeyStore(dep.settings.api.keys_db)
    base = f"http://127.0.0.1:{dep.settings.api.port}/v1"
    out: dict[str, float] = {}
    try:
        first = dep.doc["parks"][0]["id"]
        op = keys.create(role="operator", park=first, enterprise=None, name="bench")
        with httpx.Client(headers={"Authorization": f"Bearer {op}"}, timeout=60) as http:
            out["park_scorecard_ms"] = _median_ms(
                lambda: http.get(f"{base}/parks/{first}/scopes/_park/scorecard")
            )
        for city, parks in city_of(dep.doc).items():
            token = keys.create(role="city", park=city, enterprise=None, name=f"bench-{city}")
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as http:
                url = f"{base}/cities/{city}/scorecard"
                answer = http.get(url)
                answer.raise_for_status()
                assert len(answer.json()["parks"]) == len(parks), answer.text[:300]
                out[f"city_scorecard_{len(parks)}_parks_ms"] = _median_ms(lambda u=url: http.get(u))
    finally:
        keys.close()
    return out


# -- the run ---------------------------------------------------------------------------


@contextmanager
def servers(work: Path) -> Iterator[tuple[Mosquitto, InfluxDB]]:
    broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
    broker.start()
    influx.start()
    try:
        yield broker, influx
    finally:
        broker.stop()
        influx.stop()


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else round(a / b, 2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parks", type=int, default=20)
    parser.add_argument("--enterprises", type=int, default=10)
    parser.add_argument("--meters", type=int, default=50, help="meters per enterprise")
    parser.add_argument("--phase-s", type=float, default=90.0, help="seconds per load phase")
    parser.add_argument("--storage-meters", type=int, default=100)
    parser.add_argument("--storage-days", type=int, default=7)
    parser.add_argument(
        "--sections", default="baseline,city,storage", help="comma-separated sections to run"
    )
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    work = Path(tempfile.mkdtemp(prefix="smartpark-bench-scale-"))
    figures: dict[str, Any] = {"cores": os.cpu_count()}
    started = time.monotonic()
    with servers(work) as (broker, influx):
        if "baseline" in sections:
            dep = Deployment(work / "one", registry_doc(1, args.enterprises, args.meters),
                             broker, influx, "one")  # fmt: skip
            watch = ParkWatch(dep.settings.mqtt)
            try:
                figures["one_park"] = phase(dep, watch, 10.0, args.phase_s, groups=1)
                figures["one_park"]["started_s"] = round(dep.started_s, 1)
                print(json.dumps({"one_park": figures["one_park"]}), flush=True)
                figures["one_park_queries"] = scorecards(dep)
                print(json.dumps({"one_park_queries": figures["one_park_queries"]}), flush=True)
            finally:
                watch.close()
                dep.stop()
        if "city" in sections:
            doc = registry_doc(args.parks, args.enterprises, args.meters)
            dep = Deployment(work / "city", doc, broker, influx, "city")
            watch = ParkWatch(dep.settings.mqtt)
            figures["city_started_s"] = round(dep.started_s, 1)
            try:
                for every, groups in ((60.0, 1), (10.0, 2), (1.0, 4)):
                    if every == 1.0:  # the queries before the phase that overloads the host
                        figures["city_queries"] = scorecards(dep)
                        print(json.dumps({"city_queries": figures["city_queries"]}), flush=True)
                    key = f"city_every_{every:g}s"
                    figures[key] = phase(dep, watch, every, args.phase_s, groups=groups)
                    print(json.dumps({key: figures[key]}), flush=True)
            finally:
                watch.close()
                dep.stop()
    if "storage" in sections:
        doc = registry_doc(1, 2, args.storage_meters // 2)  # two enterprises
        (work / "storage").mkdir()
        registry = write_registry(doc, work / "storage" / "parks.yaml")
        figures |= storage(work / "storage", registry, args.storage_days)
    one, ten = figures.get("one_park"), figures.get("city_every_10s")
    if one and ten:
        figures["ratios_city_to_one_park_at_10s"] = {
            "cpu_us_per_reading": {
                k: _ratio(ten["cpu_us_per_reading"][k], one["cpu_us_per_reading"][k])
                for k in one["cpu_us_per_reading"]
            },
            "processor_rss_per_1000_sensors": _ratio(
                ten["processor_rss_mb_per_1000_sensors"], one["processor_rss_mb_per_1000_sensors"]
            ),
            "freshness_p99": _ratio(ten["freshness_ms"]["p99"], one["freshness_ms"]["p99"]),
        }
    q1, qc = figures.get("one_park_queries"), figures.get("city_queries")
    if q1 and qc:
        single = q1.get("city_scorecard_1_parks_ms")
        figures["ratios_city_scorecard_to_one_park"] = {
            k: _ratio(v, single) for k, v in qc.items() if k.startswith("city_")
        }
    figures["wall_s"] = round(time.monotonic() - started)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
