"""``create_app(settings)``: the FastAPI service operators and enterprises read from.

Versioned under ``/v1`` (OpenAPI at ``/docs``), one router per resource
(``api.routes``); every route takes a checked scope from ``api.deps`` (401 for no valid
key, 404 for anything outside the key's scope or missing) and reads only through it.
``/healthz`` and ``/metrics`` like every service. Reads go to InfluxDB and the alert
service's SQLite through ``api.reads``; acknowledgements ask the alert service over MQTT.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, generate_latest

from api.guard import Guard, RateLimiter
from api.keys import KeyStore
from api.reads import AlertReads, Reads
from api.routes import ROUTERS, page
from api.services import Services
from api.stream import EventHub
from smartpark import factorset
from smartpark import limits as limits_mod
from smartpark import registry as registry_mod
from smartpark.alertstore import AlertDB
from smartpark.errors import ConfigError, StoreError, StoreRejected
from smartpark.parks import processing_config
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store import open_store

logger = logging.getLogger(__name__)
T = TypeVar("T")


def _per_park(
    settings: Settings, registry: Registry, read: Callable[[Path], T], unknown: str
) -> dict[str, T]:
    """Per park, what ``read`` takes from its processing configuration; a park whose
    configuration cannot be read is left out, with a warning saying what is ``unknown``:
    the quotas and budgets (the page then says configured = null rather than "not
    configured") or the factor set (the inventory then shows factor ids only)."""
    out: dict[str, T] = {}
    for park in registry.parks:
        try:
            out[park] = read(processing_config(settings.processing.config, park))
        except ConfigError as exc:
            logger.warning("%s of %s unknown: %s", unknown, park, exc)
    return out


def create_app(settings: Settings) -> FastAPI:
    """The API service of ``settings``; its broker connection starts with the app."""
    registry = registry_mod.load(settings.park.registry)
    store = open_store(settings.influx)
    keys = KeyStore(settings.api.keys_db)
    limiter = RateLimiter(settings.api.keys_db, settings.api.rate_per_s, settings.api.burst)
    # A client id of its own per instance: two API processes with one id would throw each
    # other off the broker in turn (its session is not persistent, so nothing is lost).
    hub = EventHub(
        settings.mqtt,
        replay_s=settings.api.stream_replay_s,
        client_id=f"smartpark-api-{secrets.token_hex(4)}",
    )
    services = Services(
        registry=registry,
        settings=settings,
        guard=Guard(keys, limiter),
        reads=Reads(store, registry),
        alerts=AlertReads(AlertDB(settings.alerts.db)),
        hub=hub,
        keys=keys,
        limits=_per_park(settings, registry, limits_mod.load, "quotas and budgets"),
        factors=_per_park(settings, registry, factorset.configured, "factor set"),
    )
    metrics = CollectorRegistry()
    requests = Counter(
        "smartpark_api_requests", "API requests by route and status", ["route", "status"],
        registry=metrics,
    )  # fmt: skip

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        hub.start()
        yield
        hub.stop()
        store.close()
        keys.close()
        limiter.close()
        services.alerts.close()

    app = FastAPI(
        title="smartpark API",
        version="1",
        lifespan=lifespan,
    )
    app.state.services = services
    reads = services.reads

    @app.middleware("http")
    async def count(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        route = request.scope.get("route")
        requests.labels(getattr(route, "path", "unmatched"), str(response.status_code)).inc()
        return response

    @app.exception_handler(StoreError)
    async def store_down(_r: Request, exc: StoreError) -> Response:
        if isinstance(exc, StoreRejected):  # the query itself: retrying will not help
            logger.warning("the database refused a query: %s", exc)
            return JSONResponse({"detail": "the database refused this query"}, 422)
        return JSONResponse(
            {"detail": "the database is unavailable; retry later"}, 503, {"Retry-After": "5"}
        )

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> Response:
        problems = []
        if not reads.store.ping():
            problems.append("database unreachable")
        if not hub.connected.is_set():
            problems.append("not connected to the broker")
        body = {"status": "unhealthy" if problems else "ok", "problems": problems}
        return JSONResponse(body, 503 if problems else 200)

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        return Response(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    for router in ROUTERS:
        app.include_router(router, prefix="/v1")
    app.include_router(page.router)
    app.mount("/static", page.static_files, name="static")
    return app
