"""``smartpark alerts run`` rereads the registry on SIGHUP: a new enterprise's sensor is
judged without a restart; a bad registry is refused with where it is wrong, and the one
in use is kept."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import orjson
import yaml

from devstack.servers import free_port
from smartpark.mqtt import BoundedPublisher
from smartpark.settings import Settings
from tests.alerts.test_recovery import _start
from tests.alerts.test_service import Receiver
from tests.conftest import EXAMPLE_PARK, wait_until


def with_new_enterprise(path: Path) -> None:
    """Rewrite the registry at ``path`` with one more enterprise, e13-new (one meter)."""
    doc = yaml.safe_load(path.read_text())
    doc["parks"][0]["enterprises"].append({
        "id": "e13-new", "name": "New Co", "industry": "food_beverage/liquor", "land_mu": 10,
        "sensors": [{"id": "e13-grid-1", "kind": "electricity", "rated_per_h": 100}],
    })  # fmt: skip
    path.write_text(yaml.safe_dump(doc))


def with_a_bad_sensor(path: Path) -> None:
    """Rewrite the registry at ``path`` with a sensor whose id the contract refuses."""
    doc = yaml.safe_load(path.read_text())
    doc["parks"][0]["enterprises"][0]["sensors"][0]["id"] = "Bad Id!"
    path.write_text(yaml.safe_dump(doc))


def logged(log: Path, text: str, times: int = 1) -> bool:
    return log.read_text(errors="replace").count(text) >= times


def test_sighup_takes_a_new_enterprise_and_refuses_a_bad_registry(
    settings: Settings, publisher: BoundedPublisher, tmp_path: Path
) -> None:
    registry = tmp_path / "park.yaml"
    registry.write_text(EXAMPLE_PARK.read_text())
    webhook = free_port()
    receiver = Receiver(webhook)
    rules = tmp_path / "alerts.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "rules": [{"id": "grid-high", "type": "threshold", "field": "power_kw",
                           "above": 100, "scope": {"kinds": ["electricity"]}}],
                "operator": [{"type": "webhook", "url": f"http://127.0.0.1:{webhook}/op"}],
                "mqtt": False,
            }
        )
    )  # fmt: skip
    settings.alerts = settings.alerts.model_copy(
        update={"config": rules, "http_port": free_port(), "tick_s": 0.2}
    )
    settings.park = settings.park.model_copy(update={"registry": registry})
    root, now = settings.mqtt.topic_root, int(time.time() * 1000)
    log = tmp_path / "alerts.log"
    proc = _start(settings, log)
    try:
        with_new_enterprise(registry)
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: logged(log, "registry reloaded"), 30, "the reload")
        reading = {"ts": now, "values": {"power_kw": 500.0}}
        publisher.publish(f"{root}/tianfu-np/e13-new/electricity/e13-grid-1", orjson.dumps(reading))
        wait_until(lambda: receiver.to("/op"), 30, "the new enterprise's alert")
        assert [(b["enterprise"], b["subject"]) for b in receiver.to("/op")] == [
            ("e13-new", "e13-grid-1")
        ]

        with_a_bad_sensor(registry)
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: logged(log, "registry not reloaded"), 30, "the refusal")
        refusal = next(
            line for line in log.read_text().splitlines() if "registry not reloaded" in line
        )
        assert "Bad Id!" in refusal and "sensors" in refusal  # the value and where it is
        # The registry in use is kept: e13-new is still judged, the refused file unread.
        reading = {"ts": now, "values": {"power_kw": 500.0}}
        publisher.publish(f"{root}/tianfu-np/e08-anode/electricity/e08-grid-1",
                          orjson.dumps(reading))  # fmt: skip
        wait_until(lambda: len(receiver.to("/op")) == 2, 30, "an alert after the refusal")
        assert receiver.to("/op")[1]["subject"] == "e08-grid-1"
        assert proc.poll() is None
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        receiver.stop()
