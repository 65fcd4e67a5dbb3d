"""Who may see what, in one place every route uses.

The rule, applied everywhere: a missing, unknown or revoked key gets **401**; a key
asking for anything outside its scope gets **404**, the same answer as for something
that does not exist, so a key learns nothing about other parks or enterprises (not even
that they exist). Operators see their park; enterprises see their own enterprise, and
the park's aggregate only where the park's registry entry sets ``share_park_totals``.
Ids are checked against the id grammar before any query; each key is rate limited.
"""

from __future__ import annotations

import hmac
import math
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import HTTPException, Path, Query, Request

from api.keys import Caller, KeyStore
from smartpark.model import ID_PATTERN, PARK_SCOPE
from smartpark.registry import Registry

IdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
SCOPE_PATTERN = f"^({ID_PATTERN[1:-1]}|_park)$"
ScopePath = Annotated[str, Path(pattern=SCOPE_PATTERN, max_length=64)]
NOT_FOUND = HTTPException(404, "not found")
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
    registry: Registry
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

    def park(self, caller: Caller, park: str) -> None:
        if park != caller.park or park not in self.registry.parks:
            raise NOT_FOUND

    def enterprise(self, caller: Caller, park: str, enterprise: str) -> None:
        self.park(caller, park)
        known = {e.id for e in self.registry.parks[park].enterprises}
        if enterprise not in known or not caller.sees(enterprise):
            raise NOT_FOUND

    def scope(self, caller: Caller, park: str, scope: str) -> None:
        """An enterprise id or ``_park`` (the aggregate, for enterprises only if shared)."""
        if scope != PARK_SCOPE:
            self.enterprise(caller, park, scope)
            return
        self.park(caller, park)
        if caller.role != "operator" and not self.registry.parks[park].share_park_totals:
            raise NOT_FOUND

    def visible(self, caller: Caller, park: str) -> list[str]:
        """The enterprise ids of ``park`` the caller sees."""
        self.park(caller, park)
        return [e.id for e in self.registry.parks[park].enterprises if caller.sees(e.id)]


#: The instants InfluxDB can store (signed 64-bit nanoseconds since 1970), whole days
#: inside: a period outside them can never have data and InfluxDB refuses the query.
STORE_FIRST = datetime(1677, 9, 22, tzinfo=UTC)
STORE_LAST = datetime(2262, 4, 11, tzinfo=UTC)
OFFSET_EXAMPLE = "2026-11-04T00:00:00+08:00"


def instant(value: datetime, name: str) -> datetime:
    """``value`` in UTC, or 422: it needs an offset and must lie within what the store
    keeps (year 1 or 9999 with an extreme offset is not a UTC instant at all)."""
    if value.tzinfo is None:
        raise HTTPException(422, f"{name} needs a UTC offset, e.g. {OFFSET_EXAMPLE}")
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or not STORE_FIRST <= utc <= STORE_LAST:
        raise HTTPException(
            422, f"{name} must lie between {STORE_FIRST.date()} and {STORE_LAST.date()} (UTC)"
        )
    return utc


def period(
    start: Annotated[datetime, Query(description="ISO 8601 with offset")],
    end: Annotated[datetime, Query(description="ISO 8601 with offset (exclusive)")],
    *,
    max_days: int,
) -> tuple[datetime, datetime]:
    """A bounded, aware, forward period within the store's range (UTC), or 422 saying
    what is wrong."""
    if start.tzinfo is None or end.tzinfo is None:
        raise HTTPException(422, f"start and end need a UTC offset, e.g. {OFFSET_EXAMPLE}")
    lo, hi = instant(start, "start"), instant(end, "end")
    if hi <= lo:
        raise HTTPException(422, "end must be after start")
    if hi - lo > timedelta(days=max_days):
        raise HTTPException(422, f"a period may span at most {max_days} days")
    return lo, hi
