"""Build the collector from Settings (testable without the CLI)."""

from __future__ import annotations

from ingest.collector import Collector
from smartpark import registry as registry_mod
from smartpark.settings import Settings
from smartpark.store import open_store


def build(settings: Settings, *, serve_http: bool = True) -> Collector:
    """The collector of ``settings.park.registry``, not yet started."""
    registry = registry_mod.load(settings.park.registry)
    return Collector(
        settings=settings,
        registry=registry,
        store=open_store(settings.influx),
        serve_http=serve_http,
    )
