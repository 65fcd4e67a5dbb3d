"""Which park a stage serves: one rule, one message, for every stage (pure).

Each stage that works on one park (a processor, the dashboards) calls
:func:`choose_park` with ``settings.park.id``, and finds the park's processing
configuration with :func:`processing_config`; the rules live here so that every stage
applies them alike.
"""

from __future__ import annotations

from pathlib import Path

from smartpark.errors import ConfigError
from smartpark.registry import Registry


def choose_park(registry: Registry, wanted: str | None) -> str:
    """The park id: ``wanted`` (``SMARTPARK_PARK__ID`` or ``--park``), which the registry
    must have, or else the registry's only park. With several parks and none chosen this
    refuses rather than guessing (``ConfigError``)."""
    known = ", ".join(registry.parks)
    if wanted is None:
        if len(registry.parks) != 1:
            raise ConfigError(
                f"the registry has {len(registry.parks)} parks ({known}): choose one with "
                "--park or SMARTPARK_PARK__ID"
            )
        return next(iter(registry.parks))
    if wanted not in registry.parks:
        raise ConfigError(f"unknown park {wanted!r}; the registry has {known}")
    return wanted


def processing_config(path: Path, park: str) -> Path:
    """The processing configuration (targets, factors, contracts, declarations, quotas)
    of ``park``: ``path`` itself when it is a file (one park, or every park alike), or
    ``path/<park>.yaml`` when it is a directory (a deployment of several parks, each with
    its own). ``ConfigError`` when a directory has no file for the park."""
    if not path.is_dir():
        return path
    mine = path / f"{park}.yaml"
    if not mine.is_file():
        have = ", ".join(sorted(p.stem for p in path.glob("*.yaml"))) or "none"
        raise ConfigError(
            f"{path} is a directory of processing configurations and has no {mine.name} "
            f"for park {park!r} (it has: {have})"
        )
    return mine
