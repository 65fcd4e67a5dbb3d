"""The demo's history: the example park's last days published through the running
collector and processor as fast as they take them, then the scheduled jobs for those
days and months, so that the page and the dashboards open on a month of figures.

The readings take the path every reading takes (broker, collector, store; processor,
KPI windows); the jobs are ``smartpark jobs run``, the code the scheduler runs when a
period closes.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx

from devstack import demo_feed
from processing import app as processing_stage
from processing import periods
from simulators.player import play
from simulators.recording import Message
from simulators.stream import ParkFeed
from smartpark.clock import SystemClock
from smartpark.errors import SmartparkError
from smartpark.mqtt import BoundedPublisher
from smartpark.settings import Settings


@dataclass
class History:
    """What the history took: readings, and seconds per stage."""

    days: float
    readings: int
    published_s: float = 0.0  # every message acknowledged by the broker
    stored_s: float = 0.0  # every reading in InfluxDB (from the start)
    processed_s: float = 0.0  # every KPI window of it written (from the start)
    jobs_s: float = 0.0
    jobs: dict[str, int] = field(default_factory=dict)  # points written, by job

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.processed_s if self.processed_s else 0.0

    def line(self) -> str:
        return (
            f"history: {self.days:.1f} days, {self.readings:,} readings published in "
            f"{self.published_s:.1f} s, stored in {self.stored_s:.1f} s, KPIs computed in "
            f"{self.processed_s:.1f} s ({self.readings_per_s:,.0f} readings/s through the "
            f"collector and the processor); scheduled jobs in {self.jobs_s:.1f} s ("
            + ", ".join(f"{k} {v:,}" for k, v in sorted(self.jobs.items()))
            + " points)"
        )


def _facts(url: str) -> dict[str, object]:
    try:
        facts: dict[str, object] = httpx.get(f"{url}/healthz", timeout=2).json()
    except (httpx.HTTPError, ValueError):
        return {}  # busy or starting: asked again
    return facts


def _wait(
    done: Callable[[], bool], *, timeout_s: float, what: str, alive: Callable[[], bool]
) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() > deadline:
            raise SmartparkError(f"history: {what} not done within {timeout_s:.0f} s")
        if not alive():
            raise SmartparkError(f"history: a service stopped while waiting for {what}")
        time.sleep(0.2)


def _stored(url: str, readings: int) -> Callable[[], bool]:
    def done() -> bool:
        stats = _facts(url).get("stats", {})
        return isinstance(stats, dict) and int(stats.get("stored_readings", 0)) >= readings

    return done


def _processed(url: str, messages: int, last_minute_ms: int) -> Callable[[], bool]:
    """Every message taken (the processor counts only the readings it uses) and every
    window before the last minute written."""

    def done() -> bool:
        facts = _facts(url)
        stats, progress = facts.get("stats", {}), facts.get("progress_ms", {})
        if not isinstance(stats, dict) or not isinstance(progress, dict):
            return False
        return (
            int(stats.get("messages_received", 0)) >= messages
            and facts.get("unwritten_windows") == 0
            and int(progress.get("1m", 0)) >= last_minute_ms
        )

    return done


def run(
    feed: demo_feed.DemoFeed,
    *,
    settings: Settings,
    env: dict[str, str],
    collector_url: str,
    processor_url: str,
    alive: Callable[[], bool],
    timeout_s: float = 3600.0,
) -> tuple[History, ParkFeed]:
    """Publish the history, wait until it is stored and its KPI windows written, run the
    scheduled jobs it missed; the feed the live messages go on from."""
    park, messages = demo_feed.history(feed, settings.mqtt.topic_root)
    history = History(days=feed.history_days, readings=demo_feed.history_readings(feed))
    started = time.monotonic()
    if history.readings:
        sent = _publish(settings, messages)
        history.published_s = time.monotonic() - started
        _wait(_stored(collector_url, history.readings), timeout_s=timeout_s,
              what="storing the readings", alive=alive)  # fmt: skip
        history.stored_s = time.monotonic() - started
        last_minute = feed.start_ms - 60_000  # completes when the live feed starts
        _wait(_processed(processor_url, sent, last_minute), timeout_s=timeout_s,
              what="the KPI windows", alive=alive)  # fmt: skip
        history.processed_s = time.monotonic() - started
    jobs_started = time.monotonic()
    history.jobs = _jobs(feed, settings, Path(env["SMARTPARK_PROCESSING__CONFIG"]))
    history.jobs_s = time.monotonic() - jobs_started
    return history, park


def _jobs(feed: demo_feed.DemoFeed, settings: Settings, config: Path) -> dict[str, int]:
    """The scheduled jobs the history's days, hours and closed months missed
    (``processing.periods.streamed``: the scheduler's code)."""
    s = settings.model_copy(
        update={"processing": settings.processing.model_copy(update={"config": config})}
    )
    jobs = processing_stage.jobs(processing_stage.load(s), s, clock=SystemClock())
    try:
        first = datetime.fromtimestamp(feed.history_start_ms / 1000, jobs.zone).date()
        return periods.streamed(jobs, first, datetime.fromtimestamp(feed.start_ms / 1000, UTC))
    finally:
        jobs.store.close()


def _publish(settings: Settings, messages: Iterator[Message]) -> int:
    """Publish as fast as the broker acknowledges; the number of messages."""
    publisher = BoundedPublisher(
        settings.mqtt, client_id=f"smartpark-demo-history-{os.getpid()}", persistent=False
    )
    try:
        if not publisher.wait_connected():
            raise SmartparkError("cannot connect to the MQTT broker")
        stats = play(messages, publisher.publish, clock=SystemClock(), speed=None)
        if not publisher.wait_all(120):
            raise SmartparkError("history: the broker did not acknowledge every message")
        return stats.messages
    finally:
        publisher.close()
