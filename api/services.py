"""What the routes share: the registry, settings, guard, reads, event hub and stores."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

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
    # per park, the quotas and budgets of its processing configuration (a park missing:
    # its configuration could not be read)
    limits: dict[str, MonthlyLimits] = field(default_factory=dict)

    # per park, the factor set its configuration chooses (the greenhouse-gas inventory's
    # coefficients; a park missing: unread)
    factors: dict[str, FactorSet] = field(default_factory=dict)

    def limits_of(self, park: str) -> MonthlyLimits | None:
        """``park``'s quotas and budgets, None when its configuration is unknown."""
        return self.limits.get(park)

    def factors_of(self, park: str) -> FactorSet | None:
        """``park``'s factor set, None when its configuration is unknown."""
        return self.factors.get(park)

    def use_registry(self, registry: Registry) -> None:
        """Serve by ``registry`` from the next request on (a reload: SIGHUP in the CLI);
        keys, sessions and the event stream are untouched."""
        self.registry = self.reads.registry = registry  # scopes are checked against it
        logger.info("registry reloaded parks=%d sensors=%d", len(registry.parks), len(registry))
