"""Build the alert service from Settings, and check what it would refuse (testable
without the CLI): rules scoped to what the registry has, channel secrets present."""

from __future__ import annotations

from dataclasses import dataclass

from alerts import rules
from alerts.rules import AlertConfig, CarbonBudgetForecastRule, Email, QuotaForecastRule
from alerts.service import AlertService
from smartpark import registry as registry_mod
from smartpark.clock import Clock, SystemClock
from smartpark.errors import ConfigError
from smartpark.httpserver import FlatMetrics, StatusServer, status_server
from smartpark.model import PARK_SCOPE
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store import open_store


def problems(config: AlertConfig, registry: Registry, settings: Settings) -> list[str]:
    """What ``alerts run`` would refuse or silently never match, with where it is."""
    parks = set(registry.parks)
    enterprises = {e.id for p in registry.parks.values() for e in p.enterprises}
    sensors = {s.ref.sensor for s in registry.sensors()}
    kinds = set(registry.kinds)
    found: list[str] = []
    for i, rule in enumerate(config.rules):
        where = f"rules[{i} id={rule.id!r}].scope"
        for name, given, known in (
            ("parks", rule.scope.parks, parks),
            ("enterprises", rule.scope.enterprises, enterprises | {PARK_SCOPE}),
            ("kinds", rule.scope.kinds, kinds),
            ("sensors", rule.scope.sensors, sensors),
        ):
            found += [
                f"{where}.{name}: {v!r} is not in the registry" for v in given if v not in known
            ]
        limits: dict[str, float] = {}
        if isinstance(rule, QuotaForecastRule):
            limits = rule.quotas_tce_month
        elif isinstance(rule, CarbonBudgetForecastRule):
            limits = rule.budgets_t_month
        found += [
            f"rules[{i} id={rule.id!r}]: {e!r} is not in the registry"
            for e in limits
            if e not in enterprises | {PARK_SCOPE}
        ]
    found += [f"enterprises.{e}: {why}" for e in config.enterprises
              if (why := _enterprise_key_problem(e, registry))]  # fmt: skip
    found += [f"park_operators.{p}: {p!r} is not a park of the registry"
              for p in config.park_operators if p not in parks]  # fmt: skip
    secrets = settings.alerts.webhook_secrets
    channels = (
        [("operator", c) for c in config.operator]
        + [(f"park_operators.{p}", c) for p, cs in config.park_operators.items() for c in cs]
        + [(f"enterprises.{e}", c) for e, cs in config.enterprises.items() for c in cs]
    )
    for where, channel in channels:
        if not isinstance(channel, Email) and channel.secret and channel.secret not in secrets:
            found.append(
                f"{where}: webhook {channel.url} needs secret {channel.secret!r}, which "
                "SMARTPARK_ALERTS__WEBHOOK_SECRETS does not have"
            )
    return found


def _enterprise_key_problem(key: str, registry: Registry) -> str | None:
    """Why an ``enterprises`` key cannot route alerts, or None. An id two parks use must
    be named ``park/enterprise``: otherwise one enterprise's alerts would reach the
    other's recipients."""
    park, _, enterprise = key.rpartition("/")
    holders = [p.id for p in registry.parks.values()
               if any(e.id == enterprise for e in p.enterprises)]  # fmt: skip
    if park:
        return None if park in holders else f"{key!r} is not an enterprise of the registry"
    if not holders:
        return f"{key!r} is not in the registry"
    if len(holders) > 1:
        return (f"{key!r} is an enterprise of parks {', '.join(holders)}: name it "
                f"{holders[0]}/{key} (each park's its own), so that its alerts never reach "
                "another enterprise's recipients")  # fmt: skip
    return None


def load(settings: Settings) -> tuple[Registry, AlertConfig]:
    """Registry and rules, checked together; ``ConfigError`` listing every problem."""
    registry = registry_mod.load(settings.park.registry)
    path = settings.alerts.config
    config = rules.load(path)
    found = problems(config, registry, settings)
    if found:
        raise ConfigError(f"{path}: {len(found)} problem(s) in the alert rules", found)
    return registry, config


def checked_registry(settings: Settings, config: AlertConfig) -> Registry:
    """The registry file read anew and checked against the rules in use (a reload);
    ``ConfigError`` listing every problem."""
    path = settings.park.registry
    registry = registry_mod.load(path)
    found = problems(config, registry, settings)
    if found:
        raise ConfigError(f"{path}: {len(found)} problem(s) for the alert rules in use", found)
    return registry


@dataclass
class AlertStage:
    """The running alert service and its status server."""

    service: AlertService
    status: StatusServer | None

    def start(self) -> None:
        if self.status is not None:
            self.status.start()
        self.service.start()

    def stop(self) -> None:
        self.service.stop()
        if self.status is not None:
            self.status.stop()
        self.service.close_store()


def build(settings: Settings, *, clock: Clock | None = None, serve_http: bool = True) -> AlertStage:
    """The alert service of ``settings.alerts``, not yet started."""
    registry, config = load(settings)
    service = AlertService(
        settings=settings,
        registry=registry,
        config=config,
        store=open_store(settings.influx),
        clock=clock or SystemClock(),
    )
    status = None
    if serve_http:
        status = status_server(
            host=settings.alerts.http_host,
            port=settings.alerts.http_port,
            metrics=FlatMetrics(
                "smartpark_alerts_", counters=service.counters, gauges=service.gauges
            ),
            health=service.health,
        )
    return AlertStage(service, status)
