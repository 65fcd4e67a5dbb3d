"""Record the raw MQTT stream to a recording file (see ``simulators.recording``)."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import paho.mqtt.client as paho

from simulators.recording import header, line
from smartpark.clock import Clock
from smartpark.mqtt import Subscriber
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
        self.subscriber = Subscriber(
            settings,
            name="recorder",
            client_id=client_id,
            filters=[(topic_filter, 1)],
            on_message=self._on_message,
            persistent=False,
        )
        self.subscribed = self.subscriber.subscribed
        self.subscriber.start()

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        with self._lock:
            if self._out.closed or (self.limit is not None and self.messages >= self.limit):
                return
            self._out.write(line(self._clock.now_ms(), msg.topic, bytes(msg.payload)))
            self.messages += 1

    def close(self) -> None:
        self.subscriber.stop()
        with self._lock:
            self._out.close()
