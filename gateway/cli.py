"""``smartpark gateway``: the edge gateway, a thin command over ``gateway.app``."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from smartpark.commands import LogLevelOpt, RegistryOpt, settings, wait_for_signal
from smartpark.log import configure_logging

logger = logging.getLogger(__name__)

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.command("gateway")
def gateway_cmd(
    registry: RegistryOpt = None,
    gateway_id: Annotated[
        str | None, typer.Option("--id", help="the registry's gateway to run (default: its only)")
    ] = None,
    hj212_port: Annotated[int | None, typer.Option(help="HJ 212 listener port (0: none)")] = None,
    http_port: Annotated[int | None, typer.Option(help="port of /metrics and /healthz")] = None,
    log_level: LogLevelOpt = "INFO",
) -> None:
    """Run the edge gateway (Modbus pollers, HJ 212 listener, store-and-forward) until
    SIGINT/SIGTERM."""
    from gateway import app as stage

    configure_logging(log_level)
    s = settings(
        registry, gateway={"id": gateway_id, "hj212_port": hj212_port, "http_port": http_port}
    )
    gw = stage.build(s)
    gw.start()
    if gw.http is not None:
        logger.info(
            "status on http://%s:%d/metrics and /healthz", s.gateway.http_host, gw.http.port
        )
    wait_for_signal()
    gw.stop()
