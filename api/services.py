"""What every route of the API shares: its services and the caller dependency."""

from __future__ import annotations

import logging
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

logger = logging.getLogger(__name__)


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

    def use_registry(self, registry: Registry) -> None:
        """Serve by ``registry`` from the next request on (a reload: SIGHUP in the CLI);
        keys, sessions and the event stream are untouched."""
        self.registry = self.guard.registry = self.reads.registry = registry
        logger.info("registry reloaded parks=%d sensors=%d", len(registry.parks), len(registry))
