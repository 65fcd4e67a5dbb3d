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


class _ParkRules:
    """One evaluator per rule for one park, routed by sensor kind."""

    def __init__(self, rules: Iterable[Rule], ctx: Context) -> None:
        self.ctx = ctx
        self.evaluators = {r.id: EVALUATORS[type(r)](r, ctx) for r in rules}
        self.kpi = [ev for ev in self.evaluators.values() if ev.kpis]
        self.tick = [ev for ev in self.evaluators.values() if ev.ticks]
        self.route()

    def route(self) -> None:
        self.by_kind: dict[str, list[Evaluator]] = {}
        for ev in self.evaluators.values():
            if ev.readings:
                for kind in ev.kinds():
                    self.by_kind.setdefault(kind, []).append(ev)


class Engine:
    """Every rule of a configuration over the sensors of a registry: one evaluator per
    rule and park, since enterprise and sensor ids are unique within a park only (two
    parks' ``grid-1`` are two subjects, each park's ``_park`` its own)."""

    def __init__(self, rules: Iterable[Rule], registry: Registry) -> None:
        self.rules = list(rules)
        self.registry = registry
        zones = _zones(registry)
        self._parks = {
            park: _ParkRules(self.rules, Context(registry, zones, park)) for park in zones
        }

    def reading_kinds(self) -> list[str] | None:
        """The sensor kinds whose readings a rule looks at; None for every kind (a rule
        not narrowed to kinds). The same after a reload: a rule's kinds are its scope's,
        and the rules are not reloaded."""
        kinds: set[str] = set()
        for rules in self._parks.values():
            for ev in rules.evaluators.values():
                if ev.readings:
                    if not ev.rule.scope.kinds:
                        return None
                    kinds.update(ev.rule.scope.kinds)
        return sorted(kinds)

    def use_registry(self, registry: Registry) -> None:
        """Judge by ``registry`` from the next input on (a reload); what each rule holds
        and has gathered is kept (a new park gets its rules, a park gone is dropped). The
        caller has checked the rules against it."""
        self.registry = registry
        zones = _zones(registry)
        for park in set(self._parks) - set(zones):
            del self._parks[park]
        for park in zones:
            rules = self._parks.get(park)
            if rules is None:
                self._parks[park] = _ParkRules(self.rules, Context(registry, zones, park))
                continue
            rules.ctx.registry, rules.ctx.tz = registry, zones
            for ev in rules.evaluators.values():
                ev.configure()
            rules.route()

    def reading(
        self, ref: SensorRef, ts_ms: int, values: Mapping[str, float], now_ms: int
    ) -> list[Condition]:
        out: list[Condition] = []
        rules = self._parks.get(ref.park)
        if rules is None:
            return out
        for ev in rules.by_kind.get(ref.kind, ()):
            if ev.rule.scope.admits(
                park=ref.park, enterprise=ref.enterprise, kind=ref.kind, sensor=ref.sensor
            ):
                out += ev.reading(ref, ts_ms, values, now_ms)
        return out

    def kpi(self, update: KpiUpdate) -> list[Condition]:
        out: list[Condition] = []
        rules = self._parks.get(update.park)
        if rules is None or update.figures.get("provisional") is True:
            # an open window (today, the month so far) rewritten every minute: the
            # rules judge windows once they are closed (a day's quota forecast would
            # take a part of today for a whole day)
            return out
        for ev in rules.kpi:
            if ev.rule.scope.admits(park=update.park, enterprise=update.scope):
                out += ev.kpi(update)
        return out

    def tick(self, now_ms: int) -> list[Condition]:
        """Conditions that time alone decides (no data, a quiet stack's hour)."""
        return [c for rules in self._parks.values() for ev in rules.tick for c in ev.tick(now_ms)]

    def active(self) -> dict[tuple[str, str], set[str]]:
        """The subjects whose condition holds, per (park, rule) (for restarts)."""
        return {
            (park, rule): set(ev.active)
            for park, rules in self._parks.items()
            for rule, ev in rules.evaluators.items()
        }

    def restore(self, active: Mapping[tuple[str, str], Iterable[str]]) -> None:
        """Take over conditions that held before a restart, so they can clear later."""
        for (park, rule), subjects in active.items():
            rules = self._parks.get(park)
            if rules is not None and rule in rules.evaluators:
                rules.evaluators[rule].active |= set(subjects)

    def touched(self) -> list[tuple[str, str, Any]]:
        """(rule, ``park|key``, partial state or None) changed since the last call (to be
        committed)."""
        return [
            (rule, f"{park}|{key}", state)
            for park, rules in self._parks.items()
            for rule, ev in rules.evaluators.items()
            for key, state in ev.touched().items()
        ]

    def resume(self, partials: Iterable[tuple[str, str, Any]]) -> None:
        """Take back committed partial state after a restart (rules and parks gone are
        skipped). A key without its park (kept before parks were told apart) belongs to
        the registry's only park, and is skipped when there are several."""
        only = next(iter(self._parks)) if len(self._parks) == 1 else None
        for rule, kept, state in partials:
            park, _, key = kept.partition("|") if "|" in kept else (only, "", kept)
            rules = self._parks.get(park) if park is not None else None
            if rules is not None and rule in rules.evaluators:
                rules.evaluators[rule].resume(key, state)


def _zones(registry: Registry) -> dict[str, ZoneInfo]:
    return {p.id: ZoneInfo(p.timezone) for p in registry.parks.values()}
