"""Publish a feed at a fixed rate through a bounded publisher."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from simulators.feed import Feed
from smartpark.clock import Clock
from smartpark.mqtt import BoundedPublisher


@dataclass(slots=True)
class PublishResult:
    messages: int = 0
    readings: int = 0
    elapsed_s: float = 0.0


def publish_feed(
    feed: Feed,
    publisher: BoundedPublisher,
    *,
    clock: Clock,
    msgs_per_s: float,
    max_messages: int | None = None,
    duration_s: float | None = None,
    stop: Callable[[], bool] = lambda: False,
    progress: Callable[[PublishResult], None] | None = None,
) -> PublishResult:
    """Publish until ``max_messages``, ``duration_s`` or ``stop()``, at ``msgs_per_s``."""
    if max_messages is None and duration_s is None:
        raise ValueError("give max_messages or duration_s")
    result = PublishResult()
    start = clock.monotonic()
    interval = 1.0 / msgs_per_s
    last_progress = start
    while not stop():
        now = clock.monotonic()
        if max_messages is not None and result.messages >= max_messages:
            break
        if duration_s is not None and now - start >= duration_s:
            break
        due = start + result.messages * interval
        if due > now:
            time.sleep(min(due - now, 0.05))
            continue
        topic, payload, readings = feed.message(clock.now_ms())
        publisher.publish(topic, payload)
        result.messages += 1
        result.readings += readings
        if progress is not None and now - last_progress >= 1.0:
            last_progress = now
            result.elapsed_s = now - start
            progress(result)
    result.elapsed_s = clock.monotonic() - start
    return result
