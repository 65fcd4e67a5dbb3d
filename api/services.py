"""What the routes share: the registry, settings, guard, reads, event hub and stores."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from api.guard import Guard
from api.keys import KeyStore
from api.reads import AlertReads, Reads
from api.stream import EventHub
from smartpark.factorset import FactorSet
from smartpark.limits import MonthlyLimits
from smartpark.registry import Registry
from smartpark.settings import Settings

logger = logging.getLogger(__name__)


@dataclass
class Services:
    registry: Registry
    settings: Settings
    guard: Guard
    reads: Reads
    alerts: AlertReads
    hub: EventHub
    keys: KeyStore
    # the processing configuration's quotas and budgets (None: it could not be read), and
    # the park it is for (None: the registry's only park)
    limits: MonthlyLimits | None = None
    limits_park: str | None = None
    # the factor set it chooses (the greenhouse-gas inventory's coefficients; None: unread)
    factors: FactorSet | None = None

    def use_registry(self, registry: Registry) -> None:
        """Serve by ``registry`` from the next request on (a reload: SIGHUP in the CLI);
        keys, sessions and the event stream are untouched."""
        self.registry = self.reads.registry = registry  # scopes are checked against it
        logger.info("registry reloaded parks=%d sensors=%d", len(registry.parks), len(registry))
