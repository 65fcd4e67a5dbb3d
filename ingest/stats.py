"""Collector counters, kept as plain ints on the hot path and exported to Prometheus.

Each counter has one writer thread (named beside it), so no lock is needed: the
exporter only reads.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from smartpark.model import Reason

LAG_BUCKETS_S = (
    0.005,
    0.01,
    0.02,
    0.03,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    0.75,
    1.0,
    1.5,
    2.0,
    3.0,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    3600.0,
)


class LagHistogram:
    """Cumulative-bucket histogram of seconds, cheap enough for one value per message."""

    def __init__(self, bounds_s: tuple[float, ...] = LAG_BUCKETS_S) -> None:
        self.bounds_ms = [b * 1000 for b in bounds_s]
        self.bounds_s = bounds_s
        self.counts = [0] * (len(bounds_s) + 1)
        self.sum_s = 0.0

    def observe_ms(self, values_ms: Iterable[float]) -> None:
        counts, bounds = self.counts, self.bounds_ms
        total = 0.0
        for value in values_ms:
            counts[bisect_left(bounds, value)] += 1
            total += value
        self.sum_s += total / 1000

    def buckets(self) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip(self.bounds_s, self.counts, strict=False):
            running += count
            out.append((repr(bound), float(running)))
        out.append(("+Inf", float(running + self.counts[-1])))
        return out


@dataclass
class IngestStats:
    # written by the MQTT network thread
    received: int = 0
    ignored: int = 0
    readings_accepted: int = 0
    deadlettered: Counter[str] = field(default_factory=Counter)
    # written by the writer thread
    stored_readings: int = 0
    stored_batches: int = 0
    spooled_readings: int = 0
    unspooled_readings: int = 0
    store_errors: int = 0
    retries: int = 0
    spool_full_waits: int = 0
    lag: LagHistogram = field(default_factory=LagHistogram)
    last_stored_reading_ms: int = 0

    def snapshot(self) -> dict[str, object]:
        return {
            "received": self.received,
            "ignored": self.ignored,
            "readings_accepted": self.readings_accepted,
            "deadlettered": dict(self.deadlettered),
            "stored_readings": self.stored_readings,
            "spooled_readings": self.spooled_readings,
            "unspooled_readings": self.unspooled_readings,
            "store_errors": self.store_errors,
            "retries": self.retries,
        }


class IngestMetrics(Collector):
    """Prometheus view of :class:`IngestStats` plus gauges read at scrape time."""

    def __init__(
        self, stats: IngestStats, gauges: Callable[[], dict[str, float]], now_ms: Callable[[], int]
    ) -> None:
        self.stats = stats
        self.gauges = gauges
        self.now_ms = now_ms

    def collect(self) -> Iterator[Metric]:
        s = self.stats
        p = "smartpark_ingest_"
        yield CounterMetricFamily(p + "messages_received", "MQTT messages received", s.received)
        yield CounterMetricFamily(
            p + "messages_ignored", "system-topic messages (no readings) acknowledged", s.ignored
        )
        yield CounterMetricFamily(
            p + "readings_accepted", "readings that passed validation", s.readings_accepted
        )
        dead = CounterMetricFamily(
            p + "deadlettered", "messages or readings dead-lettered, by reason", labels=["reason"]
        )
        for reason in Reason:
            dead.add_metric([reason.value], s.deadlettered.get(reason.value, 0))
        yield dead
        yield CounterMetricFamily(
            p + "readings_stored", "readings written to the store", s.stored_readings
        )
        yield CounterMetricFamily(
            p + "readings_spooled", "readings written to the disk spool", s.spooled_readings
        )
        yield CounterMetricFamily(
            p + "readings_unspooled",
            "spooled readings later written to the store",
            s.unspooled_readings,
        )
        yield CounterMetricFamily(p + "store_errors", "failed store writes", s.store_errors)
        yield CounterMetricFamily(p + "retries", "store write retries", s.retries)
        yield CounterMetricFamily(
            p + "spool_full_waits",
            "waits because store and spool were both full",
            s.spool_full_waits,
        )
        yield HistogramMetricFamily(
            p + "reading_lag_seconds",
            "time from a message's reading ts to its readings being durable (store or spool)",
            buckets=s.lag.buckets(),
            sum_value=s.lag.sum_s,
        )
        lag = (self.now_ms() - s.last_stored_reading_ms) / 1000 if s.last_stored_reading_ms else 0
        yield GaugeMetricFamily(
            p + "store_lag_seconds", "age of the newest reading made durable", lag
        )
        for name, value in self.gauges().items():
            yield GaugeMetricFamily(p + name, name.replace("_", " "), value)
