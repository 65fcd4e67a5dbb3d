"""``smartpark scenario check SCENARIO``: a scenario through the whole pipeline, checked.

Local Mosquitto and InfluxDB in a temporary directory; the collector, the processor and
the alert service each as its own process through its CLI (with the scenario's
``checks.rules`` and alerts on MQTT); the scenario's feed published as fast as the
broker takes it (only ``checks.enterprises`` / ``checks.kinds`` when given). Then the
alerts seen on MQTT and the KPI points stored are compared with ``checks``: each listed
alert exactly once (fired in its window of event time, its value in range, resolved when
asked), no other alert from those rules, each listed KPI in range.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import orjson
import polars as pl
import yaml

from alerts.rules import parse as parse_rules
from devstack.servers import InfluxDB, Mosquitto, free_port
from simulators import recording
from simulators.player import play
from simulators.recording import Message
from simulators.scenario import Checks, Scenario
from simulators.stream import ParkFeed
from smartpark import registry as registry_mod
from smartpark.clock import SystemClock
from smartpark.errors import ConfigError, SmartparkError
from smartpark.mqtt import BoundedPublisher, connect, make_client
from smartpark.settings import Settings, to_env
from smartpark.store import open_store
from smartpark.store.influxql import Select
from smartpark.wire import alert_filter


@dataclass
class Outcome:
    """Each check with its verdict, and what was seen."""

    lines: list[tuple[bool, str]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    workdir: Path | None = None  # kept, with the services' logs, when a check failed

    @property
    def ok(self) -> bool:
        return all(good for good, _ in self.lines)


def judge(
    checks: Checks, alerts: list[dict[str, Any]], kpis: dict[tuple[str, ...], float]
) -> Outcome:
    """Compare what the pipeline produced with the checks (pure)."""
    out = Outcome(alerts=alerts)
    firings = [a for a in alerts if a["event"] == "firing"]
    for check in checks.alerts:
        mine = [a for a in firings if a["rule"] == check.rule and a["subject"] == check.subject]
        what = f"alert {check.rule} {check.subject}"
        if len(mine) != 1:
            out.lines.append((False, f"{what}: fired {len(mine)} times, expected once"))
            continue
        alert = mine[0]
        fired = datetime.fromisoformat(alert["fired_at"])
        good = check.fired_from <= fired <= check.fired_to
        detail = f"fired_at {alert['fired_at']} (expected {check.fired_from} .. {check.fired_to})"
        if check.value is not None:
            low, high = check.value
            good = good and low <= alert["value"] <= high
            detail += f", value {alert['value']:.3f} (expected {low} .. {high})"
        if check.resolved:
            resolved = any(a["event"] == "resolved" and a["id"] == alert["id"] for a in alerts)
            good = good and resolved
            detail += ", resolved" if resolved else ", NOT resolved"
        out.lines.append((good, f"{what}: {detail}"))
    expected = {(c.rule, c.subject) for c in checks.alerts}
    for alert in firings:
        if (alert["rule"], alert["subject"]) not in expected:
            out.lines.append(
                (False, f"unexpected alert {alert['rule']} {alert['subject']} {alert['message']}")
            )
    for k in checks.kpis:
        key = (k.scope, k.window, str(int(k.start.timestamp() * 1000)), k.field)
        value = kpis.get(key)
        low, high = k.range
        good = value is not None and low <= value <= high
        shown = "missing" if value is None else f"{value:.4f}"
        out.lines.append(
            (
                good,
                f"kpi {k.scope} {k.window} {k.start.isoformat()} {k.field}: {shown} "
                f"(expected {low} .. {high})",
            )
        )
    return out


class _Alerts:
    """Every alert published on MQTT, in arrival order."""

    def __init__(self, settings: Settings) -> None:
        self.seen: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.client = make_client(settings.mqtt, client_id=f"scenario-check-{os.getpid()}")
        root = settings.mqtt.topic_root
        self.client.on_connect = lambda c, *_: c.subscribe(alert_filter(root), qos=1)
        self.client.on_message = self._on_message
        connect(self.client, settings.mqtt, persistent=False)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self._lock:
            self.seen.append(orjson.loads(msg.payload))

    def snapshot(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self.seen)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _messages(settings: Settings, scenario: Scenario, checks: Checks) -> Iterator[Message]:
    registry = registry_mod.load(scenario.registry)
    feed = ParkFeed(registry, scenario, root=settings.mqtt.topic_root)
    for frame in feed.frames(scenario.start_ms, scenario.end_ms):
        yield from recording.frame_messages(_checked(frame, checks))


def _checked(frame: pl.DataFrame, checks: Checks) -> pl.DataFrame:
    """The frame's messages of the checked enterprises and kinds (a reading's topic is
    root/park/enterprise/kind/sensor), and every other message (status), left out in
    the frame: a month of the park is millions of messages, the checks' a few hundred
    thousand."""
    levels = pl.col("topic").str.split("/")
    checked = pl.lit(True)
    if checks.enterprises:
        checked &= levels.list.get(2, null_on_oob=True).is_in(list(checks.enterprises))
    if checks.kinds:
        checked &= levels.list.get(3, null_on_oob=True).is_in(list(checks.kinds))
    return frame.filter((levels.list.len() != 5) | checked)


def _health(port: int) -> dict[str, Any]:
    try:
        return dict(httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).json())
    except httpx.HTTPError:
        return {}


def _wait(
    predicate: Any, timeout_s: float, what: str, procs: dict[str, subprocess.Popen[bytes]],
    work: Path,
) -> None:  # fmt: skip
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for name, proc in procs.items():
            if proc.poll() is not None:
                log = work / f"{name}.log"
                tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-5:]
                raise SmartparkError(
                    f"the {name} exited (code {proc.returncode}) while waiting for {what};"
                    f" its log, {log}, ends:\n  " + "\n  ".join(tail)
                )
        if predicate():
            return
        time.sleep(0.2)
    raise SmartparkError(f"timed out after {timeout_s:.0f}s waiting for {what}")


def _stored_kpis(settings: Settings, checks: Checks) -> dict[tuple[str, ...], float]:
    store = open_store(settings.influx)
    out: dict[tuple[str, ...], float] = {}
    try:
        for k in checks.kpis:
            start = int(k.start.timestamp() * 1000)
            query = Select(
                "kpi",
                [k.field],
                tags={"scope": k.scope, "window": k.window},
                start=k.start,
                end=datetime.fromtimestamp((start + 1) / 1000, k.start.tzinfo),
            )
            for series in store.query(query.to_influxql()):
                for ts, value in series.values:
                    if value is not None and int(ts) == start:
                        out[(k.scope, k.window, str(start), k.field)] = float(value)
    finally:
        store.close()
    return out


def run(scenario: Scenario, *, settle_s: float = 2.0, timeout_s: float = 600.0) -> Outcome:
    """Run the scenario through local servers and every service; return the verdicts."""
    checks = scenario.checks
    if checks is None:
        raise ConfigError(f"scenario {scenario.name!r} has no checks: nothing to run")
    rules = {"rules": checks.rules, "mqtt": True, "lifecycle": {"escalate_after_s": 86_400}}
    parse_rules(rules, source=f"{scenario.name}.checks")  # refuse bad rules before starting
    work = Path(tempfile.mkdtemp(prefix="smartpark-check-"))
    broker, influx = Mosquitto(work / "mosquitto"), InfluxDB(work / "influxdb")
    procs: dict[str, subprocess.Popen[bytes]] = {}
    watcher: _Alerts | None = None
    ok = False
    try:
        broker.start()
        influx.start()
        (work / "alerts.yaml").write_text(yaml.safe_dump(rules), encoding="utf-8")
        settings = Settings()
        settings.mqtt = settings.mqtt.model_copy(
            update={"port": broker.port, "topic_root": "check"}
        )
        settings.influx = settings.influx.model_copy(
            update={"url": influx.url, "database": "check"}
        )
        ports = {name: free_port() for name in ("ingest", "processing", "alerts")}
        settings.park = settings.park.model_copy(update={"registry": scenario.registry})
        settings.ingest = settings.ingest.model_copy(
            update={
                "spool_dir": work / "spool",
                "http_port": ports["ingest"],
            }
        )
        config = settings.processing.config
        if not config.exists():  # the default names examples/ from the repository's root
            config = scenario.registry.parent / "processing.yaml"
        settings.processing = settings.processing.model_copy(
            update={
                "config": config.resolve(),
                "state_dir": work / "processing",
                "http_port": ports["processing"],
            }
        )
        settings.alerts = settings.alerts.model_copy(
            update={
                "config": work / "alerts.yaml",
                "db": work / "alerts.db",
                "http_port": ports["alerts"],
            }
        )
        env = os.environ | to_env(settings)
        for name, args in (
            ("collector", ["collect"]),
            ("processor", ["process"]),
            ("alerts", ["alerts", "run"]),
        ):
            with (work / f"{name}.log").open("ab") as log:
                procs[name] = subprocess.Popen(
                    [sys.executable, "-m", "smartpark", *args, "--log-level", "WARNING"],
                    env=env,
                    stdout=log,
                    stderr=log,
                )
        for port in ports.values():
            _wait(lambda p=port: _health(p).get("connected") is True, 60, "services", procs, work)
        watcher = _Alerts(settings)
        publisher = BoundedPublisher(settings.mqtt, client_id=f"scenario-feed-{os.getpid()}")
        if not publisher.wait_connected():
            raise SmartparkError("cannot connect to the local broker")
        readings = 0

        def counted() -> Iterator[Message]:
            nonlocal readings
            for m in _messages(settings, scenario, checks):
                readings += max(m.readings, 1)
                yield m

        play(counted(), publisher.publish, clock=SystemClock(), speed=None)
        publisher.wait_all(timeout_s)
        publisher.close()

        def caught_up() -> bool:
            ingest = _health(ports["ingest"]).get("stats", {})
            done = ingest.get("stored_readings", 0) + sum(ingest.get("deadlettered", {}).values())
            processing = _health(ports["processing"])
            quiet = processing.get("stats", {}).get("messages_received", 0)
            return (
                done >= readings
                and quiet == _health(ports["processing"]).get("stats", {}).get("messages_received")
                and processing.get("unwritten_windows") == 0
                and _health(ports["alerts"]).get("outbox_pending") == 0
            )

        _wait(caught_up, timeout_s, "the pipeline to catch up", procs, work)
        firings = len(checks.alerts)
        resolutions = sum(c.resolved for c in checks.alerts)
        seen = watcher

        def alerted() -> bool:
            events = [a["event"] for a in seen.snapshot()]
            return events.count("firing") >= firings and events.count("resolved") >= resolutions

        _wait(alerted, timeout_s, "the expected alerts", procs, work)
        time.sleep(settle_s)
        outcome = judge(checks, watcher.snapshot(), _stored_kpis(settings, checks))
        ok = outcome.ok
        outcome.workdir = None if ok else work
        return outcome
    finally:
        if watcher is not None:
            watcher.close()
        for proc in reversed(procs.values()):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        influx.stop()
        broker.stop()
        if ok:
            shutil.rmtree(work, ignore_errors=True)
