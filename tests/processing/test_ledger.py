"""The ledger of dirty windows (pure): merging, oldest-first order, day batches, months
clear of spans, the backlog and the durable form, as tables."""

from __future__ import annotations

import pytest

from processing import ledger
from processing.ledger import Span

D = 86_400_000
M = 60_000


def s(lo: int, hi: int, sensors: str = "a", due: int = 0, widened: bool = True) -> Span:
    return Span(lo, hi, frozenset(sensors.split()), due, widened)


@pytest.mark.parametrize(
    ("spans", "new", "expected"),
    [
        ([], s(10, 20), [s(10, 20)]),
        ([s(10, 20)], s(30, 40), [s(10, 20), s(30, 40)]),  # apart: two
        ([s(10, 20)], s(21, 40), [s(10, 40)]),  # touching: one
        ([s(10, 20)], s(15, 18), [s(10, 20)]),  # inside
        ([s(10, 20, "a"), s(30, 40, "b")], s(19, 31, "c"), [s(10, 40, "a b c")]),  # bridges
        ([s(10, 20, due=5)], s(12, 30, due=9), [s(10, 30, due=9)]),  # later due wins
        ([s(10, 20)], s(15, 30, widened=False), [s(10, 30, widened=False)]),  # widen again
        ([s(30, 40)], s(0, 5), [s(0, 5), s(30, 40)]),  # sorted by start
    ],
)
def test_add_merges_what_overlaps_or_touches(
    spans: list[Span], new: Span, expected: list[Span]
) -> None:
    assert ledger.add(spans, new) == expected


@pytest.mark.parametrize(
    ("spans", "now", "expected"),
    [
        ([], 100, None),
        ([s(50, 60, due=0), s(10, 20, due=0)], 100, s(10, 20, due=0)),  # oldest event time
        ([s(10, 20, due=200), s(50, 60, due=0)], 100, s(50, 60, due=0)),  # the oldest due
        ([s(10, 20, due=200)], 100, None),  # nothing due yet
    ],
)
def test_oldest_due(spans: list[Span], now: int, expected: Span | None) -> None:
    assert ledger.oldest_due(spans, now) == expected


@pytest.mark.parametrize(
    ("span", "others", "rest", "batch_hi", "months"),
    [
        # within one day: taken whole; its month has nothing left
        (s(D + 3 * M, D + 9 * M), [], [], D + 9 * M, (0,)),
        # a year: one day at a time, the rest stays (the month is not clear)
        (s(D, 365 * D), [], [s(2 * D, 365 * D)], 2 * D - 1, ()),
        # another span later in the month keeps it dirty
        (s(D, D + 5), [s(20 * D, 20 * D + 5)], [s(20 * D, 20 * D + 5)], D + 5, ()),
    ],
)
def test_take_cuts_one_day_and_names_the_months_left_clear(
    span: Span, others: list[Span], rest: list[Span], batch_hi: int, months: tuple[int, ...]
) -> None:
    spans = ledger.add(others, span)
    left, batch = ledger.take(spans, span, day_ms=D, next_day_ms=2 * D, month_of={0: 31 * D})
    assert left == rest
    assert (batch.lo_ms, batch.hi_ms, batch.day_ms, batch.months) == (
        span.lo_ms,
        batch_hi,
        D,
        months,
    )


def test_widen_grows_to_the_neighbours_and_merges() -> None:
    first, second = s(10 * M, 20 * M, widened=False), s(21 * M + 1, 30 * M)
    out = ledger.widen([first, second], first, 9 * M, 21 * M)
    assert out == [Span(9 * M, 30 * M, frozenset("a"), 0, True)]


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([], {"spans": 0, "minutes": 0, "oldest_ms": None}),
        ([s(0, M - 1)], {"spans": 1, "minutes": 1, "oldest_ms": 0}),
        ([s(M, 3 * M), s(10 * M, 10 * M)], {"spans": 2, "minutes": 4, "oldest_ms": M}),
    ],
)
def test_backlog(spans: list[Span], expected: dict[str, int | None]) -> None:
    assert ledger.backlog(spans) == expected


def test_the_durable_form_round_trips() -> None:
    spans = [s(1, 2, "a b", due=7, widened=False), s(10, 20)]
    assert ledger.loads(ledger.dumps(spans)) == spans
