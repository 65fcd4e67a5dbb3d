"""The evaluators of the rules over KPI updates by month, registered by the rule's model
class (pure): quota forecast and KPI targets month to date."""

from __future__ import annotations

import calendar
from datetime import datetime

from alerts.conditions import Condition, Context, Evaluator, evaluates
from alerts.rules import KpiTargetRule, QuotaForecastRule
from smartpark.wire import KpiUpdate


class _MonthToDate:
    """Per key, one (value, weight) per day; the days of a day's local month."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._days: dict[str, dict[int, tuple[float, float]]] = {}

    def local(self, park: str, ms: int) -> datetime:
        return datetime.fromtimestamp(ms / 1000, self.ctx.tz[park])

    def add(
        self, key: str, park: str, start_ms: int, row: tuple[float, float]
    ) -> dict[int, tuple[float, float]]:
        """Remember one day's (value, weight); return the days of its local month by day."""
        days = self._days.setdefault(key, {})
        days[start_ms] = row
        local = self.local(park, start_ms)
        out = {}
        for ms, value in days.items():
            other = self.local(park, ms)
            if (other.year, other.month) == (local.year, local.month):
                out[other.day] = value
        return out


@evaluates(QuotaForecastRule)
class QuotaForecast(Evaluator):
    """The month-end forecast of an enterprise's energy (daily KPIs) over its quota."""

    rule: QuotaForecastRule
    kpis = True

    def __init__(self, rule: QuotaForecastRule, ctx: Context) -> None:
        super().__init__(rule, ctx)
        self._month = _MonthToDate(ctx)

    def kpi(self, update: KpiUpdate) -> list[Condition]:
        quota = self.rule.quotas_tce_month.get(update.scope)
        # Quotas burn non-renewable energy (PV and certified green power deducted); points
        # written before that figure existed fall back to the gross energy.
        energy = update.values.get("energy_excl_renewables_tce", update.values.get("energy_tce"))
        if update.window != "1d" or quota is None or not isinstance(energy, int | float):
            return []
        local = self._month.local(update.park, update.start_ms)
        month = self._month.add(update.scope, update.park, update.start_ms, (float(energy), 0.0))
        used = sum(e for e, _ in month.values())
        elapsed = max(month)  # days of the month through the newest day reported
        forecast = used / elapsed * calendar.monthrange(local.year, local.month)[1]
        return self.switch(
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


@evaluates(KpiTargetRule)
class KpiTarget(Evaluator):
    """A KPI off its target for the window, or month to date (weighted)."""

    rule: KpiTargetRule
    kpis = True

    def __init__(self, rule: KpiTargetRule, ctx: Context) -> None:
        super().__init__(rule, ctx)
        self._month = _MonthToDate(ctx)

    def kpi(self, update: KpiUpdate) -> list[Condition]:
        rule = self.rule
        value = update.values.get(rule.kpi)
        if update.window != rule.window or not isinstance(value, int | float):
            return []
        value = float(value)
        if rule.period == "month":
            weight = update.values.get(rule.weight)
            w = float(weight) if isinstance(weight, int | float) else 0.0
            month = self._month.add(update.scope, update.park, update.start_ms, (value, w))
            total = sum(w for _, w in month.values())
            if total <= 0:
                return []
            value = sum(v * w for v, w in month.values()) / total
        limit = rule.below if rule.below is not None else rule.above
        assert limit is not None
        off = value < limit if rule.below is not None else value > limit
        what = "month to date" if rule.period == "month" else f"this {rule.window}"
        return self.switch(
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
