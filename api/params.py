"""The parameters routes share: ids checked against the id grammar, times with an offset
inside what the store keeps, bounded periods."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import HTTPException, Path, Query
from pydantic import BaseModel

from smartpark.model import ID_PATTERN, PARK_SCOPE

IdPath = Annotated[str, Path(pattern=ID_PATTERN, max_length=64)]
SCOPE_PATTERN = f"^({ID_PATTERN[1:-1]}|{PARK_SCOPE})$"
ScopePath = Annotated[
    str, Path(pattern=SCOPE_PATTERN, max_length=64, description="an enterprise id or _park")
]
Instant = Annotated[datetime, Query(description="ISO 8601 with a UTC offset")]


class Problem(BaseModel):
    """Every error answer: what is wrong, in words (or, for malformed parameters, one
    entry per parameter with its location)."""

    detail: str | list[dict[str, Any]]


def _problem(what: str) -> dict[str, Any]:
    return {"model": Problem, "description": what}


#: The error answers every data route may give (documented once, for every router).
ERRORS: dict[int | str, dict[str, Any]] = {
    401: _problem("no valid key (missing, unknown or revoked) or ticket"),
    404: _problem("outside the caller's scope, or does not exist (the same answer)"),
    422: _problem("a malformed parameter or a period outside the limits"),
    429: _problem("over the key's (or, for failed keys, the address's) rate: see Retry-After"),
    503: _problem("the database or the broker cannot be reached: retry after Retry-After"),
}

#: An alert id (16 lower-case hex digits).
ALERT_ID_PATTERN = "^[0-9a-f]{16}$"


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
    start: datetime,
    end: datetime,
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
