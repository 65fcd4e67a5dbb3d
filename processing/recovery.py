"""What the stream processor recovers from after a (re)start: the windows of each size
from the recorded progress on (for a first start: the newest stored day), at most
``RECOVERY_MAX_MS`` back, and the readings to recompute them (the journal's and the
store's, each counted once). What lies before that limit is the ledger's
(``processing.catchup``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import polars as pl

from processing.journal import Journal
from processing.meters import window_starts
from processing.reads import READINGS_SCHEMA, StoreReads

logger = logging.getLogger(__name__)

DAY_MS = 86_400_000
RECOVERY_MAX_MS = 2 * DAY_MS  # a restart recomputes at most this far back


@dataclass(frozen=True, slots=True)
class Recovery:
    since_ms: int  # windows from here on are recomputed
    wanted_ms: int  # where the progress said to start (< since_ms when limited)
    readings: pl.DataFrame  # sensor, ts, value


def plan(
    *, reads: StoreReads, journal: Journal, progress: dict[str, int], tz: str, lookback_ms: int
) -> Recovery | None:
    """The recovery after a (re)start, None when there is nothing to recover from."""
    newest = reads.newest_counter_ms()
    journaled = journal.newest_ms()
    if journaled is not None:
        newest = max(newest or journaled, journaled)
    if newest is None:
        return None
    if progress:
        wanted = min(progress.values())
    else:
        wanted = int(window_starts(pl.Series([newest], dtype=pl.Int64), window="1d", tz=tz)[0])
    since = wanted
    if newest - since > RECOVERY_MAX_MS:
        logger.warning(
            "recovery limited to %d days: earlier windows go to the ledger",
            RECOVERY_MAX_MS // DAY_MS,
        )
        since = newest - RECOVERY_MAX_MS
    lo = since - lookback_ms
    stored = reads.counters_from(lo)
    journal_rows = pl.DataFrame(journal.read(lo), schema=READINGS_SCHEMA, orient="row")
    rows = pl.concat([journal_rows, stored]).unique(subset=["sensor", "ts"], keep="first")
    logger.info(
        "recovering since=%s readings=%d (journal %d, store %d)",
        datetime.fromtimestamp(since / 1000, UTC).isoformat(),
        rows.height,
        journal_rows.height,
        stored.height,
    )
    return Recovery(since, wanted, rows)
