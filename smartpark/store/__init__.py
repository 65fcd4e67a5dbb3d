"""Store adapters: the ``Store`` port and its InfluxDB 1.x and 2/3 siblings.

Modules:
  base          Store protocol, Series
  lineprotocol  line protocol encoding with escaping (pure)
  influxql      InfluxQL from typed parameters (pure)
  influx1       /write and /query (InfluxDB 1.x; the v1 APIs of 2/3)
  influx2       /api/v2/write through influxdb-client; InfluxQL via /query
"""

from __future__ import annotations

from smartpark.settings import InfluxSettings
from smartpark.store.base import Series, Store


def open_store(settings: InfluxSettings) -> Store:
    """Build the adapter the settings ask for (no I/O: a down store is not a start-up error)."""
    if settings.api == "v2":
        from smartpark.store.influx2 import Influx2Store

        assert settings.token and settings.org and settings.bucket  # checked by InfluxSettings
        return Influx2Store(
            url=settings.url,
            token=settings.token.get_secret_value(),
            org=settings.org,
            bucket=settings.bucket,
            timeout_s=settings.timeout_s,
        )
    from smartpark.store.influx1 import Influx1Store

    return Influx1Store(
        url=settings.url,
        database=settings.database,
        retention_policy=settings.retention_policy,
        raw_policy=settings.raw_retention_policy,
        raw_days=settings.raw_retention_days,
        username=settings.username,
        password=settings.password.get_secret_value() if settings.password else None,
        timeout_s=settings.timeout_s,
        create_database=settings.create_database,
    )


def policy_for(store: Store, measurement: str) -> str | None:
    """The retention policy ``measurement`` is read from: a roll-up's is the default one
    (None), a sensor kind's readings' the store's raw policy (None if it has none)."""
    from smartpark.schema import ROLLUPS

    return None if measurement in ROLLUPS else store.raw_policy


__all__ = ["Series", "Store", "open_store", "policy_for"]
