"""What the rule engine is made of (pure): conditions, and the evaluator base class with
its registry by rule type.

A :class:`Condition` says that a rule's condition became true (``raised``) or false
for one subject (a sensor, a stack and pollutant, an enterprise, the park). What
becomes of it — one alert, reminders, escalation, silences, flap damping — is the
lifecycle's business. Time is a parameter: every call carries the reading's time
and the processing clock's ``now_ms``; nothing here reads a clock, a broker or a file.

What a rule has gathered toward its next decision but not decided (a CEMS hour's
minutes, the start of a for-duration) is its *partial state*: an evaluator marks each
key it changes (:meth:`Evaluator.touch`), the service commits what :meth:`Evaluator.touched`
returns with the alerts the same input changed, and a restart gives it back
(:meth:`Evaluator.resume`), so a restart mid-hour judges the whole hour.

Each rule type has an :class:`Evaluator` subclass, registered with :func:`evaluates` by
the rule's model class (``evaluators.py``: rules over readings; ``kpi_evaluators.py``:
rules over KPI updates by month): adding a rule type adds its model to ``rules.py`` and
its evaluator beside the others; the engine does not change.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from smartpark.model import SensorRef
from smartpark.registry import RegisteredSensor, Registry
from smartpark.wire import KpiUpdate


@dataclass(frozen=True, slots=True)
class Condition:
    rule: str
    severity: str
    park: str
    enterprise: str  # "_park" for the park as a whole
    subject: str
    raised: bool
    at_ms: int
    value: float | None = None
    limit: float | None = None
    message: str = ""


class Evaluator:
    """One rule's state and evaluation. Subclasses say which inputs they take
    (``readings``, ``kpis``, ``ticks``) and override the matching methods."""

    readings: bool = False
    kpis: bool = False
    ticks: bool = False

    def __init__(self, rule: Any, ctx: Context) -> None:
        self.rule = rule
        self.ctx = ctx
        self.active: set[str] = set()
        self._touched: set[str] = set()

    def configure(self) -> None:
        """Derive what this rule needs from ``self.ctx`` (its park's sensors: at start, and again
        after a registry reload: what the rule has gathered is kept)."""

    def touch(self, key: str) -> None:
        """Mark ``key``'s partial state as changed."""
        self._touched.add(key)

    def touched(self) -> dict[str, Any]:
        """The partial state changed since the last call, per key (None: gone); JSON-able."""
        if not self._touched:
            return {}
        keys, self._touched = self._touched, set()
        return {key: self.partial(key) for key in keys}

    def partial(self, key: str) -> Any:
        """``key``'s partial state (JSON-able), None when there is none."""
        return None

    def resume(self, key: str, state: Any) -> None:
        """Take back ``key``'s partial state after a restart (what ``partial`` gave)."""

    def reading(
        self, ref: SensorRef, ts_ms: int, values: Mapping[str, float], now_ms: int
    ) -> list[Condition]:
        return []

    def kpi(self, update: KpiUpdate) -> list[Condition]:
        return []

    def tick(self, now_ms: int) -> list[Condition]:
        return []

    def kinds(self) -> list[str]:
        """The sensor kinds whose readings this rule looks at."""
        return list(self.rule.scope.kinds or self.ctx.registry.kinds)

    def switch(
        self,
        *,
        park: str,
        enterprise: str,
        subject: str,
        on: bool,
        at_ms: int,
        value: float | None,
        limit: float | None,
        message: Callable[[bool], str] | tuple[str, str],
    ) -> list[Condition]:
        """A condition when ``on`` differs from what holds for the subject; else nothing.

        ``message`` gives the text for a raise and for a clear: a function of ``on`` (so hot
        paths format nothing when nothing changes) or the two texts."""
        if on == (subject in self.active):
            return []
        if on:
            self.active.add(subject)
        else:
            self.active.discard(subject)
        text = message(on) if callable(message) else message[0 if on else 1]
        rule = self.rule
        return [
            Condition(
                rule.id, rule.severity, park, enterprise, subject, on, at_ms, value, limit, text
            )
        ]


@dataclass(slots=True)
class Context:
    """What evaluators may read: the park they judge, the registry and the parks' time
    zones. One object per park of an engine, updated in place when the registry is
    reloaded (then each evaluator's :meth:`Evaluator.configure` runs again)."""

    registry: Registry
    tz: Mapping[str, ZoneInfo]
    park: str

    def sensors(self) -> Iterator[RegisteredSensor]:
        """The park's registered sensors (sensor ids are unique within a park only)."""
        return (s for s in self.registry.sensors() if s.ref.park == self.park)


E = TypeVar("E", bound=type[Evaluator])
EVALUATORS: dict[type[Any], type[Evaluator]] = {}


def evaluates(rule_type: type[Any]) -> Callable[[E], E]:
    """Register an evaluator class for a rule model class."""

    def register(cls: E) -> E:
        EVALUATORS[rule_type] = cls
        return cls

    return register
