"""The evaluators of the rules over readings, registered by the rule's model class (pure):
threshold (also over KPI fields), rate of change, counter reset, no data (CEMS hourly:
:mod:`alerts.cems_evaluator`).

Each keeps its own state (what holds per subject, pending for-durations, the last
values it needs) and returns :class:`~alerts.conditions.Condition` changes only. The
partial state a restart must not lose (a for-duration's start, a CEMS hour's minutes)
is touched, given and resumed by key (see :mod:`alerts.conditions`); a redelivered
reading is taken once (by its timestamp), so at-least-once input decides the same.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from typing import Any

from alerts.conditions import Condition, Context, Evaluator, evaluates
from alerts.rules import (
    CounterResetRule,
    NoDataRule,
    RateOfChangeRule,
    ThresholdRule,
)
from smartpark.model import SensorRef, is_rollover, plausible_step, rated_max_per_ms
from smartpark.wire import KpiUpdate


class _Latest:
    """The newest (ts, value) per subject; late or repeated readings are refused."""

    def __init__(self) -> None:
        self.last: dict[str, tuple[int, float]] = {}

    def advance(self, subject: str, ts_ms: int, value: float) -> tuple[int, float] | bool | None:
        """Record a newer value and return the previous one (None for the first);
        False for a late or repeated reading, which the newer value already decided."""
        last = self.last.get(subject)
        if last is not None and ts_ms <= last[0]:
            return False
        self.last[subject] = (ts_ms, value)
        return last


@evaluates(ThresholdRule)
class Threshold(Evaluator):
    """A reading field, or a KPI field of one window, beyond its limit for ``for_s``."""

    rule: ThresholdRule

    def __init__(self, rule: ThresholdRule, ctx: Context) -> None:
        super().__init__(rule, ctx)
        self.readings = rule.source == "reading"
        self.kpis = rule.source == "kpi"
        self._latest = _Latest()
        self._pending: dict[str, int] = {}

    def reading(
        self, ref: SensorRef, ts_ms: int, values: Mapping[str, float], now_ms: int
    ) -> list[Condition]:
        if self.rule.field not in values:
            return []
        return self.judge(ref.park, ref.enterprise, ref.sensor, ts_ms, values[self.rule.field])

    def kpi(self, update: KpiUpdate) -> list[Condition]:
        value = update.figures.get(self.rule.field)
        if update.window != self.rule.window or value is None:
            return []
        return self.judge(update.park, update.scope, update.scope, update.start_ms, float(value))

    def judge(
        self, park: str, enterprise: str, subject: str, ts_ms: int, value: float
    ) -> list[Condition]:
        rule = self.rule
        if self._latest.advance(subject, ts_ms, value) is False:
            return []
        above = rule.above is not None
        limit = rule.above if above else rule.below
        assert limit is not None
        clear_at = rule.clear if rule.clear is not None else limit
        breach = (value > limit) if above else (value < limit)
        if not breach and self._pending.pop(subject, None) is not None:
            self.touch(subject)  # the for-duration starts again at the next breach
        if subject in self.active:
            on = not ((value <= clear_at) if above else (value >= clear_at))
        elif breach:
            since = self._pending.get(subject)
            if since is None:
                since = self._pending[subject] = ts_ms
                self.touch(subject)
            on = ts_ms - since >= rule.for_s * 1000
        else:
            on = False
        if on == (subject in self.active):
            return []  # nothing changes: the common case, kept cheap
        held = f" for {rule.for_s:g} s" if rule.for_s else ""
        side = "above" if above else "below"
        return self.switch(
            park=park,
            enterprise=enterprise,
            subject=subject,
            on=on,
            at_ms=ts_ms,
            value=value,
            limit=limit,
            message=lambda raised: (
                f"{rule.field} {value:g} {side} {limit:g}{held}"
                if raised
                else f"{rule.field} {value:g} back within {clear_at:g}"
            ),
        )

    def partial(self, key: str) -> Any:
        return self._pending.get(key)  # the event time the breach began

    def resume(self, key: str, state: Any) -> None:
        self._pending[key] = int(state)


@evaluates(RateOfChangeRule)
class RateOfChange(Evaluator):
    """The change against the oldest reading within ``over_s`` (at least half of it back)."""

    rule: RateOfChangeRule
    readings = True

    def __init__(self, rule: RateOfChangeRule, ctx: Context) -> None:
        super().__init__(rule, ctx)
        self._history: dict[str, deque[tuple[int, float]]] = {}

    def reading(
        self, ref: SensorRef, ts_ms: int, values: Mapping[str, float], now_ms: int
    ) -> list[Condition]:
        rule = self.rule
        if rule.field not in values:
            return []
        value = values[rule.field]
        history = self._history.setdefault(ref.sensor, deque())
        if history and ts_ms <= history[-1][0]:
            return []  # late or repeated
        span_ms = rule.over_s * 1000
        while history and history[0][0] < ts_ms - span_ms:
            history.popleft()
        history.append((ts_ms, value))
        t0, v0 = history[0]
        if ts_ms - t0 < span_ms / 2:
            return []
        rate = abs(value - v0) / ((ts_ms - t0) / 60_000)
        on = rate > rule.max_per_min
        if on == (ref.sensor in self.active):
            return []  # nothing changes: the common case, kept cheap
        return self.switch(
            park=ref.park,
            enterprise=ref.enterprise,
            subject=ref.sensor,
            on=on,
            at_ms=ts_ms,
            value=rate,
            limit=rule.max_per_min,
            message=lambda raised: (
                f"{rule.field} changed {v0:g} -> {value:g}: {rate:g}/min"
                if raised
                else f"{rule.field} steady again ({rate:g}/min)"
            ),
        )


@evaluates(CounterResetRule)
class CounterReset(Evaluator):
    """A meter reset or replaced, by the rule the KPIs use (``processing.meters``): a
    reading implausible from the last accepted one (a drop outside the rollover band, or a
    rise beyond the rated rate) is held; the next reading confirms it (it continues
    plausibly from the new level: the alert fires at the held reading's time, and clears
    at the confirming one's) or shows it was a single glitch (it continues from the old
    level: no alert, the glitch is dropped). A register wrap is neither, and is confirmed
    the same way: a "wrap" the next reading undoes (it goes on from the level before) was
    a glitch read near 0."""

    rule: CounterResetRule
    readings = True

    def __init__(self, rule: CounterResetRule, ctx: Context) -> None:
        super().__init__(rule, ctx)
        self._last: dict[str, tuple[int, float]] = {}  # the last accepted reading
        self._held: dict[str, tuple[int, float]] = {}  # an implausible one, unconfirmed
        self._before_wrap: dict[str, tuple[int, float]] = {}  # the reading a wrap left
        self.configure()

    def configure(self) -> None:
        sensors = list(self.ctx.sensors())  # an iterator: read twice below
        self._rollover = {s.ref: s.spec.modulus() for s in sensors}
        self._max_per_ms = {
            s.ref: rated_max_per_ms(
                s.spec.rated_per_h, multiplier=s.spec.multiplier, tolerance=self.rule.tolerance
            )
            for s in sensors
        }

    def reading(
        self, ref: SensorRef, ts_ms: int, values: Mapping[str, float], now_ms: int
    ) -> list[Condition]:
        rule = self.rule
        if rule.field not in values:
            return []
        value, sensor = values[rule.field], ref.sensor
        last = self._last.get(sensor)
        if last is None:
            self._last[sensor] = (ts_ms, value)
            return []
        if ts_ms <= last[0] or (sensor in self._held and ts_ms <= self._held[sensor][0]):
            return []  # late or repeated: the newer readings already decided
        limits = {"rollover": self._rollover.get(ref), "max_per_ms": self._max_per_ms.get(ref)}
        before_wrap = self._before_wrap.pop(sensor, None)
        if before_wrap is not None and plausible_step(
            before_wrap[1], before_wrap[0], value, ts_ms,
            rollover=None, max_per_ms=limits["max_per_ms"],
        ):  # fmt: skip
            last = self._last[sensor] = before_wrap  # the "wrap" was a glitch read near 0
        held = self._held.pop(sensor, None)
        if held is None:
            if plausible_step(last[1], last[0], value, ts_ms, **limits):
                if is_rollover(last[1], value, limits["rollover"]):
                    self._before_wrap[sensor] = last  # confirmed (or undone) by the next one
                self._last[sensor] = (ts_ms, value)
            else:
                self._held[sensor] = (ts_ms, value)
            return []
        if plausible_step(last[1], last[0], value, ts_ms, **limits):
            self._last[sensor] = (ts_ms, value)  # the held reading was a glitch
            return []
        if not plausible_step(held[1], held[0], value, ts_ms, **limits):
            self._held[sensor] = (ts_ms, value)  # neither level: judge by the next one
            return []
        self._last[sensor] = (ts_ms, value)
        before = last[1]
        fired = self.switch(
            park=ref.park, enterprise=ref.enterprise, subject=sensor, on=True, at_ms=held[0],
            value=held[1], limit=before,
            message=lambda _r: (
                f"{rule.field} register went {before:g} -> {held[1]:g} and went on from there: "
                "meter reset or replaced"
            ),
        )  # fmt: skip
        return fired + self.switch(
            park=ref.park, enterprise=ref.enterprise, subject=sensor, on=False, at_ms=ts_ms,
            value=value, limit=before,
            message=lambda _r: f"{rule.field} counting again from {value:g}",
        )  # fmt: skip


@evaluates(NoDataRule)
class NoData(Evaluator):
    """A sensor silent for ``after_s`` of receive time (the wall clock)."""

    rule: NoDataRule
    readings = True
    ticks = True

    def __init__(self, rule: NoDataRule, ctx: Context) -> None:
        super().__init__(rule, ctx)
        self._seen: dict[str, int] = {}  # sensor -> last receipt
        self.configure()

    def configure(self) -> None:
        self._refs = [
            s.ref
            for s in self.ctx.sensors()
            if self.rule.scope.admits(
                park=s.ref.park, enterprise=s.ref.enterprise, kind=s.ref.kind, sensor=s.ref.sensor
            )
        ]

    def reading(
        self, ref: SensorRef, ts_ms: int, values: Mapping[str, float], now_ms: int
    ) -> list[Condition]:
        self._seen[ref.sensor] = now_ms
        return self.switch(
            park=ref.park,
            enterprise=ref.enterprise,
            subject=ref.sensor,
            on=False,
            at_ms=now_ms,
            value=None,
            limit=self.rule.after_s,
            message=lambda _on: f"{ref.sensor} sends again",
        )

    def tick(self, now_ms: int) -> list[Condition]:
        out: list[Condition] = []
        for ref in self._refs:
            silent_s = (now_ms - self._seen.setdefault(ref.sensor, now_ms)) / 1000
            if silent_s >= self.rule.after_s:
                out += self.switch(
                    park=ref.park,
                    enterprise=ref.enterprise,
                    subject=ref.sensor,
                    on=True,
                    at_ms=now_ms,
                    value=silent_s,
                    limit=self.rule.after_s,
                    message=(f"{ref.sensor} silent for {silent_s:.0f} s", ""),
                )
        return out
