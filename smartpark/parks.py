"""Which park a stage serves: one rule, one message, for every stage (pure).

Each stage that works on one park (the processor, the dashboards) calls
:func:`choose_park` with ``settings.park.id``; the rule lives here so that a stage that
serves several parks later extends it here, not in a copy of its own.
"""

from __future__ import annotations

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
