"""An engineer's replay fires what the scenario expects: the shipped cems-exceedance-day
through ``smartpark alerts run`` (its own process) as fast as the broker takes it, at
N x speed, and with the service restarted in the middle."""

from __future__ import annotations

import signal
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.servers import free_port
from simulators import recording
from simulators import scenario as scenario_mod
from simulators.player import play
from simulators.recording import Message
from simulators.stream import ParkFeed
from smartpark.clock import SystemClock
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import Settings
from tests.alerts.test_recovery import _start
from tests.alerts.test_service import Receiver
from tests.conftest import EXAMPLE_PARK, wait_until

pytestmark = pytest.mark.slow
CST = timezone(timedelta(hours=8))
SCENARIO = EXAMPLE_PARK.parent / "scenarios" / "cems-exceedance-day.yaml"


def _day(park: Registry, root: str, *, kinds: set[str] | None = None) -> list[Message]:
    scenario = scenario_mod.load(SCENARIO)
    feed = ParkFeed(park, scenario, root=root)
    return [
        m
        for f in feed.frames(scenario.start_ms, scenario.end_ms)
        for m in recording.frame_messages(f)
        if kinds is None or m.topic.split("/")[3] in kinds
    ]


def _configure(settings: Settings, tmp_path: Path, webhook: int) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "rules": [{"id": "cems", "type": "cems_hourly", "severity": "critical"}],
                "operator": [{"type": "webhook", "url": f"http://127.0.0.1:{webhook}/op"}],
                "mqtt": False,
                "lifecycle": {"escalate_after_s": 3600},
            }
        )
    )
    settings.alerts = settings.alerts.model_copy(
        update={"config": rules, "http_port": free_port(), "tick_s": 0.5}
    )


def _publish(settings: Settings, messages: list[Message], speed: float | None) -> None:
    publisher = BoundedPublisher(settings.mqtt, client_id=f"replay-{time.monotonic_ns()}")
    assert publisher.wait_connected()
    play(iter(messages), publisher.publish, clock=SystemClock(), speed=speed)
    assert publisher.wait_all(120)
    publisher.close()


def _local(iso: str) -> str:
    return datetime.fromisoformat(iso).astimezone(CST).strftime("%H:%M")


def _check(receiver: Receiver) -> list[dict[str, Any]]:
    """Exactly one firing for e08-stack-1 NOx with the 09:00 hour's mean, one resolution
    after the 11:00 hour, nothing else (no escalation, nothing for e10-stack-1)."""
    bodies = receiver.to("/op")
    events = [(b["event"], b["subject"]) for b in bodies]
    assert events == [
        ("firing", "e08-stack-1/nox_mg_m3"),
        ("resolved", "e08-stack-1/nox_mg_m3"),
    ], events
    firing, resolved = bodies
    assert 48.0 < firing["value"] < 48.7  # the 09:00 hour's O2-corrected mean
    assert _local(firing["fired_at"]) == "10:00"  # event time: the end of the 09:00 hour
    assert "from 12:00" in resolved["message"]  # the first compliant hour after the episode
    return bodies


@pytest.mark.parametrize("speed", [None, 3600.0], ids=["fast", "3600x"])
def test_the_cems_day_replayed_fires_once_and_resolves(
    settings: Settings, park: Registry, tmp_path: Path, speed: float | None
) -> None:
    webhook = free_port()
    receiver = Receiver(webhook)
    _configure(settings, tmp_path, webhook)
    service = _start(settings, tmp_path / "alerts.log")
    try:
        # The whole park at full speed; at 3600x the emissions only (a day in 24 s).
        kinds = None if speed is None else {"emissions"}
        _publish(settings, _day(park, settings.mqtt.topic_root, kinds=kinds), speed)
        # The last hour is judged once the stacks have been quiet for 5 minutes; the
        # resolution of the 12:00 hour comes when the 13:00 hour starts.
        wait_until(lambda: len(receiver.to("/op")) >= 2, 60, "firing and resolution")
        time.sleep(1.0)
        _check(receiver)
    finally:
        service.send_signal(signal.SIGTERM)
        service.wait(30)
        receiver.stop()


def test_the_cems_day_replayed_across_a_restart_of_the_service(
    settings: Settings, park: Registry, tmp_path: Path
) -> None:
    webhook = free_port()
    receiver = Receiver(webhook)
    _configure(settings, tmp_path, webhook)
    day = _day(park, settings.mqtt.topic_root, kinds={"emissions"})
    t_restart = int(datetime.fromisoformat("2026-11-04T10:30:00+08:00").timestamp() * 1000)
    first = _start(settings, tmp_path / "alerts-1.log")
    second = None
    try:
        _publish(settings, [m for m in day if m.t_ms < t_restart], None)
        wait_until(lambda: len(receiver.to("/op")) >= 1, 60, "the firing")  # ~5 s quiet
        first.send_signal(signal.SIGTERM)
        first.wait(30)
        _publish(settings, [m for m in day if m.t_ms >= t_restart], None)  # queued for it
        second = _start(settings, tmp_path / "alerts-2.log")
        wait_until(lambda: len(receiver.to("/op")) >= 2, 60, "the resolution")
        time.sleep(1.0)
        _check(receiver)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        receiver.stop()
