"""InfluxQL built from typed, validated parameters (pure).

Identifiers are double-quoted and string literals single-quoted, each with its
backslash and quote escaped, and both are refused if they contain a newline, so
no caller-supplied text can change the shape of a statement.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

Aggregate = Literal["count", "mean", "sum", "min", "max", "first", "last", "spread"]


def _no_newline(text: str) -> str:
    if "\n" in text or "\r" in text:
        raise ValueError(f"newline in InfluxQL parameter: {text!r}")
    return text


def quote_ident(name: str) -> str:
    if not name:
        raise ValueError("empty identifier")
    return '"' + _no_newline(name).replace("\\", "\\\\").replace('"', '\\"') + '"'


def quote_string(value: str) -> str:
    return "'" + _no_newline(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


def rfc3339(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("query times must be timezone-aware")
    return quote_string(moment.isoformat())


@dataclass(frozen=True, slots=True)
class Select:
    """``SELECT fields FROM measurement WHERE tags AND time GROUP BY ...``; ``fields`` may
    be ``["*"]`` (every field and tag)."""

    measurement: str
    fields: Sequence[str]
    aggregate: Aggregate | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    start: datetime | None = None
    end: datetime | None = None
    group_by_tags: Sequence[str] = ()
    limit: int | None = None
    group_by_time_s: int | None = None  # with an aggregate: one row per interval
    newest_first: bool = False
    retention_policy: str | None = None  # None: the database's default policy

    def to_influxql(self) -> str:
        if not self.fields:
            raise ValueError("select at least one field")
        if tuple(self.fields) == ("*",):
            if self.aggregate is not None:
                raise ValueError("no aggregate over every field")
            cols = "*"
        elif self.aggregate is None:
            cols = ", ".join(quote_ident(f) for f in self.fields)
        else:
            cols = ", ".join(
                f"{self.aggregate}({quote_ident(f)}) AS {quote_ident(f)}" for f in self.fields
            )
        conds = [f"{quote_ident(k)} = {quote_string(v)}" for k, v in sorted(self.tags.items())]
        if self.start is not None:
            conds.append(f"time >= {rfc3339(self.start)}")
        if self.end is not None:
            conds.append(f"time < {rfc3339(self.end)}")
        # Every part is a quoted identifier, a quoted literal or a validated number.
        source = quote_ident(self.measurement)
        if self.retention_policy is not None:
            source = f"{quote_ident(self.retention_policy)}.{source}"
        text = f"SELECT {cols} FROM {source}"  # noqa: S608
        if conds:
            text += " WHERE " + " AND ".join(conds)
        groups = [quote_ident(t) for t in self.group_by_tags]
        if self.group_by_time_s is not None:
            if self.aggregate is None or self.group_by_time_s < 1:
                raise ValueError("GROUP BY time needs an aggregate and a positive interval")
            groups.insert(0, f"time({int(self.group_by_time_s)}s)")
        if groups:
            text += " GROUP BY " + ", ".join(groups)
        if self.group_by_time_s is not None:
            text += " fill(none)"
        if self.newest_first:
            text += " ORDER BY time DESC"
        if self.limit is not None:
            if self.limit < 1:
                raise ValueError(f"limit must be positive: {self.limit}")
            text += f" LIMIT {int(self.limit)}"
        return text


def create_database(name: str) -> str:
    return f"CREATE DATABASE {quote_ident(name)}"


def create_retention_policy(name: str, database: str, days: int, *, alter: bool = False) -> str:
    """``CREATE`` (or ``ALTER``) a non-default retention policy of ``days`` days."""
    if days < 1:
        raise ValueError(f"a retention policy keeps at least a day: {days}")
    verb = "ALTER" if alter else "CREATE"
    return (
        f"{verb} RETENTION POLICY {quote_ident(name)} ON {quote_ident(database)} "
        f"DURATION {int(days)}d{'' if alter else ' REPLICATION 1'}"
    )


def show_retention_policies(database: str) -> str:
    return f"SHOW RETENTION POLICIES ON {quote_ident(database)}"


def copy_into(
    database: str, source_rp: str, target_rp: str, measurement: str, start: datetime, end: datetime
) -> str:
    """``SELECT * INTO`` one measurement's points of [start, end) from one policy to
    another, tags kept as tags (``GROUP BY *``)."""
    db, m = quote_ident(database), quote_ident(measurement)
    return (
        f"SELECT * INTO {db}.{quote_ident(target_rp)}.{m} "  # noqa: S608 - quoted parts only
        f"FROM {db}.{quote_ident(source_rp)}.{m} "
        f"WHERE time >= {rfc3339(start)} AND time < {rfc3339(end)} GROUP BY *"
    )
