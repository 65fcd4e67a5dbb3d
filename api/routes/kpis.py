"""KPI points of an enterprise or the park's aggregate, with the methods that made them,
and scorecards against the park's targets."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, HTTPException

from api.deps import ServicesDep, SubjectDep
from api.params import ERRORS, Instant, period
from api.reads import ADDITIVE, a_year_before, split
from smartpark.model import KPI_METHOD_TAGS
from smartpark.products import LEVEL_NAMES
from smartpark.windows import SHORTEST_MS

router = APIRouter(tags=["kpis"], responses=ERRORS)
S = "/parks/{park_id}/scopes/{scope}"
Window = Literal["1m", "15m", "1h", "1d", "1mo"]
PRODUCT_KPI = "product_energy_kgce_per_output"


@router.get(S + "/kpis")
def kpis(
    scope: SubjectDep, s: ServicesDep, window: Window, start: Instant, end: Instant
) -> dict[str, Any]:
    """The KPI points of a scope (an enterprise or ``_park``) and window, with the
    coefficients and methods that made each one."""
    api = s.settings.api
    lo, hi = period(start, end, max_days=api.max_range_days)
    expected = (hi - lo).total_seconds() * 1000 / SHORTEST_MS[window]
    if expected > api.max_points:
        raise HTTPException(
            422, f"{window} windows over this period exceed {api.max_points} points"
        )
    points = []
    for row in s.reads.kpis(scope, window, lo, hi, limit=api.max_points):
        tags, fields = split(row)
        method = {k: tags[k] for k in KPI_METHOD_TAGS if k in tags}
        points.append({"start_ms": row["time"], "method": method, "values": fields})
    return {"park": scope.park, "scope": scope.subject, "window": window, "points": points}


@router.get(S + "/scorecard")
def scorecard(scope: SubjectDep, s: ServicesDep) -> dict[str, Any]:
    """Today, month to date and year to date: each KPI against its target (the park's
    rows carry ``<kpi>_target`` and ``<kpi>_met``) and the same period last year."""
    reads, park = s.reads, scope.park
    zone = ZoneInfo(scope.registry.parks[park].timezone)
    today = datetime.now(zone).replace(hour=0, minute=0, second=0, microsecond=0)
    month = today.replace(day=1)
    year = month.replace(month=1)
    out: dict[str, Any] = {
        "park": park, "scope": scope.subject,
        # what *_per_output is per: None when the scope's output units differ
        "output_unit": scope.registry.output_unit(park, scope.subject),
    }  # fmt: skip
    product = next((e.product for e in scope.registry.parks[park].enterprises
                    if e.id == scope.subject), None)  # fmt: skip
    if product is not None:  # 单位产品能耗: the levels it is judged on, and where from
        out["product"] = product.model_dump() | {"level_names": LEVEL_NAMES}
    for name, window, start in (("today", "1d", today), ("month", "1mo", month)):
        point = reads.kpi_at(scope, window, start)
        ago = a_year_before(start)
        last = None if ago is None else reads.kpi_at(scope, window, ago)
        # an open window (today, the month so far): last year's additive figures over
        # the same span, not its whole day or month
        complete_to = None if point is None else split(point)[1].get("complete_to_ms")
        span = None if not isinstance(complete_to, int | float) else (
            reads.same_span_last_year(scope, start, complete_to)
        )  # fmt: skip
        out[name] = card(point, last, start, span=span)
    totals, months = reads.totals(scope, "1mo", year, month + timedelta(days=32))
    out["year"] = {"start": year.isoformat(), "months": months, "totals": totals}
    return out


def card(
    point: dict[str, Any] | None, last: dict[str, Any] | None, start: datetime,
    *, span: tuple[datetime, datetime, dict[str, float]] | None = None,
) -> dict[str, Any]:  # fmt: skip
    """One period of a scorecard: each KPI with its target and last year's value. For an
    open window, ``span``: last year's same span (its start, end and additive figures),
    which its additive KPIs are compared with; ratios and shares with last year's
    whole period."""
    if point is None:
        return {"start": start.isoformat(), "stored": False}
    tags, values = split(point)
    before = split(last)[1] if last is not None else {}
    if span is not None:
        before = {k: v for k, v in before.items() if k not in ADDITIVE} | span[2]
    kpis = []
    for key, value in sorted(values.items()):
        if key.endswith(("_target", "_met")) or not isinstance(value, int | float):
            continue
        if key.startswith("product_") and key != PRODUCT_KPI:
            continue  # a level's value: under the product's entry
        entry: dict[str, Any] = {"kpi": key, "value": value}
        if key == PRODUCT_KPI:  # per declared level: its value and whether it is met
            entry["levels"] = {
                level: {"kgce_per_output": values[f"product_{level}_kgce_per_output"],
                        "met": values.get(f"product_{level}_met")}
                for level in LEVEL_NAMES if f"product_{level}_kgce_per_output" in values
            }  # fmt: skip
        if f"{key}_target" in values:
            entry["target"] = values[f"{key}_target"]
            entry["met"] = values.get(f"{key}_met")
        if isinstance(before.get(key), int | float):
            entry["last_year"] = before[key]
            # 单位工业增加值能耗's official change is at comparable prices: this year's added
            # value deflated to last year's prices, where the year has a price index
            comparable = values.get(f"{key}_prev_year_prices")
            if before[key]:  # a fall is < 0
                now = comparable if isinstance(comparable, int | float) else value
                entry["change_vs_last_year_pct"] = (now - before[key]) / abs(before[key]) * 100
                entry["change_basis"] = "comparable" if now is comparable else "nominal"
        kpis.append(entry)
    method = {k: v for k, v in tags.items() if k not in ("park", "scope", "window")}
    out = {"start": start.isoformat(), "stored": True, "method": method, "kpis": kpis}
    if span is not None:
        out["last_year_span"] = {"start": span[0].isoformat(), "end": span[1].isoformat()}
    return out
