"""The rule engine (pure): readings, KPI updates and clock ticks in; conditions out.

It builds one evaluator per rule (``alerts/evaluators.py``, registered by rule type),
routes each reading to the evaluators of its kind and scope, each KPI update to those
that read KPIs, and each tick to those that time decides. Nothing here reads a clock,
a broker or a file: every call carries the times it needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from alerts import cems_evaluator, evaluators, kpi_evaluators
from alerts.conditions import EVALUATORS, Condition, Context, Evaluator
from alerts.rules import Rule
from smartpark.model import SensorRef
from smartpark.registry import Registry
from smartpark.wire import KpiUpdate

__all__ = ["Condition", "Engine"]

REGISTERING = (
    evaluators,
    cems_evaluator,
    kpi_evaluators,
)  # importing them registers every rule type


class Engine:
    """Every rule of a configuration over the sensors of a registry."""

    def __init__(self, rules: Iterable[Rule], registry: Registry) -> None:
        self.rules = list(rules)
        self.registry = registry
        self._ctx = Context(registry, _zones(registry))
        self._evaluators = {r.id: EVALUATORS[type(r)](r, self._ctx) for r in self.rules}
        self._kpi = [ev for ev in self._evaluators.values() if ev.kpis]
        self._tick = [ev for ev in self._evaluators.values() if ev.ticks]
        self._route()

    def _route(self) -> None:
        self._by_kind: dict[str, list[Evaluator]] = {}
        for ev in self._evaluators.values():
            if ev.readings:
                for kind in ev.kinds():
                    self._by_kind.setdefault(kind, []).append(ev)

    def use_registry(self, registry: Registry) -> None:
        """Judge by ``registry`` from the next input on (a reload); what each rule holds
        and has gathered is kept. The caller has checked the rules against it."""
        self.registry = self._ctx.registry = registry
        self._ctx.tz = _zones(registry)
        for ev in self._evaluators.values():
            ev.configure()
        self._route()

    def reading(
        self, ref: SensorRef, ts_ms: int, values: Mapping[str, float], now_ms: int
    ) -> list[Condition]:
        out: list[Condition] = []
        for ev in self._by_kind.get(ref.kind, ()):
            if ev.rule.scope.admits(
                park=ref.park, enterprise=ref.enterprise, kind=ref.kind, sensor=ref.sensor
            ):
                out += ev.reading(ref, ts_ms, values, now_ms)
        return out

    def kpi(self, update: KpiUpdate) -> list[Condition]:
        out: list[Condition] = []
        if update.figures.get("provisional") is True:
            # an open window (today, the month so far) rewritten every minute: the
            # rules judge windows once they are closed (a day's quota forecast would
            # take a part of today for a whole day)
            return out
        for ev in self._kpi:
            if ev.rule.scope.admits(park=update.park, enterprise=update.scope):
                out += ev.kpi(update)
        return out

    def tick(self, now_ms: int) -> list[Condition]:
        """Conditions that time alone decides (no data, a quiet stack's hour)."""
        return [c for ev in self._tick for c in ev.tick(now_ms)]

    def active(self) -> dict[str, set[str]]:
        """The subjects whose condition holds, per rule (for restarts)."""
        return {rule: set(ev.active) for rule, ev in self._evaluators.items()}

    def restore(self, active: Mapping[str, Iterable[str]]) -> None:
        """Take over conditions that held before a restart, so they can clear later."""
        for rule, subjects in active.items():
            if rule in self._evaluators:
                self._evaluators[rule].active |= set(subjects)

    def touched(self) -> list[tuple[str, str, Any]]:
        """(rule, key, partial state or None) changed since the last call (to be committed)."""
        return [
            (rule, key, state)
            for rule, ev in self._evaluators.items()
            for key, state in ev.touched().items()
        ]

    def resume(self, partials: Iterable[tuple[str, str, Any]]) -> None:
        """Take back committed partial state after a restart (rules gone are skipped)."""
        for rule, key, state in partials:
            if rule in self._evaluators:
                self._evaluators[rule].resume(key, state)


def _zones(registry: Registry) -> dict[str, ZoneInfo]:
    return {p.id: ZoneInfo(p.timezone) for p in registry.parks.values()}
