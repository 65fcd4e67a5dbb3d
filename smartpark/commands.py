"""What every stage's CLI shares: Settings with CLI overrides, common options, waiting
for SIGINT/SIGTERM, printing a summary. Stage CLIs stay thin over their builders."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console

from smartpark.config import problems
from smartpark.errors import ConfigError
from smartpark.settings import Settings

console = Console(stderr=True, soft_wrap=True)

RegistryOpt = Annotated[
    Path | None,
    typer.Option(
        "--registry", "-r", help="park registry YAML (default: SMARTPARK_INGEST__REGISTRY)"
    ),
]
LogLevelOpt = Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")]


def settings(registry: Path | None = None, **sections: dict[str, Any]) -> Settings:
    """Settings from the environment, with CLI overrides per section (None: not given)."""
    try:
        out = Settings()
    except ValidationError as exc:
        raise ConfigError("invalid SMARTPARK_* settings", problems(None, exc)) from exc
    if registry is not None:
        sections = {**sections, "ingest": {**sections.get("ingest", {}), "registry": registry}}
    for name, changes in sections.items():
        changes = {k: v for k, v in changes.items() if v is not None}
        if changes:
            section = getattr(out, name)
            setattr(out, name, section.model_copy(update=changes))
    return out


def wait_for_signal() -> None:
    """Block until SIGINT or SIGTERM."""
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.wait(1.0):
        pass


def echo_lines(lines: Iterable[str]) -> None:
    for line in lines:
        typer.echo(line)
