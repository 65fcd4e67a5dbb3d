"""Alerts as the caller sees them: a filtered page, one alert with its history, and the
acknowledgement (which the alert service applies, over MQTT)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query

from api.deps import OwnParkDep, ParkDep, ServicesDep
from api.params import ALERT_ID_PATTERN, ERRORS, SCOPE_PATTERN, Problem, instant
from api.scope import NOT_FOUND
from smartpark.alertwire import alert_public, encode_ack, iso
from smartpark.model import ID_PATTERN
from smartpark.wire import ack_topic

router = APIRouter(tags=["alerts"], responses=ERRORS)
MAX_PAGE = 200
#: ``{fired_ms}.{alert id}``, the ``next`` of a page (ASCII digits only: ``²`` is a digit to
#: ``str.isdigit``).
CURSOR_PATTERN = r"^[0-9]{1,15}\.[0-9a-f]{16}$"
AlertId = Annotated[str, Path(pattern=ALERT_ID_PATTERN)]
Since = Annotated[datetime | None, Query(description="ISO 8601 with a UTC offset")]


def _ms(value: datetime | None, name: str) -> int | None:
    return None if value is None else int(instant(value, name).timestamp() * 1000)


@router.get("/parks/{park_id}/alerts")
def alerts(
    scope: ParkDep,
    s: ServicesDep,
    state: Annotated[list[Literal["firing", "acknowledged", "resolved"]] | None, Query()] = None,
    severity: Literal["info", "warning", "critical"] | None = None,
    rule: Annotated[str | None, Query(pattern=ID_PATTERN, max_length=64)] = None,
    enterprise: Annotated[str | None, Query(pattern=SCOPE_PATTERN, max_length=64)] = None,
    since: Since = None,
    until: Since = None,
    cursor: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description="the `next` of a page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
) -> dict[str, Any]:
    """Alerts newest first, filtered; ``next`` is the cursor of the following page."""
    after = None
    if cursor is not None:
        ms, _, alert_id = cursor.partition(".")
        after = (int(ms), alert_id)
    page = s.alerts.page(
        scope, enterprise=enterprise, states=list(state or []) or None, severity=severity,
        rule=rule, since_ms=_ms(since, "since"), until_ms=_ms(until, "until"), after=after,
        limit=limit,
    )  # fmt: skip
    if page is None:
        raise NOT_FOUND
    nxt = f"{page[-1].fired_ms}.{page[-1].id}" if len(page) == limit else None
    return {"alerts": [alert_public(a) for a in page], "next": nxt}


@router.get("/alerts/{alert_id}")
def alert(alert_id: AlertId, scope: OwnParkDep, s: ServicesDep) -> dict[str, Any]:
    """One alert with its history."""
    found = s.alerts.get(scope, alert_id)
    if found is None:
        raise NOT_FOUND
    history = [{"event": kind, "at": iso(ms)} for kind, ms in s.alerts.history(found)]
    return {**alert_public(found), "history": history}


@router.post(
    "/alerts/{alert_id}/ack",
    status_code=202,
    responses={
        403: {"model": Problem, "description": "a cookie write without its CSRF token"},
        409: {"model": Problem, "description": "the alert is not firing"},
    },
)
def ack(alert_id: AlertId, scope: OwnParkDep, s: ServicesDep) -> dict[str, Any]:
    """Acknowledge a firing alert (recorded with the key's name; audited). The alert
    service applies it: reminders and escalation stop, the acknowledgement is sent."""
    found = s.alerts.get(scope, alert_id)
    if found is None:
        raise NOT_FOUND
    if found.state != "firing":
        raise HTTPException(409, f"the alert is {found.state}, not firing")
    caller = scope.caller
    info = s.hub.client.publish(
        ack_topic(s.settings.mqtt.topic_root), encode_ack(found.id, caller.name), qos=1
    )
    if info.rc != 0:
        raise HTTPException(503, "the broker is unavailable; retry later")
    s.keys.audit(key_id=caller.key_id, who=caller.name, action="alert.ack", target=found.id)
    return {"id": found.id, "requested": "acknowledge", "by": caller.name}
