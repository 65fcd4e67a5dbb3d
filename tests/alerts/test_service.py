"""The alert service against real servers: Mosquitto, InfluxDB, an HTTP webhook receiver
and an SMTP server (aiosmtpd), all on loopback."""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller

from alerts.rules import parse
from alerts.service import AlertService, complete_to
from devstack.servers import free_port
from smartpark.clock import SystemClock
from smartpark.mqtt import BoundedPublisher, connect, make_client
from smartpark.registry import Registry
from smartpark.settings import AlertsSettings, Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.wire import KpiUpdate, encode_kpi_update, encode_reading, kpi_topic
from tests.conftest import wait_until

SECRET = "test-hmac-key-e08"


class Receiver:
    """A real HTTP server that records every POST (the enterprise's or operator's endpoint)."""

    def __init__(self, port: int) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((self.path, dict(self.headers), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:  # quiet
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def to(self, path: str) -> list[dict[str, Any]]:
        return [orjson.loads(b) for p, _, b in list(self.requests) if p == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[int, Mailbox]]:
    box, port = Mailbox(), free_port()
    controller = Controller(box, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, box
    controller.stop()


def _config(http_port: int, smtp_port: int) -> dict[str, Any]:
    base = f"http://127.0.0.1:{http_port}"
    return {
        "rules": [
            {
                "id": "grid-high",
                "type": "threshold",
                "field": "power_kw",
                "above": 7500,
                "clear": 7000,
                "scope": {"kinds": ["electricity"]},
                "severity": "critical",
            },
        ],
        "operator": [{"type": "webhook", "url": f"{base}/operator"}],
        "enterprises": {
            "e08-anode": [
                {"type": "webhook", "url": f"{base}/e08", "secret": "e08"},
                {"type": "email", "to": ["energy@e08.example"]},
            ],
            "e09-anode": [{"type": "webhook", "url": f"{base}/e09"}],
        },
        "smtp": {"host": "127.0.0.1", "port": smtp_port, "sender": "alerts@park.example"},
        "lifecycle": {"resolve_after_s": 0},
    }


def _service(
    settings: Settings, park: Registry, store: Influx1Store, tmp_path: Path, config: dict[str, Any]
) -> AlertService:
    settings = settings.model_copy(
        update={
            "alerts": AlertsSettings(
                db=tmp_path / "alerts.db", webhook_secrets={"e08": SECRET}, tick_s=0.2
            )
        }
    )
    service = AlertService(
        settings=settings,
        registry=park,
        config=parse(config),
        store=store,
        clock=SystemClock(),
        client_id=f"{settings.mqtt.client_id}-alerts",
    )
    service.start()
    assert service.subscribed.wait(10)
    return service


def _reading(
    settings: Settings, sensor: str, enterprise: str, power_kw: float
) -> tuple[str, bytes]:
    topic = f"{settings.mqtt.topic_root}/tianfu-np/{enterprise}/electricity/{sensor}"
    return topic, orjson.dumps({"ts": int(time.time() * 1000), "values": {"power_kw": power_kw}})


def test_an_over_limit_reading_reaches_its_enterprise_and_the_operator_only(
    settings: Settings,
    park: Registry,
    store: Influx1Store,
    publisher: BoundedPublisher,
    tmp_path: Path,
    smtp: tuple[int, Mailbox],
) -> None:
    port = free_port()
    receiver = Receiver(port)
    alerts_seen: list[dict[str, Any]] = []
    listener = make_client(settings.mqtt, client_id=f"{settings.mqtt.client_id}-listen")
    subscribed = threading.Event()
    listener.on_connect = lambda c, *_: c.subscribe(
        f"{settings.mqtt.topic_root}/+/+/_alerts", qos=1
    )
    listener.on_subscribe = lambda *_: subscribed.set()
    listener.on_message = lambda _c, _u, m: alerts_seen.append(
        {"topic": m.topic, **orjson.loads(m.payload)}
    )
    connect(listener, settings.mqtt, persistent=False)
    listener.loop_start()
    assert subscribed.wait(10)
    service = _service(settings, park, store, tmp_path, _config(port, smtp[0]))
    try:
        sent = time.monotonic()
        publisher.publish(*_reading(settings, "e08-grid-1", "e08-anode", 7600.0))
        wait_until(lambda: receiver.to("/e08") and receiver.to("/operator"), 10, "the webhooks")
        assert time.monotonic() - sent < 1.0  # within a second of the reading
        (e08,) = receiver.to("/e08")
        assert (
            e08["event"],
            e08["rule"],
            e08["enterprise"],
            e08["subject"],
            e08["value"],
            e08["limit"],
        ) == ("firing", "grid-high", "e08-anode", "e08-grid-1", 7600.0, 7500.0)
        _, headers, body = next(r for r in receiver.requests if r[0] == "/e08")
        expected = hmac.new(
            SECRET.encode(), headers["X-Smartpark-Timestamp"].encode() + b"." + body, hashlib.sha256
        ).hexdigest()
        assert headers["X-Smartpark-Signature"] == f"sha256={expected}"
        assert (
            headers["X-Smartpark-Idempotency-Key"]
            == e08["idempotency_key"]
            == receiver.to("/operator")[0]["idempotency_key"]
        )
        assert receiver.to("/e09") == []  # another enterprise never sees it
        wait_until(lambda: alerts_seen and smtp[1].messages, 10, "MQTT and e-mail")
        assert alerts_seen[0]["topic"] == f"{settings.mqtt.topic_root}/tianfu-np/e08-anode/_alerts"
        assert smtp[1].messages[0].rcpt_tos == ["energy@e08.example"]
        assert b"grid-high" in smtp[1].messages[0].content

        # The same condition again: still one alert. Back under the clear level: resolved.
        publisher.publish(*_reading(settings, "e08-grid-1", "e08-anode", 7800.0))
        publisher.publish(
            *_reading(settings, "e08-grid-2", "e09-anode", 100.0)
        )  # misplaced: no route
        publisher.publish(*_reading(settings, "e09-grid-1", "e09-anode", 7700.0))
        wait_until(lambda: receiver.to("/e09"), 10, "e09's own alert")
        publisher.publish(*_reading(settings, "e08-grid-1", "e08-anode", 6900.0))
        wait_until(lambda: len(receiver.to("/e08")) == 2, 10, "the resolution")
        assert [m["event"] for m in receiver.to("/e08")] == ["firing", "resolved"]
        assert {m["enterprise"] for m in receiver.to("/e09")} == {"e09-anode"}
        # The operator sees everything (its own channel worker: it may deliver a moment later).
        wait_until(lambda: len(receiver.to("/operator")) == 3, 10, "the operator's three")
        # InfluxDB's events go out on their own worker too: all three written, then read
        wait_until(lambda: service.dispatcher.delivered["influx"] == 3, 10, "events in InfluxDB")
        events = store.query(
            'SELECT "id", "message" FROM alert_events GROUP BY "event", "enterprise"'
        )
        assert {(s.tags["event"], s.tags["enterprise"]) for s in events} == {
            ("firing", "e08-anode"),
            ("resolved", "e08-anode"),
            ("firing", "e09-anode"),
        }
    finally:
        service.stop()
        receiver.stop()
        listener.disconnect()
        listener.loop_stop()


def test_a_receiver_down_for_a_while_gets_the_alert_once_with_one_key(
    settings: Settings,
    park: Registry,
    store: Influx1Store,
    publisher: BoundedPublisher,
    tmp_path: Path,
    smtp: tuple[int, Mailbox],
) -> None:
    port = free_port()  # nothing listens here yet
    service = _service(settings, park, store, tmp_path, _config(port, smtp[0]))
    receiver = None
    try:
        publisher.publish(*_reading(settings, "e08-grid-1", "e08-anode", 7600.0))
        wait_until(
            lambda: service.dispatcher.failures[f"webhook:http://127.0.0.1:{port}/e08"] >= 2,
            15,
            "failed attempts",
        )
        # a channel that is down does not hold up the others
        wait_until(lambda: smtp[1].messages, 10, "the e-mail while the webhook fails")
        receiver = Receiver(port)
        wait_until(
            lambda: receiver is not None and receiver.to("/e08"),
            30,
            "delivery after the receiver is back",
        )
        # the row is marked delivered once the receiver's answer is back
        wait_until(
            lambda: all(r["delivered_ms"] is not None for r in service.db.outbox()
                        if r["channel"].endswith("/e08")),
            10,
            "the delivery recorded",
        )  # fmt: skip
        time.sleep(1.0)  # a second delivery would come within the next retry's second
        keys = [h["X-Smartpark-Idempotency-Key"] for p, h, _ in receiver.requests if p == "/e08"]
        assert len(keys) == 1  # delivered once
        rows = [r for r in service.db.outbox() if r["channel"].endswith("/e08")]
        assert len(rows) == 1 and rows[0]["attempts"] >= 3 and rows[0]["delivered_ms"] is not None
        assert rows[0]["key"] == keys[0]
    finally:
        service.stop()
        if receiver is not None:
            receiver.stop()


def test_an_open_window_moves_event_time_to_the_minute_it_is_complete_to_not_its_end(
    settings: Settings,
    park: Registry,
    store: Influx1Store,
    publisher: BoundedPublisher,
    tmp_path: Path,
) -> None:
    """Today so far is published every minute, its window ending at midnight: taken as
    the park's event time, that end waited out the damping of every cleared alert at
    once (and ended every silence). Event time goes to the minute it is complete to."""
    rule = {"id": "grid-high", "type": "threshold", "field": "power_kw", "above": 7500,
            "clear": 7000, "scope": {"kinds": ["electricity"]}}  # fmt: skip
    config = {"rules": [rule], "lifecycle": {"resolve_after_s": 600}}
    service = _service(settings, park, store, tmp_path, config)
    root = settings.mqtt.topic_root
    topic = f"{root}/tianfu-np/e08-anode/electricity/e08-grid-1"
    t = (int(time.time()) // 60 - 60) * 60_000  # an hour ago, on the minute

    def cleared() -> list[int | None]:
        return [a.cleared_ms for a in service.db.open_alerts()]

    try:
        publisher.publish(topic, encode_reading(t, {"power_kw": 8000.0}))
        publisher.publish(topic, encode_reading(t + 60_000, {"power_kw": 6000.0}))
        wait_until(lambda: cleared() == [t + 60_000], 10, "the alert raised, then cleared")
        today = KpiUpdate(park="tianfu-np", scope="_park", window="1d",
                          start_ms=t - 3_600_000, end_ms=t + 12 * 3_600_000, revision=0,
                          figures={"provisional": True, "complete_to_ms": float(t + 120_000),
                                   "energy_tce": 1.0})  # fmt: skip
        publisher.publish(kpi_topic(root, "tianfu-np", "_park"), encode_kpi_update(today))
        wait_until(lambda: service.event_ms.get("tianfu-np") == t + 120_000, 10, "the update")
        time.sleep(1.0)  # five ticks of the service
        assert cleared() == [t + 60_000]  # still waiting out its 600 s of event time
        publisher.publish(topic, encode_reading(t + 660_000, {"power_kw": 6000.0}))
        wait_until(lambda: not service.db.open_alerts(), 10, "resolved 600 s after the clear")
    finally:
        service.stop()


def test_how_far_an_update_is_complete() -> None:
    def update(end: int, **figures: float | bool) -> KpiUpdate:
        return KpiUpdate("p", "_park", "1d", 0, end, 0, figures)

    assert complete_to(update(100, provisional=True, complete_to_ms=40.0)) == 40
    assert complete_to(update(100, provisional=False, complete_to_ms=100.0)) == 100
    assert complete_to(update(100, complete_to_ms=400.0)) == 100  # never past its end
    assert complete_to(update(100)) == 100  # a closed window from before the figure
    assert complete_to(update(100, provisional=True)) is None


def test_rules_on_kpis_alone_hear_no_readings_not_even_by_an_earlier_runs_session(
    settings: Settings,
    park: Registry,
    store: Influx1Store,
    publisher: BoundedPublisher,
    tmp_path: Path,
) -> None:
    """A service whose rules judge KPIs alone does not take the park's readings (most of
    its messages), though an earlier run of it (the same persistent session) had a rule
    on every reading: that run's subscription is dropped."""
    grid = {"id": "grid-high", "type": "threshold", "field": "power_kw", "above": 7500}
    _service(settings, park, store, tmp_path, {"rules": [grid]}).stop()
    quota = {"id": "q", "type": "quota_forecast", "quotas_tce_month": {"e08-anode": 2300}}
    service = _service(settings, park, store, tmp_path, {"rules": [quota]})
    root = settings.mqtt.topic_root
    t = (int(time.time()) // 60 - 60) * 60_000
    try:
        publisher.publish(f"{root}/tianfu-np/e08-anode/electricity/e08-grid-1",
                          encode_reading(t, {"power_kw": 8000.0}))  # fmt: skip
        minute = KpiUpdate(park="tianfu-np", scope="e08-anode", window="1m",
                           start_ms=t - 120_000, end_ms=t - 60_000, revision=0,
                           figures={"provisional": False, "complete_to_ms": float(t - 60_000),
                                    "energy_tce": 0.1})  # fmt: skip
        publisher.publish(kpi_topic(root, "tianfu-np", "e08-anode"), encode_kpi_update(minute))
        wait_until(lambda: "tianfu-np" in service.event_ms, 10, "the KPI update")
        time.sleep(0.5)  # the reading, had it been delivered, moved it on to t
        assert service.event_ms["tianfu-np"] == t - 60_000
    finally:
        service.stop()
