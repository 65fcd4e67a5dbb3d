"""Open windows, live (pure but for the store reads it is given): today and this
month, computed every minute of event time up to the last complete minute.

Today is the day's readings so far (the stream's buffer); the month to date is the
stored totals of its earlier days plus today's, so it always includes today and has a
figure one minute after the 1st. Both carry ``provisional`` and ``complete_to_ms`` and
the pro-rated declared amounts of the time they cover (``allocate``). The year to date
is the sum of its months (the API's scorecard adds the stored month windows, this
month's live one included). When a day or month closes, the stream's closing write
(and the scheduled roll-ups) make it final, ``provisional`` false.
"""

from __future__ import annotations

import polars as pl

from processing.config import ProcessingConfig
from processing.engine import Park, of_totals, totals
from processing.kpis import Coefficients
from processing.meters import window_starts
from processing.reads import StoreReads

MINUTE_MS = 60_000


class LiveWindows:
    """Today's and this month's KPIs so far, once per new complete minute."""

    def __init__(
        self,
        *,
        park: Park,
        config: ProcessingConfig,
        coefficients: Coefficients,
        reads: StoreReads,
    ) -> None:
        self.park = park
        self.config = config
        self.coefficients = coefficients
        self.reads = reads
        self.complete_to_ms: int | None = None  # of the last computation

    def due(self, watermark_ms: int) -> int | None:
        """The new ``complete_to_ms`` when the watermark has completed a minute since the
        last computation (the minute that starts at it is not complete yet), else None."""
        complete_to = watermark_ms // MINUTE_MS * MINUTE_MS
        if self.complete_to_ms is not None and complete_to <= self.complete_to_ms:
            return None
        return complete_to

    def compute(self, buffer: pl.DataFrame, complete_to: int) -> dict[str, pl.DataFrame]:
        """KPI rows of today (``1d``) and the month to date (``1mo``) from the readings
        before ``complete_to`` (``buffer``: the day so far, each meter's reading before it).
        The minute counts as computed only once its store reads succeeded: a failed read
        (``StoreError`` raised) leaves it due, so the next tick computes it again."""
        at = pl.Series([complete_to], dtype=pl.Int64)
        day = int(window_starts(at, window="1d", tz=self.park.tz)[0])
        month = int(window_starts(at, window="1mo", tz=self.park.tz)[0])
        if complete_to == day:
            self.complete_to_ms = complete_to
            return {}  # nothing of today is complete yet
        readings = buffer.filter(pl.col("ts") < complete_to)
        today = totals(
            readings, self.park, window="1d", max_gap_ms=self.config.max_gap_s * 1000
        ).filter(pl.col("window") == day)
        if today.height == 0:
            self.complete_to_ms = complete_to
            return {}
        days = self.reads.day_totals(month, day)
        days_grid = self.reads.days_grid(month, day)
        counts = pl.col("readings", "flags").cast(pl.Int64)
        both = pl.concat(
            [days.with_columns(counts), today.select(days.columns).with_columns(counts)]
        )
        so_far = both.group_by("enterprise").agg(
            *[pl.col(c).sum() for c in days.columns if c not in ("enterprise", "window", "flags")],
            flags=pl.col("flags").bitwise_or(),
        )
        so_far = so_far.with_columns(window=pl.lit(month, dtype=pl.Int64))
        self.complete_to_ms = complete_to  # both reads done
        return {
            "1d": of_totals(today, self.park, self.config, self.coefficients, window="1d",
                            complete_to_ms=complete_to, days_grid=days_grid),
            "1mo": of_totals(so_far.select(today.columns).cast(today.schema), self.park,
                             self.config, self.coefficients, window="1mo",
                             complete_to_ms=complete_to),
        }  # fmt: skip
