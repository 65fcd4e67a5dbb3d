"""API keys and the audit log, in SQLite.

A key is ``sp_<key id>_<secret>``: the id finds the row, the secret (32 random bytes) is
kept only as its SHA-256. Keys are machine-generated with 256 bits of entropy, so a fast
hash is as safe as a slow one (a slow password hash such as argon2 guards guessable
passwords; nobody guesses 2^256) and checking a key costs microseconds, not the 50 ms
argon2 spends on every request. Comparison is constant-time. A key is shown once, at
creation. Every write (key created or revoked, alert acknowledged) goes to ``audit``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Role = Literal["operator", "enterprise", "city"]

SCHEMA = """
PRAGMA journal_mode=WAL;
CREATE TABLE IF NOT EXISTS keys (
    id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, role TEXT NOT NULL, park TEXT NOT NULL,
    enterprise TEXT, name TEXT NOT NULL, created_ms INTEGER NOT NULL, revoked_ms INTEGER
);
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY, key_id TEXT NOT NULL, csrf TEXT NOT NULL,
    created_ms INTEGER NOT NULL, expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tickets (
    id_sha256 TEXT PRIMARY KEY, key_id TEXT NOT NULL, park TEXT NOT NULL,
    expires_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at_ms INTEGER NOT NULL, key_id TEXT NOT NULL,
    who TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL
);
"""


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is asking: a key's role and scope."""

    key_id: str
    name: str
    role: Role
    park: str  # the key's park; a city key's city (the ``city`` its parks name)
    enterprise: str | None  # None for an operator or a city

    def sees(self, enterprise: str) -> bool:
        """May this caller see ``enterprise``'s data? (The park is checked by the caller.)"""
        return self.role in ("operator", "city") or self.enterprise == enterprise


@dataclass(frozen=True, slots=True)
class KeyRow:
    id: str
    role: str
    park: str
    enterprise: str | None
    name: str
    created_ms: int
    revoked_ms: int | None


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyStore:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def create(
        self, *, role: Role, park: str, enterprise: str | None, name: str, by: str = "cli"
    ) -> str:
        """A new key; the returned token is the only copy of its secret."""
        if (role == "enterprise") != (enterprise is not None):
            raise ValueError("an enterprise key names its enterprise; other keys do not")
        key_id = secrets.token_hex(6)
        secret = secrets.token_urlsafe(32)
        now = int(time.time() * 1000)
        with self._lock:
            self._db.execute(
                "INSERT INTO keys (id, secret_sha256, role, park, enterprise, name, created_ms) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                (key_id, _digest(secret), role, park, enterprise, name, now),
            )
        self.audit(key_id=key_id, who=by, action="key.create", target=f"{role}:{park}:{enterprise}")
        return f"sp_{key_id}_{secret}"

    def verify(self, token: str) -> Caller | None:
        """The caller a token belongs to, or None (unknown, malformed or revoked)."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "sp" or len(parts[1]) != 12 or len(token) > 200:
            return None
        with self._lock:
            row = self._db.execute(
                "SELECT secret_sha256, role, park, enterprise, name, revoked_ms FROM keys "
                "WHERE id = ?",
                (parts[1],),
            ).fetchone()
        if row is None or row[5] is not None:
            return None
        if not hmac.compare_digest(row[0], _digest(parts[2])):
            return None
        return Caller(parts[1], row[4], row[1], row[2], row[3])

    # -- browser sessions (the web page): a key exchanged for a cookie -------------------

    def open_session(self, token: str, *, hours: float) -> tuple[str, str, Caller] | None:
        """(session id for the cookie, CSRF token, caller) for a valid key, or None. Only
        the session id's SHA-256 is stored; the key itself is not kept by the browser."""
        caller = self.verify(token)
        if caller is None:
            return None
        session, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        now = int(time.time() * 1000)
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE expires_ms < ?", (now,))
            self._db.execute(
                "INSERT INTO sessions (id_sha256, key_id, csrf, created_ms, expires_ms) "
                "VALUES (?, ?, ?, ?, ?)",
                (_digest(session), caller.key_id, csrf, now, now + int(hours * 3_600_000)),
            )
        self.audit(key_id=caller.key_id, who=caller.name, action="session.open", target="web")
        return session, csrf, caller

    def session(self, session: str) -> tuple[Caller, str] | None:
        """The caller and CSRF token of a live session whose key is still valid, or None."""
        if not session or len(session) > 100:
            return None
        now = int(time.time() * 1000)
        with self._lock:
            row = self._db.execute(
                "SELECT k.id, k.name, k.role, k.park, k.enterprise, s.csrf FROM sessions s "
                "JOIN keys k ON k.id = s.key_id "
                "WHERE s.id_sha256 = ? AND s.expires_ms > ? AND k.revoked_ms IS NULL",
                (_digest(session), now),
            ).fetchone()
        if row is None:
            return None
        return Caller(row[0], row[1], row[2], row[3], row[4]), row[5]

    # -- stream tickets: single use, in the shared database so that any API instance
    # -- behind a load balancer opens the stream another one issued the ticket for ------

    def issue_ticket(self, caller: Caller, park: str, *, ttl_s: float) -> str:
        """A single-use ticket for ``park``'s stream as ``caller``, valid ``ttl_s``."""
        token = secrets.token_urlsafe(24)
        now = int(time.time() * 1000)
        with self._lock:
            self._db.execute("DELETE FROM tickets WHERE expires_ms < ?", (now,))
            self._db.execute(
                "INSERT INTO tickets (id_sha256, key_id, park, expires_ms) VALUES (?, ?, ?, ?)",
                (_digest(token), caller.key_id, park, now + int(ttl_s * 1000)),
            )
        return token

    def redeem_ticket(self, token: str) -> tuple[Caller, str] | None:
        """The caller and park of a live ticket whose key is still valid (the ticket is
        used up), or None."""
        if not token or len(token) > 64:
            return None
        now = int(time.time() * 1000)
        with self._lock:
            row = self._db.execute(
                "DELETE FROM tickets WHERE id_sha256 = ? RETURNING key_id, park, expires_ms",
                (_digest(token),),
            ).fetchone()
            if row is None or row[2] <= now:
                return None
            key = self._db.execute(
                "SELECT id, name, role, park, enterprise FROM keys "
                "WHERE id = ? AND revoked_ms IS NULL",
                (row[0],),
            ).fetchone()
        if key is None:
            return None
        return Caller(key[0], key[1], key[2], key[3], key[4]), row[1]

    def close_session(self, session: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM sessions WHERE id_sha256 = ?", (_digest(session),))

    def rows(self) -> list[KeyRow]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, role, park, enterprise, name, created_ms, revoked_ms FROM keys "
                "ORDER BY created_ms"
            ).fetchall()
        return [KeyRow(*r) for r in rows]

    def revoke(self, key_id: str, *, by: str = "cli") -> bool:
        now = int(time.time() * 1000)
        with self._lock:
            cur = self._db.execute(
                "UPDATE keys SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL",
                (now, key_id),
            )
        if cur.rowcount:
            self.audit(key_id=key_id, who=by, action="key.revoke", target=key_id)
        return cur.rowcount == 1

    def audit(self, *, key_id: str, who: str, action: str, target: str) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO audit (at_ms, key_id, who, action, target) VALUES (?, ?, ?, ?, ?)",
                (int(time.time() * 1000), key_id, who, action, target),
            )

    def audit_log(self) -> list[tuple[int, str, str, str, str]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT at_ms, key_id, who, action, target FROM audit ORDER BY seq"
            ).fetchall()
        return [(r[0], r[1], r[2], r[3], r[4]) for r in rows]
