"""The MQTT -> InfluxDB collector: validate, batch, store at least once, dead-letter the rest.

Threads: paho's network thread runs ``_on_message`` (decode, encode, batch) and
``_on_publish`` (dead-letter confirmations); the writer thread runs ``_flush``
(store or spool, then acknowledge). Backpressure: a message is acknowledged only
once its readings are durable, and MQTT 5 Receive Maximum caps unacknowledged
messages, so when store and spool are both unavailable the broker keeps the rest.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as paho
from prometheus_client import CollectorRegistry

from ingest.batcher import Batch, Batcher
from ingest.stats import IngestMetrics, IngestStats
from smartpark import mqtt
from smartpark.clock import Clock, SystemClock
from smartpark.errors import StoreRejected, StoreUnavailable
from smartpark.httpserver import StatusServer
from smartpark.mapping import Mapper
from smartpark.model import Reason, SensorRef
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.spool import Spool
from smartpark.store.base import Store
from smartpark.store.lineprotocol import encode_fast, series_key
from smartpark.wire import (
    Problem,
    deadletter_payload,
    deadletter_topic,
    decode,
    parse_topic,
    topic_for,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Route:
    """What a registered sensor's topic maps to: its series key and accepted fields."""

    series: str
    fields: frozenset[str]


def _tags(ref: SensorRef) -> dict[str, str]:
    return {"park": ref.park, "enterprise": ref.enterprise, "sensor": ref.sensor}


def build_routes(registry: Registry, root: str) -> dict[str, Route]:
    """Exact topic -> route for every registered sensor (one dict lookup per message)."""
    routes = {}
    for sensor in registry.sensors():
        ref = sensor.ref
        series = series_key(ref.kind, _tags(ref))
        routes[topic_for(root, ref)] = Route(series, frozenset(sensor.fields))
    return routes


class Collector:
    def __init__(
        self,
        *,
        settings: Settings,
        registry: Registry,
        store: Store,
        clock: Clock | None = None,
        serve_http: bool = True,
    ) -> None:
        self.settings = settings
        self._mqtt = settings.mqtt
        self._ingest = settings.ingest
        self._root = settings.mqtt.topic_root
        self.store = store
        self.clock = clock or SystemClock()
        self.spool = Spool(settings.ingest.spool_dir, max_bytes=settings.ingest.spool_max_bytes)
        self.stats = IngestStats()
        # The registry and its routes, replaced together (``use_registry``) and read
        # together once per message, so a reload never pairs one with the other's old self.
        self._limits = settings.park.decode_limits()
        self._view = self._build_view(registry)
        self._batcher = Batcher(
            max_points=settings.ingest.batch_max_points,
            max_age_s=settings.ingest.batch_max_age_ms / 1000,
            clock=self.clock,
        )
        # Messages waiting on more than one completion (a stored batch and a
        # confirmed dead letter): mid -> completions still missing.
        self._held: dict[int, int] = {}
        self._held_lock = threading.Lock()
        self._deadletter_mids: dict[int, int] = {}  # outgoing dead-letter mid -> incoming mid
        self._stopping = threading.Event()
        self._store_retry_at = 0.0
        self._store_backoff_s = 0.0
        self._spool_full = False  # the last batch did not fit: nothing is being acknowledged
        self._last_activity = self.clock.monotonic()
        self._writer = threading.Thread(target=self._run_writer, name="ingest-writer")
        self.subscriber = mqtt.Subscriber(
            self._mqtt,
            name="collector",
            client_id=self._mqtt.client_id,
            filters=self._filters(),
            on_message=self._on_message,
            manual_ack=True,
            receive_maximum=self._mqtt.receive_maximum,
            on_publish=self._on_publish,
            on_subscribed=self._on_subscribed,
        )
        self.client = self.subscriber.client
        self.connected = self.subscriber.subscribed  # "connected" means subscribed
        self.metrics_registry = CollectorRegistry()
        self.metrics_registry.register(IngestMetrics(self.stats, self._gauges, self.clock.now_ms))
        self.http: StatusServer | None = None
        if serve_http:
            self.http = StatusServer(
                host=settings.ingest.http_host,
                port=settings.ingest.http_port,
                registry=self.metrics_registry,
                health=self.health,
            )

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> None:
        self._writer.start()
        if self.http is not None:
            self.http.start()
        self.subscriber.start()
        logger.info(
            "collector started client_id=%s group=%s sensors=%d spool_batches=%d",
            self._mqtt.client_id,
            self._mqtt.share_group,
            len(self._view[1]),
            len(self.spool),
        )

    def stop(self, timeout_s: float = 30.0) -> None:
        """Stop taking messages, store and acknowledge what is buffered, then disconnect.

        Messages that arrive after the stop began are left unacknowledged: the
        persistent session gives them to the next run.
        """
        if self._stopping.is_set():
            return
        self._stopping.set()
        self._batcher.flush_all()
        self._writer.join(timeout_s)
        time.sleep(0.1)  # let the network thread send the last acknowledgements
        self.subscriber.stop()
        if self.http is not None:
            self.http.stop()
        self.store.close()
        logger.info("collector stopped %s", self.stats.snapshot())

    # -- MQTT network thread -----------------------------------------------------

    def _filters(self) -> list[tuple[str, int]]:
        """The root's topics, and vendor gateways' topics of the registry's mappings."""
        group = self._mqtt.share_group
        topics = [f"$share/{group}/{self._root}/#" if group else f"{self._root}/#"]
        for mapped in self._view[2].filters():
            if mapped.startswith(f"{self._root}/"):
                continue  # under the root's subscription already (else delivered twice)
            topics.append(f"$share/{group}/{mapped}" if group else mapped)
        return [(t, 1) for t in topics]

    def _on_subscribed(self) -> None:
        self._last_activity = self.clock.monotonic()  # silence counts from (re)subscribing

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        if self._stopping.is_set():
            return  # unacknowledged: redelivered to the next session
        stats = self.stats
        stats.received += 1
        now_ms = self.clock.now_ms()
        self._last_activity = self.clock.monotonic()
        mid = msg.mid if msg.qos else 0
        registry, routes, mapper = self._view
        route = routes.get(msg.topic)
        if route is None and mapper.mappings and self._on_mapped(msg, mapper, now_ms, mid):
            return
        if route is None:
            problem = self._classify_unrouted(registry, msg.topic)
            if problem is None:
                stats.ignored += 1
                self.subscriber.ack(mid)
            else:
                self._deadletter(msg, [problem], now_ms, parts=1)
            return
        good, bad = decode(msg.payload, fields=route.fields, now_ms=now_ms, limits=self._limits)
        if bad:
            self._deadletter(msg, bad, now_ms, parts=2 if good else 1)
        if good:
            series = route.series
            lines = [encode_fast(series, values, ts) for ts, values, _seq in good]
            stats.readings_accepted += len(lines)
            self._batcher.add(lines, mid, good[0][0])

    def _build_view(self, registry: Registry) -> tuple[Registry, dict[str, Route], Mapper]:
        return registry, build_routes(registry, self._root), Mapper(registry, self._limits)

    def _on_mapped(self, msg: paho.MQTTMessage, mapper: Mapper, now_ms: int, mid: int) -> bool:
        """Store what a registry mapping reads from a vendor topic; False: no mapping fits."""
        result = mapper.map(msg.topic, msg.payload, now_ms=now_ms)
        if result is None:
            return False
        good, bad = result
        if bad:
            self._deadletter(msg, bad, now_ms, parts=2 if good else 1)
        if good:
            lines = [
                encode_fast(series_key(r.ref.kind, _tags(r.ref)), r.values, r.ts_ms) for r in good
            ]
            self.stats.readings_accepted += len(lines)
            self._batcher.add(lines, mid, good[0].ts_ms)
        elif not bad:  # only points the mapping does not read: nothing to store
            self.stats.ignored += 1
            self.subscriber.ack(mid)
        return True

    @property
    def registry(self) -> Registry:
        return self._view[0]

    def use_registry(self, registry: Registry) -> None:
        """Route by ``registry`` from the next message on (a reload: SIGHUP in the CLI);
        the session, the batches in flight and the spool are untouched."""
        self._view = self._build_view(registry)
        self.subscriber.resubscribe(self._filters())  # a new mapping's vendor topics
        logger.info("registry reloaded routes=%d", len(self._view[1]))

    def _classify_unrouted(self, registry: Registry, topic: str) -> Problem | None:
        """Why a topic with no route carries no acceptable readings (None: a system topic)."""
        ref = parse_topic(topic, self._root)
        if ref is None or isinstance(ref, Problem):
            return ref
        found = registry.resolve(ref.park, ref.enterprise, ref.kind, ref.sensor)
        if found is Reason.SENSOR_MISMATCH:
            return Problem(
                Reason.SENSOR_MISMATCH, "sensor registered under another enterprise or kind"
            )
        if found is Reason.UNKNOWN_SENSOR:
            return Problem(
                Reason.UNKNOWN_SENSOR, f"sensor not in the registry of park {ref.park!r}"
            )
        # Registered but without a route cannot happen: routes come from the registry.
        raise AssertionError(f"registered sensor without route: {topic!r}")

    def _deadletter(
        self, msg: paho.MQTTMessage, problems: list[Problem], now_ms: int, parts: int
    ) -> None:
        """Publish a dead letter; the source message is acknowledged once the broker has it.

        ``parts`` is 2 when good readings of the same message also wait in a batch:
        the message is then acknowledged when both are done. Dead-letter publishes
        are bounded by Receive Maximum (each holds one unacknowledged message), so
        they stay far below paho's 65,535 in-flight ids.
        """
        for problem in problems:
            self.stats.deadlettered[problem.reason.value] += 1
        body = deadletter_payload(
            topic=msg.topic, payload=msg.payload, problems=problems, received_ms=now_ms
        )
        info = self.client.publish(deadletter_topic(self._root, problems), body, qos=1)
        if msg.qos:
            if parts > 1:
                with self._held_lock:
                    self._held[msg.mid] = parts
            self._deadletter_mids[info.mid] = msg.mid

    def _on_publish(self, mid: int) -> None:
        source = self._deadletter_mids.pop(mid, None)
        if source is not None:
            self._complete(source)

    def _complete(self, mid: int) -> None:
        """One part of a message is done; acknowledge it when no part is left."""
        with self._held_lock:
            left = self._held.get(mid)
            if left is not None:
                if left > 1:
                    self._held[mid] = left - 1
                    return
                del self._held[mid]
        self.subscriber.ack(mid)

    # -- writer thread -----------------------------------------------------------

    def _run_writer(self) -> None:
        while True:
            draining = len(self.spool) > 0 and self.clock.monotonic() >= self._store_retry_at
            batch = self._batcher.take(0.0 if draining else 0.1)
            if batch is not None:
                self._flush(batch)
            elif self._stopping.is_set() and self._batcher.empty:
                return
            if len(self.spool) and self.clock.monotonic() >= self._store_retry_at:
                self._drain_one()

    def _flush(self, batch: Batch) -> None:
        """Make one batch durable, then acknowledge its messages.

        1. Write the batch to the store, unless the store is in back-off.
        2. If the store is unavailable, append the batch to the disk spool (fsync).
        3. If the spool is full too, wait and retry from 1; acknowledge nothing, so
           the broker keeps the messages (and, at Receive Maximum, stops sending).
        4. Acknowledge every message of the batch.
        A batch the store refuses outright (4xx) is dead-lettered, then acknowledged.
        """
        body = "\n".join(batch.lines).encode()
        count = len(batch.lines)
        while True:
            if self.clock.monotonic() >= self._store_retry_at:
                try:
                    self.store.write(body)
                except StoreUnavailable as exc:
                    self._store_failed(exc)
                except StoreRejected as exc:
                    self._reject(batch, body, exc)
                    break
                else:
                    self._store_ok()
                    self.stats.stored_readings += count
                    self.stats.stored_batches += 1
                    break
            if self.spool.append(body):
                self.stats.spooled_readings += count
                self._spool_full = False
                break
            self._spool_full = True
            self.stats.spool_full_waits += 1
            if self._stopping.is_set():
                logger.warning(
                    "stopping with an unstored batch messages=%d; broker keeps them",
                    len(batch.mids),
                )
                return
            time.sleep(max(0.05, self._store_retry_at - self.clock.monotonic()))
        now_ms = self.clock.now_ms()
        self.stats.lag.observe_ms([now_ms - ts for ts in batch.ts_ms])
        self.stats.last_stored_reading_ms = max(batch.ts_ms)
        held = self._held
        ack = self.subscriber.ack
        for mid in batch.mids:
            if mid in held:
                self._complete(mid)
            else:
                ack(mid)

    def _drain_one(self) -> None:
        """Write the oldest spooled batch to the store and forget it; stop at the first failure."""
        oldest = self.spool.oldest()
        if oldest is None:
            return
        path, body = oldest
        self.stats.retries += 1
        try:
            self.store.write(body)
        except StoreUnavailable as exc:
            self._store_failed(exc)
            return
        except StoreRejected as exc:
            logger.error("store refused spooled batch %s: %s; dead-lettering it", path.name, exc)
            self._publish_rejected(body, exc)
        else:
            self._store_ok()
            lines = body.count(b"\n") + 1
            self.stats.unspooled_readings += lines
            self.stats.stored_readings += lines
        self.spool.remove(path)
        self._spool_full = False

    def _store_failed(self, exc: StoreUnavailable) -> None:
        self.stats.store_errors += 1
        self._store_backoff_s = min(max(self._store_backoff_s * 2, 0.5), 5.0)
        self._store_retry_at = self.clock.monotonic() + self._store_backoff_s
        logger.warning(
            "store unavailable, spooling; retry in %.1fs: %s", self._store_backoff_s, exc
        )

    def _store_ok(self) -> None:
        if self._store_backoff_s:
            logger.info("store available again spool_batches=%d", len(self.spool))
        self._store_backoff_s = 0.0
        self._store_retry_at = 0.0

    def _reject(self, batch: Batch, body: bytes, exc: StoreRejected) -> None:
        logger.error("store refused batch lines=%d: %s", len(batch.lines), exc)
        self._publish_rejected(body, exc)

    def _publish_rejected(self, body: bytes, exc: StoreRejected) -> None:
        problem = Problem(Reason.STORE_REJECTED, str(exc)[:500])
        self.stats.deadlettered[Reason.STORE_REJECTED.value] += body.count(b"\n") + 1
        payload = deadletter_payload(
            topic="", payload=body, problems=[problem], received_ms=self.clock.now_ms()
        )
        self.client.publish(deadletter_topic(self._root, [problem]), payload, qos=1)

    # -- health and metrics ------------------------------------------------------

    def _gauges(self) -> dict[str, float]:
        return {
            "connected": float(self.connected.is_set()),
            "buffered_messages": float(self._batcher.buffered_messages),
            "unacknowledged_messages": float(self.subscriber.unacked),
            "spool_bytes": float(self.spool.size_bytes),
            "spool_batches": float(len(self.spool)),
            "store_up": float(self._store_backoff_s == 0.0),
        }

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy: connected, not silent for longer than allowed, able to make data durable."""
        silent_s = self.clock.monotonic() - self._last_activity
        connected = self.connected.is_set()
        store_up = self._store_backoff_s == 0.0
        problems = []
        if not connected:
            problems.append("disconnected from broker")
        elif silent_s > self._ingest.silence_unhealthy_s:
            problems.append(f"connected but silent for {silent_s:.0f}s")
        if not store_up and self._spool_full:
            problems.append("store down and spool full")
        facts: dict[str, Any] = {
            "connected": connected,
            "silent_s": round(silent_s, 3),
            "store_up": store_up,
            "spool_batches": len(self.spool),
            "spool_bytes": self.spool.size_bytes,
            "buffered_messages": self._batcher.buffered_messages,
            "unacknowledged_messages": self.subscriber.unacked,
            "unacknowledged_peak": self.subscriber.unacked_peak,
            "routes": len(self._view[1]),  # the registry's sensors (and mapped topics) routed
            "problems": problems,
            "stats": self.stats.snapshot(),
        }
        return not problems, facts
