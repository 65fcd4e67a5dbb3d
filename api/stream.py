"""The live stream: KPI updates and alerts from MQTT, fanned out to Server-Sent Events;
and the recent dead letters of each enterprise's sensors.

paho's thread appends each event to a short replay buffer (``Last-Event-ID`` resumes
within it; an event's id is a digest of its topic and payload, so every API instance,
receiving the same broker messages, gives the same event the same id and a stream
resumes on another instance than the one it left) and hands it to every connected
client's asyncio queue; each client's generator filters by its caller's scope. Browsers
cannot send headers on an EventSource, so the stream is opened with a short-lived
single-use ticket, never with the API key in the URL; tickets live in the key database
(``api.keys``), so any API instance opens a stream another one issued the ticket for.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

import orjson
import paho.mqtt.client as paho

from api.scope import EnterpriseScope, ParkScope
from smartpark.model import SensorRef
from smartpark.mqtt import Subscriber
from smartpark.settings import MqttSettings
from smartpark.wire import (
    Topic,
    alert_filter,
    classify,
    deadletter_filter,
    decode_kpi_update,
    kpi_filter,
    parse_topic,
)

logger = logging.getLogger(__name__)

TICKET_TTL_S = 60.0
DEAD_LETTERS_KEPT = 100  # per enterprise, in memory since the API started


@dataclass(frozen=True, slots=True)
class Event:
    id: str  # the same on every instance: see ``event_id``
    seq: int  # this instance's receive order
    at: float  # monotonic receive time
    kind: str  # "kpi" or "alert"
    park: str
    enterprise: str  # the KPI scope (an enterprise or _park) or the alert's enterprise
    data: bytes

    def frame(self) -> bytes:
        return b"id: %s\nevent: %s\ndata: %s\n\n" % (
            self.id.encode(),
            self.kind.encode(),
            self.data,
        )

    def visible_to(self, scope: ParkScope) -> bool:
        """``api.scope``'s rule: a KPI update is an aggregate's figures, an alert is not."""
        return self.park == scope.park and scope.sees(self.enterprise, aggregate=self.kind == "kpi")


def event_id(topic: str, payload: bytes) -> str:
    """16 hex digits of a digest of the message: every instance subscribed to the broker
    names the same event alike (a per-process counter would not)."""
    digest = hashlib.blake2b(topic.encode(), digest_size=8)
    digest.update(b"\0" + payload)
    return digest.hexdigest()


class EventHub:
    def __init__(self, mqtt: MqttSettings, *, replay_s: float, client_id: str) -> None:
        self.replay_s = replay_s
        self._buffer: deque[Event] = deque()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._clients: set[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event]]] = set()
        self.unreadable = 0
        root = mqtt.topic_root
        self._root = root
        # (park, enterprise) -> the newest dead letters of its sensors, newest last
        self._dead: dict[tuple[str, str], deque[dict[str, Any]]] = {}
        # A live tap: a clean session at QoS 0, nothing held on the broker while away.
        self.subscriber = Subscriber(
            mqtt,
            name="api",
            client_id=client_id,
            filters=[(kpi_filter(root), 0), (alert_filter(root), 0), (deadletter_filter(root), 0)],
            on_message=self._on_message,
            persistent=False,
        )
        self.client = self.subscriber.client  # the API also publishes acknowledgement requests
        self.connected = self.subscriber.subscribed

    def start(self) -> None:
        self.subscriber.start()

    def stop(self) -> None:
        self.subscriber.stop()

    # -- MQTT (paho's thread) ---------------------------------------------------------

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        if classify(msg.topic) is Topic.DEADLETTER:
            self._dead_letter(msg.payload)
            return
        if classify(msg.topic) is Topic.KPI:
            update = decode_kpi_update(msg.payload)
            if update is None:
                self.unreadable += 1
                return
            kind, park, enterprise = "kpi", update.park, update.scope
        else:
            try:
                body = orjson.loads(msg.payload)
                kind, park, enterprise = "alert", str(body["park"]), str(body["enterprise"])
            except (orjson.JSONDecodeError, KeyError, TypeError):
                self.unreadable += 1
                return
        now = time.monotonic()
        with self._lock:
            payload = bytes(msg.payload)
            event = Event(
                event_id(msg.topic, payload), next(self._ids), now, kind, park, enterprise, payload
            )
            self._buffer.append(event)
            while self._buffer and self._buffer[0].at < now - self.replay_s:
                self._buffer.popleft()
            clients = list(self._clients)
        for loop, queue in clients:
            loop.call_soon_threadsafe(queue.put_nowait, event)

    def _dead_letter(self, payload: bytes | bytearray) -> None:
        """Keep it for the enterprise whose topic it came on: a device fault is visible to
        the people who can fix it. A topic that names no enterprise (malformed) belongs to
        nobody's sensors: it stays in the collector's metrics and on MQTT."""
        try:
            body = orjson.loads(payload)
            ref = parse_topic(str(body["topic"]), self._root)
            problems = [{"reason": p["reason"], "detail": p["detail"]} for p in body["problems"]]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.unreadable += 1
            return
        if not isinstance(ref, SensorRef):
            return
        entry = {
            "received_ms": body.get("received_ms"),
            "sensor": ref.sensor,
            "topic": body["topic"],
            "problems": problems,
        }
        with self._lock:
            self._dead.setdefault((ref.park, ref.enterprise), deque(maxlen=DEAD_LETTERS_KEPT))
            self._dead[(ref.park, ref.enterprise)].append(entry)

    def dead_letters(self, scope: EnterpriseScope) -> list[dict[str, Any]]:
        """The newest dead letters of an enterprise's sensors, newest first."""
        with self._lock:
            return list(reversed(self._dead.get((scope.park, scope.enterprise), ())))

    # -- clients ----------------------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> asyncio.Queue[Event]:
        queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=10_000)
        with self._lock:
            self._clients.add((loop, queue))
        return queue

    def detach(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Event]) -> None:
        with self._lock:
            self._clients.discard((loop, queue))

    def since(self, last_id: str) -> list[Event]:
        """Buffered events after the newest one named ``last_id`` (a reconnect with
        ``Last-Event-ID``, to this instance or another). An id not held (older than the
        replay horizon, or ``0``) replays the whole buffer: a client may see an event twice,
        never miss one the buffer holds."""
        with self._lock:
            events = list(self._buffer)
        for i in range(len(events) - 1, -1, -1):
            if events[i].id == last_id:
                return events[i + 1 :]
        return events
