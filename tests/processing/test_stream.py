"""The stream processor against real Mosquitto and InfluxDB: streamed KPIs equal the
roll-up of the same readings, late data rewrites a stored KPI, a restart rebuilds."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import polars as pl
import pytest

from processing.config import GreenPower, ProcessingConfig, coefficients, load_factor_set
from processing.engine import Park, kpis
from processing.jobs import Jobs
from processing.stream import StreamProcessor
from simulators import recording
from simulators.player import play
from simulators.recording import Message
from simulators.scenario import at
from simulators.stream import ParkFeed
from smartpark.clock import SystemClock
from smartpark.mqtt import BoundedPublisher, connect, make_client
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.store.influxql import Select
from tests.conftest import CollectorFactory, wait_until

CST = timezone(timedelta(hours=8))
START = datetime(2026, 11, 2, 8, tzinfo=CST)
CONFIG = ProcessingConfig(lateness_s=4 * 3600)
COEF = coefficients(CONFIG, load_factor_set("cn"))
COUNTERS = {
    "electricity": "energy_kwh",
    "pv": "energy_kwh",
    "gas": "volume_m3",
    "production": "output",
    "steam": "mass_t",  # a built-in carrier (smartpark.carriers): in every KPI
}


def _messages(
    park: Registry, root: str, hours: float, start: datetime = START, batch: int = 1
) -> list[Message]:
    """The example park's feed over ``hours`` from ``start``, a reading a minute per
    sensor; ``batch`` readings per message (a gateway's arrays: a day of the park in a
    tenth of the messages, so the tests that need whole days spend less on MQTT)."""
    scenario = at(start, hours / 24, seed=8, batch=batch)
    feed = ParkFeed(park, scenario, root=root)
    return [
        m
        for f in feed.frames(scenario.start_ms, scenario.end_ms)
        for m in recording.frame_messages(f)
    ]


def _rows(messages: list[Message]) -> pl.DataFrame:
    rows = []
    for m in messages:
        _, _, _, kind, sensor = m.topic.split("/")
        if kind in COUNTERS:
            body = orjson.loads(m.payload)
            rows.append((sensor, body["ts"], float(body["values"][COUNTERS[kind]])))
    return pl.DataFrame(
        rows, schema={"sensor": pl.Utf8, "ts": pl.Int64, "value": pl.Float64}, orient="row"
    )


class KpiListener:
    def __init__(self, settings: Settings) -> None:
        self.received: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self.ready = threading.Event()
        self.client = make_client(settings.mqtt, client_id=f"{settings.mqtt.client_id}-kpi")
        self.client.on_connect = lambda c, *_: c.subscribe(
            f"{settings.mqtt.topic_root}/+/+/_kpi", qos=1
        )
        self.client.on_subscribe = lambda *_: self.ready.set()
        self.client.on_message = self._on_message
        connect(self.client, settings.mqtt, persistent=False)
        self.client.loop_start()
        assert self.ready.wait(10)

    def _on_message(self, _c: Any, _u: Any, msg: Any) -> None:
        with self._lock:
            self.received.append(orjson.loads(msg.payload))

    def find(self, **match: Any) -> list[dict[str, Any]]:
        with self._lock:
            return [r for r in self.received if all(r.get(k) == v for k, v in match.items())]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _processor(
    settings: Settings, park: Registry, store: Influx1Store, name: str,
    config: ProcessingConfig = CONFIG,
) -> StreamProcessor:  # fmt: skip
    processor = StreamProcessor(
        mqtt=settings.mqtt,
        registry=park,
        park_id="tianfu-np",
        config=config,
        coefficients=COEF,
        store=store,
        clock=SystemClock(),
        client_id=f"{settings.mqtt.client_id}-{name}",
        limits=settings.park.decode_limits(),
        state_dir=settings.processing.state_dir,
    )
    processor.start()
    assert processor.subscribed.wait(10)
    return processor


def _stored(store: Influx1Store, window: str, since_ms: int | None = None) -> pl.DataFrame:
    """The stored KPI points of ``window``; from ``since_ms`` on, read 30 days at a time
    (a year of 1-minute points at once passes the store client's timeout)."""
    spans: list[tuple[datetime | None, datetime | None]] = [(None, None)]
    if since_ms is not None:
        start, now = datetime.fromtimestamp(since_ms / 1000, UTC), datetime.now(UTC)
        spans = []
        while start < now + timedelta(days=1):
            spans.append((start, start + timedelta(days=30)))
            start += timedelta(days=30)
    rows = []
    for start, end in spans:
        query = Select("kpi", ["energy_tce", "grid_kwh", "readings"], tags={"window": window},
                       start=start, end=end, group_by_tags=["scope"])  # fmt: skip
        rows += [(s.tags["scope"], int(v[0]), v[1], v[2], v[3])
                 for s in store.query(query.to_influxql()) for v in s.values]  # fmt: skip
    return pl.DataFrame(
        rows, schema=["scope", "window", "energy_tce", "grid_kwh", "readings"], orient="row"
    )


def test_streamed_kpis_equal_the_roll_up_and_late_data_rewrites_them(
    settings: Settings, park: Registry, store: Influx1Store, publisher: BoundedPublisher
) -> None:
    messages = _messages(park, settings.mqtt.topic_root, 3)
    late_topic = f"{settings.mqtt.topic_root}/tianfu-np/e04-cannery/electricity/e04-grid-1"
    late_ts = int((START + timedelta(minutes=30)).timestamp() * 1000)
    held = next(
        m for m in messages if m.topic == late_topic and orjson.loads(m.payload)["ts"] == late_ts
    )
    listener = KpiListener(settings)
    processor = _processor(settings, park, store, "proc")
    try:
        play(
            (m for m in messages if m is not held),
            publisher.publish,
            clock=SystemClock(),
            speed=None,
        )
        expected = sum(1 for m in messages if m.topic.split("/")[3] in COUNTERS) - 1
        wait_until(lambda: processor.stats.readings >= expected, 30, "every counter reading")
        first_hour = int(START.timestamp() * 1000)
        wait_until(
            lambda: (
                _stored(store, "1h").filter(pl.col("window") == first_hour + 3_600_000).height == 13
            ),
            30,
            "hour 2 stored",
        )
        # The roll-up of the same readings (what a scheduled job computes from the store).
        rolled = kpis(
            _rows([m for m in messages if m is not held]),
            Park.from_registry(park, "tianfu-np", CONFIG),
            CONFIG,
            COEF,
            window="1h",
        )
        streamed = _stored(store, "1h")
        for hour in (first_hour, first_hour + 3_600_000):  # closed hours; the third is still open
            a = rolled.filter(pl.col("window") == hour).sort("scope")
            b = streamed.filter(pl.col("window") == hour).sort("scope")
            assert a["scope"].to_list() == b["scope"].to_list() and a.height == 13
            assert b["energy_tce"].to_list() == pytest.approx(a["energy_tce"].to_list(), rel=1e-12)
        assert streamed.filter(pl.col("window") == first_hour + 7_200_000).height == 0
        before_minute = _stored(store, "1m").filter(
            (pl.col("scope") == "e04-cannery") & (pl.col("window") == late_ts)
        )
        before_next = _stored(store, "1m").filter(
            (pl.col("scope") == "e04-cannery") & (pl.col("window") == late_ts + 60_000)
        )
        before_hour = _stored(store, "1h").filter(
            (pl.col("scope") == "e04-cannery") & (pl.col("window") == first_hour)
        )
        wait_until(lambda: listener.find(scope="e04-cannery", window="1h", start_ms=first_hour), 10)
        assert [
            m["revision"]
            for m in listener.find(scope="e04-cannery", window="1h", start_ms=first_hour)
        ] == [0]

        publisher.publish(held.topic, held.payload)  # 2.5 hours late, within the 4-hour horizon
        wait_until(
            lambda: listener.find(
                scope="e04-cannery", window="1h", start_ms=first_hour, revision=1
            ),
            10,
            "a revised KPI",
        )
        after_minute = _stored(store, "1m").filter(
            (pl.col("scope") == "e04-cannery") & (pl.col("window") == late_ts)
        )
        after_hour = _stored(store, "1h").filter(
            (pl.col("scope") == "e04-cannery") & (pl.col("window") == first_hour)
        )
        assert after_hour["readings"].item() == before_hour["readings"].item() + 1
        assert after_minute["grid_kwh"].item() > before_minute["grid_kwh"].item()
        # The next minute's reading now starts its interval at the late one: it shrinks.
        after_next = _stored(store, "1m").filter(
            (pl.col("scope") == "e04-cannery") & (pl.col("window") == late_ts + 60_000)
        )
        assert after_next["grid_kwh"].item() < before_next["grid_kwh"].item()
        assert after_next["grid_kwh"].item() + after_minute["grid_kwh"].item() == pytest.approx(
            before_next["grid_kwh"].item() + before_minute["grid_kwh"].item()
        )
        # its 1m, 15m and 1h windows and the next reading's minute; the day is open (the
        # count moves once a window's every scope is published, after the one waited on)
        wait_until(lambda: processor.stats.windows_recomputed == 4, 10, "four recomputed")
    finally:
        processor.stop()
        listener.close()


def test_a_restarted_processor_rebuilds_from_the_store_and_carries_on(
    settings: Settings,
    park: Registry,
    store: Influx1Store,
    publisher: BoundedPublisher,
    make_collector: CollectorFactory,
) -> None:
    collector = make_collector(settings)
    first = _messages(park, settings.mqtt.topic_root, 2)
    second = _messages(park, settings.mqtt.topic_root, 1, START + timedelta(hours=2))
    processor = _processor(settings, park, store, "a")
    play(iter(first), publisher.publish, clock=SystemClock(), speed=None)
    wait_until(
        lambda: collector.stats.stored_readings >= 101 * 120, 60, "the first two hours stored"
    )
    # 82 carrier meters: 79 of electricity, PV, gas and output, and 3 of steam
    wait_until(lambda: processor.stats.readings >= 82 * 120, 30, "processor A up to date")
    processor.stop()
    hour1 = int(START.timestamp() * 1000)
    wait_until(
        lambda: _stored(store, "1h").filter(pl.col("window") == hour1).height == 13,
        30,
        "hour 1 stored",
    )
    before = _stored(store, "15m").sort("scope", "window")

    restarted = _processor(settings, park, store, "b")  # a new process: nothing in memory
    try:
        assert restarted.stats.readings == 82 * 120  # rebuilt from the readings in InfluxDB
        assert _stored(store, "15m").sort("scope", "window")[
            "energy_tce"
        ].to_list() == pytest.approx(before["energy_tce"].to_list())
        play(iter(second), publisher.publish, clock=SystemClock(), speed=None)
        hour2 = hour1 + 3_600_000
        wait_until(
            lambda: _stored(store, "1h").filter(pl.col("window") == hour2).height == 13,
            30,
            "hour 2 closed by new readings",
        )
        rolled = kpis(
            _rows(first + second),
            Park.from_registry(park, "tianfu-np", CONFIG),
            CONFIG,
            COEF,
            window="1h",
        )
        a = rolled.filter(pl.col("window") == hour2).sort("scope")
        b = _stored(store, "1h").filter(pl.col("window") == hour2).sort("scope")
        assert b["energy_tce"].to_list() == pytest.approx(a["energy_tce"].to_list(), rel=1e-12)
    finally:
        restarted.stop()


PRO_RATA = CONFIG.model_copy(
    update={"methods": CONFIG.methods.model_copy(update={"interval_boundary": "pro_rata"})}
)


def test_pro_rata_streams_what_the_roll_up_and_the_engine_give_and_a_late_boundary_reading_revises_both_hours(
    settings: Settings,
    park: Registry,
    store: Influx1Store,
    publisher: BoundedPublisher,
    make_collector: CollectorFactory,
) -> None:
    """Pro rata, an interval that crosses an hour is shared by both hours by time. The
    stream (which needs each meter's first reading after an hour to close it), the
    scheduled roll-up from the store and the engine on the same readings agree; a
    reading held back at 09:00 sharp (it splits 08:59-09:01 between 8 and 9 o'clock)
    revises both hours when it arrives, to what they would have been on time."""
    messages = _messages(park, settings.mqtt.topic_root, 2 + 5 / 60)  # 08:00 to 10:04
    topic = f"{settings.mqtt.topic_root}/tianfu-np/e04-cannery/electricity/e04-grid-1"
    nine = int((START + timedelta(hours=1)).timestamp() * 1000)
    held = next(m for m in messages if m.topic == topic and orjson.loads(m.payload)["ts"] == nine)
    collector = make_collector(settings)
    listener = KpiListener(settings)
    processor = _processor(settings, park, store, "pro", PRO_RATA)
    hours = [nine - 3_600_000, nine]
    try:
        play((m for m in messages if m is not held), publisher.publish, clock=SystemClock(),
             speed=None)  # fmt: skip
        expected = sum(1 for m in messages if m.topic.split("/")[3] in COUNTERS) - 1
        wait_until(lambda: processor.stats.readings >= expected, 30, "every counter reading")
        wait_until(lambda: collector.stats.stored_readings >= len(messages) - 1, 60, "stored")
        wait_until(lambda: _stored(store, "1h").filter(pl.col("window") == nine).height == 13,
                   30, "9 o'clock streamed")  # fmt: skip
        wait_until(lambda: listener.find(scope="e04-cannery", window="1h", start_ms=nine), 10)
        publisher.publish(held.topic, held.payload)
        for hour in hours:  # its interval before and the one after both change
            wait_until(
                lambda h=hour: any(m["revision"] >= 1 for m in listener.find(
                    scope="e04-cannery", window="1h", start_ms=h)),
                10, f"hour {hour} revised",
            )  # fmt: skip
        wait_until(lambda: collector.stats.stored_readings >= len(messages), 30, "held stored")
    finally:
        processor.stop()
        listener.close()
    engine = kpis(_rows(messages), Park.from_registry(park, "tianfu-np", PRO_RATA), PRO_RATA,
                  COEF, window="1h").filter(pl.col("window").is_in(hours)).sort("scope", "window")  # fmt: skip
    streamed = _stored(store, "1h").filter(pl.col("window").is_in(hours)).sort("scope", "window")
    assert streamed.height == engine.height == 26
    assert streamed["energy_tce"].to_list() == pytest.approx(
        engine["energy_tce"].to_list(), rel=1e-9
    )
    later = kpis(_rows(messages), Park.from_registry(park, "tianfu-np", CONFIG), CONFIG, COEF,
                 window="1h").filter(pl.col("window").is_in(hours)).sort("scope", "window")  # fmt: skip
    assert later["energy_tce"].to_list() != pytest.approx(engine["energy_tce"].to_list())
    jobs = Jobs(registry=park, park_id="tianfu-np", config=PRO_RATA, coefficients=COEF,
                store=store, clock=SystemClock())  # fmt: skip
    jobs.rollup("1h", START, START + timedelta(hours=2))
    rolled = _stored(store, "1h").filter(pl.col("window").is_in(hours)).sort("scope", "window")
    assert rolled["energy_tce"].to_list() == pytest.approx(engine["energy_tce"].to_list(), rel=1e-9)


def test_a_day_closed_by_the_stream_gets_its_share_of_the_months_green_power(
    settings: Settings, park: Registry, store: Influx1Store
) -> None:
    """e08's 30,000 kWh contract of November; one grid meter importing 1,000 kWh a
    quarter of an hour (96,000 kWh a day). 1 November closes, then 2 November closes in
    one step with the watermark at 3 November 00:30: each day gets the contract up to
    its own end, settled on the stored days before it and itself, 1,000 kWh (not the
    quarter hour before 2 November standing in for the whole 1 November, nor the
    contract up to the watermark against the grid import up to midnight)."""
    config = CONFIG.model_copy(
        update={"green_power": [GreenPower(enterprise="e08-anode", month="2026-11", kwh=30_000)]}
    )
    quarter, first = 900_000, int(datetime(2026, 10, 31, 23, 45, tzinfo=CST).timestamp() * 1000)
    readings = [("e08-grid-1", first + i * quarter, 1_000.0 + 5 * i) for i in range(2 * 96 + 4)]
    day1, day2 = first + quarter, first + 97 * quarter

    def closed(day_ms: int) -> dict[str, Any] | None:
        series = store.query(
            Select("kpi", ["green_kwh", "grid_kwh", "provisional"],
                   tags={"scope": "e08-anode", "window": "1d"}).to_influxql()
        )  # fmt: skip
        rows = {int(v[0]): v for s in series for v in s.values}
        row = rows.get(day_ms)
        return None if row is None or row[3] is not False else {"green": row[1], "grid": row[2]}

    processor = _processor(settings, park, store, "green", config=config)
    try:
        processor.feed(r for r in readings if r[1] <= day2 + quarter)
        wait_until(lambda: closed(day1) is not None, 30, "1 November closed")
        processor.feed(r for r in readings if r[1] > day2 + quarter)
        wait_until(lambda: closed(day2) is not None, 30, "2 November closed")
    finally:
        processor.stop()
    days = [closed(day1), closed(day2)]
    assert [d and d["grid"] for d in days] == pytest.approx([96_000.0, 96_000.0], rel=1e-9)
    assert [d and d["green"] for d in days] == pytest.approx([1_000.0, 1_000.0], rel=1e-9)
