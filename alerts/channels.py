"""Notification channels and the dispatcher that delivers the outbox.

Each channel (one webhook URL, one mail recipient list, MQTT) has its own worker
thread reading its own rows of the outbox, so a channel that is down never holds
up another, nor rule evaluation. A failed delivery is retried with back-off (1 s,
doubling, at most 5 min), counted, and kept in the outbox across restarts.

- webhook: POST of the alert payload as JSON with ``X-Smartpark-Idempotency-Key``,
  ``X-Smartpark-Timestamp`` and ``X-Smartpark-Signature: sha256=<hex>``, the
  HMAC-SHA256 of ``<timestamp>.<body>`` under the channel's secret; any 2xx is done.
- wecom / dingtalk: their group-robot webhooks with a markdown message.
- email: one SMTP message per notice.
- mqtt: ``{root}/{park}/{enterprise}/_alerts``, QoS 1, the alert payload.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import smtplib
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from email.message import EmailMessage
from typing import Any

import httpx
import orjson

from alerts.rules import Email, Smtp, Webhook
from smartpark.alertstore import AlertDB
from smartpark.clock import Clock
from smartpark.errors import ConfigError, DeliveryError

logger = logging.getLogger(__name__)

MAX_BACKOFF_S = 300.0


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    return (
        "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    )


def _text(payload: Mapping[str, Any]) -> str:
    return (
        f"**[{str(payload['severity']).upper()}] {payload['event']}: {payload['rule']}**\n"
        f"{payload['enterprise']} / {payload['subject']}\n{payload['message']}\n"
        f"fired {payload['fired_at']}"
        + (f", resolved {payload['resolved_at']}" if payload.get("resolved_at") else "")
    )


def robot_body(kind: str, payload: Mapping[str, Any]) -> bytes:
    """The WeCom or DingTalk group-robot message for an alert payload."""
    title = f"{payload['severity']} {payload['rule']} {payload['enterprise']}"
    if kind == "wecom":
        return orjson.dumps({"msgtype": "markdown", "markdown": {"content": _text(payload)}})
    return orjson.dumps(
        {"msgtype": "markdown", "markdown": {"title": title, "text": _text(payload)}}
    )


class WebhookSender:
    def __init__(
        self, channel: Webhook, secrets: Mapping[str, bytes], timeout_s: float = 5.0
    ) -> None:
        self.channel = channel
        self.secret = secrets.get(channel.secret) if channel.secret else None
        if channel.secret and self.secret is None:
            raise ConfigError(
                f"webhook {channel.url}: no secret named {channel.secret!r} in "
                "SMARTPARK_ALERTS__WEBHOOK_SECRETS"
            )
        self.http = httpx.Client(timeout=timeout_s)

    def __call__(self, payload: bytes, key: str) -> None:
        body = payload
        if self.channel.type != "webhook":
            body = robot_body(self.channel.type, orjson.loads(payload))
        stamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-Smartpark-Idempotency-Key": key,
            "X-Smartpark-Timestamp": stamp,
        }
        if self.secret is not None:
            headers["X-Smartpark-Signature"] = signature(self.secret, stamp, body)
        try:
            response = self.http.post(self.channel.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{self.channel.url}: {exc!r}") from exc
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"{self.channel.url}: HTTP {response.status_code}")


class EmailSender:
    def __init__(self, channel: Email, smtp: Smtp, password: str | None) -> None:
        self.channel = channel
        self.smtp = smtp
        self.password = password

    def __call__(self, payload: bytes, key: str) -> None:
        alert = orjson.loads(payload)
        msg = EmailMessage()
        msg["From"] = self.smtp.sender
        msg["To"] = ", ".join(self.channel.to)
        msg["Subject"] = (
            f"[smartpark] {alert['severity'].upper()} {alert['event']}: {alert['rule']} "
            f"{alert['enterprise']} {alert['subject']}"
        )
        msg["X-Smartpark-Idempotency-Key"] = key
        msg.set_content(_text(alert).replace("**", "") + "\n\n" + payload.decode())
        try:
            with smtplib.SMTP(self.smtp.host, self.smtp.port, timeout=10) as client:
                if self.smtp.starttls:
                    client.starttls()
                if self.smtp.username:
                    client.login(self.smtp.username, self.password or "")
                client.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"smtp {self.smtp.host}:{self.smtp.port}: {exc!r}") from exc


Sender = Callable[[bytes, str], None]


class Dispatcher:
    """One worker per channel over the outbox; ``wake()`` after queueing."""

    def __init__(self, db: AlertDB, senders: Mapping[str, Sender], clock: Clock) -> None:
        self.db = db
        self.senders = dict(senders)
        self.clock = clock
        self.delivered: Counter[str] = Counter()
        self.failures: Counter[str] = Counter()
        self._wake = {name: threading.Event() for name in self.senders}
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(
                target=self._run, args=(name,), name=f"deliver-{name[:20]}", daemon=True
            )
            for name in self.senders
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for event in self._wake.values():
            event.set()
        for thread in self._threads:
            thread.join(10)

    def wake(self, channel: str | None = None) -> None:
        for name, event in self._wake.items():
            if channel is None or name == channel:
                event.set()

    def _run(self, name: str) -> None:
        send = self.senders[name]
        while not self._stop.is_set():
            now = self.clock.now_ms()
            for row_id, key, payload, attempts in self.db.due(name, now):
                if self._stop.is_set():
                    return
                try:
                    send(payload, key)
                except Exception as exc:  # noqa: BLE001 - any failure is retried, counted, logged
                    backoff = min(MAX_BACKOFF_S, 2.0**attempts)
                    self.db.failed(row_id, self.clock.now_ms() + int(backoff * 1000), str(exc))
                    self.failures[name] += 1
                    logger.warning(
                        "delivery failed channel=%s key=%s attempt=%d retry_in_s=%.0f: %s",
                        name,
                        key,
                        attempts + 1,
                        backoff,
                        exc,
                    )
                else:
                    self.db.delivered(row_id, self.clock.now_ms())
                    self.delivered[name] += 1
            nxt = self.db.next_due_ms(name)
            wait = 1.0 if nxt is None else max(0.0, min(1.0, (nxt - self.clock.now_ms()) / 1000))
            self._wake[name].wait(wait)
            self._wake[name].clear()
