"""Publishing the gateway's messages, with store-and-forward while the broker is away.

Messages go straight to the broker (QoS 1) while it is connected and the buffer is
empty. Otherwise they are appended to a bounded disk buffer (``smartpark.spool``: one
fsynced file per entry, oldest first), and after reconnecting the buffer is sent oldest
first, an entry removed only once the broker acknowledged every message in it; messages
sent live but unacknowledged when the connection dropped are buffered too. So delivery
is at least once (a message may arrive twice; stored twice it is the same point). A
full buffer refuses new entries: they are counted (``buffer_full_dropped``) and logged,
never dropped silently.
"""

from __future__ import annotations

import logging
import queue
import threading
from dataclasses import dataclass
from typing import Any

import orjson
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from smartpark import mqtt
from smartpark.settings import MqttSettings
from smartpark.spool import Spool

logger = logging.getLogger(__name__)

Message = tuple[str, bytes]


@dataclass
class ForwardStats:
    published: int = 0  # acknowledged by the broker
    buffered: int = 0  # messages written to the disk buffer
    forwarded_from_buffer: int = 0
    buffer_full_dropped: int = 0


def _encode(messages: list[Message]) -> bytes:
    return orjson.dumps([[topic, payload.decode()] for topic, payload in messages])


def _decode(body: bytes) -> list[Message]:
    return [(topic, payload.encode()) for topic, payload in orjson.loads(body)]


class Forwarder:
    def __init__(
        self, settings: MqttSettings, *, client_id: str, buffer: Spool, ack_timeout_s: float = 10.0
    ) -> None:
        self.settings = settings
        self.buffer = buffer
        self.stats = ForwardStats()
        self.connected = threading.Event()
        self._ack_timeout_s = ack_timeout_s
        self._queue: queue.Queue[list[Message]] = queue.Queue()
        self._lock = threading.Lock()
        self._live: dict[int, Message] = {}  # mid -> message sent live, not yet acknowledged
        self._draining: set[int] = set()  # mids of the buffer entry being sent
        self._early: set[int] = set()  # mids acknowledged before they were recorded
        self._drained = threading.Condition(self._lock)
        self._stopping = threading.Event()
        self.client = mqtt.make_client(settings, client_id=client_id)
        self.client.max_inflight_messages_set(1_000)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        self._thread = threading.Thread(target=self._run, name="gateway-forward", daemon=True)

    def start(self) -> None:
        mqtt.connect(self.client, self.settings, persistent=False)
        self.client.loop_start()
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """Send or buffer what is queued, then disconnect."""
        self._stopping.set()
        self._thread.join(timeout_s)
        self.client.disconnect()
        self.client.loop_stop()

    def put(self, messages: list[Message]) -> None:
        """Queue messages that belong together (one poll, one packet); thread-safe."""
        if messages:
            self._queue.put(messages)

    @property
    def pending(self) -> int:
        return self._queue.qsize() + len(self.buffer)

    # -- paho's network thread ------------------------------------------------------

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if not mqtt.connect_refused(reason, self.settings, "gateway"):
            with self._lock:
                self._early.clear()  # acknowledgements of the last connection's messages
            self.connected.set()
            logger.info("connected to the broker buffered_entries=%d", len(self.buffer))

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connected.clear()
        if not self._stopping.is_set():
            logger.warning("broker connection lost reason=%s; buffering to disk", reason)
        with self._lock:
            self._drained.notify_all()

    def _on_publish(self, _c: Any, _u: Any, mid: int, _r: Any, _p: Any) -> None:
        with self._lock:
            if self._live.pop(mid, None) is not None:
                self.stats.published += 1
            elif mid in self._draining:
                self._draining.discard(mid)
                self.stats.published += 1
                if not self._draining:
                    self._drained.notify_all()
            else:  # acknowledged before the publisher recorded the mid
                self._early.add(mid)

    # -- the forwarding thread --------------------------------------------------------

    def _run(self) -> None:
        while True:
            try:
                entry: list[Message] | None = self._queue.get(timeout=0.1)
            except queue.Empty:
                entry = None
            if not self.connected.is_set():
                self._rebuffer_live()
            if entry is not None:
                if self.connected.is_set() and not len(self.buffer):
                    self._send_live(entry)
                else:
                    self._store(entry)
            elif self._stopping.is_set():
                self._rebuffer_live()
                return
            if self.connected.is_set() and len(self.buffer) and not self._stopping.is_set():
                self._drain_one()

    def _publish(self, topic: str, payload: bytes) -> int | None:
        """Publish one message QoS 1; its mid, or None when paho did not take it.

        Never called with ``_lock`` held: paho runs ``_on_publish`` holding its own lock,
        and ``_on_publish`` takes ``_lock`` (the other order would deadlock). An
        acknowledgement that beats the caller's bookkeeping is kept in ``_early``."""
        info = self.client.publish(topic, payload, qos=1)
        return info.mid if info.rc == MQTTErrorCode.MQTT_ERR_SUCCESS else None

    def _send_live(self, entry: list[Message]) -> None:
        for n, (topic, payload) in enumerate(entry):
            mid = self._publish(topic, payload)
            if mid is None:
                self._store(entry[n:])  # the connection went while sending: keep the rest
                return
            with self._lock:
                if mid in self._early:
                    self._early.discard(mid)
                    self.stats.published += 1
                else:
                    self._live[mid] = (topic, payload)

    def _rebuffer_live(self) -> None:
        """Messages sent live whose acknowledgement the lost connection took with it."""
        with self._lock:
            lost, self._live = list(self._live.values()), {}
        if lost:
            self._store(lost)

    def _store(self, entry: list[Message]) -> None:
        if self.buffer.append(_encode(entry)):
            self.stats.buffered += len(entry)
            return
        self.stats.buffer_full_dropped += len(entry)
        logger.warning(
            "gateway buffer full bytes=%d; dropped messages=%d (counted)",
            self.buffer.size_bytes, len(entry),
        )  # fmt: skip

    def _drain_one(self) -> None:
        """Send the oldest buffered entry; remove it once every message is acknowledged."""
        oldest = self.buffer.oldest()
        if oldest is None:
            return
        path, body = oldest
        messages = _decode(body)
        with self._lock:
            self._draining.clear()
        for topic, payload in messages:
            mid = self._publish(topic, payload)
            if mid is None:
                with self._lock:
                    self._draining.clear()
                return  # disconnected: the entry stays, sent again on reconnect
            with self._lock:
                if mid in self._early:
                    self._early.discard(mid)
                    self.stats.published += 1
                else:
                    self._draining.add(mid)
        with self._lock:
            done = self._drained.wait_for(
                lambda: not self._draining or not self.connected.is_set(), self._ack_timeout_s
            )
            acked = done and not self._draining
            self._draining.clear()
        if acked:
            self.buffer.remove(path)
            self.stats.forwarded_from_buffer += len(messages)
