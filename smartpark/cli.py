"""The one CLI: ``smartpark config check | collect | simulate ... | replay | record |
process | rollup | alerts ... | demo``.

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
from datetime import datetime
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
simulate_app = typer.Typer(
    no_args_is_help=True, help="Simulated park feeds: generate, backfill, live, fixed."
)
app.add_typer(simulate_app, name="simulate")
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


ScenarioArg = Annotated[Path, typer.Argument(help="scenario YAML (examples/scenarios/)")]
SeedOpt = Annotated[int | None, typer.Option(help="random seed (default: the scenario's)")]
StartOpt = Annotated[
    datetime | None, typer.Option(help="start, ISO 8601 with offset (default: the scenario's)")
]
DaysOpt = Annotated[float | None, typer.Option(help="days to simulate (default: the scenario's)")]
BatchOpt = Annotated[int | None, typer.Option(help="readings per message (gateway arrays)")]
NoFaultsOpt = Annotated[bool, typer.Option("--no-faults", help="switch every fault off")]


def _scenario(
    path: Path,
    registry: Path | None,
    *,
    seed: int | None = None,
    start: datetime | None = None,
    days: float | None = None,
    batch: int | None = None,
    no_faults: bool = False,
) -> tuple[Any, Any]:
    from simulators import scenario as scenario_mod

    scenario = scenario_mod.load(path)
    if start is not None and start.tzinfo is None:
        raise SmartparkError(f"--start needs a UTC offset: {start.isoformat()}")
    scenario = scenario.with_changes(seed=seed, start=start, days=days, batch=batch)
    if no_faults:
        scenario = scenario.model_copy(update={"faults": scenario.faults.off()})
    return registry_mod.load(registry or scenario.registry), scenario


def _summary(summary: Any) -> None:
    for line in summary.lines():
        typer.echo(line)


@simulate_app.command("generate")
def simulate_generate(
    scenario: ScenarioArg,
    out: Annotated[Path, typer.Option("--out", "-o", help="recording file to write (.jsonl)")],
    registry: RegistryOpt = None,
    seed: SeedOpt = None,
    start: StartOpt = None,
    days: DaysOpt = None,
    batch: BatchOpt = None,
    no_faults: NoFaultsOpt = False,
) -> None:
    """Write a scenario's feed to a file as fast as it can be generated (same seed, same bytes)."""
    from simulators import run

    reg, scen = _scenario(
        scenario, registry, seed=seed, start=start, days=days, batch=batch, no_faults=no_faults
    )
    root = _settings().mqtt.topic_root
    _summary(run.generate(reg, scen, out=out, root=root, console=console))


@simulate_app.command("backfill")
def simulate_backfill(
    scenario: ScenarioArg,
    registry: RegistryOpt = None,
    seed: SeedOpt = None,
    start: StartOpt = None,
    days: DaysOpt = None,
    batch: BatchOpt = None,
    no_faults: NoFaultsOpt = False,
) -> None:
    """Publish a historical period with its own timestamps, as fast as the broker takes it."""
    from simulators import run

    configure_logging("WARNING")
    reg, scen = _scenario(
        scenario, registry, seed=seed, start=start, days=days, batch=batch, no_faults=no_faults
    )
    _summary(run.backfill(reg, scen, settings=_settings().mqtt, console=console))


@simulate_app.command("live")
def simulate_live(
    scenario: ScenarioArg,
    registry: RegistryOpt = None,
    seed: SeedOpt = None,
    batch: BatchOpt = None,
    no_faults: NoFaultsOpt = False,
    duration: Annotated[
        float | None, typer.Option(help="seconds to run (default: until Ctrl-C)")
    ] = None,
) -> None:
    """Publish the scenario's park in real time, from now on, until Ctrl-C."""
    from simulators import run

    configure_logging("WARNING")
    reg, scen = _scenario(scenario, registry, seed=seed, batch=batch, no_faults=no_faults)
    settings = _settings().mqtt
    _summary(run.live(reg, scen, settings=settings, console=console, duration_s=duration))


@simulate_app.command("fixed")
def simulate_fixed(
    registry: RegistryOpt = None,
    rate: Annotated[float, typer.Option(help="messages per second")] = 100.0,
    duration: Annotated[float | None, typer.Option(help="seconds to run")] = None,
    count: Annotated[int | None, typer.Option(help="messages to publish")] = None,
    batch: Annotated[int, typer.Option(help="readings per message (1: single objects)")] = 1,
    seed: Annotated[int, typer.Option(help="random seed")] = 0,
) -> None:
    """Publish a plain registry-driven feed at a fixed rate (load tests; QoS 1, bounded)."""
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
def replay(
    path: Annotated[
        Path, typer.Argument(help="recording (.jsonl) or readings table (.csv, .parquet)")
    ],
    speed: Annotated[float, typer.Option(help="N x the recorded pace")] = 1.0,
    fast: Annotated[
        bool, typer.Option("--fast", help="as fast as possible, ignore timing")
    ] = False,
    shift_to_now: Annotated[
        bool, typer.Option("--shift-to-now", help="move reading timestamps so the feed starts now")
    ] = False,
) -> None:
    """Publish a recording or a readings table at N x speed, keeping relative timing."""
    from simulators import run

    configure_logging("WARNING")
    if speed <= 0:
        raise SmartparkError(f"--speed must be > 0: {speed}")
    _summary(
        run.replay(
            path,
            settings=_settings().mqtt,
            console=console,
            speed=None if fast else speed,
            shift_to_now=shift_to_now,
        )
    )


@app.command()
def record(
    out: Annotated[Path, typer.Option("--out", "-o", help="recording file to write (.jsonl)")],
    topic_filter: Annotated[
        str | None, typer.Option(help="MQTT filter (default: <topic root>/#)")
    ] = None,
    duration: Annotated[float | None, typer.Option(help="seconds to record")] = None,
    count: Annotated[int | None, typer.Option(help="messages to record")] = None,
) -> None:
    """Write the raw MQTT stream (topic, payload, receive time) to a file until Ctrl-C."""
    from simulators import run

    configure_logging("WARNING")
    settings = _settings().mqtt
    _summary(
        run.record(
            out,
            settings=settings,
            topic_filter=topic_filter or f"{settings.topic_root}/#",
            console=console,
            duration_s=duration,
            count=count,
        )
    )


@app.command()
def process(
    config: Annotated[Path, typer.Option(help="processing configuration YAML")] = Path(
        "examples/processing.yaml"
    ),
    park: Annotated[
        str | None, typer.Option(help="park id (default: the registry's only park)")
    ] = None,
    registry: RegistryOpt = None,
    check: Annotated[
        bool, typer.Option("--check", help="validate the configuration and exit")
    ] = False,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Run the stream processor of one park: readings from MQTT, KPIs to InfluxDB and MQTT."""
    from processing import config as config_mod
    from processing.jobs import Jobs, Schedule
    from processing.stream import StreamProcessor
    from smartpark.clock import SystemClock
    from smartpark.store import open_store

    configure_logging(log_level)
    settings = _settings(registry)
    reg = registry_mod.load(settings.ingest.registry)
    cfg = config_mod.load(config)
    coefficients = config_mod.coefficients(cfg, config_mod.load_factor_set(cfg.factors))
    if park is None:
        if len(reg.parks) != 1:
            raise SmartparkError(f"the registry has {len(reg.parks)} parks: choose one with --park")
        park = next(iter(reg.parks))
    if park not in reg.parks:
        raise SmartparkError(f"unknown park {park!r}; the registry has {', '.join(reg.parks)}")
    if check:
        typer.echo(f"{config}: ok (factor set {cfg.factors}, {coefficients.tags()})")
        return
    processor = StreamProcessor(
        mqtt=settings.mqtt,
        registry=reg,
        park_id=park,
        config=cfg,
        coefficients=coefficients,
        store=open_store(settings.influx),
        clock=SystemClock(),
        client_id=f"smartpark-processor-{park}",
    )
    schedule = Schedule(
        Jobs(
            registry=reg,
            park_id=park,
            config=cfg,
            coefficients=coefficients,
            store=open_store(settings.influx),
            clock=SystemClock(),
        )
    )
    processor.start()
    schedule.start()
    _wait_for_signal()
    schedule.stop()
    processor.stop()


@app.command()
def rollup(
    window: Annotated[str, typer.Argument(help="1m, 15m, 1h, 1d or 1mo")],
    start: Annotated[datetime, typer.Option(help="first window start, ISO 8601 with offset")],
    end: Annotated[datetime, typer.Option(help="end (exclusive), ISO 8601 with offset")],
    config: Annotated[Path, typer.Option(help="processing configuration YAML")] = Path(
        "examples/processing.yaml"
    ),
    park: Annotated[str | None, typer.Option(help="park id")] = None,
    registry: RegistryOpt = None,
) -> None:
    """Recompute KPIs of a period from the stored readings (idempotent: same points again)."""
    from processing import config as config_mod
    from processing.jobs import Jobs
    from processing.meters import WINDOWS
    from smartpark.clock import SystemClock
    from smartpark.store import open_store

    configure_logging("WARNING")
    if window not in WINDOWS:
        raise SmartparkError(f"unknown window {window!r}; one of {', '.join(WINDOWS)}")
    if start.tzinfo is None or end.tzinfo is None:
        raise SmartparkError("--start and --end need a UTC offset, e.g. 2026-11-02T00:00:00+08:00")
    settings = _settings(registry)
    reg = registry_mod.load(settings.ingest.registry)
    cfg = config_mod.load(config)
    park = park or next(iter(reg.parks))
    jobs = Jobs(
        registry=reg,
        park_id=park,
        config=cfg,
        coefficients=config_mod.coefficients(cfg, config_mod.load_factor_set(cfg.factors)),
        store=open_store(settings.influx),
        clock=SystemClock(),
    )
    points = jobs.rollup(window, start, end)
    typer.echo(f"rollup {window} {start.isoformat()} .. {end.isoformat()}: {points} points")


alerts_app = typer.Typer(no_args_is_help=True, help="The alert service and its alerts.")
app.add_typer(alerts_app, name="alerts")
AlertsConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="alert rules YAML (default: SMARTPARK_ALERTS__CONFIG)"),
]


def _alert_service(config: Path | None, registry: Path | None, *, with_store: bool = True) -> Any:
    from alerts import rules
    from alerts.service import AlertService
    from smartpark.clock import SystemClock
    from smartpark.store import open_store

    settings = _settings(registry)
    cfg = rules.load(config or settings.alerts.config)
    return AlertService(
        settings=settings,
        registry=registry_mod.load(settings.ingest.registry),
        config=cfg,
        store=open_store(settings.influx) if with_store else None,
        clock=SystemClock(),
    )


@alerts_app.command("check")
def alerts_check(config: AlertsConfigOpt = None) -> None:
    """Validate the alert rules and channels."""
    from alerts import rules

    path = config or _settings().alerts.config
    cfg = rules.load(path)
    typer.echo(
        f"{path}: ok ({len(cfg.rules)} rules, {len(cfg.enterprises)} enterprises with channels)"
    )


@alerts_app.command("run")
def alerts_run(
    config: AlertsConfigOpt = None,
    registry: RegistryOpt = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "INFO",
) -> None:
    """Run the alert service until SIGINT/SIGTERM."""
    configure_logging(log_level)
    service = _alert_service(config, registry)
    service.start()
    _wait_for_signal()
    service.stop()


@alerts_app.command("list")
def alerts_list(config: AlertsConfigOpt = None, registry: RegistryOpt = None) -> None:
    """Open alerts: id, state, severity, rule, enterprise, subject, message."""
    service = _alert_service(config, registry, with_store=False)
    for a in service.db.open_alerts():
        head = f"{a.id}  {a.state:<12} {a.severity:<8} {a.rule:<24} {a.enterprise:<14}"
        typer.echo(f"{head} {a.subject}  {a.message}")


@alerts_app.command("ack")
def alerts_ack(
    alert_id: Annotated[str, typer.Argument(help="alert id (smartpark alerts list)")],
    by: Annotated[str, typer.Option(help="who acknowledges")],
    config: AlertsConfigOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Acknowledge a firing alert: no more reminders or escalation; the running service notifies."""
    service = _alert_service(config, registry)
    if not service.ack(alert_id, by):
        raise SmartparkError(f"no firing alert with id {alert_id!r}")
    typer.echo(f"acknowledged {alert_id} by {by}")


@app.command()
def demo(
    registry: RegistryOpt = None,
    rate: Annotated[
        float,
        typer.Option(help="at most this many messages/s: sets the park's reading interval"),
    ] = 200.0,
    batch: Annotated[int, typer.Option(help="readings per message")] = 1,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
) -> None:
    """Local Mosquitto and InfluxDB (unless configured), collector, processor, alerts, the
    example park live, and live figures."""
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
