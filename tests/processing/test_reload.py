"""``smartpark process`` rereads the registry on SIGHUP: a new enterprise's meter is
computed without a restart; a bad registry is refused with where it is wrong, and the
one in use is kept."""

from __future__ import annotations

import signal
import time
from pathlib import Path

import orjson
import pytest

from devstack.servers import free_port
from smartpark.mqtt import BoundedPublisher
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.store.influxql import Select
from tests.alerts.test_reload import logged, with_a_bad_sensor, with_new_enterprise
from tests.conftest import EXAMPLE_PARK, wait_until
from tests.processing.test_recovery import CONFIG_PATH, Processor

pytestmark = pytest.mark.slow  # a processor process with its recovery: tens of seconds

MIN_MS = 60_000


def _uses(store: Influx1Store, sensor: str) -> list[float]:
    query = Select("sensor_use", ["grid_kwh"], tags={"sensor": sensor, "window": "1m"})
    series = store.query(query.to_influxql())
    return [row[1] for s in series for row in s.values]


def test_sighup_takes_a_new_meter_and_refuses_a_bad_registry(
    settings: Settings, publisher: BoundedPublisher, store: Influx1Store, tmp_path: Path
) -> None:
    registry = tmp_path / "park.yaml"
    registry.write_text(EXAMPLE_PARK.read_text())
    settings.park = settings.park.model_copy(update={"registry": registry})
    settings.processing = settings.processing.model_copy(
        update={"config": CONFIG_PATH, "http_port": free_port()}
    )
    log = tmp_path / "process.log"
    processor = Processor(settings, log)
    root = settings.mqtt.topic_root
    topic = f"{root}/tianfu-np/e13-new/electricity/e13-grid-1"
    start = int(time.time() * 1000) // MIN_MS * MIN_MS - 30 * MIN_MS

    def counter(i: int, kwh: float) -> bytes:
        return orjson.dumps({"ts": start + i * MIN_MS, "values": {"energy_kwh": kwh}})

    try:
        with_new_enterprise(registry)
        processor.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: logged(log, "registry reloaded"), 30, "the reload")
        # Steps within the meter's rating (100 kWh/h x 1.5: 2.5 kWh a minute).
        for i, kwh in enumerate([100.0, 100.5, 101.5, 103.0]):
            publisher.publish(topic, counter(i, kwh))
        # Minutes 0..2 are closed by minute 3; each minute gets the interval ending in it.
        wait_until(lambda: len(_uses(store, "e13-grid-1")) >= 3, 60, "the new meter's use")
        assert _uses(store, "e13-grid-1")[:3] == [0.0, 0.5, 1.0]

        with_a_bad_sensor(registry)
        processor.proc.send_signal(signal.SIGHUP)
        wait_until(lambda: logged(log, "registry not reloaded"), 30, "the refusal")
        refusal = next(line for line in log.read_text().splitlines() if "not reloaded" in line)
        assert "Bad Id!" in refusal and "sensors" in refusal
        # Kept: the new meter is still computed.
        publisher.publish(topic, counter(4, 105.0))
        wait_until(lambda: len(_uses(store, "e13-grid-1")) >= 4, 60, "minute 3 after it")
        assert _uses(store, "e13-grid-1")[3] == 1.5
        assert processor.proc.poll() is None
    finally:
        processor.stop()
