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
    backfill_days: Annotated[
        int,
        typer.Option(
            min=0,
            help="days of history before today (a reading a minute, through the collector and "
            "the processor, then the scheduled jobs) before the live feed; 0: none",
        ),
    ] = 30,
) -> None:
    """Local Mosquitto and InfluxDB (unless configured), collector, processor, alerts, the
    example park live, and live figures."""
    from devstack.demo import run_demo

    configure_logging("WARNING")
    run_demo(
        settings(registry), rate=rate, batch=batch, duration_s=duration, console=console,
        history_days=backfill_days,
    )  # fmt: skip


scenario_app = typer.Typer(no_args_is_help=True, help="Scenarios through the whole pipeline.")
app.add_typer(scenario_app, name="scenario")


@scenario_app.command("check")
def scenario_check(
    scenario: Annotated[str, typer.Argument(help="scenario YAML, or the name of a shipped one")],
    timeout: Annotated[float, typer.Option(help="seconds to wait for each stage")] = 600.0,
) -> None:
    """Run a scenario through local servers, the collector, the processor and the alert
    service, and compare the alerts and KPIs with the scenario's checks (exit 1 if any fail)."""
    from pathlib import Path

    from devstack import scenario_check
    from simulators import scenario as scenario_mod

    configure_logging("WARNING")
    folder = settings().park.registry.parent / "scenarios"
    loaded = scenario_mod.load(scenario_mod.find(Path(scenario), folder))
    console.print(f"checking {loaded.name} through the whole pipeline ...")
    outcome = scenario_check.run(loaded, timeout_s=timeout)
    for good, line in outcome.lines:
        typer.echo(f"{'ok  ' if good else 'FAIL'} {line}")
    if not outcome.ok:
        console.print(f"[red]{loaded.name}: checks failed[/red]; logs in {outcome.workdir}")
        raise typer.Exit(1)
    typer.echo(f"{loaded.name}: every check passed")
