"""The alert service: readings and KPI updates from MQTT, alerts out on every channel.

Time: conditions are judged in event time (readings' timestamps, KPI windows, each
park's watermark); the wall clock decides only that nothing has arrived for a while
(no data, a quiet stack's last hour, resolving a cleared alert when input stops) and
paces reminders and escalation from the first notice. A replay at any speed, or a
backfill, fires what the live feed fired, with the same ``fired_at``.

paho's network thread decodes each message and runs the rule engine on it; a
condition that changes goes through the lifecycle and its notices into the outbox, in
the one SQLite transaction that also keeps the rules' partial state, and only then is
the message acknowledged (``_on_message`` lists the order); the channel workers are
woken: nothing waits for a channel. A tick
thread runs no-data checks, resolutions, late notices after silences, reminders
and escalations. Routing: an enterprise's alerts go to its own channels, the park
operator gets every alert (escalations only to the operator), MQTT publishes each
on ``{root}/{park}/{enterprise}/_alerts``, and alert events are written to InfluxDB
(measurement ``alert_events``) through the same retrying outbox.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import orjson
import paho.mqtt.client as paho

from alerts.channels import Dispatcher, EmailSender, Sender, WebhookSender
from alerts.conditions import Condition
from alerts.engine import Engine
from alerts.lifecycle import Lifecycle, Notice
from alerts.rules import AlertConfig, Channel, Email
from smartpark import schema
from smartpark.alertstore import AlertDB
from smartpark.alertwire import decode_ack
from smartpark.clock import Clock
from smartpark.errors import DeliveryError, StoreError
from smartpark.model import PARK_SCOPE, SensorRef
from smartpark.mqtt import Subscriber
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.base import Store
from smartpark.wire import (
    KpiUpdate,
    Topic,
    ack_topic,
    alert_topic,
    classify,
    decode,
    decode_kpi_update,
    kpi_filter,
    readings_filter,
    topic_for,
)

logger = logging.getLogger(__name__)


def channel_name(channel: Channel) -> str:
    if isinstance(channel, Email):
        return "email:" + ",".join(channel.to)
    return f"{channel.type}:{channel.url}"


def complete_to(update: KpiUpdate) -> int | None:
    """How far in event time an update's window is complete: its ``complete_to_ms``,
    never past its end. An open window (today, the month to date) is published every
    minute with its end ahead, at midnight or the month's end: taken as event time, it
    would wait out every damping and end every silence at once. A closed window without
    the figure: its end; an open one without it: nothing."""
    complete = update.figures.get("complete_to_ms")
    if isinstance(complete, float):
        return min(update.end_ms, int(complete))
    return None if update.figures.get("provisional") is True else update.end_ms


class AlertService:
    def __init__(
        self,
        *,
        settings: Settings,
        registry: Registry,
        config: AlertConfig,
        store: Store | None,
        clock: Clock,
        client_id: str = "smartpark-alerts",
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.config = config
        self.clock = clock
        self.db = AlertDB(settings.alerts.db)
        self.engine = Engine(config.rules, registry)
        self.lifecycle = Lifecycle(self.db, config.lifecycle, config.silences)
        self.conditions = 0
        self.event_ms: dict[str, int] = {}  # per park: the newest reading or KPI time seen
        self.unreadable_kpis = 0
        self.tick_errors = 0
        self._lock = threading.Lock()
        root = settings.mqtt.topic_root
        self._root = root
        self._ack_topic = ack_topic(root)
        self._routes = _routes(root, registry)
        self._limits = settings.park.decode_limits()
        # the readings of the kinds the rules look at (none for rules on KPIs alone): a
        # park's readings are most of its messages; a filter an earlier run's rules
        # needed is dropped from the persistent session
        kinds = self.engine.reading_kinds()
        readings = [readings_filter(root)] if kinds is None else [
            readings_filter(root, kind=kind) for kind in kinds
        ]  # fmt: skip
        every = [
            readings_filter(root),
            *(readings_filter(root, kind=k) for k in sorted(registry.kinds)),
        ]
        self.subscriber = Subscriber(
            settings.mqtt,
            name="alert service",
            client_id=client_id,
            filters=[*((f, 1) for f in readings), (kpi_filter(root), 1), (self._ack_topic, 1)],
            on_message=self._on_message,
            manual_ack=True,
            dropped=every,
        )
        self.subscribed = self.subscriber.subscribed
        self._store = store
        self.dispatcher = Dispatcher(self.db, self._senders(), clock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alerts-tick", daemon=True)

    # -- channels ------------------------------------------------------------------

    def _senders(self) -> dict[str, Sender]:
        secrets = {
            k: v.get_secret_value().encode()
            for k, v in self.settings.alerts.webhook_secrets.items()
        }
        password = self.settings.alerts.smtp_password
        senders: dict[str, Sender] = {}
        for channel in self.config.channels():
            name = channel_name(channel)
            if name in senders:
                continue
            if isinstance(channel, Email):
                senders[name] = EmailSender(
                    channel, self.config.smtp, password.get_secret_value() if password else None
                )
            else:
                senders[name] = WebhookSender(channel, secrets)
        if self.config.mqtt:
            senders["mqtt"] = self._publish_mqtt
        if self._store is not None:
            senders["influx"] = self._write_event
        return senders

    def _publish_mqtt(self, payload: bytes, key: str) -> None:
        alert = orjson.loads(payload)
        topic = alert_topic(self._root, alert["park"], alert["enterprise"])
        info = self.subscriber.publish(topic, payload)
        if info.rc != paho.MQTT_ERR_SUCCESS:
            raise DeliveryError(f"publish to {topic} refused: {paho.error_string(info.rc)}")

    def _write_event(self, payload: bytes, key: str) -> None:
        """One point per notice, at the event time of what it tells (``event_at``: a
        firing at ``fired_at``, a resolution when its condition cleared), so a backfilled
        day's alert lies on that day. Its tags and time are the same each time the notice
        is sent (a retry, the same alert raised again by a replay after a restart), and
        InfluxDB keeps one point per series and time: a repeat overwrites, never doubles.
        ``subject`` is a tag so two subjects' alerts of one rule at the same minute stay
        two points. (A notice queued before ``event_at`` existed keeps its ``at``.)"""
        alert = orjson.loads(payload)
        tags = {k: alert[k] for k in ("park", "enterprise", "rule", "severity", "event",
                                      "subject")}  # fmt: skip
        fields: dict[str, float | str] = {"id": alert["id"], "message": alert["message"]}
        for name in ("value", "limit"):
            if isinstance(alert[name], int | float):
                fields[name] = float(alert[name])
        when = alert.get("event_at") or alert["at"]
        at = self.clock.now_ms() if when is None else _ms(when)
        assert self._store is not None
        try:
            self._store.write(schema.ALERT_EVENTS.point(tags, fields, at).encode())
        except StoreError as exc:
            raise DeliveryError(str(exc)) from exc

    def route(self, notice: Notice) -> list[str]:
        """The channels a notice goes to: the enterprise's own, the operator's, MQTT, InfluxDB."""
        names: list[str] = []
        park, enterprise = notice.alert.park, notice.alert.enterprise
        if notice.audience in ("enterprise", "both") and enterprise != PARK_SCOPE:
            mine = self.config.enterprise_channels(park, enterprise)
            names += [channel_name(c) for c in mine]
        if notice.audience in ("operator", "both") or enterprise == PARK_SCOPE:
            names += [channel_name(c) for c in self.config.operator_channels(park)]
        if self.config.mqtt:
            names.append("mqtt")
        if self._store is not None:
            names.append("influx")
        return list(dict.fromkeys(names))

    @contextmanager
    def _committing(self) -> Iterator[list[Notice]]:
        """Collect notices; on leaving, the alert changes, history events, outbox rows and
        the rules' changed partial state are committed as one SQLite transaction, and then
        the channel workers are woken (nothing waits for a channel)."""
        notices: list[Notice] = []
        with self.db.transaction():
            yield notices
            now = self.clock.now_ms()
            for notice in notices:
                payload = notice.payload()
                for name in self.route(notice):
                    self.db.enqueue(name, notice.key, payload, now)
            self.db.keep_partial(self.engine.touched())
        if notices:
            self.dispatcher.wake()

    # -- input ---------------------------------------------------------------------

    def _apply(self, conditions: list[Condition]) -> list[Notice]:
        now = self.clock.now_ms()
        notices: list[Notice] = []
        for cond in conditions:
            self.conditions += 1
            notices += self.lifecycle.apply(cond, now)
        return notices

    def _on_message(self, msg: paho.MQTTMessage) -> None:
        """Judge one message, commit what it changed, then acknowledge it.

        1. Decode it and run the rules on it, in memory: conditions, and the partial
           state the rules gathered (a CEMS hour's minutes, a for-duration's start).
        2. In one SQLite transaction: each condition's alert change and history event,
           the outbox rows of its notices, and the rules' changed partial state.
        3. Wake the channel workers.
        4. Acknowledge the message. Killed before 2, the broker redelivers it to the
           next run, which judges it from the committed state as this run would have;
           killed between 2 and 4, the redelivered reading is taken once (the rules
           key what they gather by the reading's time) and the open alert is not fired
           again. A failed commit leaves the message unacknowledged (logged, counted).
        """
        with self._lock, self._committing() as notices:
            notices += self._judge(msg)
        self.subscriber.ack(msg.mid, msg.qos)

    def _judge(self, msg: paho.MQTTMessage) -> list[Notice]:
        now = self.clock.now_ms()
        route = self._routes.get(msg.topic)
        if route is not None:
            ref, fields = route
            good, _bad = decode(msg.payload, fields=fields, now_ms=now, limits=self._limits)
            if not good:
                return []
            notices = self._advance(ref.park, max(ts for ts, _v, _s in good), now)
            conditions: list[Condition] = []
            for ts, values, _seq in good:
                conditions += self.engine.reading(ref, ts, values, now)
            return notices + self._apply(conditions)
        if msg.topic == self._ack_topic:
            request = decode_ack(msg.payload)
            if request is None:
                logger.warning("unreadable acknowledgement request on %s", msg.topic)
                return []
            return self.lifecycle.ack(request[0], request[1], now)
        if classify(msg.topic) is Topic.KPI:
            update = decode_kpi_update(msg.payload)
            if update is None:
                self.unreadable_kpis += 1
                logger.warning("unreadable KPI update on %s", msg.topic)
                return []
            complete = complete_to(update)
            notices = [] if complete is None else self._advance(update.park, complete, now)
            return notices + self._apply(self.engine.kpi(update))
        return []

    def _advance(self, park: str, event_ms: int, now_ms: int) -> list[Notice]:
        """Move the park's event time on; resolve what its damping has waited out by then,
        before the new input is judged (as the live feed would have)."""
        if event_ms <= self.event_ms.get(park, event_ms - 1):
            return []
        self.event_ms[park] = event_ms
        if self.lifecycle.resolution_due(park, event_ms):
            return self.lifecycle.tick(now_ms, self.event_ms)
        return []

    def use_registry(self, registry: Registry) -> None:
        """Judge by ``registry`` from the next message on (a reload: SIGHUP in the CLI;
        ``alerts.app.checked_registry`` checks the rules in use against it first). Open
        alerts, what the rules have gathered, the session and the outbox are untouched."""
        with self._lock:
            self.registry = registry
            self._routes = _routes(self._root, registry)
            self.engine.use_registry(registry)
        logger.info("registry reloaded sensors=%d", len(self._routes))

    # -- lifecycle -----------------------------------------------------------------

    def start(self) -> None:
        # Conditions that held before a restart: the engine must know them to clear them.
        active: dict[tuple[str, str], set[str]] = {}
        for alert in self.db.open_alerts():
            if alert.cleared_ms is None:
                active.setdefault((alert.park, alert.rule), set()).add(alert.subject)
        self.engine.restore(active)
        self.engine.resume(self.db.partials())
        self.dispatcher.start()
        self.subscriber.start()
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.settings.alerts.tick_s):
            try:
                self.tick()
            except Exception:  # logged and counted; the next tick runs anyway
                self.tick_errors += 1
                logger.exception("alert tick failed")

    def tick(self) -> None:
        now = self.clock.now_ms()
        with self._lock, self._committing() as notices:
            notices += self._apply(self.engine.tick(now))
            notices += self.lifecycle.tick(now, self.event_ms)

    def ack(self, alert_id: str, by: str) -> bool:
        with self._lock, self._committing() as notices:
            notices += self.lifecycle.ack(alert_id, by, self.clock.now_ms())
        return bool(notices)

    # -- health and metrics --------------------------------------------------------

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Healthy: subscribed, and no channel with notices that keep failing."""
        backlog = self.db.backlog()
        failing = sorted(name for name, (_n, failed, _t) in backlog.items() if failed)
        problems = []
        if not self.subscribed.is_set():
            problems.append("not subscribed to the broker")
        problems += [
            f"channel {name} failing: {backlog[name][0]} notices waiting" for name in failing
        ]
        now = self.clock.now_ms()
        oldest = min((t for _n, _f, t in backlog.values() if t is not None), default=None)
        facts: dict[str, Any] = {
            "connected": self.subscribed.is_set(),
            "outbox_pending": sum(n for n, _f, _t in backlog.values()),
            "outbox_oldest_s": 0.0 if oldest is None else round((now - oldest) / 1000, 3),
            "failing_channels": failing,
            "open_alerts": len(self.db.open_alerts()),
            "problems": problems,
            "stats": self.counters(),
        }
        return not problems, facts

    def counters(self) -> dict[str, float]:
        return {
            "conditions": self.conditions,
            "unreadable_kpi_updates": self.unreadable_kpis,
            "tick_errors": self.tick_errors,
            "deliveries": sum(self.dispatcher.delivered.values()),
            "delivery_failures": sum(self.dispatcher.failures.values()),
        }

    def gauges(self) -> dict[str, float]:
        backlog = self.db.backlog()
        return {
            "connected": float(self.subscribed.is_set()),
            "outbox_pending": float(sum(n for n, _f, _t in backlog.values())),
            "failing_channels": float(sum(1 for _n, f, _t in backlog.values() if f)),
        }

    def close_store(self) -> None:
        if self._store is not None:
            self._store.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.dispatcher.stop()
        self.subscriber.stop()
        self.db.close()


def _routes(root: str, registry: Registry) -> dict[str, tuple[SensorRef, frozenset[str]]]:
    return {topic_for(root, s.ref): (s.ref, frozenset(s.fields)) for s in registry.sensors()}


def _ms(iso: str) -> int:
    return int(datetime.fromisoformat(iso).timestamp() * 1000)
