"""The one CLI: ``smartpark config check | collect | simulate | demo``.

This module is the composition root: it builds Settings, the registry, the store
and the services, and passes them in. Stage packages are imported lazily inside
the commands.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from smartpark import registry as registry_mod
from smartpark.errors import SmartparkError
from smartpark.log import configure_logging
from smartpark.settings import Settings

app = typer.Typer(no_args_is_help=True, add_completion=False, help=__doc__)
config_app = typer.Typer(no_args_is_help=True, help="Check configuration files.")
app.add_typer(config_app, name="config")
console = Console(stderr=True, soft_wrap=True)
logger = logging.getLogger(__name__)

RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry", "-r", help="park registry YAML (default: SMARTPARK_INGEST__REGISTRY)"
    ),
]


def _settings(registry: Path | None = None, **ingest: Any) -> Settings:
    try:
        settings = Settings()
    except ValidationError as exc:
        raise SmartparkError(f"invalid settings:\n{exc}") from exc
    changes = {k: v for k, v in ingest.items() if v is not None}
    if registry is not None:
        changes["registry"] = registry
    if changes:
        settings.ingest = settings.ingest.model_copy(update=changes)
    return settings


def _wait_for_signal() -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass


@config_app.command("check")
def config_check(path: Annotated[Path, typer.Argument(help="registry YAML file")]) -> None:
    """Validate a registry file and report every problem with where it is."""
    registry, problems = registry_mod.check(path)
    if registry is None:
        for problem in problems:
            typer.echo(problem)
        console.print(f"[red]{path}: {len(problems)} problem(s)[/red]")
        raise typer.Exit(1)
    parks = len(registry.parks)
    ents = sum(len(p.enterprises) for p in registry.parks.values())
    typer.echo(f"{path}: ok ({parks} park(s), {ents} enterprises, {len(registry)} sensors)")


@app.command()
def collect(
    registry: RegistryOpt = None,
    client_id: Annotated[
        str | None, typer.Option(help="stable MQTT client id (keeps the session across restarts)")
    ] = None,
    http_port: Annotated[int | None, typer.Option(help="port of /metrics and /healthz")] = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Run the MQTT -> InfluxDB collector until SIGINT/SIGTERM."""
    from ingest.collector import Collector
    from smartpark.store import open_store

    configure_logging(log_level)
    settings = _settings(registry, http_port=http_port)
    if client_id:
        settings.mqtt = settings.mqtt.model_copy(update={"client_id": client_id})
    reg = registry_mod.load(settings.ingest.registry)
    collector = Collector(settings=settings, registry=reg, store=open_store(settings.influx))
    collector.start()
    if collector.http is not None:
        logger.info(
            "status on http://%s:%d/metrics and /healthz",
            settings.ingest.http_host,
            collector.http.port,
        )
    _wait_for_signal()
    collector.stop()


@app.command()
def simulate(
    registry: RegistryOpt = None,
    rate: Annotated[float, typer.Option(help="messages per second")] = 100.0,
    duration: Annotated[float | None, typer.Option(help="seconds to run")] = None,
    count: Annotated[int | None, typer.Option(help="messages to publish")] = None,
    batch: Annotated[int, typer.Option(help="readings per message (1: single objects)")] = 1,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Publish a registry-driven feed at a fixed rate (QoS 1, bounded in flight)."""
    from simulators.feed import Feed
    from simulators.publisher import publish_feed
    from smartpark.clock import SystemClock
    from smartpark.mqtt import BoundedPublisher

    configure_logging("WARNING")
    settings = _settings(registry)
    if duration is None and count is None:
        duration = 10.0
    feed = Feed(
        registry_mod.load(settings.ingest.registry),
        root=settings.mqtt.topic_root,
        seed=seed,
        batch=batch,
    )
    publisher = BoundedPublisher(
        settings.mqtt, client_id=f"smartpark-sim-{os.getpid()}", persistent=False
    )
    if not publisher.wait_connected():
        raise SmartparkError(
            f"cannot connect to MQTT broker {settings.mqtt.host}:{settings.mqtt.port}"
        )
    result = publish_feed(
        feed,
        publisher,
        clock=SystemClock(),
        msgs_per_s=rate,
        max_messages=count,
        duration_s=duration,
    )
    publisher.wait_all()
    publisher.close()
    typer.echo(
        f"published messages={result.messages} readings={result.readings}"
        f" in {result.elapsed_s:.1f}s"
    )


@app.command()
def demo(
    registry: RegistryOpt = None,
    rate: Annotated[float, typer.Option(help="messages per second")] = 200.0,
    batch: Annotated[int, typer.Option(help="readings per message")] = 1,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
) -> None:
    """Local Mosquitto and InfluxDB (unless configured), collector, feed, live figures."""
    from simulators.demo import run_demo

    configure_logging("WARNING")
    settings = _settings(registry)
    run_demo(settings, rate=rate, batch=batch, duration_s=duration, console=console)


def main() -> None:
    try:
        app()
    except SmartparkError as exc:
        console.print(f"[red]error:[/red] {exc}")
        for problem in getattr(exc, "problems", []):
            console.print(f"  {problem}")
        sys.exit(1)
