"""The alert routes: list and filter, one alert with its history, acknowledge; and the
live stream of KPI updates and alerts (Server-Sent Events, opened with a ticket)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, Header, HTTPException, Query
from fastapi.responses import StreamingResponse

from api.deps import NOT_FOUND, SCOPE_PATTERN, IdPath, instant
from api.keys import Caller
from api.services import CallerDep, Services
from smartpark.alertstore import Alert
from smartpark.model import ID_PATTERN, PARK_SCOPE
from smartpark.wire import ack_topic, encode_ack

MAX_PAGE = 200
#: ``{fired_ms}.{alert id}``, the ``next`` of a page (ASCII digits only: ``²`` is a digit to
#: ``str.isdigit``); an event id of the stream.
CURSOR_PATTERN = r"^[0-9]{1,15}\.[0-9a-f]{16}$"
EVENT_ID_PATTERN = r"^[0-9]{1,18}$"


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, UTC).isoformat()


def _alert(a: Alert) -> dict[str, Any]:
    iso = _iso
    return {
        "id": a.id, "rule": a.rule, "severity": a.severity, "park": a.park,
        "enterprise": a.enterprise, "subject": a.subject, "state": a.state, "value": a.value,
        "limit": a.limit_value, "message": a.message, "fired_at": iso(a.fired_ms),
        "notified_at": iso(a.first_notified_ms), "acknowledged_at": iso(a.acked_ms),
        "acknowledged_by": a.acked_by, "resolved_at": iso(a.resolved_ms),
    }  # fmt: skip


def mount(app: FastAPI, s: Services) -> None:
    """Add the alert and stream routes to ``app``."""
    guard, hub, keys = s.guard, s.hub, s.keys
    settings = s.settings

    # -- alerts -----------------------------------------------------------------------

    @app.get("/v1/parks/{park_id}/alerts")
    def alerts(
        park_id: IdPath,
        caller: CallerDep,
        state: Annotated[
            list[Literal["firing", "acknowledged", "resolved"]] | None, Query()
        ] = None,
        severity: Literal["info", "warning", "critical"] | None = None,
        rule: Annotated[str | None, Query(pattern=ID_PATTERN)] = None,
        enterprise: Annotated[str | None, Query(pattern=SCOPE_PATTERN)] = None,
        since: Annotated[datetime | None, Query(description="ISO 8601 with offset")] = None,
        until: Annotated[datetime | None, Query(description="ISO 8601 with offset")] = None,
        cursor: Annotated[
            str | None, Query(pattern=CURSOR_PATTERN, description="the `next` of a page")
        ] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    ) -> dict[str, Any]:
        """Alerts newest first, filtered; ``next`` is the cursor of the following page."""
        seen = guard.visible(caller, park_id)
        if caller.role == "operator":
            seen.append(PARK_SCOPE)
        if enterprise is not None:
            if enterprise not in seen:
                raise NOT_FOUND
            seen = [enterprise]
        after = _cursor(cursor)
        page = s.alerts_db.page(
            park=park_id, enterprises=seen, states=list(state or []) or None,
            severity=severity, rule=rule,
            since_ms=None if since is None else int(instant(since, "since").timestamp() * 1000),
            until_ms=None if until is None else int(instant(until, "until").timestamp() * 1000),
            after=after, limit=limit,
        )  # fmt: skip
        nxt = f"{page[-1].fired_ms}.{page[-1].id}" if len(page) == limit else None
        return {"alerts": [_alert(a) for a in page], "next": nxt}

    def _owned(alert_id: str, caller: Caller) -> Alert:
        alert = s.alerts_db.get(alert_id)
        if alert is None or alert.park != caller.park:
            raise NOT_FOUND
        if caller.role != "operator" and alert.enterprise != caller.enterprise:
            raise NOT_FOUND
        return alert

    @app.get("/v1/alerts/{alert_id}")
    def alert(alert_id: str, caller: CallerDep) -> dict[str, Any]:
        """One alert with its history."""
        found = _owned(_alert_id(alert_id), caller)
        history = [
            {"event": kind, "at": datetime.fromtimestamp(ms / 1000, UTC).isoformat()}
            for kind, ms in s.alerts_db.history(found.id)
        ]
        return {**_alert(found), "history": history}

    @app.post("/v1/alerts/{alert_id}/ack", status_code=202)
    def ack(alert_id: str, caller: CallerDep) -> dict[str, Any]:
        """Acknowledge a firing alert (recorded with the key's name; audited). The alert
        service applies it: reminders and escalation stop, the acknowledgement is sent."""
        found = _owned(_alert_id(alert_id), caller)
        if found.state != "firing":
            raise HTTPException(409, f"the alert is {found.state}, not firing")
        info = hub.client.publish(
            ack_topic(settings.mqtt.topic_root), encode_ack(found.id, caller.name), qos=1
        )
        if info.rc != 0:
            raise HTTPException(503, "the broker is unavailable; retry later")
        keys.audit(key_id=caller.key_id, who=caller.name, action="alert.ack", target=found.id)
        return {"id": found.id, "requested": "acknowledge", "by": caller.name}

    # -- live and exports -----------------------------------------------------------------

    @app.post("/v1/stream/ticket")
    def ticket(caller: CallerDep) -> dict[str, Any]:
        """A single-use ticket (valid 60 s) for ``GET /v1/stream?ticket=...``."""
        return {"ticket": hub.ticket(caller), "expires_in_s": 60}

    @app.get("/v1/stream")
    async def stream(
        ticket: Annotated[str | None, Query(max_length=64)] = None,
        last_event_id: Annotated[str | None, Header(pattern=EVENT_ID_PATTERN)] = None,
    ) -> StreamingResponse:
        """Server-Sent Events: the caller's KPI updates (``event: kpi``) and alerts
        (``event: alert``); a keep-alive comment every 15 s; ``Last-Event-ID`` resumes
        within the replay horizon."""
        caller = hub.redeem(ticket) if ticket else None
        if caller is None:
            raise HTTPException(401, "open the stream with a ticket from POST /v1/stream/ticket")
        totals = s.registry.parks[caller.park].share_park_totals  # per request: reloads
        loop = asyncio.get_running_loop()
        queue = hub.attach(loop)
        start_after = int(last_event_id) if last_event_id is not None else None

        async def frames() -> AsyncIterator[bytes]:
            try:
                yield b": connected\n\n"
                if start_after is not None:
                    for event in hub.since(start_after):
                        if event.visible_to(caller, park_totals=totals):
                            yield event.frame()
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), 15.0)
                    except TimeoutError:
                        yield b": keep-alive\n\n"
                        continue
                    if start_after is not None and event.id <= start_after:
                        continue
                    if event.visible_to(caller, park_totals=totals):
                        yield event.frame()
            finally:
                hub.detach(loop, queue)

        headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
        return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)


def _cursor(raw: str | None) -> tuple[int, str] | None:
    """(fired_ms, alert id) of a cursor the query already matched to ``CURSOR_PATTERN``."""
    if raw is None:
        return None
    ms, _, alert_id = raw.partition(".")
    return int(ms), alert_id


def _alert_id(raw: str) -> str:
    if len(raw) != 16 or not all(c in "0123456789abcdef" for c in raw):
        raise NOT_FOUND
    return raw
