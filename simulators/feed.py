"""A minimal registry-driven feed: plausible readings for every sensor, round robin (pure).

This is the fixed-rate generator the ingest tests and benchmark drive; the full park
model (load classes, solar geometry, faults, replay) builds on it in this package.
Timestamps are the caller's ``now_ms``, made unique and increasing per sensor so
that every reading is a distinct point in the store.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import orjson

from smartpark.cems import DATA_FLAG
from smartpark.registry import RegisteredSensor, Registry
from smartpark.wire import topic_for

_HOUR_MS = 3_600_000


@dataclass(slots=True)
class _State:
    sensor: RegisteredSensor
    topic: str
    scale: float
    counters: dict[str, float]
    last_ts: int = 0
    seq: int = 0


def _gauge(kind: str, name: str, scale: float, rng: random.Random, ts_ms: int) -> float:
    hour = (ts_ms // _HOUR_MS) % 24
    if kind == "pv":
        daylight = max(0.0, math.sin(math.pi * (hour - 6) / 12)) if 6 <= hour <= 18 else 0.0
        return round(scale * daylight * rng.uniform(0.3, 1.0), 3)
    base = {
        "power_kw": scale,
        "flow_m3h": scale * 0.4,
        "so2_mg_m3": 3.0,
        "nox_mg_m3": 35.0,
        "pm_mg_m3": 2.0,
        "o2_pct": 5.0,
    }.get(name, scale)
    return round(base * rng.uniform(0.8, 1.2), 3)


class Feed:
    """Round-robin messages over the registry's sensors, ``batch`` readings per message."""

    def __init__(self, registry: Registry, *, root: str, seed: int = 0, batch: int = 1) -> None:
        if batch < 1:
            raise ValueError(f"batch must be >= 1: {batch}")
        self._rng = random.Random(seed)
        self.batch = batch
        self._states = [
            _State(
                sensor=s,
                topic=topic_for(root, s.ref),
                scale=self._rng.uniform(50, 2_000),
                counters={
                    name: self._rng.uniform(0, 10_000)
                    for name, spec in s.fields.items()
                    if spec.semantics == "counter"
                },
            )
            for s in registry.sensors()
        ]
        if not self._states:
            raise ValueError("the registry has no sensors")
        self._next = 0

    def __len__(self) -> int:
        return len(self._states)

    def _reading(self, state: _State, ts_ms: int) -> dict[str, object]:
        sensor, rng = state.sensor, self._rng
        values: dict[str, float] = {}
        for name, spec in sensor.fields.items():
            if spec.semantics == "counter":
                step = state.scale * rng.uniform(0.0001, 0.001) / sensor.spec.multiplier
                value = state.counters[name] + step
                modulus = sensor.spec.modulus()
                if modulus is not None and value >= modulus:
                    value -= modulus
                state.counters[name] = value
                values[name] = round(value, 3)
            elif name != DATA_FLAG:  # absent means normal
                values[name] = _gauge(sensor.ref.kind, name, state.scale, rng, ts_ms)
        state.seq += 1
        return {"ts": ts_ms, "values": values, "seq": state.seq}

    def message(self, now_ms: int) -> tuple[str, bytes, int]:
        """The next message: (topic, payload, number of readings)."""
        state = self._states[self._next]
        self._next = (self._next + 1) % len(self._states)
        first = max(now_ms - self.batch + 1, state.last_ts + 1)
        readings = [self._reading(state, first + i) for i in range(self.batch)]
        state.last_ts = first + self.batch - 1
        payload = orjson.dumps(readings[0] if self.batch == 1 else readings)
        return state.topic, payload, self.batch
