"""The ledger of dirty windows (pure): spans of event time whose windows the live path
will not recompute, waiting for the catch-up job to recompute them from the store.

A span is what readings older than the lateness horizon (or windows written while the
store was unreachable) dirtied: ``[lo_ms, hi_ms]`` of event time, the meters concerned
and when it may be taken (``due_ms``, wall time: the collector stores a late reading
shortly after the processor sees it). Every window of every size that overlaps a span is
dirty. A late reading also changes its neighbours' intervals: the next reading of the
same meter starts its interval at the late one, and pro rata the interval before it is
cut differently; the catch-up widens a span to those neighbours once (``widened``),
from the store, before taking it.

Spans merge where they overlap or touch, so a year of backfill is one span, and the
ledger is small whatever the backlog. The catch-up takes the oldest due span a few local
days at a time (a bounded batch, within one month); a month is recomputed once no span
is left in it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import orjson

MINUTE_MS = 60_000


@dataclass(frozen=True, slots=True)
class Span:
    lo_ms: int  # first dirty instant (inclusive)
    hi_ms: int  # last dirty instant (inclusive)
    sensors: frozenset[str]
    due_ms: int  # wall time from which the catch-up may take it
    widened: bool = False  # neighbours' intervals included

    def touches(self, other: Span) -> bool:
        return self.lo_ms <= other.hi_ms + 1 and other.lo_ms <= self.hi_ms + 1

    def merged(self, other: Span) -> Span:
        return Span(
            min(self.lo_ms, other.lo_ms),
            max(self.hi_ms, other.hi_ms),
            self.sensors | other.sensors,
            max(self.due_ms, other.due_ms),
            self.widened and other.widened,
        )


@dataclass(frozen=True, slots=True)
class Batch:
    """One bounded piece of work: recompute the windows overlapping [lo, hi] (the local
    days the catch-up cut, within one month), and the months listed (no span is left in
    them)."""

    lo_ms: int
    hi_ms: int
    day_ms: int  # the first local day it lies in
    months: tuple[int, ...]  # month starts now clear of spans
    sensors: frozenset[str] = frozenset()  # the meters whose readings changed


def add(spans: Iterable[Span], new: Span) -> list[Span]:
    """The spans with ``new`` merged in, sorted by start, none touching another."""
    out: list[Span] = []
    for span in sorted([*spans, new], key=lambda s: s.lo_ms):
        if out and out[-1].touches(span):
            out[-1] = out[-1].merged(span)
        else:
            out.append(span)
    return out


def oldest_due(spans: Iterable[Span], now_ms: int) -> Span | None:
    """The earliest span in event time that may be taken now."""
    return min((s for s in spans if s.due_ms <= now_ms), key=lambda s: s.lo_ms, default=None)


def widen(spans: Iterable[Span], span: Span, lo_ms: int, hi_ms: int) -> list[Span]:
    """Replace ``span`` by itself reaching from ``lo_ms`` to ``hi_ms`` (its meters'
    neighbouring readings), marked widened, merged with what it now touches."""
    rest = [s for s in spans if s != span]
    grown = replace(span, lo_ms=min(lo_ms, span.lo_ms), hi_ms=max(hi_ms, span.hi_ms), widened=True)
    out: list[Span] = []
    for s in rest:
        out = add(out, s)
    return add(out, grown)


def take(
    spans: Iterable[Span], span: Span, *, day_ms: int, next_day_ms: int, month_of: dict[int, int]
) -> tuple[list[Span], Batch]:
    """Cut the part of ``span`` in its first local days ``[day_ms, next_day_ms)`` off the
    ledger. ``month_of`` maps them to their month's [start, end) as {start: end}."""
    hi = min(span.hi_ms, next_day_ms - 1)
    rest = [s for s in spans if s != span]
    if hi < span.hi_ms:
        rest = add(rest, replace(span, lo_ms=next_day_ms))
    months = tuple(
        start
        for start, end in month_of.items()
        if not any(s.lo_ms < end and s.hi_ms >= start for s in rest)
    )
    return rest, Batch(span.lo_ms, hi, day_ms, months, span.sensors)


def backlog(spans: Iterable[Span]) -> dict[str, int | None]:
    """How much is dirty: spans, 1-minute windows they cover, the oldest dirty instant."""
    spans = list(spans)
    return {
        "spans": len(spans),
        "minutes": sum((s.hi_ms // MINUTE_MS) - (s.lo_ms // MINUTE_MS) + 1 for s in spans),
        "oldest_ms": min((s.lo_ms for s in spans), default=None),
    }


def dumps(spans: Iterable[Span]) -> bytes:
    return orjson.dumps([_row(s) for s in spans])


def _row(s: Span) -> dict[str, object]:
    return {
        "lo_ms": s.lo_ms,
        "hi_ms": s.hi_ms,
        "sensors": sorted(s.sensors),
        "due_ms": s.due_ms,
        "widened": s.widened,
    }


def loads(data: bytes) -> list[Span]:
    out: list[Span] = []
    for r in orjson.loads(data):
        span = Span(int(r["lo_ms"]), int(r["hi_ms"]), frozenset(r["sensors"]),
                    int(r["due_ms"]), bool(r["widened"]))  # fmt: skip
        out = add(out, span)
    return out
