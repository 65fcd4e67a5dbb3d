"""The alerts' messages, as pure functions: the public shape of an alert (what the API
lists and the page shows), the notice every channel carries (the ``_alerts`` topic
included), the routing keys a reader of a notice needs, and the acknowledgement request
the API sends the alert service (``{root}/_control/alerts/ack``). Topics are
``smartpark.wire``'s.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypedDict

import orjson

from smartpark.alertstore import Alert
from smartpark.wire import json_object


def encode_ack(alert_id: str, by: str) -> bytes:
    return orjson.dumps({"id": alert_id, "by": by})


def decode_ack(payload: bytes | bytearray) -> tuple[str, str] | None:
    """(alert id, who) of an acknowledgement request, or None when it is not one."""
    body = json_object(payload)
    if body is None:
        return None
    alert_id, by = body.get("id"), body.get("by")
    if type(alert_id) is not str or type(by) is not str or not alert_id or not by:
        return None
    return alert_id[:64], by[:128]


def iso(ms: int | None) -> str | None:
    """Epoch milliseconds as an ISO 8601 UTC timestamp (None stays None)."""
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


class AlertPublic(TypedDict):
    """An alert as the API lists it and the page shows it."""

    id: str
    rule: str
    severity: str
    park: str
    enterprise: str
    subject: str
    state: str
    value: float | None
    limit: float | None
    message: str
    fired_at: str | None
    notified_at: str | None
    acknowledged_at: str | None
    acknowledged_by: str | None
    resolved_at: str | None


class AlertNotice(AlertPublic):
    """An alert as every channel carries it (the ``_alerts`` topic included): the public
    shape plus what happened, when (``at``: the notice's wall time; ``event_at``: the
    event time of what it tells, :func:`event_ms`), and the idempotency key receivers
    drop repeats by."""

    event: str
    idempotency_key: str
    at: str | None
    event_at: str | None


def alert_public(a: Alert) -> AlertPublic:
    """The public shape of an alert."""
    return {
        "id": a.id, "rule": a.rule, "severity": a.severity, "park": a.park,
        "enterprise": a.enterprise, "subject": a.subject, "state": a.state, "value": a.value,
        "limit": a.limit_value, "message": a.message, "fired_at": iso(a.fired_ms),
        "notified_at": iso(a.first_notified_ms), "acknowledged_at": iso(a.acked_ms),
        "acknowledged_by": a.acked_by, "resolved_at": iso(a.resolved_ms),
    }  # fmt: skip


def event_ms(a: Alert, *, event: str, at_ms: int) -> int:
    """When what a notice tells happened, in event time: a firing at the alert's
    ``fired_ms`` (the reading or hour that crossed the limit), a resolution at the event
    time its condition cleared (``cleared_ms``; the damping after it only confirms it);
    reminders, escalations and acknowledgements happen on the wall clock (``at_ms``). A
    replayed or backfilled day's alert so lies on that day, and a notice sent again has
    the same time."""
    if event == "firing":
        return a.fired_ms
    if event == "resolved" and a.cleared_ms is not None:
        return a.cleared_ms
    return at_ms


def alert_notice(a: Alert, *, event: str, key: str, at_ms: int) -> AlertNotice:
    """The payload of one notice about an alert (documented in the README)."""
    return {**alert_public(a), "event": event, "idempotency_key": key, "at": iso(at_ms),
            "event_at": iso(event_ms(a, event=event, at_ms=at_ms))}  # fmt: skip


def encode_alert_notice(notice: AlertNotice) -> bytes:
    return orjson.dumps(notice)


@dataclass(frozen=True, slots=True)
class AlertHeader:
    """What a reader of an ``_alerts`` message routes by."""

    park: str
    enterprise: str
    rule: str
    event: str


def decode_alert_header(payload: bytes | bytearray) -> AlertHeader | None:
    """The routing keys of an alert notice, or None when it is not one (count it)."""
    body = json_object(payload)
    if body is None:
        return None
    keys = [body.get(k) for k in ("park", "enterprise", "rule", "event")]
    if not all(type(k) is str for k in keys):
        return None
    return AlertHeader(*(str(k) for k in keys))
