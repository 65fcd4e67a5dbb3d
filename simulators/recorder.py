"""Record the raw MQTT stream to a recording file (see ``simulators.recording``)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.reasoncodes import ReasonCode

from simulators.recording import header, line
from smartpark.clock import Clock
from smartpark.mqtt import connect, connect_refused, make_client, reason_failed
from smartpark.settings import MqttSettings

logger = logging.getLogger(__name__)


class Recorder:
    """Subscribes to ``topic_filter`` (QoS 1) and appends every message with its receive time.

    With ``limit``, exactly the first ``limit`` messages are written. A tap, not a
    consumer: a clean session, so it never holds messages on the broker for later.
    ``subscribed`` is set once the broker has granted the subscription.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        topic_filter: str,
        path: Path,
        clock: Clock,
        client_id: str,
        limit: int | None = None,
    ) -> None:
        self._filter = topic_filter
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._out = path.open("wb")
        self._out.write(
            header(source="record", topic_filter=topic_filter, started_ms=clock.now_ms())
        )
        self.messages = 0
        self.limit = limit  # write this many messages, then no more
        self.subscribed = threading.Event()
        self.client = make_client(settings, client_id=client_id)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        connect(self.client, settings, persistent=False)
        self.client.loop_start()

    def _on_connect(
        self, client: paho.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any
    ) -> None:
        if connect_refused(reason, self._settings, "recorder"):
            return
        client.subscribe(self._filter, qos=1)

    def _on_subscribe(
        self, _c: Any, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any
    ) -> None:
        if all(not reason_failed(r) for r in reasons):
            self.subscribed.set()
        else:
            logger.error("subscription refused filter=%s reasons=%s", self._filter, reasons)

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with self._lock:
            if self._out.closed or (self.limit is not None and self.messages >= self.limit):
                return
            self._out.write(line(self._clock.now_ms(), msg.topic, bytes(msg.payload)))
            self.messages += 1

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
        with self._lock:
            self._out.close()
