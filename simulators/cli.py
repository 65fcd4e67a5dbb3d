"""``smartpark simulate generate | backfill | live | fixed``, ``smartpark replay`` and
``smartpark record``: thin commands over the simulator modes in ``simulators.run``."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from smartpark import registry as registry_mod
from smartpark.commands import RegistryOpt, console, echo_lines
from smartpark.commands import settings as load_settings
from smartpark.errors import SmartparkError
from smartpark.log import configure_logging

app = typer.Typer(no_args_is_help=True, add_completion=False)
simulate_app = typer.Typer(
    no_args_is_help=True, help="Simulated park feeds: generate, backfill, live, fixed."
)
app.add_typer(simulate_app, name="simulate")


ScenarioArg = Annotated[
    Path,
    typer.Argument(help="scenario YAML, or the name of one beside the registry (normal-week)"),
]
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

    folder = load_settings(registry).park.registry.parent / "scenarios"
    scenario = scenario_mod.load(scenario_mod.find(path, folder))
    if start is not None and start.tzinfo is None:
        raise SmartparkError(f"--start needs a UTC offset: {start.isoformat()}")
    scenario = scenario.with_changes(seed=seed, start=start, days=days, batch=batch)
    if no_faults:
        scenario = scenario.model_copy(update={"faults": scenario.faults.off()})
    return registry_mod.load(registry or scenario.registry), scenario


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
    root = load_settings().mqtt.topic_root
    echo_lines(run.generate(reg, scen, out=out, root=root, console=console).lines())


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
    echo_lines(run.backfill(reg, scen, settings=load_settings().mqtt, console=console).lines())


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
    mqtt = load_settings().mqtt
    echo_lines(run.live(reg, scen, settings=mqtt, console=console, duration_s=duration).lines())


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
    settings = load_settings(registry)
    if duration is None and count is None:
        duration = 10.0
    feed = Feed(
        registry_mod.load(settings.park.registry),
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
    echo_lines(
        run.replay(
            path,
            settings=load_settings().mqtt,
            console=console,
            speed=None if fast else speed,
            shift_to_now=shift_to_now,
        ).lines()
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
    mqtt = load_settings().mqtt
    echo_lines(
        run.record(
            out,
            settings=mqtt,
            topic_filter=topic_filter or f"{mqtt.topic_root}/#",
            console=console,
            duration_s=duration,
            count=count,
        ).lines()
    )
