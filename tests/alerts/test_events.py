"""Alert events in InfluxDB lie at their event time: a past day replayed through the real
alert service writes its firing at the reading that crossed the limit and its
resolution at the reading that cleared it, and the same alert sent again (the day
replayed into a restarted service) overwrites those points instead of doubling them."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from alerts.service import AlertService
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from tests.alerts.test_service import _service
from tests.conftest import wait_until

CST = timezone(timedelta(hours=8))
CONFIG = {
    "rules": [{"id": "grid-high", "type": "threshold", "field": "power_kw", "above": 7500,
               "clear": 7000, "scope": {"kinds": ["electricity"]}, "severity": "critical"}],
    "mqtt": False,
    "lifecycle": {"resolve_after_s": 0},
}  # fmt: skip


def _events(store: Influx1Store) -> dict[str, list[int]]:
    """The stored alert events' times (ms), by event."""
    found = store.query('SELECT "id", "message" FROM alert_events GROUP BY "event", "subject"')
    return {s.tags["event"]: [int(v[0]) for v in s.values] for s in found}


def _replay_day(
    settings: Settings, park: Registry, store: Influx1Store, publisher: BoundedPublisher,
    db_dir: Path, readings: list[tuple[int, float]],
) -> AlertService:  # fmt: skip
    db_dir.mkdir()
    service = _service(settings, park, store, db_dir, CONFIG)
    topic = f"{settings.mqtt.topic_root}/tianfu-np/e08-anode/electricity/e08-grid-1"
    for ts, power_kw in readings:
        publisher.publish(topic, orjson.dumps({"ts": ts, "values": {"power_kw": power_kw}}))
    return service


def test_a_replayed_past_days_alert_lies_at_its_event_time_once(
    settings: Settings,
    park: Registry,
    store: Influx1Store,
    publisher: BoundedPublisher,
    tmp_path: Path,
) -> None:
    yesterday = datetime.now(CST).replace(hour=10, minute=0, second=0, microsecond=0)
    crossed = int((yesterday - timedelta(days=1)).timestamp() * 1000)
    cleared = crossed + 5 * 60_000
    day = [(crossed - 60_000, 7000.0), (crossed, 7600.0), (crossed + 60_000, 7700.0),
           (cleared, 6900.0)]  # fmt: skip
    service = _replay_day(settings, park, store, publisher, tmp_path / "first", day)
    try:
        wait_until(lambda: len(_events(store)) == 2, 15, "the firing and the resolution stored")
        assert service.db.open_alerts() == []
    finally:
        service.stop()
    # at the readings' times, not at the wall clock of the notices (today)
    assert _events(store) == {"firing": [crossed], "resolved": [cleared]}

    # The same day replayed into a restarted service (its alert database started anew):
    # the same alert, the same notices, sent again on every channel; in InfluxDB the same
    # points (same tags, same time), overwritten.
    again = _replay_day(settings, park, store, publisher, tmp_path / "second", day)
    try:
        wait_until(lambda: again.dispatcher.delivered["influx"] >= 2, 15, "sent again")
    finally:
        again.stop()
    assert _events(store) == {"firing": [crossed], "resolved": [cleared]}
