"""``smartpark alerts run | check | list | ack``: thin commands over ``alerts.app``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from smartpark.commands import LogLevelOpt, RegistryOpt, reloader, settings, wait_for_signal
from smartpark.errors import SmartparkError
from smartpark.log import configure_logging

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="The alert service and its alerts."
)

ConfigOpt = Annotated[
    Path | None,
    typer.Option("--config", help="alert rules YAML (default: SMARTPARK_ALERTS__CONFIG)"),
]


@app.command("check")
def check(config: ConfigOpt = None, registry: RegistryOpt = None) -> None:
    """Validate the alert rules and channels against the registry and the settings."""
    from alerts import app as stage

    s = settings(registry, alerts={"config": config})
    _registry, cfg = stage.load(s)
    typer.echo(
        f"{s.alerts.config}: ok ({len(cfg.rules)} rules, "
        f"{len(cfg.enterprises)} enterprises with channels)"
    )


@app.command("run")
def run(
    config: ConfigOpt = None,
    registry: RegistryOpt = None,
    http_port: Annotated[int | None, typer.Option(help="port of /metrics and /healthz")] = None,
    log_level: LogLevelOpt = "INFO",
) -> None:
    """Run the alert service until SIGINT/SIGTERM; SIGHUP rereads the registry."""
    from alerts import app as stage

    configure_logging(log_level)
    s = settings(registry, alerts={"config": config, "http_port": http_port})
    stage_ = stage.build(s)
    stage_.start()
    service = stage_.service
    wait_for_signal(
        on_reload=reloader(
            "registry", lambda: stage.checked_registry(s, service.config), service.use_registry
        )
    )
    stage_.stop()


@app.command("list")
def list_(
    enterprise: Annotated[str | None, typer.Option(help="only this enterprise's alerts")] = None,
    severity: Annotated[str | None, typer.Option(help="info, warning or critical")] = None,
    state: Annotated[str | None, typer.Option(help="firing or acknowledged")] = None,
) -> None:
    """Open alerts (from the alert database only): id, state, severity, rule, enterprise,
    subject, message."""
    from smartpark.alertstore import AlertDB

    db = AlertDB(settings().alerts.db)
    try:
        alerts = [
            a
            for a in db.open_alerts()
            if (enterprise is None or a.enterprise == enterprise)
            and (severity is None or a.severity == severity)
            and (state is None or a.state == state)
        ]
    finally:
        db.close()
    if not alerts:
        typer.echo("no open alerts")
    for a in alerts:
        head = f"{a.id}  {a.state:<12} {a.severity:<8} {a.rule:<24} {a.enterprise:<14}"
        typer.echo(f"{head} {a.subject}  {a.message}")


@app.command("ack")
def ack(
    alert_id: Annotated[str, typer.Argument(help="alert id (smartpark alerts list)")],
    by: Annotated[str, typer.Option(help="who acknowledges")],
    config: ConfigOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Acknowledge a firing alert: no more reminders or escalation; the running service notifies."""
    from alerts import app as stage

    service = stage.build(settings(registry, alerts={"config": config}), serve_http=False).service
    try:
        if not service.ack(alert_id, by):
            raise SmartparkError(f"no firing alert with id {alert_id!r}")
    finally:
        service.db.close()
    typer.echo(f"acknowledged {alert_id} by {by}")
