"""What the demo publishes: the example park's last days (the ``normal-week`` model at
one reading a minute, as fast as the broker takes them), then the same park from now on,
a one-minute load surge of e08-anode every few minutes, now and then a message the
collector must refuse, and an over-limit reading every 30 s; and the alert rules that
those trip on purpose, so that the demo shows an enterprise's alert and the operator's
firing and resolving.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from simulators import recording
from simulators import scenario as scenario_mod
from simulators.park import ParkModel
from simulators.profiles import DAY_MS
from simulators.recording import Message
from simulators.scenario import LoadChange, Scenario
from simulators.stream import ParkFeed
from smartpark import registry as registry_mod
from smartpark.clock import SystemClock
from smartpark.model import PARK_SCOPE
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import Settings

INTERVALS_S = (1, 2, 3, 4, 5, 6, 10, 15, 20, 30, 60)
# The history: a reading a minute (the registry's reporting interval, so its days are
# complete), an hour of one meter per message, as a gateway uploading its log would.
HISTORY_INTERVAL_S, HISTORY_BATCH = 60, 10
DEMO_PEAK_KW = 9_000.0  # above e08-grid-1's 8,000 kW rating: the demo's own alert
# The operator's alert: e08-anode's load rises 60 % for a minute, every four minutes from
# the first full minute; the park's 1-minute grid import goes over the demo's park rule.
SURGE_ENTERPRISE, SURGE_FACTOR, SURGE_EVERY_S = "e08-anode", 1.6, 240


@dataclass(frozen=True)
class DemoFeed:
    registry: Registry
    scenario: Scenario
    start_ms: int
    interval_s: int
    history_start_ms: int  # == start_ms: no history

    @property
    def history_days(self) -> float:
        return (self.start_ms - self.history_start_ms) / DAY_MS


def scenario(settings: Settings, rate: float, batch: int, *, history_days: int = 0) -> DemoFeed:
    """The example park from now on at the interval that keeps within ``rate``, with a
    one-minute load surge of e08-anode every few minutes (the operator's alert), after
    a history from local midnight ``history_days`` days before today up to now."""
    registry = registry_mod.load(settings.park.registry)
    sensors = len(registry)
    interval = next((i for i in INTERVALS_S if sensors / (i * batch) <= rate), INTERVALS_S[-1])
    now = SystemClock().now_ms()
    start = now - now % 60_000  # on a minute, so that the surges fill whole 1-minute windows
    path = settings.park.registry.resolve().parent / "scenarios" / "normal-week.yaml"
    scenario = scenario_mod.load(path).with_changes(interval_s=interval, batch=batch)
    t0 = datetime.fromtimestamp(start / 1000, UTC)
    surges = [
        LoadChange(
            enterprise=SURGE_ENTERPRISE, factor=SURGE_FACTOR,
            start=t0 + timedelta(seconds=s), end=t0 + timedelta(seconds=s + 60),
        )
        for s in range(60, 6 * 3600, SURGE_EVERY_S)
    ]  # fmt: skip
    scenario = scenario.model_copy(
        update={
            "faults": scenario.faults.off(),
            "load_changes": [*scenario.load_changes, *surges],
        }
    )
    park = next(iter(registry.parks.values()))
    zone = ZoneInfo(park.timezone)
    today = datetime.fromtimestamp(start / 1000, zone).date()
    first = datetime.combine(today - timedelta(days=history_days), datetime.min.time(), zone)
    history_start = start if history_days <= 0 else int(first.timestamp() * 1000)
    return DemoFeed(registry, scenario, start, interval, history_start)


def _grid_kwh(feed: DemoFeed, start_ms: int, end_ms: int) -> tuple[float, float]:
    """The park's and the surging enterprise's grid kWh over [start, end) under the model
    without surges: what the park's 1-minute windows hold when nothing is going on."""
    quiet = feed.scenario.model_copy(update={"load_changes": []})
    model = ParkModel(feed.registry, quiet)
    park = ent = 0.0
    for block in model.chunk(start_ms // DAY_MS, start_ms, end_ms):
        sensor = model.sensors[block.sensor]
        register = block.values.get("energy_kwh")
        if sensor.ref.kind != "electricity" or register is None or len(register) < 2:
            continue
        used = float(register[-1] - register[0]) * sensor.spec.multiplier
        park += used
        ent += used if sensor.ref.enterprise == SURGE_ENTERPRISE else 0.0
    return park, ent


def _park_rule(feed: DemoFeed) -> dict[str, Any]:
    """An operator's (park-scope) rule on the park's 1-minute grid import, its limit half
    way between a quiet minute and a surge minute of the model."""
    park, ent = _grid_kwh(feed, feed.start_ms, feed.start_ms + 60_000)
    limit = park + 0.5 * ent * (SURGE_FACTOR - 1)
    return {
        "id": "demo-park-surge",
        "type": "threshold",
        "source": "kpi",
        "window": "1m",
        "field": "grid_kwh",
        "above": round(limit, 1),
        "severity": "warning",
        "description": f"the park's grid import in a minute while {SURGE_ENTERPRISE} surges",
        "scope": {"enterprises": [PARK_SCOPE]},
    }


def history(feed: DemoFeed, root: str) -> tuple[ParkFeed, Iterator[Message]]:
    """The park's messages over [history start, live start) at a reading a minute, and
    the feed whose meters the live feed goes on from."""
    coarse = feed.scenario.with_changes(interval_s=HISTORY_INTERVAL_S, batch=HISTORY_BATCH)
    park = ParkFeed(feed.registry, coarse, root=root)
    frames = park.frames(feed.history_start_ms, feed.start_ms)
    return park, (m for f in frames for m in recording.frame_messages(f))


def history_readings(feed: DemoFeed) -> int:
    """How many readings :func:`history` publishes (no faults: every one)."""
    step = HISTORY_INTERVAL_S * 1000
    first = feed.history_start_ms + (-feed.history_start_ms % step)
    return len(range(first, feed.start_ms, step)) * len(feed.registry)


def messages(feed: DemoFeed, root: str, *, after: ParkFeed | None = None) -> Iterator[Message]:
    """The live messages from the live start on; ``after``: the history's feed, whose
    meters they go on from."""
    park = (
        after.going_on(feed.scenario)
        if after
        else ParkFeed(feed.registry, feed.scenario, root=root)
    )
    return (m for f in park.frames(feed.start_ms, None) for m in recording.frame_messages(f))


def rules(feed: DemoFeed) -> list[dict[str, Any]]:
    """The alert rules the feed trips on purpose: an enterprise's (the over-limit reading
    ``publish_bad`` sends every 30 s) and the operator's (the park during a surge)."""
    peak = {
        "id": "demo-peak",
        "type": "threshold",
        "description": "the demo's injected over-limit reading on e08-grid-1",
        "field": "power_kw",
        "above": DEMO_PEAK_KW - 1,
        "severity": "warning",
        "scope": {"sensors": ["e08-grid-1"]},
    }
    return [peak, _park_rule(feed)]


def publish_bad(publisher: BoundedPublisher, root: str, stop: threading.Event) -> None:
    """Now and then a message the collector must refuse, so dead letters show up too; and
    every 30 s one over-limit power reading on e08-grid-1 (the park's own next reading
    brings it back), so an alert fires and resolves where everyone can see it."""
    samples = [
        (f"{root}/tianfu-np/e01-baijiu/electricity/no-such-meter", b'{"ts": 0, "values": {}}'),
        (f"{root}/tianfu-np/e01-baijiu/electricity/e01-grid-1", b"not json"),
    ]
    peak = f"{root}/tianfu-np/e08-anode/electricity/e08-grid-1"
    i = 0
    while not stop.wait(2.0):
        publisher.publish(*samples[i % len(samples)])
        if i % 15 == 3:
            reading = {"ts": SystemClock().now_ms(), "values": {"power_kw": DEMO_PEAK_KW}}
            publisher.publish(peak, orjson.dumps(reading))
        i += 1
