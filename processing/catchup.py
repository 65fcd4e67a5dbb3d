"""The catch-up job: recomputes from the store the windows in the ledger of dirty
windows (``processing.ledger``), oldest first, up to a week of local days per batch
(``BATCH_DAYS``), rate-limited.

The stream adds spans (readings older than the lateness horizon; windows written around
a store outage); this job, on its own thread, takes the oldest due span, first widens
it to its meters' neighbouring readings (from the store), then recomputes every closed
1m, 15m, 1h and 1d window of its first local days from the stored readings joined with
the processor's journal (so a window is never recomputed on less than the processor
took), a piece at a time (``PIECE_MS``): computed and written beside the live path while
that is quiet (``BUSY_LIVE``), else while its tick waits; then, while it waits, checked
against what the live path took and wrote since (and if need be computed and written
again) and numbered as revisions (``revision`` >= 1); then published, at most
``updates_per_s`` (``_before_chunk``); and reruns
completeness for each closed day. When no span is left in a month, the month (1mo) and its
quota and carbon-budget burn-downs and mu-average view are recomputed too. Windows
still open are the live path's. A failed batch stays in the ledger and is retried.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import date, datetime
from functools import partial
from pathlib import Path

import polars as pl

from processing import ledger
from processing.buffer import window_readings
from processing.emit import Send, Writes, after_live
from processing.jobs import Jobs
from processing.ledger import Batch, Span
from processing.meters import window_ends, window_starts
from smartpark.clock import Clock
from smartpark.durable import write_atomically

logger = logging.getLogger(__name__)

SIZES = ("1m", "15m", "1h", "1d")
#: Local days one batch recomputes at most (never across a month's end): one store read
#: for them all. A batch's cost is largely fixed, so a backfill of many days goes much
#: faster a week at a time than a day at a time; a span of a few hours is still one
#: day's batch.
BATCH_DAYS = 7
#: How much event time the first piece of a batch's windows of a size covers (1-minute
#: windows a quarter day at a time, the others the batch's days at once); then each
#: size's pieces are sized so the part of a piece done while the live path's tick waits
#: takes about ``PIECE_S``: a live tick waits for that at most. Beside a quiet live path
#: (``BUSY_LIVE``) that is only checking what the live path took and wrote since and
#: numbering the updates (the computing and writing run beside it before, the
#: publishing after), so pieces grow to their most; beside a busy one it is the
#: computing and the writing too. A piece's fixed cost (a computation's setup: some
#: 100 ms however few the windows) is so spread over many windows.
PIECE_MS = {"1m": 6 * 3_600_000}
PIECE_S = 0.15
#: The least event time of a piece, whatever it took: a piece has a fixed cost (a
#: computation's setup, a store write), so on a loaded host pieces sized to the time
#: alone would shrink to a window each and the catch-up crawl.
MIN_PIECE_MS = {"1m": 2 * 3_600_000}
#: The most: a day of 1-minute windows (2,880 updates of a park with one enterprise
#: backfilled), so one piece's frames and messages stay small.
MAX_PIECE_MS = {"1m": 86_400_000}
#: The live path's share of wall time (its ticks, lately) from which a piece is computed
#: while its tick waits, not beside it: a busy live path (a replay at 60x takes about
#: half the wall time) shares the 2 cores badly with a piece's computation (measured:
#: freshness p99 2.1 s beside, 0.7 s waiting), a quiet one (a park at its own pace,
#: some 5 %) hardly notices it.
BUSY_LIVE = 0.2
#: Points per store write of a piece written beside a quiet live path, each write once
#: the live path is idle: a live tick that begins meanwhile shares the store and the
#: cores with one such write at most (about 75 ms), not with a piece's (a day of
#: 1-minute windows: some 4,300 points, 260 ms).
BESIDE_WRITE_LINES = 1_000
DAY_MS = 86_400_000
BATCH_MS = BATCH_DAYS * DAY_MS
MIN_REST_S = 0.02  # between two pieces, whatever the busy share


def next_piece(span_ms: int, spent_s: float, budget_s: float, least_ms: int, most_ms: int) -> int:
    """The event time of the next piece of one window size: ``span_ms`` took
    ``spent_s``, so about ``budget_s`` covers this much (at most 4x or 1/4 of the last,
    so one odd piece, a tick's store write or a pause of the host, cannot swing it),
    within [``least_ms``, ``most_ms``]."""
    rate = span_ms / max(spent_s, 1e-3)
    return min(most_ms, max(least_ms, span_ms // 4, min(span_ms * 4, int(rate * budget_s))))


class LedgerFile:
    """The ledger, durable (``ledger.json``, replaced atomically on every change) and
    shared under a lock by the stream (adds) and the catch-up (takes)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        try:
            self._spans = ledger.loads(path.read_bytes())
        except FileNotFoundError:
            self._spans = []

    def spans(self) -> list[Span]:
        with self._lock:
            return list(self._spans)

    def add(self, span: Span) -> None:
        self.update(lambda spans: ledger.add(spans, span))

    def update(self, change: Callable[[list[Span]], list[Span]]) -> None:
        with self._lock:
            spans = change(list(self._spans))
            if spans != self._spans:
                write_atomically(self.path, ledger.dumps(spans))
                self._spans = spans

    def backlog(self) -> dict[str, int | None]:
        with self._lock:
            return ledger.backlog(self._spans)


@dataclass(slots=True)
class CatchUpStats:
    batches: int = 0
    windows: int = 0
    readings: int = 0
    seconds: float = 0.0
    failures: int = 0
    # where a piece's time goes: waiting for the live tick (the lock), computing the
    # windows, writing their points, publishing their updates
    wait_s: float = 0.0
    compute_s: float = 0.0
    write_s: float = 0.0
    publish_s: float = 0.0


#: Numbers the updates of a piece's windows (size, KPI rows, their ends) as revisions,
#: while the live path's tick waits; returns what publishes them, called after it with
#: what to do before each chunk of messages (``processing.emit.Emitter.revise``).
Revise = Callable[[str, pl.DataFrame, dict[int, int]], Send]
Computed = tuple[pl.DataFrame, list[str]]  # KPI rows and their points (``Jobs.windows``)


class CatchUp:
    """The catch-up job of one park; ``step`` does one bounded piece of work."""

    def __init__(
        self,
        *,
        jobs: Jobs,
        ledger_file: LedgerFile,
        journal: Callable[[int, int], pl.DataFrame],
        revise: Revise,
        watermark: Callable[[], int | None],
        clock: Clock,
        windows_per_s: float,
        busy_share: float = 1.0,
        idle_s: float = 1.0,
        exclusive: AbstractContextManager[object] | None = None,
        live_load: Callable[[], float] | None = None,
        recent: Callable[[int, int], pl.DataFrame] | None = None,
        live_busy: Callable[[], bool] | None = None,
        writes: Writes | None = None,
        updates_per_s: float = math.inf,
    ) -> None:
        self.jobs = jobs
        self.ledger = ledger_file
        self._journal = journal
        self._revise = revise
        self._watermark = watermark
        self.clock = clock
        self.windows_per_s = windows_per_s
        self.busy_share = busy_share
        self.idle_s = idle_s
        # the stream's tick lock: held while a piece is checked, numbered (and, beside a
        # busy live path, computed and written), so a live tick waits at most one piece
        # and never writes between a piece's check and its numbering
        self.exclusive = exclusive if exclusive is not None else nullcontext()
        # the share of wall time the live path's ticks take lately (0 to 1): below
        # ``BUSY_LIVE`` a piece is computed and written beside them (``_quiet``)
        self._live_load = live_load if live_load is not None else (lambda: 1.0)
        self._piece_ms: dict[str, int] = dict(PIECE_MS)  # per size, adapted (``_next_piece``)
        # the live path's buffered readings in [lo, hi), read while it waits (``_fresh``)
        self._recent = recent
        # readings wait for the live path's tick, or one runs (``processing.emit.after_live``)
        self._live_busy = live_busy if live_busy is not None else (lambda: False)
        # the live path's writes (``processing.emit.Writes``): none without a live path
        self._writes = writes if writes is not None else Writes()
        # the most updates a second it publishes (``_before_chunk``), and when the next
        # chunk may go
        self.updates_per_s = updates_per_s
        self._send_free_at = 0.0
        self.stats = CatchUpStats()
        self._rested = 0.0  # the pauses of the batch in hand (not busy time)
        self.tz = jobs.park.tz
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="catch-up", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(30)

    def _run(self) -> None:
        while not self._stop.is_set():
            began = self.clock.monotonic()
            try:
                windows = self.step()
            except Exception:  # a store outage or a bug: logged, counted, retried later
                logger.exception("catch-up batch failed: left in the ledger, retried")
                self.stats.failures += 1
                self._stop.wait(5.0)
                continue
            if windows is None:
                self._stop.wait(self.idle_s)
            else:  # the rate limit (the busy share is kept within the batch, ``_pace``)
                spent = self.clock.monotonic() - began
                self._stop.wait(max(0.0, windows / self.windows_per_s - spent))

    # -- one step -----------------------------------------------------------------------

    def step(self) -> int | None:
        """Widen or take the oldest due span; the windows recomputed, None when idle."""
        watermark = self._watermark()
        span = ledger.oldest_due(self.ledger.spans(), self.clock.now_ms())
        if span is None or watermark is None:
            return None
        if not span.widened:
            lo, hi = self._neighbours(span)
            self.ledger.update(lambda spans: ledger.widen(spans, span, lo, hi))
            return 0
        day = self._start(span.lo_ms, "1d")
        month = self._start(day, "1mo")
        month_of = {month: self._end(month, "1mo")}
        next_day = self._end(day, "1d")  # up to BATCH_DAYS days of the span, in its month
        for _ in range(BATCH_DAYS - 1):
            if next_day > span.hi_ms or next_day >= month_of[month]:
                break
            next_day = self._end(next_day, "1d")
        _rest, batch = ledger.take(
            self.ledger.spans(), span, day_ms=day, next_day_ms=next_day, month_of=month_of
        )
        began, self._rested = self.clock.monotonic(), 0.0
        windows = self._recompute(batch, next_day, watermark)
        for start in batch.months:
            windows += self._month(start, month_of[start], watermark)
        self.ledger.update(
            lambda spans: ledger.take(
                spans, span, day_ms=day, next_day_ms=next_day, month_of=month_of
            )[0]
        )
        self.stats.batches += 1
        self.stats.windows += windows
        self.stats.seconds += self.clock.monotonic() - began - self._rested  # busy only
        return windows

    def _start(self, ms: int, window: str) -> int:
        return int(window_starts(pl.Series([ms], dtype=pl.Int64), window=window, tz=self.tz)[0])

    def _end(self, start: int, window: str) -> int:
        return int(window_ends(pl.Series([start], dtype=pl.Int64), window=window, tz=self.tz)[0])

    def _neighbours(self, span: Span) -> tuple[int, int]:
        """The last reading before and the first after the span of its meters (pro rata
        the interval before a late reading is cut anew; the one after always is)."""
        reads = self.jobs.reads
        before = reads.last_before(span.lo_ms)
        after = reads.first_after(span.hi_ms + 1)
        mine = pl.col("sensor").is_in(sorted(span.sensors))
        lo = before.filter(mine)["ts"].min()
        hi = after.filter(mine)["ts"].max()
        return (
            int(lo) if isinstance(lo, int) else span.lo_ms,
            int(hi) if isinstance(hi, int) else span.hi_ms,
        )

    def _readings(self, lo: int, hi: int) -> pl.DataFrame:
        """The stored readings of [lo, hi) with what the processor journaled there."""
        stored = self.jobs.readings_for(lo, hi)
        journaled = self._journal(lo - self.jobs.lookback_ms, hi)
        rows = pl.concat([stored, journaled]).unique(subset=["sensor", "ts"], keep="first")
        self.stats.readings += rows.height
        return rows

    def _recompute(self, batch: Batch, next_day: int, watermark: int) -> int:
        """The batch's closed windows, a piece at a time, each followed by a rest
        (``_pace``): computed and written beside a quiet live path (else while its tick
        waits), then, while its tick waits (``exclusive``, about ``PIECE_S``), checked
        against what the live path took since the batch's read (``_fresh``) and wrote
        since the piece's own write (``Writes.since``): if either, computed and written
        again then, so the piece's point of a window is never left behind an older live
        one. Then numbered, and published. A live tick waits for one piece at most,
        however long the backfill."""
        began = self.clock.monotonic()
        # sorted by time once, so each piece slices its part (``window_readings``)
        readings = self._readings(batch.day_ms, next_day).sort("ts")
        sensors = batch.sensors or None  # only their use points change (``Jobs.windows``)
        # the month's stored days' grid import, read once for every piece of the batch
        # (none of them writes a day the others read: 1d windows come last)
        days_grid = self.jobs.reads.days_grid(batch.day_ms, next_day)
        self._pace(self.clock.monotonic() - began)

        def compute(size: str, part: pl.DataFrame, lo: int, upto: int) -> Computed:
            return self.jobs.windows(size, part, lo, upto, newest_ms=watermark,
                                     days_grid=days_grid, sensors=sensors)  # fmt: skip

        windows = 0
        for size in SIZES:  # the windows overlapping the batch that are closed
            lo = self._start(batch.lo_ms, size)
            hi = min(self._end(self._start(batch.hi_ms, size), size), self._start(watermark, size))
            while lo < hi:  # a piece at a time, never beyond a window's end
                piece = self._piece_ms.get(size, hi - lo)
                upto = min(hi, max(self._end(self._start(lo + piece - 1, size), size),
                                   self._end(lo, size)))  # fmt: skip
                part = window_readings(readings, lo - self.jobs.lookback_ms, upto,
                                       pro_rata=self.jobs.park.pro_rata)  # fmt: skip
                began, rested = self.clock.monotonic(), self._rested
                stats = self.stats
                # beside a quiet live path (it only reads) computed and written, else
                # computed and written while its tick waits; either way checked and
                # numbered while it waits; published after
                quiet, early, mark = self._quiet(), None, 0
                if quiet:
                    self._after_live()
                    mark = self._writes.mark()
                    early = compute(size, part, lo, upto)
                    computed = self.clock.monotonic()
                    self.jobs.write_points("catchup", early[1], batch_lines=BESIDE_WRITE_LINES,
                                           before_batch=self._after_live)  # fmt: skip
                    stats.compute_s += computed - began
                    stats.write_s += self.clock.monotonic() - computed
                asked = self.clock.monotonic()
                with self.exclusive:
                    locked = self.clock.monotonic()
                    fresh = self._fresh(part, lo, upto)
                    if (early is not None and fresh is part
                            and not self._writes.since(mark, size, lo, upto)):  # fmt: skip
                        frame = early[0]
                    else:  # on what the live path took since the read; written last
                        frame, points = compute(size, fresh, lo, upto)
                        computed = self.clock.monotonic()
                        self.jobs.write_points("catchup", points)
                        stats.compute_s += computed - locked
                        stats.write_s += self.clock.monotonic() - computed
                    ends = dict(zip(frame["window"].to_list(), self._ends(frame, size),
                                    strict=True))  # fmt: skip
                    send = self._revise(size, frame, ends)
                    held = self.clock.monotonic() - locked
                sending = self.clock.monotonic()
                send(partial(self._before_chunk, quiet=quiet))
                stats.wait_s += locked - asked
                stats.publish_s += self.clock.monotonic() - sending
                windows += frame["window"].n_unique()
                least, most = MIN_PIECE_MS.get(size, DAY_MS), MAX_PIECE_MS.get(size, BATCH_MS)
                self._piece_ms[size] = next_piece(upto - lo, held, PIECE_S, least, most)
                lo = upto
                # busy: neither the wait for the tick nor the publishing's pauses, which
                # rest the host as much as the pause after it
                paused = self._rested - rested
                self._pace(self.clock.monotonic() - began - (locked - asked) - paused,
                           paused=paused)  # fmt: skip
        day = batch.day_ms
        while day < next_day and (end := self._end(day, "1d")) <= watermark:
            self.jobs.completeness(self._date(day))  # each closed day of the batch
            day = end
        return windows

    def _after_live(self) -> None:
        after_live(self._live_busy, self.clock)

    def _before_chunk(self, updates: int, *, quiet: bool) -> None:
        """Before each chunk of a piece's updates: beside a quiet live path, wait for it to
        be idle; and keep to ``updates_per_s``. Every subscriber takes the updates in the
        order they were published, so a live update published after a burst of them
        reaches it only once the burst has (measured during a year's backfill: a day's
        2,880 updates published at once delayed the next live minute's by 330 to 640 ms
        at the watching subscriber); paced, a live update waits behind one chunk at
        most. The pauses count as rest, not busy time (``_pace``)."""
        if quiet:
            self._after_live()
        now = self.clock.monotonic()
        if (wait := self._send_free_at - now) > 0:
            self._stop.wait(wait)
            self._rested += wait
        self._send_free_at = max(now, self._send_free_at) + updates / self.updates_per_s

    def _quiet(self) -> bool:
        """Whether the live path's ticks leave most of the wall time (below ``BUSY_LIVE``):
        a piece is then computed beside them, not while they wait."""
        return self._live_load() < BUSY_LIVE

    def _fresh(self, part: pl.DataFrame, lo: int, upto: int) -> pl.DataFrame:
        """``part`` (read at the batch's start) joined with what the live path holds for
        the piece now (while its tick waits): a reading of a window the live path took
        since the batch's read is never left out, so the piece never overwrites the live
        path's newer point with an older snapshot. ``part`` itself when the live path
        holds nothing it lacks (the piece computed beforehand stands)."""
        if self._recent is None:
            return part
        lookback = self.jobs.lookback_ms
        fresh = self._recent(lo - lookback, upto + lookback)
        keys = ["sensor", "ts"]
        if fresh.height == 0 or fresh.join(part, on=keys, how="anti").height == 0:
            return part
        rows = pl.concat([part, fresh.select(part.columns).cast(part.schema)])
        rows = rows.unique(subset=keys, keep="first")
        rows = window_readings(rows, lo - lookback, upto, pro_rata=self.jobs.park.pro_rata)
        if rows.select(keys).sort(keys).equals(part.select(keys).sort(keys)):
            return part  # what it lacked lies beyond the piece's readings
        return rows

    def _pace(self, spent: float, *, paused: float = 0.0) -> None:
        """After a piece of work that took ``spent`` seconds (and ``paused`` already,
        publishing at its rate), rest so the job takes at most its busy share of wall time
        (``t x (1 - share) / share`` after ``t`` busy seconds, pauses included),
        however quiet the live path: what a piece costs the store, the broker and the
        updates' subscribers is not in its own time (measured on a year's backfill beside
        a park at its own pace: taking what the live ticks left, about 95 % of the wall
        time, the live freshness p99 was 2.3 s; at a share of 0.5, 0.5 to 1.1 s)."""
        share = self.busy_share
        # at least a moment, even at a share of 1: the tick lock is not fair, and a
        # tick blocked on it must get it between two pieces
        rest = max(MIN_REST_S, spent * (1 - share) / max(share, 0.01) - paused)
        self._stop.wait(rest)
        self._rested += rest

    def _ends(self, frame: pl.DataFrame, size: str) -> list[int]:
        if frame.height == 0:
            return []
        return window_ends(frame["window"], window=size, tz=self.tz).to_list()

    def _date(self, ms: int) -> date:
        return datetime.fromtimestamp(ms / 1000, self.jobs.zone).date()

    def _month(self, start: int, end: int, watermark: int) -> int:
        """The month (to date, if open) and what depends on it."""
        readings = self._readings(start, end)
        frame, points = self.jobs.windows("1mo", readings, start, end, newest_ms=watermark)
        with self.exclusive:  # as a piece: written and numbered while a tick waits
            self.jobs.write_points("catchup", points)
            send = self._revise("1mo", frame, {start: end})
        send(partial(self._before_chunk, quiet=False))
        # burn-downs to the month's last day, or to yesterday while it is open
        as_of = self._date(min(end, self._start(watermark, "1d")) - 1)
        if as_of >= self._date(start):
            self.jobs.quota(as_of)
            self.jobs.carbon_budget(as_of)
        if self.jobs.config.muju is not None:
            first = self._date(start)
            if end <= watermark:
                self.jobs.muju(first.year, through_month=first.month)
                if first.month == 12:
                    self.jobs.muju(first.year)
        return 1
