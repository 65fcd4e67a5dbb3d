"""``smartpark store setup``: the database and the raw readings' retention policy, and
the move of readings written before the policy existed (they sit in the default one,
where the processor and the API no longer read them).

Readings are copied a day at a time (``SELECT * INTO``, tags kept), so one statement
never holds more than a day of a kind; copying again rewrites the same points."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from smartpark.errors import ConfigError
from smartpark.store.base import Store
from smartpark.store.influx1 import Influx1Store
from smartpark.store.influxql import Select, copy_into, show_retention_policies

DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Policy:
    name: str
    duration: str
    default: bool


def policies(store: Store, database: str) -> list[Policy]:
    rows = [v for s in store.query(show_retention_policies(database)) for v in s.values]
    return [Policy(str(r[0]), str(r[1]), bool(r[4])) for r in rows]


def _span(store: Store, policy: str, kind: str) -> tuple[int, int] | None:
    """The first and last reading's time (ms) of ``kind`` in ``policy``, if any."""
    ends = []
    for newest in (False, True):
        q = Select(kind, ["*"], limit=1, newest_first=newest, retention_policy=policy)
        ends += [int(s.values[0][0]) for s in store.query(q.to_influxql()) if s.values]
    return (min(ends), max(ends)) if ends else None


def left_behind(store: Store, default: str, kinds: Iterable[str]) -> dict[str, tuple[int, int]]:
    """The kinds with readings in the default policy, and their first and last time."""
    out = {}
    for kind in sorted(kinds):
        span = _span(store, default, kind)
        if span is not None:
            out[kind] = span
    return out


def days(first_ms: int, last_ms: int) -> list[tuple[datetime, datetime]]:
    """UTC days covering [first, last] (pure)."""
    day = datetime.fromtimestamp(first_ms / 1000, UTC).replace(hour=0, minute=0, second=0,
                                                                microsecond=0)  # fmt: skip
    last = datetime.fromtimestamp(last_ms / 1000, UTC)
    out = []
    while day <= last:
        out.append((day, day + DAY))
        day += DAY
    return out


def setup(
    store: Influx1Store, kinds: Iterable[str], *, copy: bool, say: Callable[[str], None]
) -> bool:
    """Create the database and the raw policy (or set its duration); with readings left in
    the default policy, copy them (``copy``) or say how. False when readings are left."""
    store.ensure_database()
    found = policies(store, store.database)
    default = next((p.name for p in found if p.default), None)
    for p in found:
        say(f"retention policy {p.name}: {p.duration}{' (default)' if p.default else ''}")
    raw = store.raw_policy
    if raw is None or default is None or raw == default:
        say("raw readings are kept with the roll-ups (no policy of their own)")
        return True
    behind = left_behind(store, default, kinds)
    if not behind:
        return True
    if not copy:
        names = ", ".join(behind)
        say(f"readings of {names} are in the default policy {default}, where they are no "
            f"longer read: run again with --copy-readings to copy them into {raw}")  # fmt: skip
        return False
    for kind, (first, last) in behind.items():
        spans = days(first, last)
        for start, end in spans:
            store.query(copy_into(store.database, default, raw, kind, start, end))
        say(f"{kind}: {len(spans)} day(s) copied from {default} into {raw}")
    say(f"the originals stay in {default}, unread (InfluxDB 1.x deletes a series from every "
        "policy at once, and the roll-ups share that policy's shards)")  # fmt: skip
    return True


def require_v1(store: Store) -> Influx1Store:
    if not isinstance(store, Influx1Store):
        raise ConfigError(
            "store setup is for InfluxDB 1.x (api v1); with api v2 set the bucket's "
            "retention on the bucket"
        )
    return store
