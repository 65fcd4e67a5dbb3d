"""The Store port: what every stage needs from the time-series database."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class Series:
    """One series of an InfluxQL result."""

    name: str
    tags: dict[str, str]
    columns: list[str]
    values: list[list[Any]]


class Store(Protocol):
    #: The retention policy raw readings are written to and read from (None: the
    #: default one, with the roll-ups). Reads name it through ``policy_for`` in
    #: ``Select(retention_policy=...)``; writes are routed by the adapter.
    raw_policy: str | None

    def write(self, body: bytes) -> None:
        """Write newline-separated line protocol with millisecond timestamps.

        Raises ``StoreUnavailable`` when the data may be retried later and
        ``StoreRejected`` when the store refused the data itself.
        """

    def query(self, influxql: str) -> list[Series]:
        """Run one InfluxQL statement (build it with ``smartpark.store.influxql``)."""

    def ping(self) -> bool:
        """True when the store answers."""

    def close(self) -> None: ...
