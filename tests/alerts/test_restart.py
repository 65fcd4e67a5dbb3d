"""``smartpark alerts run`` SIGKILLed while a rule is half way to a decision: after a
restart the decision is the one an unbroken run makes, once. What the service gathered
before the kill is in its database (committed before each message was acknowledged);
what was published while it was dead waits in its persistent session."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from devstack.servers import free_port
from smartpark.mqtt import BoundedPublisher
from smartpark.settings import Settings
from tests.alerts.test_recovery import _start
from tests.alerts.test_service import Receiver
from tests.conftest import EXAMPLE_PARK, wait_until

pytestmark = pytest.mark.slow

HOUR_MS = 3_600_000
MIN_MS = 60_000
STACK_KEY = "tianfu-np|tianfu-np/e08-anode/emissions/e08-stack-1"  # park|key


def _configure(settings: Settings, tmp_path: Path, rule: dict[str, Any], webhook: int) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "rules": [rule],
                "enterprises": {
                    "e08-anode": [{"type": "webhook", "url": f"http://127.0.0.1:{webhook}/e08"}]
                },
                "mqtt": False,
            }
        )
    )
    settings.alerts = settings.alerts.model_copy(
        update={"config": rules, "http_port": free_port(), "tick_s": 0.2}
    )
    settings.park = settings.park.model_copy(update={"registry": EXAMPLE_PARK})


def _kept(settings: Settings, rule: str) -> dict[str, Any]:
    """The partial state the service has committed for ``rule`` (key -> state)."""
    db = sqlite3.connect(f"file:{settings.alerts.db}?mode=ro", uri=True)
    try:
        rows = db.execute("SELECT key, state FROM partial WHERE rule = ?", (rule,)).fetchall()
    except sqlite3.OperationalError:  # not created yet
        return {}
    finally:
        db.close()
    return {key: orjson.loads(state) for key, state in rows}


def _kill(proc: subprocess.Popen[bytes]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)


def _firings_once(receiver: Receiver) -> list[dict[str, Any]]:
    wait_until(lambda: receiver.to("/e08"), 60, "the firing")
    time.sleep(2.0)  # an absence needs a wait: anything doubled would arrive by now
    bodies = receiver.to("/e08")
    assert [b["event"] for b in bodies] == ["firing"]
    return bodies


def test_killed_after_a_breach_began_the_for_duration_goes_on_after_a_restart(
    settings: Settings, publisher: BoundedPublisher, tmp_path: Path
) -> None:
    webhook = free_port()
    receiver = Receiver(webhook)
    rule = {"id": "grid-high", "type": "threshold", "field": "power_kw", "above": 100,
            "for_s": 60}  # fmt: skip
    _configure(settings, tmp_path, rule, webhook)
    topic = f"{settings.mqtt.topic_root}/tianfu-np/e08-anode/electricity/e08-grid-1"
    t0 = int(time.time() * 1000) - 120_000
    first = _start(settings, tmp_path / "alerts-1.log")
    second = None
    try:
        publisher.publish(topic, orjson.dumps({"ts": t0, "values": {"power_kw": 500.0}}))
        wait_until(lambda: _kept(settings, "grid-high") == {"tianfu-np|e08-grid-1": t0}, 30, "kept")
        _kill(first)
        # While it is dead: 60 s later, still over. Only the kept start makes this fire.
        publisher.publish(topic, orjson.dumps({"ts": t0 + 60_000, "values": {"power_kw": 510.0}}))
        second = _start(settings, tmp_path / "alerts-2.log")
        (fired,) = _firings_once(receiver)
        assert (fired["value"], fired["limit"]) == (510.0, 100.0)
        assert fired["fired_at"] == _iso(t0 + 60_000)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        receiver.stop()


def test_killed_at_minute_40_of_a_cems_hour_the_hour_is_judged_on_all_60_minutes(
    settings: Settings, publisher: BoundedPublisher, tmp_path: Path
) -> None:
    webhook = free_port()
    receiver = Receiver(webhook)
    rule = {"id": "cems", "type": "cems_hourly", "pollutants": ["nox_mg_m3"]}
    _configure(settings, tmp_path, rule, webhook)
    topic = f"{settings.mqtt.topic_root}/tianfu-np/e08-anode/emissions/e08-stack-1"
    hour = int(time.time() * 1000) // HOUR_MS * HOUR_MS - 3 * HOUR_MS  # Asia/Shanghai: +8 h

    def minute(i: int) -> bytes:
        # 40 minutes at 60 mg/m3, 20 at 0: the hour's mean is 40, over the limit of 30;
        # the last 20 alone would be an invalid hour (fewer than 45 minutes).
        nox = 60.0 if i < 40 else 0.0
        values = {"o2_pct": 3.5, "nox_mg_m3": nox, "so2_mg_m3": 1.0, "pm_mg_m3": 2.0,
                  "flow_m3h": 1000.0}  # fmt: skip
        return orjson.dumps({"ts": hour + i * MIN_MS, "values": values})

    first = _start(settings, tmp_path / "alerts-1.log")
    second = None
    try:
        for i in range(40):
            publisher.publish(topic, minute(i))

        def forty_kept() -> bool:
            hours = _kept(settings, "cems").get(STACK_KEY, {})
            return len(hours.get(str(hour), [])) == 40

        wait_until(forty_kept, 30, "40 minutes kept")
        _kill(first)
        for i in range(40, 61):  # minute 60 starts the next hour: the hour is judged
            publisher.publish(topic, minute(i))
        second = _start(settings, tmp_path / "alerts-2.log")
        (fired,) = _firings_once(receiver)
        assert fired["subject"] == "e08-stack-1/nox_mg_m3"
        assert (round(fired["value"], 3), fired["limit"]) == (40.0, 30.0)
        assert fired["fired_at"] == _iso(hour + HOUR_MS)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                proc.wait(30)
        receiver.stop()


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat()
