"""The enterprise page at ``/``: static files (no build step, no CDN) and the sign-in that
exchanges a key for a session cookie (a city key gets its city's page: its parks side by
side, from the city scorecard). The page reads everything through the ``/v1``
routes with that cookie, under the same guard as a key: it has no data access of its own.

The cookie is HttpOnly, SameSite=Strict, Secure when the request came over HTTPS (or a
proxy says so in ``X-Forwarded-Proto``); every write with it carries the session's CSRF
token in ``X-CSRF-Token`` (``Guard.caller`` refuses it otherwise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field

from api.deps import ServicesDep
from api.guard import SESSION_COOKIE, client_address, require_csrf, too_many
from api.keys import Caller

STATIC = Path(__file__).resolve().parent.parent / "static"
router = APIRouter(include_in_schema=False)
#: The page's static files (no build step, no CDN), mounted at ``/static``.
static_files = StaticFiles(directory=STATIC)
# The page loads only its own files; nothing inline, nothing from elsewhere.
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class SignIn(BaseModel):
    key: str = Field(min_length=1, max_length=200)


def _who(caller: Caller, csrf: str) -> dict[str, Any]:
    return {
        "name": caller.name, "role": caller.role, "park": caller.park,
        "enterprise": caller.enterprise, "csrf": csrf,
    }  # fmt: skip


def _secure(request: Request) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "")
    return request.url.scheme == "https" or forwarded.split(",")[0].strip() == "https"


@router.get("/")
def page() -> FileResponse:
    return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)


@router.post("/session")
def sign_in(body: SignIn, request: Request, s: ServicesDep) -> Response:
    """Exchange a key for a session cookie (rate limited per client address)."""
    too_many(s.guard.limiter.take(f"sign-in:{client_address(request)}"))
    hours = s.settings.api.session_hours
    opened = s.keys.open_session(body.key.strip(), hours=hours)
    if opened is None:
        raise HTTPException(401, "this key is not valid (unknown, mistyped or revoked)")
    session, csrf, caller = opened
    response = JSONResponse(_who(caller, csrf))
    response.set_cookie(
        SESSION_COOKIE, session, max_age=int(hours * 3600), path="/", httponly=True,
        secure=_secure(request), samesite="strict",
    )  # fmt: skip
    return response


@router.get("/session")
def current(request: Request, s: ServicesDep) -> dict[str, Any]:
    """Who the cookie signs in, and the CSRF token for its writes (401: sign in)."""
    found = s.keys.session(request.cookies.get(SESSION_COOKIE, ""))
    if found is None:
        raise HTTPException(401, "not signed in")
    return _who(*found)


@router.post("/session/logout")
def sign_out(request: Request, s: ServicesDep) -> Response:
    session = request.cookies.get(SESSION_COOKIE, "")
    found = s.keys.session(session)
    if found is not None:
        require_csrf(request, found[1])
        s.keys.close_session(session)
    response = JSONResponse({"signed_out": True})
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response
