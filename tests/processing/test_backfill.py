"""A new meter's history backfilled in gateway arrays while the park is live: the
processor (``smartpark process``, its own process, through the CLI) puts it in its
ledger and the catch-up job recomputes every window of it while the live path carries
on, its freshness meanwhile within bounds. In the suite: three days of history (4,320
readings) beside a live feed at 60x. The year (525,600 readings), beside a live feed at
a park's own pace, is the same test run on its own, for 10 to 15 minutes here (the
README's "A year's backfill", with what it measured)::

    SMARTPARK_BACKFILL_DAYS=365 SMARTPARK_BACKFILL_SPEED=1 pytest tests/processing/test_backfill.py

It then holds the live path to its target (p99 <= 1,000 ms) rather than to the suite's
looser bound."""

from __future__ import annotations

import os
import threading
import time
from datetime import datetime
from pathlib import Path

import orjson
import pytest

from bench.bench_processing import KpiWatch
from devstack.servers import free_port
from simulators.recording import Message
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.wire import topic_for
from tests.conftest import PATIENCE, CollectorFactory, wait_until
from tests.processing.test_catchup import _month_mismatches
from tests.processing.test_recovery import (
    CONFIG_PATH,
    HOUR_MS,
    Processor,
    _mismatches,
    _model,
    _stored_counter_readings,
)
from tests.processing.test_stream import CST, _messages

LIVE = datetime(2026, 11, 9, 0, tzinfo=CST)
DAYS = int(os.environ.get("SMARTPARK_BACKFILL_DAYS", "3"))  # 365: the year, on its own
# the live feed: at 60x a 1-minute window closes every second; 1 is a park's own pace
SPEED = float(os.environ.get("SMARTPARK_BACKFILL_SPEED", "60"))
ON_ITS_OWN = "SMARTPARK_BACKFILL_DAYS" in os.environ  # not in the suite: its host is quiet
FRESHNESS_P99_MS = 1_000.0  # the README's target for the live path (processing benchmark)
HELD_TICK_MS = 5_000.0  # x PATIENCE: what a tick held behind a catch-up batch would pass
# load average per core beyond which freshness is not asserted in the suite (other
# tests share the host); run on its own, the target is asserted whatever the load (the
# test's own servers and processes load the 2 cores to 2-3 per core)
OVERLOADED = float("inf") if ON_ITS_OWN else 3.0

pytestmark = pytest.mark.slow


def test_days_backfilled_for_a_new_meter_is_caught_up_while_the_live_path_stays_fresh(
    settings: Settings,
    park: Registry,
    make_collector: CollectorFactory,
    store: Influx1Store,
    tmp_path: Path,
) -> None:
    config = tmp_path / "processing.yaml"
    config.write_text(CONFIG_PATH.read_text() + "\ncatchup_delay_s: 1\n")
    settings.processing = settings.processing.model_copy(
        update={"config": config, "http_port": free_port()}
    )
    meters = _model(park).meters
    new = meters.filter(meters["kind"] == "electricity").sort("sensor").row(0, named=True)
    ref = next(s.ref for s in park.sensors() if s.ref.sensor == new["sensor"])
    # the live park without the new meter: two hours of event time (at 60x two minutes,
    # at 1x two hours, beyond the year's catch-up), stopped once the history is in
    live = [m for m in _messages(park, settings.mqtt.topic_root, 2, start=LIVE)
            if not m.topic.endswith("/" + new["sensor"])]  # fmt: skip
    t0 = int(LIVE.timestamp() * 1000)
    last = t0 - 2 * HOUR_MS  # the history ends two hours before: all of it late
    first = last - DAYS * 86_400_000
    per_min = float(new["max_per_ms"]) * 60_000 * 0.3
    history = [
        orjson.dumps(
            [
                {"ts": first + k * 60_000, "values": {new["field"]: round(1000.0 + k * per_min, 3)}}
                for k in range(i, i + 60)
            ]
        )
        for i in range(0, DAYS * 1440, 60)
    ]
    make_collector(settings)
    processor = Processor(settings, tmp_path / "processor.log")
    watch = KpiWatch(settings.mqtt, scopes=len(park.parks["tianfu-np"].enterprises) + 1)
    closed: dict[int, float] = {}  # 1-minute window -> when its closing reading was sent
    stop = threading.Event()

    def play(messages: list[Message]) -> None:
        publisher = BoundedPublisher(settings.mqtt, client_id="live", persistent=False)
        assert publisher.wait_connected(10)
        began = time.monotonic()
        for m in messages:
            while not stop.is_set() and (wait := began + (m.t_ms - t0) / 1000 / SPEED
                                         - time.monotonic()) > 0:  # fmt: skip
                time.sleep(min(wait, 0.05))
            if stop.is_set():
                break
            ts = orjson.loads(m.payload)["ts"]
            if ts > t0:
                closed.setdefault(ts - 60_000, time.monotonic())
            publisher.publish(m.topic, m.payload)
        publisher.close()

    player = threading.Thread(target=play, args=(live,), daemon=True)
    try:
        assert watch.ready.wait(10)
        player.start()
        first_minutes = max(1, round(5 * SPEED / 60))  # 5 at 60x, 1 at 1x
        wait_until(lambda: processor.caught_up(t0 + first_minutes * 60_000), 180, "the live feed")
        backfill = BoundedPublisher(settings.mqtt, client_id="backfill", persistent=False)
        assert backfill.wait_connected(10)
        began = time.monotonic()
        for body in history:
            backfill.publish(topic_for(settings.mqtt.topic_root, ref), body)
        assert backfill.wait_all(60)
        backfill.close()

        def caught_up() -> bool:
            facts = processor.health()
            stats, ledger = facts.get("stats"), facts.get("ledger")
            if not (isinstance(stats, dict) and isinstance(ledger, dict)):
                return False  # /healthz did not answer within its second: asked again
            return stats["readings_too_late"] > 0 and ledger["spans"] == 0

        wait_until(lambda: _stored_counter_readings(store, park) >= DAYS * 1440,
                   60 + DAYS, "stored")  # fmt: skip
        # three days: within 3 minutes; a year: some 15 on a quiet host, 60 at most
        wait_until(caught_up, max(180, 10 * DAYS), "the catch-up of the history")
        ended = time.monotonic()
        stop.set()
        player.join(10)
        during = sorted((watch.done[w] - t) * 1000 for w, t in list(closed.items())
                        if w in watch.done and began <= t < ended)  # fmt: skip
        # the live path carried on meanwhile. Its target (p99 <= 1,000 ms) is the
        # benchmark's to measure on a quiet host (bench/catchup.py: 773 ms during a 14-day
        # catch-up); on the suite's loaded host a p99 of 4.3 s was seen at 2-3 per core.
        # What this test holds is that no live tick waits behind a catch-up batch: before
        # the catch-up's pieces waited for the live ticks (``processing.catchup.PIECE_MS``)
        # a batch held a tick for many seconds (p99 27.8 s).
        assert during, "no live window was published during the catch-up"
        p99 = during[min(len(during) - 1, round(0.99 * (len(during) - 1)))]
        bound = FRESHNESS_P99_MS if ON_ITS_OWN else HELD_TICK_MS * max(1.0, PATIENCE)
        load = os.getloadavg()[0] / (os.cpu_count() or 1)
        print(f"{DAYS} days caught up in {ended - began:.0f} s beside a live feed at {SPEED:g}x; "
              f"live freshness during the catch-up: p50 {during[len(during) // 2]:.0f} ms, "
              f"p99 {p99:.0f} ms over {len(during)} windows "
              f"(target {FRESHNESS_P99_MS:.0f} ms, asserted {bound:.0f} ms unless the host "
              f"is overloaded: load {load:.1f} per core)")  # fmt: skip
        # every closed window of the history and the park equals the roll-up of the stored
        # readings, and the months (the one the history ends in is also live: to date)
        newest = max(w for w in watch.done) + 60_000
        wait_until(lambda: not _mismatches(store, park, newest, since_ms=first - 86_400_000),
                   60, "every window equal")  # fmt: skip
        assert not _month_mismatches(store, park)
        # on a host loaded beyond OVERLOADED per core (other suites, other work) the live
        # path falls far behind: printed, not asserted (measured:
        # p99 28.5 s at a load of 8.5 per core, 0.6-1.9 s at 1.5-2.5)
        if load <= OVERLOADED:
            assert p99 <= bound, f"live freshness p99 {p99:.0f} ms during the catch-up"
    finally:
        stop.set()
        watch.close()
        processor.stop()
