"""paho-mqtt 2.x plumbing: ``Subscriber`` (one consuming client's life cycle, for every
stage), MQTT 5 clients with persistent sessions, and a bounded publisher.

Two paho/Mosquitto traps are handled here once for everybody:

* paho numbers outgoing QoS 1 messages with a 16-bit id; with more than 65,535
  unacknowledged a new message collides with a queued one (paho 2.2 refuses it
  with MQTT_ERR_QUEUE_SIZE, older releases overwrote it). ``BoundedPublisher``
  therefore never holds more than ``max_unacked`` (< 65,535) and checks every rc.
* the broker side (max_queued_messages) is configured in ``devstack.servers`` and
  ``deploy/mosquitto/mosquitto.conf``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from smartpark.errors import BrokerError
from smartpark.settings import MqttSettings

logger = logging.getLogger(__name__)

MAX_UNACKED_LIMIT = 60_000  # stays clear of paho's 65,535 message ids
#: QoS 1 messages a client has out unacknowledged before paho holds the next ones back
#: (paho's default is 20): with 20, a burst (a recomputation's 2,880 KPI updates) drains
#: at 20 a round trip to the broker, its network thread holding the GIL meanwhile, and
#: any message published after it (a live update) waits behind it (measured: 330 to
#: 640 ms during a year's backfill).
MAX_INFLIGHT = 1_000


def make_client(
    settings: MqttSettings,
    *,
    client_id: str,
    manual_ack: bool = False,
) -> paho.Client:
    """An MQTT 5 client with credentials, reconnect back-off, an unbounded paho queue
    and ``MAX_INFLIGHT`` QoS 1 messages out at once."""
    client = paho.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=paho.MQTTv5,
        manual_ack=manual_ack,
    )
    if settings.username:
        password = settings.password.get_secret_value() if settings.password else None
        client.username_pw_set(settings.username, password)
    if settings.tls_ca is not None:
        client.tls_set(
            ca_certs=str(settings.tls_ca),
            certfile=str(settings.tls_cert) if settings.tls_cert else None,
            keyfile=str(settings.tls_key) if settings.tls_key else None,
        )  # verifies the broker's certificate and host name
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    client.max_queued_messages_set(0)
    client.max_inflight_messages_set(MAX_INFLIGHT)
    client.on_connect_fail = _unreachable_reporter(settings, client_id)
    return client


def _unreachable_reporter(settings: MqttSettings, client_id: str) -> Any:
    """Say that the broker cannot be reached, and keep saying it with back-off (attempts
    1, 2, 4, 8, ...) while paho retries every few seconds."""
    failures = 0

    def on_connect_fail(_client: paho.Client, _userdata: Any) -> None:
        nonlocal failures
        failures += 1
        if failures & (failures - 1) == 0:
            logger.warning(
                "cannot reach the MQTT broker at %s:%d client_id=%s attempts=%d; retrying",
                settings.host,
                settings.port,
                client_id,
                failures,
            )

    return on_connect_fail


def connect_properties(
    settings: MqttSettings, *, persistent: bool, receive_maximum: int | None
) -> Properties:
    props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    props.SessionExpiryInterval = settings.session_expiry_s if persistent else 0
    if receive_maximum is not None:
        props.ReceiveMaximum = receive_maximum
    return props


def connect(
    client: paho.Client,
    settings: MqttSettings,
    *,
    persistent: bool = True,
    receive_maximum: int | None = None,
) -> None:
    """Start connecting in the background; paho reconnects by itself afterwards."""
    client.connect_async(
        settings.host,
        settings.port,
        keepalive=settings.keepalive_s,
        clean_start=not persistent,
        properties=connect_properties(
            settings, persistent=persistent, receive_maximum=receive_maximum
        ),
    )


def reason_failed(reason: ReasonCode | int) -> bool:
    value = reason.value if isinstance(reason, ReasonCode) else reason
    return bool(value >= 0x80)


_AUTH_CODES = {0x86, 0x87, 0x8C}  # bad user name or password, not authorized, bad auth


def connect_refused(reason: ReasonCode, settings: MqttSettings, who: str) -> bool:
    """True (and said, with what to check) when the broker refused ``who``'s connection."""
    if not reason_failed(reason):
        return False
    hint = ""
    if reason.value in _AUTH_CODES:
        hint = (
            f"; check SMARTPARK_MQTT__USERNAME ({settings.username or 'not set'})"
            " and SMARTPARK_MQTT__PASSWORD"
        )
    logger.error(
        "%s: the broker at %s:%d refused the connection: %s%s",
        who, settings.host, settings.port, reason, hint,
    )  # fmt: skip
    return True


MessageHandler = Callable[[paho.MQTTMessage], None]


class Subscriber:
    """One consuming MQTT client, its whole life cycle; the stage writes only handlers.

    It connects in the background (MQTT 5; ``persistent``: a session kept across
    restarts for ``session_expiry_s``, so what arrives while the stage is down waits
    on the broker), subscribes ``filters`` (``(filter, qos)`` pairs) on every connect
    (which restores the subscriptions after the broker lost the session), sets
    ``subscribed`` once the broker granted them all and clears it on a disconnect,
    and says what happens: a refused connection with what to check, an unreachable
    broker with back-off (attempts 1, 2, 4, ...), a lost connection, a refused
    subscription. paho reconnects by itself (1 s, doubling to 5 s).

    ``on_message`` runs on paho's network thread. With ``manual_ack`` a QoS 1
    message is acknowledged only when the stage calls :meth:`ack` (from any thread),
    after what the message changes is durable; ``receive_maximum`` then caps how
    many the broker sends unacknowledged. ``on_publish`` gets the mid of each
    message this client published once the broker has it (QoS 1);
    ``on_subscribed`` is called (network thread) each time the subscriptions are granted.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        name: str,
        client_id: str,
        filters: Sequence[tuple[str, int]],
        on_message: MessageHandler,
        persistent: bool = True,
        manual_ack: bool = False,
        receive_maximum: int | None = None,
        on_publish: Callable[[int], None] | None = None,
        on_subscribed: Callable[[], None] | None = None,
        dropped: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.filters = list(filters)
        # filters an earlier run may have left in the persistent session (a stage whose
        # configuration no longer needs them), unsubscribed at every connect
        self._dropped = [f for f in dropped if f not in {f for f, _q in self.filters}]
        self.subscribed = threading.Event()
        self.handler_errors = 0
        # Manual ack: QoS 1 messages received and not yet acknowledged, and their peak.
        self.unacked = 0
        self.unacked_peak = 0
        self._unacked_lock = threading.Lock()
        self._overshoot_warned = False
        self._settings = settings
        self._persistent = persistent
        self._receive_maximum = receive_maximum
        self._manual_ack = manual_ack
        self._handler = on_message
        self._on_subscribed = on_subscribed
        self._stopping = threading.Event()
        self.client = make_client(settings, client_id=client_id, manual_ack=manual_ack)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_subscribe = self._on_subscribe
        self.client.on_message = self._on_message
        if on_publish is not None:
            self.client.on_publish = lambda _c, _u, mid, _r, _p: on_publish(mid)

    def start(self) -> None:
        """Connect in the background and run paho's network thread."""
        connect(
            self.client,
            self._settings,
            persistent=self._persistent,
            receive_maximum=self._receive_maximum,
        )
        self.client.loop_start()

    def stop(self) -> None:
        """Disconnect and end the network thread; unacknowledged messages stay with the
        broker (in the persistent session) for the next run."""
        self._stopping.set()
        self.client.disconnect()
        self.client.loop_stop()

    def resubscribe(self, filters: Sequence[tuple[str, int]]) -> None:
        """Subscribe ``filters`` from now on (at once when connected, and at every connect);
        filters no longer listed stay subscribed until the session ends."""
        self.filters = list(filters)
        if self.client.is_connected():
            self._subscribe(self.client)

    def ack(self, mid: int, qos: int = 1) -> None:
        """Acknowledge a received message (manual ack); nothing to do for QoS 0."""
        if qos and mid:
            if self._manual_ack:  # counted before it is sent: what it lets in comes after
                with self._unacked_lock:
                    self.unacked = max(0, self.unacked - 1)
            self.client.ack(mid, qos)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1) -> paho.MQTTMessageInfo:
        """Publish on this client (paho keeps it, and sends it after a reconnect)."""
        return self.client.publish(topic, payload, qos=qos)

    def _on_connect(
        self, client: paho.Client, _u: Any, flags: Any, reason: ReasonCode, _p: Any
    ) -> None:
        if connect_refused(reason, self._settings, self.name):
            return
        with self._unacked_lock:
            self.unacked = 0  # the broker resends what was unacknowledged; counted anew
        self._subscribe(client)
        logger.info(
            "%s connected session_present=%s subscribing=%s",
            self.name, flags.session_present, ",".join(f for f, _q in self.filters),
        )  # fmt: skip

    def _subscribe(self, client: paho.Client) -> None:
        if self._dropped:
            client.unsubscribe(self._dropped)
        client.subscribe([(f, SubscribeOptions(qos=q)) for f, q in self.filters])

    def _on_subscribe(
        self, _c: Any, _u: Any, _mid: int, reasons: list[ReasonCode], _p: Any
    ) -> None:
        if any(reason_failed(r) for r in reasons):
            logger.error(
                "%s: the broker refused the subscription filters=%s reasons=%s",
                self.name, [f for f, _q in self.filters], reasons,
            )  # fmt: skip
            return
        self.subscribed.set()
        if self._on_subscribed is not None:
            self._on_subscribed()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.subscribed.clear()
        if not self._stopping.is_set():
            logger.warning(
                "%s disconnected from the broker reason=%s; reconnecting", self.name, reason
            )

    def _on_message(self, _c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        if self._manual_ack and msg.qos:
            self._count_unacked()
        try:
            self._handler(msg)
        except Exception:
            # A handler's bug must not end paho's network thread (and with it every
            # later message); the message stays unacknowledged (manual ack), counted.
            self.handler_errors += 1
            logger.exception("%s: handling a message on %s failed", self.name, msg.topic)

    def _count_unacked(self) -> None:
        with self._unacked_lock:
            self.unacked += 1
            held = self.unacked
            self.unacked_peak = max(self.unacked_peak, held)
        limit = self._receive_maximum
        if limit is not None and held > limit and not self._overshoot_warned:
            self._overshoot_warned = True
            logger.warning(
                "%s: the broker sent %d unacknowledged messages, more than the Receive "
                "Maximum of %d; its memory is not bounded by it (Mosquitto before 2.0.13 "
                "does this, eclipse-mosquitto/mosquitto#2306): upgrade the broker",
                self.name, held, limit,
            )  # fmt: skip


class BoundedPublisher:
    """QoS 1 publisher that never has more than ``max_unacked`` messages unacknowledged.

    ``publish`` blocks while the bound is reached; ``wait_all`` blocks until the
    broker has acknowledged everything. Messages published while disconnected are
    kept by paho and sent, with the session resumed, on reconnect.
    """

    def __init__(
        self,
        settings: MqttSettings,
        *,
        client_id: str,
        max_unacked: int = 10_000,
        persistent: bool = True,
    ) -> None:
        if not 0 < max_unacked <= MAX_UNACKED_LIMIT:
            raise ValueError(f"max_unacked must be in 1..{MAX_UNACKED_LIMIT}: {max_unacked}")
        self._settings = settings
        self._slots = threading.BoundedSemaphore(max_unacked)
        self._lock = threading.Lock()
        self._unacked = 0
        self._idle = threading.Condition(self._lock)
        self.connected = threading.Event()
        self.published = 0
        self.acked = 0
        self.client = make_client(settings, client_id=client_id)
        self.client.max_inflight_messages_set(min(max_unacked, MAX_INFLIGHT))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_publish = self._on_publish
        connect(self.client, settings, persistent=persistent)
        self.client.loop_start()

    def _on_connect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if connect_refused(reason, self._settings, "publisher"):
            return
        self.connected.set()

    def _on_disconnect(self, _c: Any, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connected.clear()

    def _on_publish(self, _c: Any, _u: Any, _mid: int, _r: Any, _p: Any) -> None:
        with self._lock:
            self._unacked -= 1
            self.acked += 1
            if self._unacked == 0:
                self._idle.notify_all()
        self._slots.release()

    def wait_connected(self, timeout_s: float = 10.0) -> bool:
        return self.connected.wait(timeout_s)

    def publish(self, topic: str, payload: bytes) -> None:
        """Queue one QoS 1 message; blocks while ``max_unacked`` are unacknowledged."""
        self._slots.acquire()
        with self._lock:
            self._unacked += 1
        info = self.client.publish(topic, payload, qos=1)
        if info.rc not in (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN):
            # NO_CONN is fine: paho keeps the message and sends it after reconnecting.
            with self._lock:
                self._unacked -= 1
            self._slots.release()
            raise BrokerError(f"publish refused by paho: {paho.error_string(info.rc)}")
        self.published += 1

    def wait_all(self, timeout_s: float = 60.0) -> bool:
        """Block until every published message is acknowledged; False on timeout."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self._unacked:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._idle.wait(left)
        return True

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()
