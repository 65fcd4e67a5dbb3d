"""``smartpark demo``: local servers, the collector, the KPI processor, the alert service
(each through its own CLI, in its own process), the example park live and a summary.

What it publishes, and the alert rules that trips on purpose, is ``devstack.demo_feed``;
this module starts everything, watches the pipeline and shows it.
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
from pathlib import Path
from typing import Any

import httpx
import orjson
from rich.console import Console
from rich.live import Live
from rich.table import Table

from devstack import demo_feed, demo_history, demo_services
from devstack.servers import InfluxDB, Mosquitto, free_port
from simulators.player import play
from smartpark.clock import SystemClock
from smartpark.errors import SmartparkError
from smartpark.httpserver import wait_connected
from smartpark.model import PARK_SCOPE
from smartpark.mqtt import BoundedPublisher, connect, make_client
from smartpark.settings import Settings
from smartpark.wire import Topic, alert_filter, classify, decode_kpi_update, kpi_filter


class Watch:
    """KPI updates and alerts as they come out of the pipeline."""

    def __init__(self, settings: Settings) -> None:
        self.kpis = 0
        self.park: dict[str, Any] = {}
        # audience ("enterprises" or "operator": the park's own alerts) -> event -> count
        self.alerts: dict[str, dict[str, int]] = {}
        self.rules: dict[str, set[str]] = {}
        self.client = make_client(settings.mqtt, client_id=f"smartpark-demo-watch-{os.getpid()}")
        root = settings.mqtt.topic_root
        self.client.on_connect = lambda c, *_: c.subscribe(
            [(kpi_filter(root), 0), (alert_filter(root), 0)]
        )
        self.client.on_message = self._on_message
        connect(self.client, settings.mqtt, persistent=False)
        self.client.loop_start()

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        if classify(msg.topic) is Topic.KPI:
            update = decode_kpi_update(msg.payload)
            self.kpis += 1
            if update is not None and update.scope == PARK_SCOPE and update.window == "1m":
                self.park = dict(update.figures)
        else:
            alert = orjson.loads(msg.payload)
            audience = "operator" if alert.get("enterprise") == PARK_SCOPE else "enterprises"
            events = self.alerts.setdefault(audience, {})
            events[alert.get("event", "?")] = events.get(alert.get("event", "?"), 0) + 1
            self.rules.setdefault(audience, set()).add(str(alert.get("rule")))

    def alerts_line(self) -> str:
        """``enterprises: firing 2, resolved 1 (demo-peak); operator: firing 1 (...)``."""
        parts = []
        for audience in ("enterprises", "operator"):
            events = self.alerts.get(audience)
            if events:
                counts = ", ".join(f"{k} {v}" for k, v in sorted(events.items()))
                parts.append(f"{audience}: {counts} ({', '.join(sorted(self.rules[audience]))})")
        return "; ".join(parts)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _summary(
    facts: dict[str, Any], prev: dict[str, Any], dt: float, published: int, watch: Watch
) -> Table:
    stats, before = facts.get("stats", {}), prev.get("stats", {})

    def rate(key: str) -> str:
        return f"{(stats.get(key, 0) - before.get(key, 0)) / dt:,.0f}/s" if dt else "-"

    table = Table(title="smartpark demo  (Ctrl-C to stop)", show_header=True)
    table.add_column("figure")
    table.add_column("total", justify="right")
    table.add_column("rate", justify="right")
    table.add_row("messages published", f"{published:,}", "")
    # the collector also sees the pipeline's own KPI, alert and dead-letter messages (ignored)
    readings_msgs = stats.get("received", 0) - stats.get("ignored", 0)
    was = before.get("received", 0) - before.get("ignored", 0)
    table.add_row(
        "reading messages received",
        f"{readings_msgs:,}",
        f"{(readings_msgs - was) / dt:,.0f}/s" if dt else "-",
    )
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
    table.add_row("KPI updates published", f"{watch.kpis:,}", "")
    park = watch.park
    if park:
        table.add_row(
            "park, last full minute",
            f"{park.get('energy_tce', 0):.4f} tce, {park.get('co2_location_t', 0):.4f} tCO2",
            f"clean {park.get('clean_energy_share_pct') or 0:.1f} %",
        )
    else:
        table.add_row("park, last full minute", "(first window closes within a minute)", "")
    table.add_row("alerts", watch.alerts_line() or "none yet", "")
    return table


def run_demo(
    settings: Settings,
    *,
    rate: float,
    batch: int,
    duration_s: float | None,
    console: Console,
    history_days: int = 30,
) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="smartpark-demo-"))
    servers: list[Mosquitto | InfluxDB] = []
    env = dict(os.environ)
    local = (
        not ({"host", "port"} & settings.mqtt.model_fields_set)
        and "url" not in settings.influx.model_fields_set
    )
    procs: list[subprocess.Popen[bytes]] = []
    publisher: BoundedPublisher | None = None
    watch: Watch | None = None
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
            "SMARTPARK_PARK__REGISTRY": str(settings.park.registry),
            "SMARTPARK_INGEST__HTTP_PORT": str(http_port),
        }
        with (workdir / "collector.log").open("ab") as log:
            collector = subprocess.Popen(
                [sys.executable, "-m", "smartpark", "collect"],
                env=env,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )
        procs.append(collector)
        # Readings published before the collector's first subscription would have no taker.
        if not wait_connected(
            f"http://127.0.0.1:{http_port}", alive=lambda: collector.poll() is None
        ):
            raise SmartparkError(f"the collector did not subscribe; see {workdir}/collector.log")
        feed = demo_feed.scenario(settings, rate, batch, history_days=history_days)
        env, commands, api_url, keys = demo_services.configure(
            settings, workdir, env, demo_feed.rules(feed)
        )
        processor = demo_services.start("processor", commands.pop("processor"), env, workdir)
        procs.append(processor)
        processor_url = f"http://127.0.0.1:{env['SMARTPARK_PROCESSING__HTTP_PORT']}"
        if not wait_connected(processor_url, alive=lambda: processor.poll() is None):
            raise SmartparkError(f"the processor did not subscribe; see {workdir}/processing.log")
        after = None
        if feed.history_start_ms < feed.start_ms:
            console.print(
                f"history: the example park's last {feed.history_days:.1f} days "
                f"({demo_feed.history_readings(feed):,} readings, one a minute per sensor) "
                "through the collector and the processor, then the scheduled jobs ..."
            )
            history, after = demo_history.run(
                feed, settings=settings, env=env, collector_url=f"http://127.0.0.1:{http_port}",
                processor_url=processor_url,
                alive=lambda: all(p.poll() is None for p in procs),
            )  # fmt: skip
            console.print(history.line(), highlight=False)
        procs += [demo_services.start(name, args, env, workdir) for name, args in commands.items()]
        demo_services.wait_api(api_url, procs[-1], workdir)
        watch = Watch(settings)
        publisher = BoundedPublisher(
            settings.mqtt, client_id=f"smartpark-demo-{os.getpid()}", persistent=False
        )
        if not publisher.wait_connected():
            raise SmartparkError("cannot connect to the MQTT broker")
        stop = threading.Event()
        if duration_s is not None:
            timer = threading.Timer(duration_s, stop.set)
            timer.daemon = True
            timer.start()
        feeder = threading.Thread(
            target=play,
            args=(
                demo_feed.messages(feed, settings.mqtt.topic_root, after=after),
                publisher.publish,
            ),
            kwargs={
                "clock": SystemClock(),
                "speed": 1.0,
                # paced from the wall clock: what the history's time left behind is
                # published at once, then a reading per interval from now on
                "t0_ms": SystemClock().now_ms(),
                "stop": stop.is_set,
            },
            daemon=True,
        )
        feeder.start()
        bad = threading.Thread(
            target=demo_feed.publish_bad,
            args=(publisher, settings.mqtt.topic_root, stop),
            daemon=True,
        )
        bad.start()
        console.print(
            f"the example park live, a reading per sensor every {feed.interval_s} s; "
            "collector status: "
            f"http://127.0.0.1:{http_port}/metrics and /healthz; readings and KPIs in InfluxDB "
            f"{settings.influx.url} database {settings.influx.database!r}; logs in {workdir}"
        )
        console.print(
            f"the enterprise page: {api_url}/ (sign in with a key below); "
            f"API: {api_url}/docs (Authorization: Bearer <key>); demo keys:"
        )
        for who, key in keys.items():
            console.print(f"  {who}: {key}", highlight=False)
        _live(http_port, publisher, feeder, stop, console, watch)
        clean = True
    finally:
        if watch is not None:
            watch.close()
        if publisher is not None:
            publisher.close()
        for proc in reversed(procs):
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:  # busy (a history in progress): no orphans
                proc.kill()
                proc.wait()
        for server in reversed(servers):
            server.stop()
        if not clean:
            _show_logs(workdir, console)
        shutil.rmtree(workdir, ignore_errors=True)  # always: the demo leaves nothing behind
        console.print("\nstopped")


def _show_logs(workdir: Path, console: Console) -> None:
    """The last lines of each service's log, before the work directory goes."""
    for log in sorted(workdir.glob("*.log")):
        lines = log.read_text(errors="replace").splitlines()[-5:]
        if lines:
            console.print(f"--- {log.name}", highlight=False)
            for line in lines:
                console.print(f"  {line}", highlight=False, markup=False)


def _live(
    http_port: int,
    publisher: BoundedPublisher,
    feeder: threading.Thread,
    stop: threading.Event,
    console: Console,
    watch: Watch,
) -> None:
    prev: dict[str, Any] = {}
    prev_t = time.monotonic()
    if not console.is_terminal:
        _plain(http_port, publisher, feeder, stop, console, watch)
        return
    with Live(console=console, refresh_per_second=2) as live:
        try:
            while feeder.is_alive():
                time.sleep(1.0)
                try:
                    facts = httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).json()
                except httpx.HTTPError:
                    continue  # the collector is still starting
                now = time.monotonic()
                live.update(
                    _summary(facts, prev, now - prev_t if prev else 0, publisher.published, watch)
                )
                prev, prev_t = facts, now
        except KeyboardInterrupt:  # Ctrl-C: the documented way to stop; wind down below
            pass
        stop.set()
        publisher.wait_all(10)
        time.sleep(0.5)  # one last batch age
        try:
            facts = httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).json()
            live.update(
                _summary(facts, prev, time.monotonic() - prev_t, publisher.published, watch)
            )
        except httpx.HTTPError as exc:
            console.print(f"collector status unavailable at the end: {exc}")


def _plain(
    http_port: int,
    publisher: BoundedPublisher,
    feeder: threading.Thread,
    stop: threading.Event,
    console: Console,
    watch: Watch,
    every_s: float = 5.0,
) -> None:
    """When stdout is not a terminal (``./dev demo | tee log``): a plain line of figures
    every few seconds instead of the live table."""
    started = time.monotonic()

    def line() -> None:
        try:
            stats = httpx.get(f"http://127.0.0.1:{http_port}/healthz", timeout=1).json()["stats"]
        except httpx.HTTPError:
            return  # the collector is still starting
        dead = sum(stats.get("deadlettered", {}).values())
        alerts = watch.alerts_line() or "none"
        park = watch.park
        energy = f"{park.get('energy_tce', 0):.4f} tce/min" if park else "-"
        console.print(
            f"t={time.monotonic() - started:.0f}s published={publisher.published} "
            f"stored={stats.get('stored_readings', 0)} dead_letters={dead} "
            f"kpi_updates={watch.kpis} park_last_minute={energy} alerts={alerts}",
            highlight=False,
        )

    try:
        while feeder.is_alive():
            if stop.wait(every_s):
                break
            line()
    except KeyboardInterrupt:  # Ctrl-C: the documented way to stop; wind down below
        pass
    stop.set()
    publisher.wait_all(10)
    time.sleep(0.5)
    line()
