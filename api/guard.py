"""Who is asking: an API key or the page's session cookie (with its CSRF token on
writes), rate limited per key, and failed attempts per address.

A missing, unknown or revoked key gets **401**; too many requests **429** with
``Retry-After``. What the caller may then see is ``api.scope``'s.
"""

from __future__ import annotations

import hmac
import math
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from fastapi import HTTPException, Request

from api.keys import Caller, KeyStore

SESSION_COOKIE = "sp_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
BUCKETS = """
PRAGMA journal_mode=WAL;
PRAGMA synchronous=NORMAL;
CREATE TABLE IF NOT EXISTS rate_buckets (
    key TEXT PRIMARY KEY, tokens REAL NOT NULL, at_s REAL NOT NULL
) WITHOUT ROWID;
"""


def require_csrf(request: Request, csrf: str) -> None:
    """403 unless a write sent with the session cookie carries its CSRF token."""
    if not hmac.compare_digest(request.headers.get("x-csrf-token", ""), csrf):
        raise HTTPException(403, "the CSRF token is missing or wrong; reload the page")


def client_address(request: Request) -> str:
    """The caller's address (a proxy's ``X-Forwarded-For`` only where uvicorn trusts it)."""
    return request.client.host if request.client else "unknown"


def too_many(wait_s: float) -> None:
    """429 with ``Retry-After`` when a rate limiter said to wait."""
    if wait_s:
        raise HTTPException(
            429, "too many requests", headers={"Retry-After": str(math.ceil(wait_s))}
        )


class RateLimiter:
    """A token bucket per key: ``rate`` requests/s, bursts of ``burst``, kept in the
    SQLite file at ``path`` (the key database) so that every API instance on the host
    draws on the same buckets: two instances behind a load balancer allow a key, or an
    address's sign-in attempts, what one would. A check is one write transaction
    (``BEGIN IMMEDIATE``: instances take turns, none reads a bucket another is about to
    spend). The file is in WAL mode and this connection commits without fsync
    (``synchronous=NORMAL``): a crash may forget the last buckets, which only lets a
    caller start afresh. Buckets that have filled up again are deleted every
    ``SWEEP_EVERY`` checks, so callers from ever new addresses cannot grow the table."""

    SWEEP_EVERY = 1_000

    def __init__(self, path: Path, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.executescript(BUCKETS)
        self._checks = 0

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.time()
        with self._lock:
            self._checks += 1
            self._db.execute("BEGIN IMMEDIATE")
            try:
                if self._checks % self.SWEEP_EVERY == 0:
                    full_after = self.burst / self.rate
                    self._db.execute("DELETE FROM rate_buckets WHERE at_s < ?", (now - full_after,))
                row = self._db.execute(
                    "SELECT tokens, at_s FROM rate_buckets WHERE key = ?", (key,)
                ).fetchone()
                tokens, at = row if row is not None else (float(self.burst), now)
                # another instance's clock read may be a little ahead: never refill backwards
                tokens = min(float(self.burst), tokens + max(0.0, now - at) * self.rate)
                wait_s, left = (
                    ((1 - tokens) / self.rate, tokens) if tokens < 1 else (0.0, tokens - 1)
                )
                self._db.execute(
                    "INSERT INTO rate_buckets (key, tokens, at_s) VALUES (?, ?, ?) "
                    "ON CONFLICT (key) DO UPDATE SET tokens = excluded.tokens, "
                    "at_s = excluded.at_s",
                    (key, left, max(now, at)),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            return wait_s


@dataclass
class Guard:
    keys: KeyStore
    limiter: RateLimiter

    def caller(self, request: Request) -> Caller:
        """A key (``Authorization: Bearer``) or the web page's session cookie; a write with
        the cookie must carry the session's CSRF token in ``X-CSRF-Token`` (403 otherwise)."""
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        caller = self.keys.verify(token.strip()) if scheme.lower() == "bearer" else None
        if caller is None and not header and SESSION_COOKIE in request.cookies:
            found = self.keys.session(request.cookies[SESSION_COOKIE])
            if found is not None:
                caller, csrf = found
                if request.method not in SAFE_METHODS:
                    require_csrf(request, csrf)
        if caller is None:
            # Failed attempts are limited per address; a valid key from the same address
            # is not (it has its own bucket), nor is anyone else.
            too_many(self.limiter.take(f"bad-key:{client_address(request)}"))
            raise HTTPException(
                401, "a valid API key is required", headers={"WWW-Authenticate": "Bearer"}
            )
        too_many(self.limiter.take(caller.key_id))
        return caller
