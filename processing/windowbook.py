"""The processor's book of windows (pure): for each window size, which windows have
readings but are still open, which are closed or touched by late readings and wait to
be written (dirty), and which are written."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import polars as pl

from processing.meters import spanned, window_ends, window_starts


class WindowBook:
    def __init__(self, windows: Iterable[str], *, tz: str) -> None:
        self.windows = tuple(windows)
        self.tz = tz
        self.open: dict[str, set[int]] = {w: set() for w in self.windows}
        self.dirty: dict[str, set[int]] = {w: set() for w in self.windows}
        self.done: dict[str, set[int]] = {w: set() for w in self.windows}

    def note(self, ts: pl.Series) -> None:
        """Readings at ``ts`` arrived: their windows open, or become dirty if written."""
        for window in self.windows:
            self._mark(window, set(window_starts(ts, window=window, tz=self.tz).unique()))

    def note_spans(self, lo: pl.Series, hi: pl.Series) -> None:
        """Readings changed the use of the intervals [lo, hi]: every window they touch
        opens, or becomes dirty if written (a late reading between two others changes the
        next one's interval; pro rata, an interval reaches into every window it spans)."""
        for window in self.windows:
            self._mark(window, set(spanned(lo, hi, window=window, tz=self.tz).to_list()))

    def note_changes(self, known: pl.DataFrame, new: pl.DataFrame, *, pro_rata: bool) -> None:
        """New readings (sensor, ts) among ``known`` ones change more than their own
        windows: a reading that came late between two shortens the next one's interval,
        so that reading's window changes too; pro rata, every window the intervals before
        and after a new reading span."""
        merged = (
            pl.concat([known.with_columns(new=pl.lit(False)), new.with_columns(new=pl.lit(True))])
            .unique(subset=["sensor", "ts"], keep="last")
            .sort("sensor", "ts")
        )
        same_prev = pl.col("sensor") == pl.col("sensor").shift(1)
        same_next = pl.col("sensor") == pl.col("sensor").shift(-1)
        merged = merged.with_columns(
            prev=pl.when(same_prev).then(pl.col("ts").shift(1)),
            next=pl.when(same_next).then(pl.col("ts").shift(-1)),
        ).filter("new")
        if pro_rata:
            spans = merged.select(
                lo=pl.col("prev").fill_null(pl.col("ts")),
                hi=pl.max_horizontal((pl.col("next") - 1).fill_null(pl.col("ts")), "ts"),
            )
            self.note_spans(spans["lo"], spans["hi"])
        else:
            later = merged["next"].drop_nulls()
            if later.len():
                self.note(later)

    def _mark(self, window: str, starts: set[int]) -> None:
        self.dirty[window] |= starts & self.done[window]
        self.open[window] |= starts - self.done[window]

    def close(self, watermark_ms: int) -> None:
        """Open windows the watermark has passed become dirty (only the open ones are
        looked at, not every window of the buffer)."""
        for window in self.windows:
            if not self.open[window]:
                continue
            starts = pl.Series(sorted(self.open[window]), dtype=pl.Int64)
            ends = window_ends(starts, window=window, tz=self.tz)
            closed = set(starts.filter(ends <= watermark_ms).to_list())
            self.open[window] -= closed
            self.dirty[window] |= closed

    def written(self, window: str, starts: Iterable[int]) -> tuple[int, int]:
        """Record windows as written; returns (first computations, recomputations)."""
        first = recomputed = 0
        for start in starts:
            if start in self.done[window]:
                recomputed += 1
            else:
                first += 1
            self.done[window].add(start)
            self.dirty[window].discard(start)
        return first, recomputed

    def assume_written(self, progress: Mapping[str, int], default_ms: int) -> None:
        """Open windows before the recorded progress were written before a restart."""
        for window in self.windows:
            before = {s for s in self.open[window] if s < progress.get(window, default_ms)}
            self.open[window] -= before
            self.done[window] |= before

    def progress(self, watermark_ms: int) -> dict[str, int]:
        """Per size, the start of the earliest window not yet written."""
        return {w: min(self.open[w] | self.dirty[w], default=watermark_ms) for w in self.windows}

    def unwritten(self) -> int:
        return sum(len(d) for d in self.dirty.values())

    def oldest_unwritten_ms(self) -> int | None:
        return min((min(d) for d in self.dirty.values() if d), default=None)

    def prune(self, keep_from_ms: int) -> None:
        """Forget written and open windows before ``keep_from_ms``."""
        for window in self.windows:
            self.done[window] = {s for s in self.done[window] if s >= keep_from_ms}
            self.open[window] = {s for s in self.open[window] if s >= keep_from_ms}
