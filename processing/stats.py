"""The stream processor's counters (plain ints, one writer each) and their Prometheus names."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class ProcessorStats:
    received: int = 0
    readings: int = 0
    rejected: int = 0
    too_late: int = 0
    windows_computed: int = 0
    windows_recomputed: int = 0
    points_written: int = 0
    store_errors: int = 0  # each one is retried next tick
    tick_errors: int = 0
    published: int = 0
    superseded: int = 0  # a recomputation's updates not sent: the live path's newer one was
    windows_recovered: int = 0
    journal_errors: int = 0
    by_window: Counter[str] = field(default_factory=Counter)

    def counters(self) -> dict[str, float]:
        """``smartpark_processing_<name>_total`` for /metrics."""
        return {
            "messages_received": self.received,
            "readings": self.readings,
            "readings_rejected": self.rejected,
            "readings_too_late": self.too_late,
            "windows_computed": self.windows_computed,
            "windows_recomputed": self.windows_recomputed,
            "points_written": self.points_written,
            "store_errors": self.store_errors,
            "tick_errors": self.tick_errors,
            "updates_published": self.published,
            "updates_superseded": self.superseded,
            "windows_recovered": self.windows_recovered,
            "journal_errors": self.journal_errors,
        }
