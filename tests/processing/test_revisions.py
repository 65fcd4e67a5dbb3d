"""The emitter's revisions: bounded by the live horizon, and still only growing; its log of
the live path's writes (pure)."""

from __future__ import annotations

import pytest

from processing.emit import Revisions, Writes

H = 3_600_000


def test_live_then_recomputed_counts_on() -> None:
    revisions = Revisions()
    key = ("1h", "_park", 5 * H)
    assert revisions.peek(key) == 0
    revisions.advance(key)
    revisions.advance(key)
    assert revisions.revised(key) == 2  # the catch-up goes on from the live path's
    assert revisions.revised(("1h", "_park", 6 * H)) == 1  # never published: 1


@pytest.mark.parametrize(
    ("updates", "cut", "kept", "forgotten_next"),
    [
        # (live updates per hour start, cut, windows kept, next revision of a forgotten one)
        ({0: 1, 1: 3, 2: 1}, 2 * H, 1, 3),  # hours 0 and 1 forgotten: the highest is 3
        ({0: 1, 1: 3, 2: 1}, 0, 3, None),  # nothing before the cut
        ({0: 5, 9: 1}, 10 * H, 0, 5),
    ],
)
def test_prune_keeps_the_horizon_and_the_highest(
    updates: dict[int, int], cut: int, kept: int, forgotten_next: int | None
) -> None:
    revisions = Revisions()
    for hour, n in updates.items():
        for _ in range(n):
            revisions.advance(("1h", "e08", hour * H))
    revisions.advance(("1d", "e08", 0))  # another size, not cut
    revisions.prune({"1h": cut})
    assert len(revisions) == kept + 1
    for hour, n in updates.items():
        key = ("1h", "e08", hour * H)
        if hour * H < cut:  # forgotten: republished above anything it had
            assert revisions.peek(key) == forgotten_next
            assert revisions.revised(key) >= n
        else:
            assert revisions.peek(key) == n
    assert revisions.peek(("1d", "e08", 0)) == 1
    # a new window of the live horizon starts at 0 whatever was forgotten
    assert revisions.peek(("1h", "e08", cut + 24 * H)) == 0


def test_bounded_over_months_of_live_windows() -> None:
    revisions = Revisions()
    day = 24 * H
    for d in range(60):
        for m in range(0, day, 60_000):
            revisions.advance(("1m", "_park", d * day + m))
        revisions.prune({"1m": d * day - day})  # the live path keeps a day or so
    assert len(revisions) <= 2 * 1440
    revised = revisions.revised(("1m", "_park", 0))  # months ago, published again
    assert revised == 1  # each had one update: the next is 1, above its 0


def test_a_recomputed_update_is_the_newest_until_the_live_path_numbers_another() -> None:
    revisions = Revisions()
    key, other = ("1m", "_park", 7 * H), ("1m", "_park", 8 * H)
    revision = revisions.revised(key)
    assert revisions.newest(key, revision)
    revisions.advance(key)  # the live path wrote the window anew: its update is newer
    assert not revisions.newest(key, revision)
    # forgotten since (before the live horizon): nobody numbers it after the catch-up
    first = revisions.revised(other)
    revisions.advance(("1m", "_park", 20 * H))
    revisions.advance(("1m", "_park", 20 * H))
    revisions.prune({"1m": 10 * H})
    assert revisions.newest(other, first)


def test_writes_tell_whether_the_live_path_wrote_a_range_since_a_mark() -> None:
    writes = Writes(kept=3)
    writes.note("1m", [100, 160, 220])
    mark = writes.mark()
    assert not writes.since(mark, "1m", 0, 1_000)  # nothing since the mark
    writes.note("1h", [0])
    writes.note("1m", [400])
    assert not writes.since(mark, "1m", 0, 400)  # [0, 400): 400 lies beyond
    assert not writes.since(mark, "15m", 0, 1_000)  # another size
    assert writes.since(mark, "1m", 400, 401) and writes.since(mark, "1h", 0, 1)
    writes.note("1m", [])  # nothing written: not counted
    assert writes.mark() == mark + 2
    writes.note("1d", [5])
    writes.note("1d", [6])  # the 1h write after the mark is forgotten: it may have been 1m
    assert writes.since(mark, "1m", 0, 100)
    assert not writes.since(writes.mark() - 1, "1m", 0, 100)
