"""``smartpark process``, ``rollup`` and ``jobs run``: thin commands over ``processing.app``."""

from __future__ import annotations

import logging
import os
import threading
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from smartpark.commands import LogLevelOpt, RegistryOpt, reloader, settings, wait_for_signal
from smartpark.errors import ConfigError
from smartpark.log import configure_logging
from smartpark.registry import Registry
from smartpark.settings import Settings

logger = logging.getLogger(__name__)
app = typer.Typer(no_args_is_help=True, add_completion=False)

ConfigOpt = Annotated[
    Path | None,
    typer.Option(help="processing configuration YAML (default: SMARTPARK_PROCESSING__CONFIG)"),
]
ParkOpt = Annotated[str | None, typer.Option(help="park id (default: the registry's only park)")]


@app.command()
def process(
    config: ConfigOpt = None,
    park: ParkOpt = None,
    registry: RegistryOpt = None,
    http_port: Annotated[int | None, typer.Option(help="port of /metrics and /healthz")] = None,
    check: Annotated[
        bool, typer.Option("--check", help="validate the configuration and exit")
    ] = False,
    log_level: LogLevelOpt = "INFO",
) -> None:
    """Run the stream processor of a park: readings from MQTT, KPIs to InfluxDB and MQTT;
    SIGHUP rereads the registry. With several parks in the registry and none chosen, one
    processor per park under one supervisor."""
    from processing import app as stage
    from smartpark import registry as registry_mod

    configure_logging(log_level)
    s = settings(registry, park={"id": park}, processing={"config": config, "http_port": http_port})
    registry_now = registry_mod.load(s.park.registry)
    parks = list(registry_now.parks) if s.park.id is None else [s.park.id]
    if check:
        for one in parks:
            setup = stage.load(
                s.model_copy(update={"park": s.park.model_copy(update={"id": one})}), registry_now
            )
            tags = ", ".join(f"{k}={v}" for k, v in setup.coefficients.tags().items())
            typer.echo(f"{setup.config_path}: ok (park {setup.park_id}; {tags})")
        return
    if len(parks) > 1:
        _supervise(s, parks, registry_now, config=config, registry=registry,
                   log_level=log_level)  # fmt: skip
        return
    processing = stage.build(s)
    processing.start()
    wait_for_signal(
        on_reload=reloader(
            "registry",
            lambda: stage.checked_registry(s, processing.setup),
            processing.use_registry,
        )
    )
    # A stop that hangs (a store that stopped answering mid-write) must not keep the
    # process, and its broker session, from its successor: everything it derived is
    # recomputed from the journal and the store at the next start.
    deadline = threading.Timer(STOP_DEADLINE_S, _exit_now)
    deadline.daemon = True
    deadline.start()
    processing.stop()
    deadline.cancel()


STOP_DEADLINE_S = 30.0


def _exit_now() -> None:
    logger.error("did not stop within %.0f s: exiting now (the next start recovers from "
                 "the journal and the store)", STOP_DEADLINE_S)  # fmt: skip
    logging.shutdown()
    os._exit(1)


def _supervise(
    s: Settings, parks: list[str], registry_now: Registry, *, config: Path | None,
    registry: Path | None, log_level: str,
) -> None:  # fmt: skip
    from processing import app as stage
    from processing import supervise
    from smartpark import registry as registry_mod

    for one in parks:  # refuse a bad configuration of any park before starting one
        stage.load(s.model_copy(update={"park": s.park.model_copy(update={"id": one})}),
                   registry_now)  # fmt: skip
    argv = supervise.child_argv(
        config=None if config is None else str(config),
        registry=None if registry is None else str(registry),
        log_level=log_level,
    )
    p = s.processing
    supervisor = supervise.Supervisor(argv, parks, host=p.http_host, port=p.http_port)
    supervisor.start()

    parks_now = reloader("registry", lambda: list(registry_mod.load(s.park.registry).parks),
                         supervisor.reload)  # fmt: skip
    wait_for_signal(on_reload=parks_now, every=supervisor.poll)
    supervisor.stop()


@app.command()
def rollup(
    window: Annotated[str, typer.Argument(help="1m, 15m, 1h, 1d or 1mo")],
    start: Annotated[datetime, typer.Option(help="first window start, ISO 8601 with offset")],
    end: Annotated[datetime, typer.Option(help="end (exclusive), ISO 8601 with offset")],
    config: ConfigOpt = None,
    park: ParkOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Recompute KPIs of a period from the stored readings (idempotent: same points again)."""
    from processing import app as stage
    from smartpark.clock import SystemClock
    from smartpark.windows import WINDOWS

    configure_logging("WARNING")
    if window not in WINDOWS:
        raise ConfigError(f"unknown window {window!r}; one of {', '.join(WINDOWS)}")
    if start.tzinfo is None or end.tzinfo is None:
        raise ConfigError("--start and --end need a UTC offset, e.g. 2026-11-02T00:00:00+08:00")
    if end <= start:
        raise ConfigError(f"--end {end.isoformat()} is not after --start {start.isoformat()}")
    s = settings(registry, park={"id": park}, processing={"config": config})
    jobs = stage.jobs(stage.load(s), s, clock=SystemClock())
    points = jobs.rollup(window, start, end)
    typer.echo(f"rollup {window} {start.isoformat()} .. {end.isoformat()}: {points} points")


jobs_app = typer.Typer(no_args_is_help=True, add_completion=False,
                       help="the scheduled jobs, run for any period")  # fmt: skip
app.add_typer(jobs_app, name="jobs")


@jobs_app.command("run")
def run_jobs(
    job: Annotated[str, typer.Argument(help="hourly, daily, monthly or stale")],
    hour: Annotated[str | None, typer.Option(help="hourly: the local hour, YYYY-MM-DDTHH")] = None,
    day: Annotated[str | None, typer.Option(help="daily: the local day, YYYY-MM-DD")] = None,
    month: Annotated[str | None, typer.Option(help="monthly: the month, YYYY-MM")] = None,
    through: Annotated[
        str | None, typer.Option(help="run every period up to this one too (same form)")
    ] = None,
    config: ConfigOpt = None,
    park: ParkOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Run a scheduled job for a past period (the code the scheduler runs), in the park's
    time zone: hourly --hour, daily --day, monthly --month; stale takes none."""
    from processing import app as stage
    from processing import periods
    from smartpark.clock import SystemClock

    configure_logging("WARNING")
    given = {"hourly": ("--hour", hour), "daily": ("--day", day), "monthly": ("--month", month)}
    if job not in (*given, "stale"):
        raise ConfigError(f"unknown job {job!r}; one of hourly, daily, monthly, stale")
    wrong = [option for name, (option, value) in given.items() if value and name != job]
    if wrong or (job == "stale" and through):
        raise ConfigError(f"{', '.join(wrong) or '--through'} does not apply to the {job} job")
    if job != "stale" and given[job][1] is None:
        raise ConfigError(f"the {job} job needs {given[job][0]}")
    s = settings(registry, park={"id": park}, processing={"config": config})
    jobs = stage.jobs(stage.load(s), s, clock=SystemClock())
    try:
        if job == "stale":
            stale = jobs.stale_sensors()
            typer.echo(f"stale: {len(stale)} sensors" + (f" ({', '.join(stale)})" if stale else ""))
            return
        kind: periods.PeriodJob = job  # type: ignore[assignment]
        text = given[kind][1] or ""
        first = periods.parse(kind, text, jobs.zone)
        last = periods.parse(kind, through, jobs.zone) if through is not None else first
        if last < first:
            raise ConfigError(f"--through {through} is before {text}")
        for start in periods.periods(kind, first, last):
            written = periods.run(jobs, kind, start)
            label = start.strftime(periods.FORMATS[kind][0])
            typer.echo(f"{job} {label}: " + " ".join(f"{k}={v}" for k, v in written.items()))
    finally:
        jobs.store.close()
