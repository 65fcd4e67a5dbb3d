"""A bounded on-disk FIFO of line-protocol batches, for while the store is down.

Each batch is one file ``{seq:016d}.lp`` written to a temporary name, fsynced and
renamed, so a crash leaves either the whole batch or nothing. The files are plain
line protocol with millisecond timestamps: ``curl --data-binary @file`` replays one
by hand. The spool survives restarts; ``oldest()`` returns batches in write order.
"""

from __future__ import annotations

import logging
from pathlib import Path

from smartpark.durable import write_atomically

logger = logging.getLogger(__name__)

_SUFFIX = ".lp"


class Spool:
    def __init__(self, directory: Path, *, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob("*.tmp"):
            # A batch interrupted before its rename was never acknowledged: drop the
            # partial file, the broker still holds (and will redeliver) its messages.
            leftover.unlink()
        self._segments = sorted(directory.glob(f"*{_SUFFIX}"))
        self.size_bytes = sum(p.stat().st_size for p in self._segments)
        self._next = int(self._segments[-1].stem) + 1 if self._segments else 0
        if self._segments:
            logger.info(
                "spool holds batches=%d bytes=%d dir=%s", len(self), self.size_bytes, directory
            )

    def __len__(self) -> int:
        return len(self._segments)

    def has_room(self, size: int) -> bool:
        return self.size_bytes + size <= self.max_bytes

    def append(self, body: bytes) -> bool:
        """Durably store one batch; False (nothing written) when it would exceed max_bytes."""
        if not self.has_room(len(body)):
            return False
        final = self.directory / f"{self._next:016d}{_SUFFIX}"
        write_atomically(final, body)
        self._next += 1
        self._segments.append(final)
        self.size_bytes += len(body)
        return True

    def oldest(self) -> tuple[Path, bytes] | None:
        if not self._segments:
            return None
        path = self._segments[0]
        return path, path.read_bytes()

    def remove(self, path: Path) -> None:
        """Forget a batch once the store holds it."""
        if not self._segments or self._segments[0] != path:
            raise ValueError(f"not the oldest spooled batch: {path}")
        size = path.stat().st_size
        path.unlink()
        self._segments.pop(0)
        self.size_bytes -= size
