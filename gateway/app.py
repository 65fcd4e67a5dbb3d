"""Build the gateway stage from Settings."""

from __future__ import annotations

from gateway.service import Gateway
from smartpark import registry as registry_mod
from smartpark.settings import Settings


def build(settings: Settings) -> Gateway:
    return Gateway(settings=settings, registry=registry_mod.load(settings.park.registry))
