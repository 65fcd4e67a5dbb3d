"""The simulator modes behind the CLI: generate, backfill, live, replay, record.

Each long run shows a rich progress bar (rate, ETA where the total is known) on
stderr and returns a summary the CLI prints.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from simulators import recording
from simulators.player import PlayStats, play
from simulators.recorder import Recorder
from simulators.recording import Message
from simulators.scenario import Scenario
from simulators.stream import ParkFeed
from smartpark.clock import Clock, SystemClock
from smartpark.errors import SmartparkError
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import MqttSettings


@dataclass(slots=True)
class Summary:
    what: str
    messages: int = 0
    readings: int | None = 0  # None: not known (a recording is not decoded)
    elapsed_s: float = 0.0
    faults: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        rate = self.messages / self.elapsed_s if self.elapsed_s else 0.0
        readings = "" if self.readings is None else f" readings={self.readings}"
        out = [
            f"{self.what}: messages={self.messages}{readings} "
            f"elapsed_s={self.elapsed_s:.1f} msgs_per_s={rate:.0f}"
        ]
        if self.faults:
            out.append("faults: " + " ".join(f"{k}={v}" for k, v in sorted(self.faults.items())))
        return out + self.notes


@contextmanager
def _progress(
    console: Console, what: str, total: int | None, unit: str = "msg"
) -> Iterator[Callable[[int], None]]:
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    start = time.monotonic()
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task(what, total=total, rate="")

        def update(done: int) -> None:
            elapsed = max(time.monotonic() - start, 1e-9)
            bar.update(task, completed=done, rate=f"{done / elapsed:,.0f} {unit}/s")

        yield update


def _stop_on_signal() -> threading.Event:
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    return stop


def _faults(feed: ParkFeed) -> dict[str, int]:
    return {k: v for k, v in feed.log.events.items() if v}


def generate(
    registry: Registry, scenario: Scenario, *, out: Path, root: str, console: Console
) -> Summary:
    """Write the scenario's feed to a recording file, as fast as it can be generated."""
    feed = ParkFeed(registry, scenario, root=root)
    written = recording.Written()
    start = time.monotonic()
    expected = feed.expected_readings(scenario.start_ms, scenario.end_ms)
    with out.open("wb") as handle, _progress(console, "generate", expected, "readings") as update:
        handle.write(
            recording.header(source="generate", scenario=scenario.name, seed=scenario.seed)
        )
        for frame in feed.frames(scenario.start_ms, scenario.end_ms):
            recording.write_frames(handle, [frame], written)
            update(written.readings)
    return Summary(
        f"generated {out}",
        messages=written.messages,
        readings=written.readings,
        elapsed_s=time.monotonic() - start,
        faults=_faults(feed),
    )


def _publisher(settings: MqttSettings) -> BoundedPublisher:
    publisher = BoundedPublisher(
        settings, client_id=f"smartpark-sim-{os.getpid()}", persistent=False
    )
    if not publisher.wait_connected():
        publisher.close()
        raise SmartparkError(f"cannot connect to MQTT broker {settings.host}:{settings.port}")
    return publisher


def _publish(
    settings: MqttSettings,
    messages: Iterator[Message],
    *,
    what: str,
    total: int | None,
    speed: float | None,
    console: Console,
    clock: Clock,
    t0_ms: int | None = None,
    shift_to_now: bool = False,
) -> PlayStats:
    publisher = _publisher(settings)
    stop = _stop_on_signal()
    try:
        with _progress(console, what, total) as update:
            stats = play(
                messages,
                publisher.publish,
                clock=clock,
                speed=speed,
                t0_ms=t0_ms,
                shift_ms=(lambda first: clock.now_ms() - first) if shift_to_now else 0,
                stop=stop.is_set,
                progress=lambda s: update(s.messages),
            )
        if not publisher.wait_all(60):
            raise SmartparkError("the broker did not acknowledge every message within 60 s")
    finally:
        publisher.close()
    return stats


def _frames_messages(feed: ParkFeed, start_ms: int, end_ms: int | None) -> Iterator[Message]:
    for frame in feed.frames(start_ms, end_ms):
        yield from recording.frame_messages(frame)


def backfill(
    registry: Registry,
    scenario: Scenario,
    *,
    settings: MqttSettings,
    console: Console,
    clock: Clock | None = None,
) -> Summary:
    """Publish the scenario's period with its historical timestamps, as fast as accepted."""
    feed = ParkFeed(registry, scenario, root=settings.topic_root)
    total = feed.expected_readings(scenario.start_ms, scenario.end_ms) // scenario.batch
    stats = _publish(
        settings,
        _frames_messages(feed, scenario.start_ms, scenario.end_ms),
        what="backfill",
        total=total,
        speed=None,
        console=console,
        clock=clock or SystemClock(),
    )
    return Summary("backfilled", stats.messages, stats.readings, stats.elapsed_s, _faults(feed))


def live(
    registry: Registry,
    scenario: Scenario,
    *,
    settings: MqttSettings,
    console: Console,
    duration_s: float | None,
    clock: Clock | None = None,
) -> Summary:
    """Publish the scenario's park in real time, from now, until stopped or ``duration_s``."""
    clock = clock or SystemClock()
    now = clock.now_ms()
    step = scenario.interval_s * 1000
    start = now - now % step  # the reading of the current step goes out at once
    end = None if duration_s is None else now + int(duration_s * 1000)
    feed = ParkFeed(registry, scenario, root=settings.topic_root)
    messages = (m for m in _frames_messages(feed, start, end) if end is None or m.t_ms < end)
    stats = _publish(
        settings,
        messages,
        what="live",
        total=None,
        speed=1.0,
        console=console,
        clock=clock,
        t0_ms=now,
    )
    notes = [f"worst lateness against the schedule: {stats.behind_ms:.0f} ms"]
    return Summary("live", stats.messages, stats.readings, stats.elapsed_s, _faults(feed), notes)


def replay(
    path: Path,
    *,
    settings: MqttSettings,
    console: Console,
    speed: float | None,
    shift_to_now: bool,
    clock: Clock | None = None,
) -> Summary:
    """Publish a recording or readings table at ``speed`` x (None: as fast as possible)."""
    problems: list[str] = []
    if path.suffix in recording.TABLE_SUFFIXES:
        table = recording.read_table(path, root=settings.topic_root, problems=problems)
        messages: Iterator[Message] = iter(table)
        total, table_known = len(table), True
    else:
        messages = recording.read(path, problems=problems)
        total, table_known = recording.count_lines(path), False
    stats = _publish(
        settings,
        messages,
        what="replay",
        total=total,
        speed=speed,
        console=console,
        clock=clock or SystemClock(),
        shift_to_now=shift_to_now,
    )
    notes = (
        [f"skipped {len(problems)} unusable line(s) or row(s)", *problems[:20]] if problems else []
    )
    if speed is not None:
        notes.append(f"worst lateness against the schedule: {stats.behind_ms:.0f} ms")
    readings = stats.readings if table_known else None
    return Summary(f"replayed {path}", stats.messages, readings, stats.elapsed_s, notes=notes)


def record(
    path: Path,
    *,
    settings: MqttSettings,
    topic_filter: str,
    console: Console,
    duration_s: float | None,
    count: int | None,
    clock: Clock | None = None,
) -> Summary:
    """Write every message under ``topic_filter`` to ``path`` until stopped."""
    clock = clock or SystemClock()
    recorder = Recorder(
        settings,
        topic_filter=topic_filter,
        path=path,
        clock=clock,
        client_id=f"smartpark-rec-{os.getpid()}",
        limit=count,
    )
    stop = _stop_on_signal()
    start = time.monotonic()
    try:
        if not recorder.subscribed.wait(10):
            raise SmartparkError(
                f"cannot subscribe to {topic_filter!r} on {settings.host}:{settings.port}"
            )
        console.print(f"recording {topic_filter} to {path}", soft_wrap=True)
        with _progress(console, f"record {topic_filter}", count) as update:
            while not stop.wait(0.2):
                update(recorder.messages)
                if duration_s is not None and time.monotonic() - start >= duration_s:
                    break
                if count is not None and recorder.messages >= count:
                    break
            update(recorder.messages)
    finally:
        recorder.close()
    return Summary(f"recorded {path}", recorder.messages, None, time.monotonic() - start)
