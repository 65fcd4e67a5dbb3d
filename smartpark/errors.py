"""The one small exception tree of smartpark."""

from __future__ import annotations


class SmartparkError(Exception):
    """Base of every error smartpark raises on purpose."""


class ConfigError(SmartparkError):
    """A configuration or registry file is invalid; ``problems`` lists every finding."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


class StoreError(SmartparkError):
    """Base of store failures."""


class StoreUnavailable(StoreError):
    """The store could not be reached or answered 5xx: retry later, the data is fine."""

    def __init__(self, message: str, retry_after_s: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


class StoreRejected(StoreError):
    """The store refused the data itself (4xx): retrying the same body will not help."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class ServerStartError(SmartparkError):
    """A local server binary could not be started or did not become ready."""


class BrokerError(SmartparkError):
    """The MQTT broker or client refused something (a connection, a publish)."""


class DeliveryError(SmartparkError):
    """A notification channel could not deliver a notice: it is retried later."""


class SchemaError(SmartparkError, ValueError):
    """A point or a query names a tag or field its measurement does not declare
    (``smartpark.schema``): a programming error, found by the tests."""
