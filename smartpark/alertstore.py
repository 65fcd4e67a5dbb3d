"""Alert state, history and the delivery outbox in SQLite (survives restarts).

The alert service writes it; the API reads alerts and their history from it (and asks
the alert service, over MQTT, for acknowledgements), so it lives in the core.

Tables: ``alerts`` (one row per alert; at most one unresolved per rule, park and subject),
``events`` (the history: fired, reminded, escalated, acknowledged, resolved),
``outbox`` (one row per notification and channel, with its idempotency key, attempts,
next attempt time and the last error) and ``partial`` (what a rule has gathered toward
its next decision, per rule and ``park|key``: a CEMS hour's minutes, a for-duration's
start).
One connection, guarded by a lock; :meth:`AlertDB.transaction` makes several changes one
commit.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS alerts (
    id TEXT PRIMARY KEY, rule TEXT NOT NULL, severity TEXT NOT NULL, park TEXT NOT NULL,
    enterprise TEXT NOT NULL, subject TEXT NOT NULL, state TEXT NOT NULL,
    value REAL, limit_value REAL, message TEXT NOT NULL,
    fired_ms INTEGER NOT NULL, acked_ms INTEGER, acked_by TEXT, cleared_ms INTEGER,
    resolved_ms INTEGER, notified_ms INTEGER, reminders INTEGER NOT NULL DEFAULT 0,
    escalated INTEGER NOT NULL DEFAULT 0, seq INTEGER NOT NULL DEFAULT 0,
    first_notified_ms INTEGER, cleared_wall_ms INTEGER
);
DROP INDEX IF EXISTS one_open_alert;
CREATE UNIQUE INDEX IF NOT EXISTS one_open_alert_per_park
    ON alerts(rule, park, subject) WHERE state != 'resolved';
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, alert_id TEXT NOT NULL, kind TEXT NOT NULL,
    at_ms INTEGER NOT NULL, detail TEXT
);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT, channel TEXT NOT NULL, key TEXT NOT NULL,
    payload BLOB NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_ms INTEGER NOT NULL,
    delivered_ms INTEGER, last_error TEXT, created_ms INTEGER NOT NULL,
    UNIQUE(channel, key)
);
CREATE INDEX IF NOT EXISTS due ON outbox(channel, delivered_ms, next_ms);
CREATE TABLE IF NOT EXISTS partial (
    rule TEXT NOT NULL, key TEXT NOT NULL, state BLOB NOT NULL, PRIMARY KEY (rule, key)
);
"""

# Columns added after the first release: (name, type), added to older databases on open.
ADDED_COLUMNS = (("first_notified_ms", "INTEGER"), ("cleared_wall_ms", "INTEGER"))


@dataclass(slots=True)
class Alert:
    id: str
    rule: str
    severity: str
    park: str
    enterprise: str
    subject: str
    state: str
    value: float | None
    limit_value: float | None
    message: str
    fired_ms: int
    acked_ms: int | None = None
    acked_by: str | None = None
    cleared_ms: int | None = None
    resolved_ms: int | None = None
    notified_ms: int | None = None  # wall clock of the last notice (reminders pace from it)
    reminders: int = 0
    escalated: int = 0
    seq: int = 0
    first_notified_ms: int | None = None  # wall clock of the first notice (escalation)
    cleared_wall_ms: int | None = None  # wall clock of the clear (``cleared_ms``: event time)


class AlertDB:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()  # re-entered by the methods called in a transaction
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.executescript(SCHEMA)
        have = {r["name"] for r in self._db.execute("PRAGMA table_info(alerts)").fetchall()}
        for name, kind in ADDED_COLUMNS:
            if name not in have:
                self._db.execute(f"ALTER TABLE alerts ADD COLUMN {name} {kind}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Everything this thread writes inside is one commit (or, on an exception, none);
        other threads wait for it."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                yield
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")

    @contextmanager
    def _atomic(self) -> Iterator[None]:
        """A transaction of its own, unless one is open already (then part of it)."""
        with self._lock:
            if self._db.in_transaction:
                yield
            else:
                with self.transaction():
                    yield

    # -- partial state -----------------------------------------------------------------

    def keep_partial(self, rows: Iterable[tuple[str, str, Any]]) -> None:
        """Replace the partial state of each (rule, key); a state of None deletes it."""
        with self._atomic():
            for rule, key, state in rows:
                if state is None:
                    self._db.execute("DELETE FROM partial WHERE rule = ? AND key = ?", (rule, key))
                else:
                    self._db.execute(
                        "INSERT OR REPLACE INTO partial (rule, key, state) VALUES (?, ?, ?)",
                        (rule, key, orjson.dumps(state)),
                    )

    def partials(self) -> list[tuple[str, str, Any]]:
        """Every kept partial state: (rule, key, state)."""
        with self._lock:
            rows = self._db.execute("SELECT rule, key, state FROM partial").fetchall()
        return [(r["rule"], r["key"], orjson.loads(r["state"])) for r in rows]

    def _one(self, sql: str, args: tuple[Any, ...]) -> Alert | None:
        with self._lock:
            row = self._db.execute(sql, args).fetchone()
        return Alert(**dict(row)) if row else None

    def open_alert(self, rule: str, park: str, subject: str) -> Alert | None:
        """The open alert of a rule for a subject of a park (ids are unique per park only)."""
        return self._one(
            "SELECT * FROM alerts WHERE rule = ? AND park = ? AND subject = ? "
            "AND state != 'resolved'",
            (rule, park, subject),
        )

    def get(self, alert_id: str) -> Alert | None:
        return self._one("SELECT * FROM alerts WHERE id = ?", (alert_id,))

    def open_alerts(self) -> list[Alert]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM alerts WHERE state != 'resolved'").fetchall()
        return [Alert(**dict(r)) for r in rows]

    def history(self, alert_id: str) -> list[tuple[str, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT kind, at_ms FROM events WHERE alert_id = ? ORDER BY seq", (alert_id,)
            ).fetchall()
        return [(r["kind"], r["at_ms"]) for r in rows]

    def save(self, alert: Alert, event: str | None, at_ms: int, detail: str = "") -> None:
        """Insert or update the alert and append its event, in one transaction (or in the
        caller's, see :meth:`transaction`)."""
        fields = alert.__dataclass_fields__
        cols = ", ".join(fields)
        marks = ", ".join("?" for _ in fields)
        values = tuple(getattr(alert, f) for f in fields)
        with self._atomic():
            self._db.execute(f"INSERT OR REPLACE INTO alerts ({cols}) VALUES ({marks})", values)  # noqa: S608
            if event:
                self._db.execute(
                    "INSERT INTO events (alert_id, kind, at_ms, detail) VALUES (?, ?, ?, ?)",
                    (alert.id, event, at_ms, detail),
                )

    # -- outbox ------------------------------------------------------------------------

    def enqueue(self, channel: str, key: str, payload: Mapping[str, object], now_ms: int) -> bool:
        """Queue one delivery; False if this key was queued for this channel already."""
        with self._lock:
            cur = self._db.execute(
                "INSERT OR IGNORE INTO outbox (channel, key, payload, next_ms, created_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (channel, key, orjson.dumps(payload), now_ms, now_ms),
            )
        return cur.rowcount == 1

    def due(self, channel: str, now_ms: int, limit: int = 50) -> list[tuple[int, str, bytes, int]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, key, payload, attempts FROM outbox WHERE channel = ? AND "
                "delivered_ms IS NULL AND next_ms <= ? ORDER BY id LIMIT ?",
                (channel, now_ms, limit),
            ).fetchall()
        return [(r["id"], r["key"], r["payload"], r["attempts"]) for r in rows]

    def next_due_ms(self, channel: str) -> int | None:
        with self._lock:
            row = self._db.execute(
                "SELECT MIN(next_ms) FROM outbox WHERE channel = ? AND delivered_ms IS NULL",
                (channel,),
            ).fetchone()
        return row[0] if row else None

    def delivered(self, row_id: int, now_ms: int) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET delivered_ms = ?, attempts = attempts + 1 WHERE id = ?",
                (now_ms, row_id),
            )

    def failed(self, row_id: int, next_ms: int, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_ms = ?, last_error = ? "
                "WHERE id = ?",
                (next_ms, error[:500], row_id),
            )

    def backlog(self) -> dict[str, tuple[int, int, int | None]]:
        """Per channel with undelivered notices: (pending, of them failed at least once,
        created_ms of the oldest)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT channel, COUNT(*), SUM(attempts > 0), MIN(created_ms) FROM outbox "
                "WHERE delivered_ms IS NULL GROUP BY channel"
            ).fetchall()
        return {r[0]: (int(r[1]), int(r[2] or 0), r[3]) for r in rows}

    def page(
        self,
        *,
        park: str,
        enterprises: list[str] | None,
        states: list[str] | None,
        severity: str | None,
        rule: str | None,
        since_ms: int | None,
        until_ms: int | None,
        after: tuple[int, str] | None,
        limit: int,
    ) -> list[Alert]:
        """Alerts newest first, filtered; ``after`` is the (fired_ms, id) cursor of the last
        row of the previous page. Every value is a bound parameter."""
        sql = ["SELECT * FROM alerts WHERE park = ?"]
        args: list[Any] = [park]
        if enterprises is not None:
            sql.append(f"AND enterprise IN ({', '.join('?' for _ in enterprises) or 'NULL'})")
            args += enterprises
        if states:
            sql.append(f"AND state IN ({', '.join('?' for _ in states)})")
            args += states
        for column, value in (("severity", severity), ("rule", rule)):
            if value is not None:
                sql.append(f"AND {column} = ?")
                args.append(value)
        if since_ms is not None:
            sql.append("AND fired_ms >= ?")
            args.append(since_ms)
        if until_ms is not None:
            sql.append("AND fired_ms < ?")
            args.append(until_ms)
        if after is not None:
            sql.append("AND (fired_ms < ? OR (fired_ms = ? AND id < ?))")
            args += [after[0], after[0], after[1]]
        sql.append("ORDER BY fired_ms DESC, id DESC LIMIT ?")
        args.append(limit)
        with self._lock:
            rows = self._db.execute(" ".join(sql), args).fetchall()
        return [Alert(**dict(r)) for r in rows]

    def channels(self) -> list[str]:
        with self._lock:
            rows = self._db.execute(
                "SELECT DISTINCT channel FROM outbox WHERE delivered_ms IS NULL"
            ).fetchall()
        return [r[0] for r in rows]

    def outbox(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT * FROM outbox ORDER BY id").fetchall()
        return [dict(r) for r in rows]
