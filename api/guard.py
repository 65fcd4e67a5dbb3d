"""Who is asking: an API key or the page's session cookie (with its CSRF token on
writes), rate limited per key, and failed attempts per address.

A missing, unknown or revoked key gets **401**; too many requests **429** with
``Retry-After``. What the caller may then see is ``api.scope``'s.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from dataclasses import dataclass

from fastapi import HTTPException, Request

from api.keys import Caller, KeyStore

SESSION_COOKIE = "sp_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


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
    """A token bucket per key: ``rate`` requests/s, bursts of ``burst``. Buckets that have
    filled up again are forgotten once there are more than ``MAX_BUCKETS``, so callers
    from ever new addresses cannot grow it without end."""

    MAX_BUCKETS = 10_000

    def __init__(self, rate: float, burst: int) -> None:
        self.rate, self.burst = rate, burst
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """0 when allowed, else the seconds to wait."""
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > self.MAX_BUCKETS:
                full_after = self.burst / self.rate
                self._buckets = {k: v for k, v in self._buckets.items() if now - v[1] < full_after}
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return (1 - tokens) / self.rate
            self._buckets[key] = (tokens - 1, now)
            return 0.0


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
