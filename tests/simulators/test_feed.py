"""The minimal feed: deterministic, registry-driven, valid by the wire contract."""

from __future__ import annotations

import orjson

from simulators.feed import Feed
from smartpark.registry import Registry
from smartpark.wire import Limits, decode, parse_topic

NOW = 1_795_000_000_000


def _run(park: Registry, seed: int, batch: int, n: int) -> list[tuple[str, bytes, int]]:
    feed = Feed(park, root="sp", seed=seed, batch=batch)
    return [feed.message(NOW + i) for i in range(n)]


def test_same_seed_same_feed(park: Registry) -> None:
    assert _run(park, 7, 1, 300) == _run(park, 7, 1, 300)
    assert _run(park, 7, 1, 300) != _run(park, 8, 1, 300)


def test_every_message_decodes_cleanly_and_counters_only_rise_or_roll_over(park: Registry) -> None:
    last: dict[tuple[str, str], float] = {}
    rollovers = 0
    for topic, payload, count in _run(park, 1, 5, len(park) * 20):
        ref = parse_topic(topic, "sp")
        sensor = park.resolve(ref.park, ref.enterprise, ref.kind, ref.sensor)  # type: ignore[union-attr]
        good, bad = decode(payload, fields=sensor.fields, now_ms=NOW, limits=Limits())  # type: ignore[union-attr]
        assert bad == [] and len(good) == count == 5
        stamps = [ts for ts, _, _ in good]
        assert stamps == sorted(set(stamps))
        for _ts, values, _seq in good:
            for name, value in values.items():
                if sensor.fields[name].semantics == "counter":  # type: ignore[union-attr]
                    key = (topic, name)
                    if key in last and value < last[key]:
                        rollovers += 1
                        assert sensor.spec.rollover is not None  # type: ignore[union-attr]
                    last[key] = value
    assert rollovers == 0  # the registry's registers are far from rolling over in a short run


def test_single_reading_messages_are_objects(park: Registry) -> None:
    _topic, payload, count = _run(park, 1, 1, 1)[0]
    assert count == 1
    assert isinstance(orjson.loads(payload), dict)
