"""The rule engine (pure): readings, KPI updates and clock ticks in; conditions out.

A :class:`Condition` says that a rule's condition became true (``raised``) or false
for one subject (a sensor, a stack and pollutant, an enterprise, the park). What
becomes of it — one alert, reminders, escalation, silences, flap damping — is the
lifecycle's business. Time is a parameter: every call carries the reading's time
and the processing clock's ``now_ms``; nothing here reads a clock, a broker or a file.
"""

from __future__ import annotations

import calendar
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl

from alerts.rules import (
    CemsHourlyRule,
    CounterResetRule,
    KpiTargetRule,
    NoDataRule,
    QuotaForecastRule,
    RateOfChangeRule,
    Rule,
    ThresholdRule,
)
from smartpark import cems
from smartpark.model import SensorRef, is_rollover
from smartpark.registry import Registry
from smartpark.wire import KpiUpdate

HOUR_MS = 3_600_000
CEMS_GRACE_MS = 5 * 60_000


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


@dataclass(slots=True)
class _State:
    active: set[str] = field(default_factory=set)
    pending: dict[str, int] = field(default_factory=dict)
    last: dict[str, tuple[int, float]] = field(default_factory=dict)

    def advance(self, subject: str, ts_ms: int, value: float) -> tuple[int, float] | bool | None:
        """Record a newer value and return the previous one (None for the first);
        False for a late or repeated reading, which the newer value already decided."""
        last = self.last.get(subject)
        if last is not None and ts_ms <= last[0]:
            return False
        self.last[subject] = (ts_ms, value)
        return last


class Engine:
    """Every rule of a configuration over the sensors of a registry."""

    def __init__(self, rules: Iterable[Rule], registry: Registry) -> None:
        self.rules = list(rules)
        self.registry = registry
        self._state = {r.id: _State() for r in self.rules}
        self._tz = {p.id: ZoneInfo(p.timezone) for p in registry.parks.values()}
        self._rollover = {s.ref: s.spec.rollover for s in registry.sensors()}
        self._stacks = {
            s.ref: stack for s in registry.sensors() if (stack := cems.stack_of(s.spec))
        }
        self._by_kind: dict[str, list[Rule]] = {}
        reading_types = (
            ThresholdRule,
            RateOfChangeRule,
            CounterResetRule,
            CemsHourlyRule,
            NoDataRule,
        )
        for rule in self.rules:
            kpi_threshold = isinstance(rule, ThresholdRule) and rule.source == "kpi"
            if isinstance(rule, reading_types) and not kpi_threshold:
                for kind in rule.scope.kinds or list(registry.kinds):
                    self._by_kind.setdefault(kind, []).append(rule)
        self._kpi_rules = [
            r
            for r in self.rules
            if isinstance(r, QuotaForecastRule | KpiTargetRule)
            or (isinstance(r, ThresholdRule) and r.source == "kpi")
        ]
        self._cems: dict[tuple[str, SensorRef], dict[int, list[tuple[Any, ...]]]] = {}
        self._days: dict[tuple[str, str], dict[int, tuple[float, float]]] = {}
        self._seen: dict[tuple[str, str], int] = {}  # no_data: (rule, sensor) -> last receipt
        self._history: dict[tuple[str, str], deque[tuple[int, float]]] = {}  # rate_of_change

    def _switch(
        self,
        rule: Rule,
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
        active = self._state[rule.id].active
        if on == (subject in active):
            return []
        if on:
            active.add(subject)
        else:
            active.discard(subject)
        return [
            Condition(
                rule.id,
                rule.severity,
                park,
                enterprise,
                subject,
                on,
                at_ms,
                value,
                limit,
                message(on) if callable(message) else message[0 if on else 1],
            )
        ]

    # -- readings ------------------------------------------------------------------

    def reading(
        self, ref: SensorRef, ts_ms: int, values: Mapping[str, float], now_ms: int
    ) -> list[Condition]:
        out: list[Condition] = []
        for rule in self._by_kind.get(ref.kind, ()):
            if not rule.scope.admits(
                park=ref.park, enterprise=ref.enterprise, kind=ref.kind, sensor=ref.sensor
            ):
                continue
            if isinstance(rule, ThresholdRule):
                if rule.field in values:
                    out += self._threshold(
                        rule, ref.park, ref.enterprise, ref.sensor, ts_ms, values[rule.field]
                    )
            elif isinstance(rule, RateOfChangeRule):
                if rule.field in values:
                    out += self._rate(rule, ref, ts_ms, values[rule.field])
            elif isinstance(rule, CounterResetRule):
                if rule.field in values:
                    out += self._reset(rule, ref, ts_ms, values[rule.field])
            elif isinstance(rule, CemsHourlyRule):
                out += self._cems_minute(rule, ref, ts_ms, values, now_ms)
            elif isinstance(rule, NoDataRule):
                self._seen[(rule.id, ref.sensor)] = now_ms
                out += self._switch(
                    rule,
                    park=ref.park,
                    enterprise=ref.enterprise,
                    subject=ref.sensor,
                    on=False,
                    at_ms=now_ms,
                    value=None,
                    limit=rule.after_s,
                    message=lambda _on: f"{ref.sensor} sends again",
                )
        return out

    def _threshold(
        self,
        rule: ThresholdRule,
        park: str,
        enterprise: str,
        subject: str,
        ts_ms: int,
        value: float,
    ) -> list[Condition]:
        state = self._state[rule.id]
        if state.advance(subject, ts_ms, value) is False:
            return []
        above = rule.above is not None
        limit = rule.above if above else rule.below
        assert limit is not None
        clear_at = rule.clear if rule.clear is not None else limit
        breach = (value > limit) if above else (value < limit)
        if not breach:
            state.pending.pop(subject, None)  # the for-duration starts again at the next breach
        if subject in state.active:
            on = not ((value <= clear_at) if above else (value >= clear_at))
        elif breach:
            since = state.pending.setdefault(subject, ts_ms)
            on = ts_ms - since >= rule.for_s * 1000
        else:
            on = False
        if on == (subject in state.active):
            return []  # nothing changes: the common case, kept cheap
        held = f" for {rule.for_s:g} s" if rule.for_s else ""
        side = "above" if above else "below"
        return self._switch(
            rule,
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

    def _rate(
        self, rule: RateOfChangeRule, ref: SensorRef, ts_ms: int, value: float
    ) -> list[Condition]:
        """The change against the oldest reading within ``over_s`` (at least half of it back)."""
        history = self._history.setdefault((rule.id, ref.sensor), deque())
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
        if on == (ref.sensor in self._state[rule.id].active):
            return []  # nothing changes: the common case, kept cheap
        return self._switch(
            rule,
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

    def _reset(
        self, rule: CounterResetRule, ref: SensorRef, ts_ms: int, value: float
    ) -> list[Condition]:
        state = self._state[rule.id]
        last = state.advance(ref.sensor, ts_ms, value)
        if not isinstance(last, tuple):
            return []
        before = last[1]
        if is_rollover(before, value, self._rollover.get(ref)):
            return []  # a register rollover, not a reset
        on = value < before
        if on == (ref.sensor in state.active):
            return []  # nothing changes: the common case, kept cheap
        return self._switch(
            rule,
            park=ref.park,
            enterprise=ref.enterprise,
            subject=ref.sensor,
            on=on,
            at_ms=ts_ms,
            value=value,
            limit=before,
            message=lambda raised: (
                f"{rule.field} register went down {before:g} -> {value:g}: meter reset or replaced"
                if raised
                else f"{rule.field} counting again from {value:g}"
            ),
        )

    # -- CEMS hourly means -----------------------------------------------------------

    def _cems_minute(
        self,
        rule: CemsHourlyRule,
        ref: SensorRef,
        ts_ms: int,
        values: Mapping[str, float],
        now_ms: int,
    ) -> list[Condition]:
        if "o2_pct" not in values:
            return []
        zone = self._tz[ref.park]
        offset = zone.utcoffset(datetime.fromtimestamp(ts_ms / 1000, UTC))
        off_ms = int(offset.total_seconds() * 1000) if offset is not None else 0
        hour = (ts_ms + off_ms) // HOUR_MS * HOUR_MS - off_ms
        buckets = self._cems.setdefault((rule.id, ref), {})
        row = (ref.sensor, ts_ms, values.get("o2_pct"), *(values.get(p) for p in cems.POLLUTANTS))
        buckets.setdefault(hour, []).append(row)
        done = [h for h in buckets if h < hour]  # an hour is judged when the next one starts
        return [c for h in sorted(done) for c in self._judge_hour(rule, ref, h, buckets.pop(h))]

    def _judge_hour(
        self, rule: CemsHourlyRule, ref: SensorRef, hour: int, rows: list[tuple[Any, ...]]
    ) -> list[Condition]:
        stack = self._stacks.get(ref)
        if stack is None or not stack.limits_mg_m3:
            return []
        frame = pl.DataFrame(
            rows, schema=["sensor", "ts", "o2_pct", *cems.POLLUTANTS], orient="row"
        )
        result = cems.hourly(
            frame,
            {ref.sensor: stack},
            tz=str(self._tz[ref.park]),
            rules=cems.CemsRules(rule.o2_max_valid_pct, rule.min_valid_minutes),
        )
        if result.height == 0 or not result["hour_valid"][0]:
            return []  # an invalid hour neither fires nor clears
        row = result.row(0, named=True)
        label = datetime.fromtimestamp(hour / 1000, self._tz[ref.park]).strftime("%H:00")
        out = []
        for p in rule.pollutants:
            limit, mean = row.get(f"{p}_limit"), row.get(f"{p}_corrected")
            if limit is None or mean is None:
                continue
            out += self._switch(
                rule,
                park=ref.park,
                enterprise=ref.enterprise,
                subject=f"{ref.sensor}/{p}",
                on=bool(row[f"{p}_exceeded"]),
                at_ms=hour + HOUR_MS,
                value=mean,
                limit=limit,
                message=(
                    f"{p} hourly mean {mean:.1f} mg/m3 (O2-corrected) over the limit {limit:g} "
                    f"in the hour from {label}",
                    f"{p} hourly mean {mean:.1f} mg/m3 within {limit:g} from {label}",
                ),
            )
        return out

    # -- KPI updates -----------------------------------------------------------------

    def kpi(self, update: KpiUpdate) -> list[Condition]:
        out: list[Condition] = []
        enterprise = update.scope
        for rule in self._kpi_rules:
            if not rule.scope.admits(park=update.park, enterprise=enterprise):
                continue
            if isinstance(rule, ThresholdRule):
                value = update.values.get(rule.field)
                if update.window == rule.window and isinstance(value, int | float):
                    out += self._threshold(
                        rule, update.park, enterprise, enterprise, update.start_ms, float(value)
                    )
            elif isinstance(rule, QuotaForecastRule):
                out += self._quota(rule, update)
            elif isinstance(rule, KpiTargetRule):
                out += self._target(rule, update)
        return out

    def _local(self, park: str, ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, self._tz[park])

    def _month_rows(
        self, key: tuple[str, str], park: str, start_ms: int, row: tuple[float, float]
    ) -> dict[int, tuple[float, float]]:
        """Remember one day's (value, weight); return the days of its local month by day."""
        days = self._days.setdefault(key, {})
        days[start_ms] = row
        local = self._local(park, start_ms)
        out = {}
        for ms, value in days.items():
            other = self._local(park, ms)
            if (other.year, other.month) == (local.year, local.month):
                out[other.day] = value
        return out

    def _quota(self, rule: QuotaForecastRule, update: KpiUpdate) -> list[Condition]:
        quota = rule.quotas_tce_month.get(update.scope)
        energy = update.values.get("energy_tce")
        if update.window != "1d" or quota is None or not isinstance(energy, int | float):
            return []
        local = self._local(update.park, update.start_ms)
        month = self._month_rows(
            (rule.id, update.scope), update.park, update.start_ms, (float(energy), 0.0)
        )
        used = sum(e for e, _ in month.values())
        elapsed = max(month)  # days of the month through the newest day reported
        forecast = used / elapsed * calendar.monthrange(local.year, local.month)[1]
        return self._switch(
            rule,
            park=update.park,
            enterprise=update.scope,
            subject=update.scope,
            on=forecast > quota,
            at_ms=update.start_ms + 86_400_000,
            value=forecast,
            limit=quota,
            message=lambda raised: (
                f"month-end forecast {forecast:,.0f} tce over the quota "
                f"{quota:,.0f} ({used:,.0f} tce used by day {elapsed})"
                if raised
                else f"month-end forecast {forecast:,.0f} tce within the quota {quota:,.0f}"
            ),
        )

    def _target(self, rule: KpiTargetRule, update: KpiUpdate) -> list[Condition]:
        value = update.values.get(rule.kpi)
        if update.window != rule.window or not isinstance(value, int | float):
            return []
        value = float(value)
        if rule.period == "month":
            weight = update.values.get(rule.weight)
            w = float(weight) if isinstance(weight, int | float) else 0.0
            month = self._month_rows(
                (rule.id, update.scope), update.park, update.start_ms, (value, w)
            )
            total = sum(w for _, w in month.values())
            if total <= 0:
                return []
            value = sum(v * w for v, w in month.values()) / total
        limit = rule.below if rule.below is not None else rule.above
        assert limit is not None
        off = value < limit if rule.below is not None else value > limit
        what = "month to date" if rule.period == "month" else f"this {rule.window}"
        return self._switch(
            rule,
            park=update.park,
            enterprise=update.scope,
            subject=update.scope,
            on=off,
            at_ms=update.start_ms,
            value=value,
            limit=limit,
            message=lambda raised: (
                f"{rule.kpi} {value:.2f} {what}, target {limit:g}"
                if raised
                else f"{rule.kpi} {value:.2f} {what} meets the target {limit:g}"
            ),
        )

    # -- time ------------------------------------------------------------------------

    def tick(self, now_ms: int) -> list[Condition]:
        """No-data checks, and CEMS hours whose stack went quiet past the hour's end."""
        out: list[Condition] = []
        for rule in self.rules:
            if isinstance(rule, NoDataRule):
                for s in self.registry.sensors():
                    ref = s.ref
                    if not rule.scope.admits(
                        park=ref.park, enterprise=ref.enterprise, kind=ref.kind, sensor=ref.sensor
                    ):
                        continue
                    silent_s = (
                        now_ms - self._seen.setdefault((rule.id, ref.sensor), now_ms)
                    ) / 1000
                    if silent_s >= rule.after_s:
                        out += self._switch(
                            rule,
                            park=ref.park,
                            enterprise=ref.enterprise,
                            subject=ref.sensor,
                            on=True,
                            at_ms=now_ms,
                            value=silent_s,
                            limit=rule.after_s,
                            message=(f"{ref.sensor} silent for {silent_s:.0f} s", ""),
                        )
            elif isinstance(rule, CemsHourlyRule):
                for (rule_id, ref), buckets in self._cems.items():
                    if rule_id != rule.id:
                        continue
                    for hour in sorted(h for h in buckets if h + HOUR_MS + CEMS_GRACE_MS <= now_ms):
                        out += self._judge_hour(rule, ref, hour, buckets.pop(hour))
        return out

    def active(self) -> dict[str, set[str]]:
        """The subjects whose condition holds, per rule (for restarts)."""
        return {rule: set(state.active) for rule, state in self._state.items()}

    def restore(self, active: Mapping[str, Iterable[str]]) -> None:
        """Take over conditions that held before a restart, so they can clear later."""
        for rule, subjects in active.items():
            if rule in self._state:
                self._state[rule].active |= set(subjects)
