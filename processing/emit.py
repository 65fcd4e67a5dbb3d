"""Writing and publishing KPI windows: the one place a window's points reach the store
and its updates the broker, each with its ``revision`` (0 first, +1 per rewrite).

Two writers share it: the stream's tick (closed windows, and today and the month to
date every complete minute) and the catch-up job (windows from the ledger, written by
the job itself and published here as revisions). The revisions are counted per window,
scope and start under one lock, so both threads number one window's updates in order.

Order, for the stream (at-least-once, ``emit``):

1. write the window's KPI points (and its meters' use) to the store;
2. on failure: count it, note when the store began failing and the earliest window it
   held back (``outage_from_ms``: what the ledger recomputes once the store is back),
   and return False (the windows stay dirty, retried next tick); nothing is published;
3. on success: advance the revisions, then publish one update per scope and window.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

import polars as pl

from processing import output
from processing.kpis import Coefficients
from processing.stats import ProcessorStats
from smartpark.clock import Clock
from smartpark.errors import StoreError
from smartpark.store.base import Store

logger = logging.getLogger(__name__)

Publish = Callable[[str, bytes], object]
Key = tuple[str, str, int]  # window size, scope, window start (ms)
#: publishes numbered updates, given what to do before each chunk of them (told how many
#: it holds): ``Emitter.send``
BeforeChunk = Callable[[int], object]
Send = Callable[[BeforeChunk], int]
#: Updates of a recomputation published per hold of the revisions' lock (``Emitter.send``):
#: the live path's writes wait for one chunk at most.
SEND_CHUNK = 200
#: The longest a recomputation's step waits for the live path to be idle (``after_live``).
AFTER_LIVE_MAX_S = 1.0
#: The live path's writes a ``Writes`` log remembers (a tick writes a few window sizes:
#: far more than are written while a recomputation writes one piece).
WRITES_KEPT = 1024


def after_live(busy: Callable[[], bool], clock: Clock) -> None:
    """Wait while the live path is busy (readings waiting for its tick, or a tick
    running), ``AFTER_LIVE_MAX_S`` at most: a recomputation's computing and publishing
    start between two ticks rather than beside one, so the live path's freshness does
    not pay for them (they share 2 cores and the GIL)."""
    deadline = clock.monotonic() + AFTER_LIVE_MAX_S
    while busy() and clock.monotonic() < deadline:
        time.sleep(0.005)


class Writes:
    """The live path's KPI writes, numbered, each with its window size and the span of
    window starts it wrote, the last ``WRITES_KEPT`` of them: whether one reached a
    range since a ``mark``. A recomputation that wrote its points beside the live path
    asks, while the live path's tick waits, whether a live write of its windows may
    have landed before its own; if so it writes them again then."""

    def __init__(self, kept: int = WRITES_KEPT) -> None:
        self._lock = threading.Lock()
        self._seq = 0
        self._recent: deque[tuple[int, str, int, int]] = deque(maxlen=kept)

    def mark(self) -> int:
        with self._lock:
            return self._seq

    def note(self, window: str, starts: Iterable[int]) -> None:
        starts = list(starts)
        if not starts:
            return
        with self._lock:
            self._seq += 1
            self._recent.append((self._seq, window, min(starts), max(starts)))

    def since(self, mark: int, window: str, lo: int, hi: int) -> bool:
        """Whether a write of ``window`` windows starting in [lo, hi) was noted after
        ``mark`` (also when writes after it were forgotten: they may have)."""
        with self._lock:
            if self._seq == mark:
                return False
            if self._recent[0][0] > mark + 1:
                return True
            return any(
                seq > mark and size == window and first < hi and last >= lo
                for seq, size, first, last in self._recent
            )


class Revisions:
    """The next ``revision`` of each window (size, scope, start), bounded (pure).

    A window's first update is revision 0 (the live path) or 1 (a recomputation), then
    +1 per update. ``prune`` forgets windows that started before a size's cut (the live
    path no longer revises them) and remembers only the highest revision they reached
    per size: a forgotten window published again (the catch-up) takes that one, so its
    revisions still only grow, and the map holds the live horizon's windows, not every
    window the process ever published."""

    def __init__(self) -> None:
        self._next: dict[Key, int] = {}
        self._cut: dict[str, int] = {}  # size -> windows starting before it were pruned
        self._floor: dict[str, int] = {}  # size -> highest next revision pruned

    def __len__(self) -> int:
        return len(self._next)

    def peek(self, key: Key) -> int:
        """The revision the window's next update carries."""
        known = self._next.get(key)
        if known is not None:
            return known
        if key[2] < self._cut.get(key[0], -(2**62)):
            return self._floor.get(key[0], 0)
        return 0

    def advance(self, key: Key) -> None:
        """The window's update with ``peek``'s revision was published."""
        self._next[key] = self.peek(key) + 1

    def newest(self, key: Key, revision: int) -> bool:
        """Whether no update of the window was numbered after ``revision`` (a window
        forgotten since is no longer the live path's to revise: still the newest)."""
        return self._next.get(key, revision + 1) <= revision + 1

    def revised(self, key: Key) -> int:
        """The revision of a recomputation's update (at least 1), counted."""
        revision = max(self.peek(key), 1)
        self._next[key] = revision + 1
        return revision

    def prune(self, cut: dict[str, int]) -> int:
        """Forget the windows of each size in ``cut`` starting before its cut (ms);
        how many were forgotten."""
        gone = [key for key in self._next if key[0] in cut and key[2] < cut[key[0]]]
        for key in gone:
            size = key[0]
            self._floor[size] = max(self._floor.get(size, 0), self._next.pop(key))
        for size, ms in cut.items():
            self._cut[size] = max(self._cut.get(size, ms), ms)
        return len(gone)


class Emitter:
    """Writes a park's KPI windows, then publishes them with their revisions."""

    def __init__(
        self,
        *,
        store: Store,
        publish: Publish,
        park_id: str,
        topic_root: str,
        coefficients: Coefficients,
        stats: ProcessorStats,
        clock: Clock,
    ) -> None:
        self.store = store
        self._publish = publish
        self.park_id = park_id
        self._root = topic_root
        self.coefficients = coefficients
        self.stats = stats
        self.clock = clock
        self.revisions = Revisions()  # guarded by ``_lock``
        self.writes = Writes()  # what ``emit`` (the live path) wrote, lately
        self._lock = threading.Lock()
        self.failing_since: float | None = None  # clock.monotonic() of the first failure
        self.outage_from_ms: int | None = None  # earliest window a failed write held back

    def emit(
        self,
        window: str,
        frame: pl.DataFrame,
        sensors: pl.DataFrame | None,
        ends: dict[int, int],
    ) -> bool:
        """Write a window's KPI points (and its meters'), then publish them (see the
        module text for the order). False when the write failed."""
        keys = list(frame.select("scope", "window").iter_rows())
        with self._lock:
            revisions = {key: self.revisions.peek((window, *key)) for key in keys}
        frame = frame.with_columns(revision=pl.Series([revisions[k] for k in keys], dtype=pl.Int64))
        tags = self.coefficients.tags()
        lines = list(output.points(frame, park=self.park_id, window=window, tags=tags))
        if sensors is not None:
            lines += output.sensor_points(sensors, park=self.park_id, window=window)
        try:
            if lines:
                self.store.write("\n".join(lines).encode())
        except StoreError as exc:
            self.failed(min(ends, default=None))
            logger.warning("KPI write failed window=%s windows=%d: %s", window, len(ends), exc)
            return False
        self.failing_since = None
        self.writes.note(window, ends)
        self.stats.points_written += len(lines)
        with self._lock:
            for key in revisions:
                self.revisions.advance((window, *key))
        self._send(frame, window, ends, revisions)
        return True

    def failed(self, first_ms: int | None) -> None:
        """A store write or read failed with windows from ``first_ms`` pending: counted,
        the failing time noted, and those windows held for the ledger (``take_outage``)."""
        self.stats.store_errors += 1
        if self.failing_since is None:
            self.failing_since = self.clock.monotonic()
        if first_ms is not None:
            self.outage_from_ms = min(self.outage_from_ms or first_ms, first_ms)

    def revise(self, window: str, frame: pl.DataFrame, ends: dict[int, int]) -> Send:
        """Number the updates of windows the catch-up recomputed and wrote: ``revision``
        one past what this process published (1 for a window it never published). Called
        right after the write, under the tick lock, so the live path cannot write one of
        these windows in between; returns what publishes them, called after the lock is
        released (``send``, given what to do before each chunk): a piece's many messages
        never hold up a tick."""
        keys = frame.select("scope", "window").rows()
        with self._lock:
            revisions = {key: self.revisions.revised((window, *key)) for key in keys}
        return lambda before_chunk: self.send(frame, window, ends, revisions, before_chunk)

    def send(
        self,
        frame: pl.DataFrame,
        window: str,
        ends: dict[int, int],
        revisions: dict[tuple[str, int], int],
        before_chunk: BeforeChunk,
    ) -> int:
        """Publish ``revise``'s updates, ``SEND_CHUNK`` at a time under the revisions'
        lock, each after ``before_chunk(n)`` (n: the chunk's updates; the catch-up waits
        for the live path to be idle and keeps to its rate); a window numbered
        again since (the live path wrote and published it anew) is skipped, its newer
        update already out or on its way: a window's updates reach the broker in the
        order of their revisions. The updates sent."""
        messages = self._messages(frame, window, ends, revisions)
        rows = list(zip(frame.select("scope", "window").rows(), messages, strict=True))
        sent = 0
        for i in range(0, len(rows), SEND_CHUNK):
            before_chunk(min(SEND_CHUNK, len(rows) - i))
            with self._lock:
                chunk = [(topic, payload) for key, (topic, payload) in rows[i : i + SEND_CHUNK]
                         if self.revisions.newest((window, *key), revisions[key])]  # fmt: skip
                for topic, payload in chunk:
                    self._publish(topic, payload)
                self.stats.published += len(chunk)
                self.stats.superseded += min(SEND_CHUNK, len(rows) - i) - len(chunk)
            sent += len(chunk)
        return sent

    def _send(
        self,
        frame: pl.DataFrame,
        window: str,
        ends: dict[int, int],
        revisions: dict[tuple[str, int], int],
    ) -> None:
        for topic, payload in self._messages(frame, window, ends, revisions):
            self._publish(topic, payload)
            self.stats.published += 1

    def _messages(
        self,
        frame: pl.DataFrame,
        window: str,
        ends: dict[int, int],
        revisions: dict[tuple[str, int], int],
    ) -> Iterator[tuple[str, bytes]]:
        """One update per KPI row, in the frame's order (``output.messages``)."""
        return output.messages(frame, root=self._root, park=self.park_id, window=window,
                               ends=ends, tags=self.coefficients.tags(),
                               revisions=revisions)  # fmt: skip

    def forget(self, cut: dict[str, int]) -> int:
        """Bound the revisions kept (``Revisions.prune``)."""
        with self._lock:
            return self.revisions.prune(cut)

    def take_outage(self) -> int | None:
        """The earliest window held back by an outage that has now ended (once), else None."""
        if self.failing_since is not None or self.outage_from_ms is None:
            return None
        first, self.outage_from_ms = self.outage_from_ms, None
        return first
