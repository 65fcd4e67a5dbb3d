"""The processor's durable record of what it has received and what it has written.

- **Readings journal**: every counter reading the processor takes, appended to a
  segment file per UTC hour (``{hour_ms}.csv``: ``sensor,ts_ms,value`` lines) and
  fsynced before its MQTT message is acknowledged. A message the processor dies
  holding is redelivered by the broker; one it acknowledged is in the journal. On
  restart the journal (with the store's readings, for a first start) refills the
  buffer, so a window is recomputed from everything that reached the processor, even
  what the collector had not stored yet. Segments are deleted once no window that can
  still change needs them.
- **Progress** (``progress.json``, written to a temporary name, fsynced, renamed): per
  window size, the start of the earliest window whose points are not known to be in
  the store. Everything from there on is recomputed, written and published after a
  restart; nothing before it is counted twice, because readings are keyed by
  (sensor, ts) and a recomputed window overwrites its own point.

Sensor ids follow the id grammar ``[a-z0-9][a-z0-9_-]{0,63}``, so a comma never occurs
in them; a torn last line (a crash mid-write) is skipped on reading.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path

import orjson

from smartpark.durable import write_atomically

logger = logging.getLogger(__name__)

HOUR_MS = 3_600_000
MAX_OPEN = 64  # segments open at once: a year's backfill spans 8,760 hours
KEEP_OPEN = 3  # the hours live readings go on appending to
_SUFFIX = ".csv"


class Journal:
    """Append-only readings in hourly segments under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self._open: dict[int, int] = {}  # hour start -> file descriptor
        self.appended = 0
        # the segments' hours, kept here (a year's backfill leaves thousands of segments
        # while the ledger needs them: listing the directory every tick would cost more
        # than the tick); the catch-up reads from another thread, hence the lock
        self._lock = threading.Lock()
        self._hours = {int(p.stem) for p in directory.glob(f"*{_SUFFIX}") if p.stem.isdigit()}

    def append(self, rows: Iterable[tuple[str, int, float]]) -> None:
        """Write rows to their hours' segments (not yet durable: call :meth:`sync`)."""
        chunks: dict[int, list[bytes]] = {}
        for sensor, ts, value in rows:
            chunks.setdefault(ts - ts % HOUR_MS, []).append(f"{sensor},{ts},{value!r}\n".encode())
        for hour, lines in sorted(chunks.items()):
            fd = self._open.get(hour)
            if fd is None:
                if len(self._open) >= MAX_OPEN:
                    self._retire(keep=0)  # a backfill of many hours: fds stay bounded
                path = self.directory / f"{hour}{_SUFFIX}"
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
                self._open[hour] = fd
                with self._lock:
                    self._hours.add(hour)
            os.write(fd, b"".join(lines))
            self.appended += len(lines)

    def sync(self) -> None:
        """Make every appended row durable; keep only the newest hours' segments open."""
        for fd in self._open.values():
            os.fsync(fd)
        self._retire(keep=KEEP_OPEN)

    def _retire(self, *, keep: int) -> None:
        """Fsync and close every open segment but the ``keep`` newest hours'."""
        for hour in sorted(self._open)[: max(0, len(self._open) - keep)]:
            fd = self._open.pop(hour)
            os.fsync(fd)
            os.close(fd)

    def read(self, since_ms: int, until_ms: int | None = None) -> list[tuple[str, int, float]]:
        """Every journaled row with ``since_ms <= ts < until_ms``, in no particular order
        (a segment pruned meanwhile, by another thread, is skipped)."""
        rows: list[tuple[str, int, float]] = []
        for hour in self._sorted_hours():
            if hour + HOUR_MS <= since_ms or (until_ms is not None and hour >= until_ms):
                continue
            path = self._path(hour)
            try:
                data = path.read_bytes()
            except FileNotFoundError:
                continue
            for line in data.splitlines():
                parts = line.split(b",")
                if len(parts) != 3:
                    continue  # a torn last line
                try:
                    ts, value = int(parts[1]), float(parts[2])
                except ValueError:
                    continue  # a torn last line
                if ts >= since_ms and (until_ms is None or ts < until_ms):
                    rows.append((parts[0].decode(), ts, value))
        return rows

    def newest_ms(self) -> int | None:
        """The newest journaled reading's time, if any."""
        for hour in reversed(self._sorted_hours()):
            rows = self.read(hour)
            if rows:
                return max(ts for _s, ts, _v in rows)
        return None

    def prune(self, before_ms: int) -> None:
        """Delete the segments whose hour ends before ``before_ms``."""
        with self._lock:
            gone = [hour for hour in self._hours if hour + HOUR_MS <= before_ms]
            self._hours.difference_update(gone)
        for hour in gone:
            fd = self._open.pop(hour, None)
            if fd is not None:
                os.close(fd)
            self._path(hour).unlink(missing_ok=True)

    def _sorted_hours(self) -> list[int]:
        with self._lock:
            return sorted(self._hours)

    def _path(self, hour: int) -> Path:
        return self.directory / f"{hour}{_SUFFIX}"

    def close(self) -> None:
        for fd in self._open.values():
            os.close(fd)
        self._open.clear()


def read_progress(path: Path) -> dict[str, int]:
    """Per window size, the start of the earliest window not known to be written."""
    try:
        raw = orjson.loads(path.read_bytes())
    except FileNotFoundError:
        return {}
    except orjson.JSONDecodeError:
        logger.warning("unreadable progress file %s: recomputing from the journal", path)
        return {}
    return {str(k): int(v) for k, v in raw.items()} if isinstance(raw, dict) else {}


def write_progress(path: Path, progress: Mapping[str, int]) -> None:
    """Replace the progress file atomically and durably."""
    write_atomically(path, orjson.dumps(dict(progress)))
