"""The park feed as a stream of message frames in send order, one UTC day at a time.

Messages sent late can belong after the next day's first messages: they are held
back and merged into the next frame, so the stream is in send order as a whole.
"""

from __future__ import annotations

from collections.abc import Iterator

import polars as pl

from simulators import messages
from simulators.park import FaultLog, ParkModel
from simulators.profiles import DAY_MS
from simulators.scenario import Scenario
from smartpark.registry import Registry


class ParkFeed:
    """Messages of a scenario's park over [start, end); ``end=None`` runs for ever (live)."""

    def __init__(self, registry: Registry, scenario: Scenario, *, root: str) -> None:
        self.model = ParkModel(registry, scenario)
        self.scenario = scenario
        self.root = root

    @property
    def log(self) -> FaultLog:
        return self.model.log

    def going_on(self, scenario: Scenario) -> ParkFeed:
        """This park's feed under ``scenario`` from where this one stopped (its meters'
        registers carried over): e.g. live at one second after a backfill at one minute."""
        feed = ParkFeed(self.model.registry, scenario, root=self.root)
        feed.model = self.model.going_on(scenario)
        return feed

    def expected_readings(self, start_ms: int, end_ms: int) -> int:
        """Readings the sensors take in [start, end), before faults."""
        step = self.scenario.interval_s * 1000
        return len(range(start_ms + (-start_ms % step), end_ms, step)) * len(self.model.sensors)

    def frames(self, start_ms: int, end_ms: int | None) -> Iterator[pl.DataFrame]:
        """Message frames in send order; each holds the messages sent before its day ends."""
        held = messages.empty()
        chunk = start_ms // DAY_MS
        while end_ms is None or chunk * DAY_MS < end_ms:
            blocks = self.model.chunk(chunk, start_ms, end_ms if end_ms is not None else 2**62)
            frame = messages.encode(
                blocks,
                self.model.sensors,
                root=self.root,
                scenario=self.scenario,
                chunk=chunk,
                log=self.model.log,
            )
            merged = pl.concat([held, frame]).sort("send_ms", maintain_order=True)
            cut = (chunk + 1) * DAY_MS
            held = merged.filter(pl.col("send_ms") >= cut)
            out = merged.filter(pl.col("send_ms") < cut)
            if out.height:
                yield out
            chunk += 1
        if held.height:
            yield held
