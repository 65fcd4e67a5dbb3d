"""What every stage's CLI shares: Settings with CLI overrides, common options, waiting
for SIGINT/SIGTERM, printing a summary. Stage CLIs stay thin over their builders."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console

from smartpark.config import problems
from smartpark.errors import ConfigError
from smartpark.settings import Settings

logger = logging.getLogger(__name__)
console = Console(stderr=True, soft_wrap=True)
T = TypeVar("T")

RegistryOpt = Annotated[
    Path | None,
    typer.Option("--registry", "-r", help="park registry YAML (default: SMARTPARK_PARK__REGISTRY)"),
]
LogLevelOpt = Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")]


def settings(registry: Path | None = None, **sections: dict[str, Any]) -> Settings:
    """Settings from the environment, with CLI overrides per section (None: not given)."""
    try:
        out = Settings()
    except ValidationError as exc:
        raise ConfigError("invalid SMARTPARK_* settings", problems(None, exc)) from exc
    except SettingsError as exc:  # a value that must be JSON is not
        section = str(exc).split('field "', 1)[-1].split('"', 1)[0]
        raise ConfigError(
            f"invalid SMARTPARK_{section.upper()}__* settings: {exc}; a setting that takes "
            """JSON must be valid JSON, e.g. SMARTPARK_ALERTS__WEBHOOK_SECRETS='{"e08": "..."}'"""
        ) from exc
    if registry is not None:
        sections = {**sections, "park": {**sections.get("park", {}), "registry": registry}}
    for name, changes in sections.items():
        changes = {k: v for k, v in changes.items() if v is not None}
        if changes:
            section = getattr(out, name)
            setattr(out, name, section.model_copy(update=changes))
    return out


def wait_for_signal(
    on_reload: Callable[[], None] | None = None, every: Callable[[], None] | None = None
) -> None:
    """Block until SIGINT or SIGTERM; on SIGHUP call ``on_reload`` (in this thread), and
    ``every`` about every 0.2 s.

    The handlers only append to a list. A handler runs in this thread between two
    bytecodes, so one that took a lock (``threading.Event.set``) while this thread held
    it inside ``Event.wait`` would wait for itself for ever: a processor did, and outlived
    its supervisor by a quarter of an hour."""
    received: list[int] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: received.append(signum))
    if on_reload is not None:
        signal.signal(signal.SIGHUP, lambda signum, _frame: received.append(signum))
    while True:
        time.sleep(0.2)  # a signal cuts it short only by running its handler
        taken = len(received)  # what a handler appends meanwhile waits for the next turn
        signals = set(received[:taken])
        del received[:taken]
        if signals - {signal.SIGHUP}:
            return
        if signals and on_reload is not None:
            on_reload()  # once for a burst of SIGHUPs
        if every is not None:
            every()


def reload_on_sighup(reload: Callable[[], None]) -> None:
    """For a service whose main thread another loop owns (uvicorn): on SIGHUP run
    ``reload`` on a thread of its own (the signal handler itself does no I/O)."""

    def handler(*_: Any) -> None:
        threading.Thread(target=reload, name="reload", daemon=True).start()

    signal.signal(signal.SIGHUP, handler)


def reloader(what: str, load: Callable[[], T], use: Callable[[T], None]) -> Callable[[], None]:
    """The SIGHUP handler of a service (``wait_for_signal(on_reload=...)``): ``load`` reads
    and validates anew, and only what passed goes to ``use``; a ``ConfigError`` is logged
    with where each problem is, and the service keeps what it has in use."""

    def reload() -> None:
        try:
            new = load()
        except ConfigError as exc:
            logger.error("%s not reloaded, keeping the one in use: %s %s", what, exc, exc.problems)
            return
        use(new)

    return reload


def echo_lines(lines: Iterable[str]) -> None:
    for line in lines:
        typer.echo(line)
