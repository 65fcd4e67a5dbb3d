"""``smartpark demo``: local servers, the collector, a feed and a live summary."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.live import Live
from rich.table import Table

from simulators.feed import Feed
from simulators.publisher import publish_feed
from smartpark import registry as registry_mod
from smartpark.clock import SystemClock
from smartpark.errors import SmartparkError
from smartpark.httpserver import wait_connected
from smartpark.localstack import InfluxDB, Mosquitto, free_port
from smartpark.mqtt import BoundedPublisher
from smartpark.settings import Settings


def _summary(facts: dict[str, Any], prev: dict[str, Any], dt: float, published: int) -> Table:
    stats, before = facts.get("stats", {}), prev.get("stats", {})

    def rate(key: str) -> str:
        return f"{(stats.get(key, 0) - before.get(key, 0)) / dt:,.0f}/s" if dt else "-"

    table = Table(title="smartpark demo  (Ctrl-C to stop)", show_header=True)
    table.add_column("figure")
    table.add_column("total", justify="right")
    table.add_column("rate", justify="right")
    table.add_row("messages published", f"{published:,}", "")
    table.add_row("messages received", f"{stats.get('received', 0):,}", rate("received"))
    table.add_row(
        "readings stored", f"{stats.get('stored_readings', 0):,}", rate("stored_readings")
    )
    table.add_row("readings spooled", f"{stats.get('spooled_readings', 0):,}", "")
    for reason, n in sorted(stats.get("deadlettered", {}).items()):
        table.add_row(f"dead-lettered: {reason}", f"{n:,}", "")
    table.add_row(
        "spool batches / bytes",
        f"{facts.get('spool_batches', 0)} / {facts.get('spool_bytes', 0):,}",
        "",
    )
    status = facts.get("status", "starting")
    table.add_row("collector health", f"{status} {'; '.join(facts.get('problems', []))}", "")
    return table


def run_demo(
    settings: Settings, *, rate: float, batch: int, duration_s: float | None, console: Console
) -> None:
    registry = registry_mod.load(settings.ingest.registry)
    workdir = Path(tempfile.mkdtemp(prefix="smartpark-demo-"))
    servers: list[Mosquitto | InfluxDB] = []
    env = dict(os.environ)
    local = (
        not ({"host", "port"} & settings.mqtt.model_fields_set)
        and "url" not in settings.influx.model_fields_set
    )
    collector: subprocess.Popen[bytes] | None = None
    publisher: BoundedPublisher | None = None
    clean = False
    try:
        if local:
            console.print(f"starting Mosquitto and InfluxDB on loopback, data in {workdir}")
            broker, influx = Mosquitto(workdir / "mosquitto"), InfluxDB(workdir / "influxdb")
            for server in (broker, influx):
                server.start()
                servers.append(server)
            settings.mqtt = settings.mqtt.model_copy(update={"port": broker.port})
            settings.influx = settings.influx.model_copy(update={"url": influx.url})
            env |= {"SMARTPARK_MQTT__PORT": str(broker.port), "SMARTPARK_INFLUX__URL": influx.url}
        http_port = free_port()
        env |= {
            "SMARTPARK_INGEST__SPOOL_DIR": str(workdir / "spool"),
            "SMARTPARK_INGEST__REGISTRY": str(settings.ingest.registry),
            "SMARTPARK_INGEST__HTTP_PORT": str(http_port),
        }
        with (workdir / "collector.log").open("ab") as log:
            collector = subprocess.Popen(
                [sys.executable, "-m", "smartpark", "collect"], env=env, stdout=log, stderr=log
            )
        # Readings published before the collector's first subscription would have no taker.
        if not wait_connected(
            f"http://127.0.0.1:{http_port}", alive=lambda: collector.poll() is None
        ):
            raise SmartparkError(f"the collector did not subscribe; see {workdir}/collector.log")
        feed = Feed(registry, root=settings.mqtt.topic_root, batch=batch)
        publisher = BoundedPublisher(
            settings.mqtt, client_id=f"smartpark-demo-{os.getpid()}", persistent=False
        )
        if not publisher.wait_connected():
            raise SmartparkError("cannot connect to the MQTT broker")
        stop = threading.Event()
        feeder = threading.Thread(
            target=publish_feed,
            kwargs={
                "feed": feed,
                "publisher": publisher,
                "clock": SystemClock(),
                "msgs_per_s": rate,
                "duration_s": duration_s or float("inf"),
                "stop": stop.is_set,
            },
            daemon=True,
        )
        feeder.start()
        bad = threading.Thread(
            target=_publish_bad, args=(publisher, settings.mqtt.topic_root, stop), daemon=True
        )
        bad.start()
        console.print(
            f"collector status: http://127.0.0.1:{http_port}/metrics and /healthz; "
            f"readings in InfluxDB {settings.influx.url} database {settings.influx.database!r}"
        )
        _live(http_port, publisher, feeder, stop, console)
        clean = True
    finally:
        if publisher is not None:
            publisher.close()
        if collector is not None:
            collector.send_signal(signal.SIGTERM)
            collector.wait(timeout=30)
        for server in reversed(servers):
            server.stop()
        if clean:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            console.print(f"\nlogs kept in {workdir}")
        console.print("\nstopped")


def _publish_bad(publisher: BoundedPublisher, root: str, stop: threading.Event) -> None:
    """Now and then a message the collector must refuse, so dead letters show up too."""
    samples = [
        (f"{root}/tianfu-np/e01-baijiu/electricity/no-such-meter", b'{"ts": 0, "values": {}}'),
        (f"{root}/tianfu-np/e01-baijiu/electricity/e01-grid-1", b"not json"),
    ]
    i = 0
    while not stop.wait(2.0):
        publisher.publish(*samples[i % len(samples)])
        i += 1


def _live(
    http_port: int,
    publisher: BoundedPublisher,
    feeder: threading.Thread,
    stop: threading.Event,
    console: Console,
) -> None:
    prev: dict[str, Any] = {}
    prev_t = time.monotonic()
    with Live(console=console, refresh_per_second=2) as live:
        try:
            while feeder.is_alive():
                time.sleep(1.0)
                try:
                    facts = httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).json()
                except httpx.HTTPError:
                    continue  # the collector is still starting
                now = time.monotonic()
                live.update(_summary(facts, prev, now - prev_t if prev else 0, publisher.published))
                prev, prev_t = facts, now
        except KeyboardInterrupt:
            pass
        stop.set()
        publisher.wait_all(10)
        time.sleep(0.5)  # one last batch age
        try:
            facts = httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).json()
            live.update(_summary(facts, prev, time.monotonic() - prev_t, publisher.published))
        except httpx.HTTPError as exc:
            console.print(f"collector status unavailable at the end: {exc}")
