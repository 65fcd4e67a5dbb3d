"""``smartpark demo``: the whole pipeline on local servers, for a first look."""

from __future__ import annotations

from typing import Annotated

import typer

from smartpark.commands import RegistryOpt, console, settings
from smartpark.log import configure_logging

app = typer.Typer(no_args_is_help=True, add_completion=False)


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
    from devstack.demo import run_demo

    configure_logging("WARNING")
    run_demo(settings(registry), rate=rate, batch=batch, duration_s=duration, console=console)
