"""``smartpark collect`` and ``smartpark config check``: thin commands over ``ingest.app``."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from smartpark import registry as registry_mod
from smartpark.commands import (
    LogLevelOpt,
    RegistryOpt,
    console,
    reloader,
    settings,
    wait_for_signal,
)
from smartpark.log import configure_logging

logger = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True, add_completion=False)
config_app = typer.Typer(no_args_is_help=True, help="Check configuration files.")
app.add_typer(config_app, name="config")
store_app = typer.Typer(no_args_is_help=True, help="Set up the store.")
app.add_typer(store_app, name="store")


@store_app.command("setup")
def store_setup(
    registry: RegistryOpt = None,
    copy_readings: Annotated[
        bool, typer.Option(help="copy readings left in the default policy into the raw one")
    ] = False,
) -> None:
    """Create the database and the raw readings' retention policy (or set its duration)."""
    from ingest import storesetup
    from smartpark.store import open_store

    s = settings(registry)
    kinds = registry_mod.load(s.park.registry).kinds
    store = storesetup.require_v1(open_store(s.influx))
    try:
        done = storesetup.setup(store, kinds, copy=copy_readings, say=typer.echo)
    finally:
        store.close()
    if not done:
        raise typer.Exit(1)


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
    log_level: LogLevelOpt = "INFO",
) -> None:
    """Run the MQTT -> InfluxDB collector until SIGINT/SIGTERM."""
    from ingest import app as stage

    configure_logging(log_level)
    s = settings(registry, ingest={"http_port": http_port}, mqtt={"client_id": client_id})
    collector = stage.build(s)
    collector.start()
    if collector.http is not None:
        logger.info(
            "status on http://%s:%d/metrics and /healthz", s.ingest.http_host, collector.http.port
        )

    reload = reloader(
        "registry", lambda: registry_mod.load(s.park.registry), collector.use_registry
    )
    wait_for_signal(on_reload=reload)
    collector.stop()
