"""The live stream: Server-Sent Events of the KPI updates and alerts the caller sees,
opened with a single-use ticket (browsers cannot send headers on an EventSource)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query
from fastapi.responses import StreamingResponse

from api.deps import OwnParkDep, ServicesDep
from api.params import ERRORS
from api.scope import ParkScope
from api.stream import TICKET_TTL_S

router = APIRouter(tags=["stream"], responses=ERRORS)
#: An event id of the stream (ASCII digits).
EVENT_ID_PATTERN = r"^[0-9a-f]{1,16}$"


@router.post("/stream/ticket")
def ticket(scope: OwnParkDep, s: ServicesDep) -> dict[str, Any]:
    """A single-use ticket (valid 60 s) for ``GET /v1/stream?ticket=...``."""
    token = s.keys.issue_ticket(scope.caller, scope.park, ttl_s=TICKET_TTL_S)
    return {"ticket": token, "expires_in_s": int(TICKET_TTL_S)}


@router.get(
    "/stream",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream(
    s: ServicesDep,
    ticket: Annotated[str | None, Query(max_length=64)] = None,
    last_event_id: Annotated[str | None, Header(pattern=EVENT_ID_PATTERN)] = None,
) -> StreamingResponse:
    """Server-Sent Events: the caller's KPI updates (``event: kpi``) and alerts
    (``event: alert``); a keep-alive comment every 15 s; ``Last-Event-ID`` resumes
    within the replay horizon. The ticket's scope decides what is sent."""
    hub = s.hub
    redeemed = s.keys.redeem_ticket(ticket) if ticket else None
    if redeemed is None:
        raise HTTPException(401, "open the stream with a ticket from POST /v1/stream/ticket")
    scope = ParkScope.check(s.registry, *redeemed)
    loop = asyncio.get_running_loop()
    queue = hub.attach(loop)

    async def frames() -> AsyncIterator[bytes]:
        # events replayed below may also reach the queue (attached first): skip them there
        replayed_to = -1
        try:
            yield b": connected\n\n"
            if last_event_id is not None:
                for event in hub.since(last_event_id):
                    replayed_to = max(replayed_to, event.seq)
                    if event.visible_to(scope):
                        yield event.frame()
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), 15.0)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                if event.seq <= replayed_to:
                    continue
                if event.visible_to(scope):
                    yield event.frame()
        finally:
            hub.detach(loop, queue)

    headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
    return StreamingResponse(frames(), media_type="text/event-stream", headers=headers)
