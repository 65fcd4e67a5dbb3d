"""Vendor payloads through the real collector: the registry's mappings turn them into the
same stored points as the native contract, and what a mapping cannot read is
dead-lettered with its reason."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import yaml

from ingest.collector import Collector
from smartpark import registry as registry_mod
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store import open_store
from smartpark.store.influx1 import Influx1Store
from tests.conftest import EXAMPLE_PARK, stored_points, wait_until
from tests.ingest.test_bad_input import DeadLetterListener


def mapped_registry(prefix: str, tmp_path: Path) -> Registry:
    """The example park with its mappings' topics under ``prefix`` (isolates this test)."""
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    for mapping in doc["parks"][0]["mappings"]:
        mapping["topic"] = f"{prefix}/{mapping['topic']}"
    path = tmp_path / "park.yaml"
    path.write_text(yaml.safe_dump(doc))
    return registry_mod.load(path)


@pytest.fixture
def mapped_collector(settings: Settings, tmp_path: Path) -> Iterator[Collector]:
    registry = mapped_registry(settings.mqtt.topic_root, tmp_path)
    collector = Collector(settings=settings, registry=registry, store=open_store(settings.influx))
    collector.start()
    assert collector.connected.wait(10)
    yield collector
    collector.stop()


def test_vendor_payloads_are_stored_like_native_readings_and_bad_ones_dead_lettered(
    settings: Settings,
    mapped_collector: Collector,
    publisher: BoundedPublisher,
    store: Influx1Store,
) -> None:
    root = settings.mqtt.topic_root
    deadletters = DeadLetterListener(settings)
    now_ms = int(time.time() * 1000) // 1000 * 1000
    now_s = now_ms // 1000
    local = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now_s + 8 * 3600))  # Beijing
    good = [
        (f"{root}/vendor/acrel/GW01/data", {"time": now_s, "points": [
            {"dev": "grid-1", "name": "Ep", "value": 12345678},
            {"dev": "grid-1", "name": "P", "value": 250000},
            {"dev": "grid-1", "name": "Ua", "value": 229.8}]}),
        (f"{root}/vendor/meters/gw7", {"ts": time.strftime("%Y-%m-%dT%H:%M:%S+00:00",
                                                           time.gmtime(now_s)),
                                       "meters": {"e04-grid-2": {"EPI": 1500}}}),
        (f"{root}/vendor/history/e04-gas-1", {"V": [[now_ms - 60_000, 100], [now_ms, 101]]}),
        (f"{root}/vendor/plc/grid-1", {"time": local, "Ep": "88.25"}),
    ]  # fmt: skip
    bad = [
        (f"{root}/vendor/acrel/GW01/data", {"time": now_s}, "mapping_no_match"),
        (f"{root}/vendor/meters/gw7", {"ts": "x", "meters": {"e04-grid-2": {"EPI": 1}}},
         "mapping_bad_timestamp"),
        (f"{root}/vendor/history/e04-gas-1", {"F": [[now_ms, 1]]}, "mapping_missing_field"),
        (f"{root}/vendor/plc/grid-9", {"time": local, "Ep": "1"}, "mapping_unknown_sensor"),
        (f"{root}/vendor/plc/grid-1", {"time": local, "Ep": "one"}, "mapping_bad_value"),
    ]  # fmt: skip
    for topic, doc in good:
        publisher.publish(topic, orjson.dumps(doc))
    for topic, doc, _reason in bad:
        publisher.publish(topic, orjson.dumps(doc))
    assert publisher.wait_all(10)
    wait_until(lambda: mapped_collector.stats.stored_readings >= 5, what="mapped readings stored")
    wait_until(lambda: len(deadletters.received) >= len(bad), what="dead letters")
    deadletters.close()

    assert stored_points(store, "electricity", "e04-grid-1") == [
        {"time": now_ms, "energy_kwh": 123456.78, "power_kw": 250.0,
         "park": "tianfu-np", "enterprise": "e04-cannery", "sensor": "e04-grid-1"}
    ]  # fmt: skip
    assert [p["energy_kwh"] for p in stored_points(store, "electricity", "e04-grid-2")] == [1.5]
    gas = stored_points(store, "gas", "e04-gas-1")
    assert [p["volume_m3"] for p in gas] == pytest.approx(
        [100 * 293.15 / 273.15, 101 * 293.15 / 273.15]
    )
    plc = stored_points(store, "electricity", "e11-grid-1")
    assert [(p["time"], p["energy_kwh"]) for p in plc] == [(now_ms, 88.25)]

    reasons = sorted(body["problems"][0]["reason"] for _t, body in deadletters.received)
    assert reasons == sorted(r for _t, _d, r in bad)
    for topic, body in deadletters.received:
        assert topic == f"{root}/_deadletter/{body['problems'][0]['reason']}"
        assert body["topic"].startswith(f"{root}/vendor/")
    assert mapped_collector.stats.deadlettered["mapping_no_match"] == 1
