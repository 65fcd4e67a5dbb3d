"""What every route of the API shares: its services and the caller dependency."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from api.deps import Guard
from api.keys import Caller, KeyStore
from api.reads import Reads
from api.stream import EventHub
from smartpark.alertstore import AlertDB
from smartpark.registry import Registry
from smartpark.settings import Settings


def current_caller(request: Request) -> Caller:
    """The caller of a request (401 / 429 otherwise): the dependency of every data route."""
    services: Services = request.app.state.services
    return services.guard.caller(request)


CallerDep = Annotated[Caller, Depends(current_caller)]


@dataclass
class Services:
    registry: Registry
    settings: Settings
    guard: Guard
    reads: Reads
    hub: EventHub
    alerts_db: AlertDB
    keys: KeyStore
