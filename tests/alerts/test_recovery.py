"""The alert service killed while a channel is down: the notice is delivered once it is
back, exactly once, under one idempotency key; the alert is not fired a second time."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from devstack.servers import free_port
from smartpark.mqtt import BoundedPublisher
from smartpark.settings import Settings, to_env
from tests.alerts.test_service import Receiver
from tests.conftest import EXAMPLE_PARK, wait_until

pytestmark = pytest.mark.slow


def _start(settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | to_env(settings)
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smartpark", "alerts", "run"], env=env, stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{settings.alerts.http_port}/healthz"

    def subscribed() -> bool:
        assert proc.poll() is None, log.read_text()[-2000:]
        try:
            return bool(httpx.get(url, timeout=1).json().get("connected"))
        except httpx.HTTPError:
            return False

    try:
        wait_until(subscribed, 60, "alert service subscribed")
    except BaseException:  # never leave a service running behind a failed start
        proc.kill()
        proc.wait(10)
        raise
    return proc


def test_alert_service_killed_while_a_channel_is_down_delivers_once_after_restart(
    settings: Settings, publisher: BoundedPublisher, tmp_path: Path
) -> None:
    webhook = free_port()  # nothing listens here yet
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {"id": "grid-high", "type": "threshold", "field": "power_kw", "above": 100}
                ],
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
    health = f"http://127.0.0.1:{settings.alerts.http_port}/healthz"
    first = _start(settings, tmp_path / "alerts-1.log")
    receiver = None
    try:
        topic = f"{settings.mqtt.topic_root}/tianfu-np/e08-anode/electricity/e08-grid-1"
        now = int(time.time() * 1000)
        publisher.publish(topic, orjson.dumps({"ts": now, "values": {"power_kw": 500.0}}))
        wait_until(
            lambda: httpx.get(health, timeout=1).json().get("failing_channels") != [],
            30,
            "the webhook failing",
        )
        first.send_signal(signal.SIGKILL)
        first.wait(10)
        # Still over the limit while it was dead: the same condition, not a new alert.
        publisher.publish(topic, orjson.dumps({"ts": now + 1000, "values": {"power_kw": 510.0}}))
        receiver = Receiver(webhook)
        second = _start(settings, tmp_path / "alerts-2.log")
        try:
            wait_until(lambda: receiver is not None and receiver.to("/e08"), 30, "delivered")
            time.sleep(2.0)  # anything doubled would arrive by now
            keys = [h["X-Smartpark-Idempotency-Key"] for p, h, _ in receiver.requests]
            bodies = receiver.to("/e08")
            assert len(keys) == 1 and [b["event"] for b in bodies] == ["firing"]
            assert bodies[0]["value"] == 500.0
            wait_until(  # the webhook's answer recorded; InfluxDB's event written too
                lambda: httpx.get(health, timeout=1).json()["outbox_pending"] == 0,
                10,
                "an empty outbox",
            )
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(30)
    finally:
        if first.poll() is None:
            first.kill()
        if receiver is not None:
            receiver.stop()
