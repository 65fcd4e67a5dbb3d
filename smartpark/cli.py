"""The ``smartpark`` command: the stages' own CLIs, mounted lazily under one root.

Each stage owns its commands (``ingest/cli.py``, ``processing/cli.py``, ...); this
root only knows their names and where they live, imports a stage when one of its
commands runs, and turns every ``SmartparkError`` into one clear message and exit 1.
The core imports no stage: the names below are strings.
"""

from __future__ import annotations

import importlib
import sys
from importlib.metadata import PackageNotFoundError, version
from typing import Annotated

import typer

from smartpark.errors import ConfigError, SmartparkError

HELP = (
    "smartpark: MQTT readings of an industrial park into InfluxDB, live energy and carbon "
    "KPIs, alerts, and simulators to test it all."
)

# command -> the stage CLI module whose typer ``app`` holds it
COMMANDS: dict[str, str] = {
    "config": "ingest.cli",
    "store": "ingest.cli",
    "collect": "ingest.cli",
    "simulate": "simulators.cli",
    "replay": "simulators.cli",
    "record": "simulators.cli",
    "process": "processing.cli",
    "jobs": "processing.cli",
    "rollup": "processing.cli",
    "alerts": "alerts.cli",
    "api": "api.cli",
    "report": "api.reportcli",
    "dashboards": "dashboards.cli",
    "broker": "broker.cli",
    "gateway": "gateway.cli",
    "demo": "devstack.cli",
    "scenario": "devstack.cli",
}
# stage apps mounted as a group of their own (``smartpark alerts run``); the others'
# commands sit at the root (``smartpark collect``)
GROUPS = {
    "alerts.cli": "alerts",
    "api.cli": "api",
    "api.reportcli": "report",
    "dashboards.cli": "dashboards",
    "broker.cli": "broker",
}


def _version() -> str:
    try:
        return version("smartpark")
    except PackageNotFoundError:
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"smartpark {_version()}")
        raise typer.Exit()


def build(argv: list[str]) -> typer.Typer:
    """The root app with the stage apps it needs for ``argv`` mounted: only the stage of
    the command asked for, or every stage for help and unknown commands."""
    root = typer.Typer(no_args_is_help=True, add_completion=False, help=HELP)

    @root.callback()
    def _root(
        _version: Annotated[
            bool,
            typer.Option(
                "--version", callback=_show_version, is_eager=True, help="print the version"
            ),
        ] = False,
    ) -> None:
        pass

    command = next((a for a in argv if not a.startswith("-")), None)
    wanted = [COMMANDS[command]] if command in COMMANDS else list(dict.fromkeys(COMMANDS.values()))
    for module_name in wanted:
        stage = importlib.import_module(module_name)
        if module_name in GROUPS:
            root.add_typer(stage.app, name=GROUPS[module_name])
        else:
            root.add_typer(stage.app)
    return root


def main(argv: list[str] | None = None) -> None:
    """Run the CLI; a ``SmartparkError`` becomes one message (and its problems) and exit 1."""
    args = sys.argv[1:] if argv is None else argv
    try:
        build(args)(args=args, prog_name="smartpark", standalone_mode=True)
    except SmartparkError as exc:
        from smartpark.commands import console

        console.print(f"[red]error:[/red] {exc}", highlight=False)
        if isinstance(exc, ConfigError):
            for problem in exc.problems:
                console.print(f"  {problem}", highlight=False, markup=False)
        sys.exit(1)
