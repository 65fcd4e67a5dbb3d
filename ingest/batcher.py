"""Batches of encoded readings, sealed by size or age, handed from the MQTT thread to the writer."""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from smartpark.clock import Clock


@dataclass(slots=True)
class Batch:
    lines: list[str] = field(default_factory=list)
    mids: list[int] = field(default_factory=list)  # QoS 1 messages to acknowledge once durable
    ts_ms: list[int] = field(default_factory=list)  # first reading ts of each message, for lag
    opened: float = 0.0


class Batcher:
    """Thread-safe: ``add`` from the MQTT thread, ``take`` from the writer thread."""

    def __init__(self, *, max_points: int, max_age_s: float, clock: Clock) -> None:
        self.max_points = max_points
        self.max_age_s = max_age_s
        self._clock = clock
        self._cond = threading.Condition()
        self._open = Batch()
        self._sealed: deque[Batch] = deque()
        self.buffered_messages = 0

    def add(self, lines: list[str], mid: int, ts_ms: int) -> None:
        """Add one message's lines; ``mid`` 0 means nothing to acknowledge (QoS 0)."""
        with self._cond:
            batch = self._open
            if not batch.lines:
                batch.opened = self._clock.monotonic()
            batch.lines.extend(lines)
            if mid:
                batch.mids.append(mid)
            batch.ts_ms.append(ts_ms)
            self.buffered_messages += 1
            if len(batch.lines) >= self.max_points:
                self._seal()
                self._cond.notify()

    def _seal(self) -> None:
        self._sealed.append(self._open)
        self._open = Batch()

    def take(self, timeout_s: float) -> Batch | None:
        """The next sealed batch, or the open one once it is ``max_age_s`` old; None on timeout."""
        with self._cond:
            deadline = self._clock.monotonic() + timeout_s
            while True:
                if not self._sealed and self._open.lines:
                    age = self._clock.monotonic() - self._open.opened
                    if age >= self.max_age_s:
                        self._seal()
                if self._sealed:
                    batch = self._sealed.popleft()
                    self.buffered_messages -= len(batch.ts_ms)
                    return batch
                now = self._clock.monotonic()
                if now >= deadline:
                    return None
                wait = deadline - now
                if self._open.lines:
                    wait = min(wait, self._open.opened + self.max_age_s - now)
                self._cond.wait(max(wait, 0.0005))

    def flush_all(self) -> None:
        """Seal the open batch now (on shutdown)."""
        with self._cond:
            if self._open.lines:
                self._seal()
            self._cond.notify()

    @property
    def empty(self) -> bool:
        with self._cond:
            return not self._sealed and not self._open.lines
