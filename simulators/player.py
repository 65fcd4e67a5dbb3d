"""Publish messages on their schedule: live, at N x speed, or as fast as the broker takes them.

A message's time ``t_ms`` is mapped to a wall-clock deadline relative to an origin:
``origin + (t_ms - t0) / speed``. Live feeds use the wall clock itself as the time
base (speed 1, t0 = now), replays the first message (or ``t0``). ``speed=None``
publishes back to back, held back only by the bounded publisher.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from simulators.recording import Message, shift
from smartpark.clock import Clock


@dataclass(slots=True)
class PlayStats:
    messages: int = 0
    readings: int = 0  # of the messages whose count is known
    first_t_ms: int | None = None
    last_t_ms: int | None = None
    behind_ms: float = 0.0  # worst lateness against the schedule
    elapsed_s: float = 0.0


def play(
    messages: Iterable[Message],
    publish: Callable[[str, bytes], None],
    *,
    clock: Clock,
    speed: float | None,
    t0_ms: int | None = None,
    shift_ms: int | Callable[[int], int] = 0,
    stop: Callable[[], bool] = lambda: False,
    progress: Callable[[PlayStats], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> PlayStats:
    """Publish each message at its deadline; payload timestamps moved by ``shift_ms``.

    ``shift_ms`` may be a function of the first message's time (shift to now).
    """
    if speed is not None and speed <= 0:
        raise ValueError(f"speed must be > 0: {speed}")
    stats = PlayStats()
    start = clock.monotonic()
    offset = 0
    last_progress = start
    for message in messages:
        if stop():
            break
        if stats.first_t_ms is None:
            stats.first_t_ms = message.t_ms
            t0_ms = message.t_ms if t0_ms is None else t0_ms
            offset = shift_ms(message.t_ms) if callable(shift_ms) else shift_ms
        if speed is not None:
            assert t0_ms is not None
            due = start + (message.t_ms - t0_ms) / 1000 / speed
            while (wait := due - clock.monotonic()) > 0 and not stop():
                sleep(min(wait, 0.1))
            stats.behind_ms = max(stats.behind_ms, (clock.monotonic() - due) * 1000)
        publish(message.topic, shift(message.payload, offset) if offset else message.payload)
        stats.messages += 1
        stats.readings += max(message.readings, 0)
        stats.last_t_ms = message.t_ms
        now = clock.monotonic()
        if progress is not None and now - last_progress >= 0.2:
            last_progress = now
            stats.elapsed_s = now - start
            progress(stats)
    stats.elapsed_s = clock.monotonic() - start
    if progress is not None:
        progress(stats)
    return stats
