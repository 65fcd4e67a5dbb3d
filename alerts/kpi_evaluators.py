"""The evaluators of the rules over KPI updates by month, registered by the rule's model
class (pure): quota and carbon-budget forecasts and KPI targets month to date.

Updates come in event time, and some come late: the processor's catch-up republishes
windows of closed periods when late readings changed them (``revision`` >= 1). A month
(or, for a per-window target, a window) older than the newest one seen for a scope is a
*closed period*: it is judged on its own figures and as its own subject (``"e01
2026-10"``), so a revision of last month neither raises nor clears this month's alert.
A breach found there fires once, at its event time (the end of that month's newest
day), with "found late" in its message; a later revision that brings it back within
the limit clears it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from alerts.conditions import Condition, Context, Evaluator, evaluates
from alerts.rules import CarbonBudgetForecastRule, KpiTargetRule, QuotaForecastRule
from smartpark import schema
from smartpark.limits import QUOTA_FALLBACK, QUOTA_FIELD, budget_field, month_end_forecast
from smartpark.wire import KpiUpdate


class _MonthToDate:
    """Per key (a scope of the park), one (value, weight) per day; the days of a day's local
    month. What it holds is the rule's partial state: :meth:`state` gives the newest
    month's and the one before's days (a restart mid-month must not forecast from the
    days since the restart, nor judge a revision of last month on its own day), and
    :meth:`resume` takes them back. Months more than a year before the newest are
    forgotten."""

    KEPT_MONTHS = 13  # in memory; the newest two are kept across a restart

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._days: dict[str, dict[int, tuple[float, float]]] = {}
        self._newest: dict[str, tuple[int, int]] = {}  # per key, the newest (year, month)

    def local(self, park: str, ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, self.ctx.tz[park])

    def add(
        self, key: str, park: str, start_ms: int, row: tuple[float, float]
    ) -> dict[int, tuple[float, float]]:
        """Remember one day's (value, weight); return the days of its local month by day."""
        days = self._days.setdefault(key, {})
        days[start_ms] = row
        local = self.local(park, start_ms)
        newest = max(self._newest.get(key, (0, 0)), (local.year, local.month))
        if newest != self._newest.get(key):
            self._newest[key] = newest
            self._forget(key, park, _months_before(newest, self.KEPT_MONTHS - 1))
        out = {}
        for ms, value in days.items():
            other = self.local(park, ms)
            if (other.year, other.month) == (local.year, local.month):
                out[other.day] = value
        return out

    def _forget(self, key: str, park: str, first: tuple[int, int]) -> None:
        days = self._days.get(key, {})
        for ms in [ms for ms in days if _month(self.local(park, ms)) < first]:
            del days[ms]

    def closed(self, key: str, park: str, start_ms: int) -> str | None:
        """The month of ``start_ms`` ("2026-10") when a newer month was seen for ``key``
        (a revision of a closed period), else None."""
        local = self.local(park, start_ms)
        newest = self._newest.get(key)
        return (
            f"{local:%Y-%m}" if newest is not None and (local.year, local.month) < newest else None
        )

    def end_of_newest_day(self, key: str, park: str, start_ms: int) -> int:
        """The end of the newest day of ``start_ms``'s month seen for ``key`` (event time)."""
        local = self.local(park, start_ms)
        days = [ms for ms in self._days.get(key, {}) if _same_month(self.local(park, ms), local)]
        return max(days, default=start_ms) + 86_400_000

    def state(self, key: str, park: str) -> dict[str, Any] | None:
        """``key``'s days of the newest month and the one before (JSON-able)."""
        newest = self._newest.get(key)
        if newest is None:
            return None
        first = _months_before(newest, 1)
        days = self._days.get(key, {})
        kept = [[ms, *row] for ms, row in sorted(days.items())
                if _month(self.local(park, ms)) >= first]  # fmt: skip
        return {"newest": list(newest), "days": kept}

    def resume(self, key: str, state: dict[str, Any]) -> None:
        """Take back what :meth:`state` gave (days seen since the restart win)."""
        days = self._days.setdefault(key, {})
        for ms, value, weight in state["days"]:
            days.setdefault(int(ms), (float(value), float(weight)))
        year, month = state["newest"]
        self._newest[key] = max(self._newest.get(key, (0, 0)), (int(year), int(month)))


def _month(local: datetime) -> tuple[int, int]:
    return (local.year, local.month)


def _months_before(month: tuple[int, int], n: int) -> tuple[int, int]:
    index = month[0] * 12 + month[1] - 1 - n
    return (index // 12, index % 12 + 1)


def _same_month(a: datetime, b: datetime) -> bool:
    return (a.year, a.month) == (b.year, b.month)


def _late(closed: str | None) -> str:
    return "" if closed is None else f" (found late, in revised figures of {closed})"


class _MonthEndForecast(Evaluator):
    """The month-end forecast of a daily KPI over a monthly limit: the month's days so
    far, their mean extended over the whole month (``smartpark.limits.month_end_forecast``,
    as the scheduled burn-down does)."""

    kpis = True
    unit = ""

    def __init__(self, rule: QuotaForecastRule | CarbonBudgetForecastRule, ctx: Context) -> None:
        super().__init__(rule, ctx)
        self._month = _MonthToDate(ctx)

    def limit(self, scope: str) -> float | None:
        raise NotImplementedError

    def used(self, update: KpiUpdate) -> float | None:
        raise NotImplementedError

    def what(self) -> str:
        raise NotImplementedError

    def partial(self, key: str) -> Any:
        return self._month.state(key, self.ctx.park)

    def resume(self, key: str, state: Any) -> None:
        self._month.resume(key, state)

    def kpi(self, update: KpiUpdate) -> list[Condition]:
        limit = self.limit(update.scope)
        value = self.used(update)
        if update.window != "1d" or limit is None or value is None:
            return []
        key = update.scope
        local = self._month.local(update.park, update.start_ms)
        closed = self._month.closed(key, update.park, update.start_ms)
        month = self._month.add(key, update.park, update.start_ms, (float(value), 0.0))
        self.touch(key)
        used = sum(e for e, _ in month.values())
        elapsed = max(month)  # days of the month through the newest day reported
        forecast = month_end_forecast(used, through=local.date().replace(day=elapsed))
        unit, what, late = self.unit, self.what(), _late(closed)
        return self.switch(
            park=update.park,
            enterprise=update.scope,
            subject=update.scope if closed is None else f"{update.scope} {closed}",
            on=forecast > limit,
            at_ms=self._month.end_of_newest_day(key, update.park, update.start_ms),
            value=forecast,
            limit=limit,
            message=lambda raised: (
                f"month-end forecast {forecast:,.0f} {unit} over the {what} "
                f"{limit:,.0f} ({used:,.0f} {unit} used by day {elapsed}){late}"
                if raised
                else f"month-end forecast {forecast:,.0f} {unit} within the {what} "
                f"{limit:,.0f}{late}"
            ),
        )


@evaluates(QuotaForecastRule)
class QuotaForecast(_MonthEndForecast):
    """The month-end forecast of an enterprise's energy (daily KPIs) over its quota."""

    rule: QuotaForecastRule
    unit = schema.KPI.unit(QUOTA_FIELD)

    def what(self) -> str:
        return "quota"

    def limit(self, scope: str) -> float | None:
        return self.rule.quotas_tce_month.get(scope)

    def used(self, update: KpiUpdate) -> float | None:
        # Quotas burn non-renewable energy (PV and certified green power deducted); points
        # written before that figure existed fall back to the gross energy.
        return update.figures.get(QUOTA_FIELD, update.figures.get(QUOTA_FALLBACK))


@evaluates(CarbonBudgetForecastRule)
class CarbonBudgetForecast(_MonthEndForecast):
    """The month-end forecast of an enterprise's or the park's CO2 (the rule's method)
    over its monthly carbon budget (碳排放双控)."""

    rule: CarbonBudgetForecastRule
    unit = schema.KPI.unit("co2_market_t")

    def what(self) -> str:
        return f"carbon budget ({self.rule.method}-based)"

    def limit(self, scope: str) -> float | None:
        return self.rule.budgets_t_month.get(scope)

    def used(self, update: KpiUpdate) -> float | None:
        return update.figures.get(budget_field(self.rule.method))


@evaluates(KpiTargetRule)
class KpiTarget(Evaluator):
    """A KPI off its target for the window, or month to date (weighted)."""

    rule: KpiTargetRule
    kpis = True

    def __init__(self, rule: KpiTargetRule, ctx: Context) -> None:
        super().__init__(rule, ctx)
        self._month = _MonthToDate(ctx)
        self._newest: dict[str, int] = {}  # per scope, the newest window judged

    def partial(self, key: str) -> Any:
        return self._month.state(key, self.ctx.park) if self.rule.period == "month" else None

    def resume(self, key: str, state: Any) -> None:
        if self.rule.period == "month":
            self._month.resume(key, state)

    def kpi(self, update: KpiUpdate) -> list[Condition]:
        rule = self.rule
        figure = update.figures.get(rule.kpi)
        if update.window != rule.window or figure is None:
            return []
        value = float(figure)
        if rule.period == "month":
            key = update.scope
            closed = self._month.closed(key, update.park, update.start_ms)
            w = float(update.figures.get(rule.weight, 0.0))
            month = self._month.add(key, update.park, update.start_ms, (value, w))
            self.touch(key)
            total = sum(w for _, w in month.values())
            if total <= 0:
                return []
            value = sum(v * w for v, w in month.values()) / total
        else:
            newest = self._newest.get(update.scope)
            closed = None
            if newest is not None and update.start_ms < newest:
                closed = f"{self._month.local(update.park, update.start_ms):%Y-%m-%d %H:%M}"
            self._newest[update.scope] = max(newest or update.start_ms, update.start_ms)
        limit = rule.below if rule.below is not None else rule.above
        assert limit is not None
        off = value < limit if rule.below is not None else value > limit
        what = "month to date" if rule.period == "month" else f"this {rule.window}"
        late = _late(closed)
        return self.switch(
            park=update.park,
            enterprise=update.scope,
            subject=update.scope if closed is None else f"{update.scope} {closed}",
            on=off,
            at_ms=update.start_ms,
            value=value,
            limit=limit,
            message=lambda raised: (
                f"{rule.kpi} {value:.2f} {what}, target {limit:g}{late}"
                if raised
                else f"{rule.kpi} {value:.2f} {what} meets the target {limit:g}{late}"
            ),
        )
