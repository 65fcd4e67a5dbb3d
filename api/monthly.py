"""The monthly report's figures, read through the API's read layer (``api.reads``) with a
checked scope, so the filed figure and the page's are the same stored number; rendered by
the ``reports`` layer. The report route and ``smartpark report monthly`` both call
:func:`build`."""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from api.reads import ADDITIVE, AlertReads, Reads, split
from api.scope import EnterpriseScope, SubjectScope
from reports import pdf, xlsx
from reports.monthly import MonthFigures, monthly
from smartpark import limits as limits_mod
from smartpark.errors import ConfigError
from smartpark.limits import MonthlyLimits
from smartpark.model import PARK_SCOPE

Format = Literal["xlsx", "pdf"]
FORMATS: dict[str, Format] = {"xlsx": "xlsx", "pdf": "pdf"}
MEDIA = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
PERIOD = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
#: The most rows one month's section reads (31 days x 24 hours x stacks; days x sensors).
MAX_ROWS = 50_000


def month_of(period: str) -> date:
    """The first day of ``YYYY-MM``; a ``ConfigError`` saying the form otherwise."""
    m = PERIOD.fullmatch(period)
    if m is None or not 2000 <= int(m.group(1)) <= 2100:
        raise ConfigError(f"a period is YYYY-MM (2000-2100), e.g. 2026-11, not {period!r}")
    return date(int(m.group(1)), int(m.group(2)), 1)


def _bounds(month: date, zone: ZoneInfo) -> tuple[datetime, datetime]:
    start = datetime(month.year, month.month, 1, tzinfo=zone)
    nxt = (start + timedelta(days=32)).replace(day=1)
    return start, nxt


def _one(rows: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The month's one burn-down point (rewritten by each day's job), flat."""
    return flat(rows[-1]) if rows else None


def figures(
    reads: Reads, alerts: AlertReads, scope: SubjectScope, month: date,
    limits: MonthlyLimits | None, *, now_ms: int | None = None,
) -> MonthFigures:  # fmt: skip
    """Everything the monthly report of ``scope``'s subject and ``month`` shows."""
    park = scope.registry.parks[scope.park]
    zone = ZoneInfo(park.timezone)
    start, end = _bounds(month, zone)
    subject = scope.subject
    operator = scope.caller.role in ("operator", "city")
    # the park's enterprise-level sections (CEMS, completeness) are the operator's only
    seen = (
        [EnterpriseScope.within(scope, subject)] if subject != PARK_SCOPE
        else [EnterpriseScope.within(scope, e) for e in scope.enterprises()]
        if operator else []
    )  # fmt: skip
    cems, completeness = [], []
    for e in seen:
        cems += reads.evaluations(e, "cems_hourly", start, end, limit=MAX_ROWS)
        completeness += reads.evaluations(e, "data_quality", start, end, limit=MAX_ROWS)
    quota = (
        _one(reads.evaluations(seen[0], "quota", start, end, limit=1))
        if subject != PARK_SCOPE else None
    )  # fmt: skip
    # the park's alerts are the operator's (an enterprise shown the park's totals gets none)
    page = None if subject == PARK_SCOPE and not operator else alerts.page(
        scope, enterprise=None if subject == PARK_SCOPE else subject, states=None,
        severity=None, rule=None, since_ms=int(start.timestamp() * 1000),
        until_ms=int(end.timestamp() * 1000), after=None, limit=MAX_ROWS,
    )  # fmt: skip
    month_row = flat(reads.kpi_at(scope, "1mo", start))
    last_year_row, last_year_to_ms = same_span_last_year(reads, scope, start, month_row)
    configured = limits_mod.for_scope(limits, subject)
    name = park.name if subject == PARK_SCOPE else next(
        e.name for e in park.enterprises if e.id == subject
    )  # fmt: skip
    return MonthFigures(
        park=scope.park,
        subject=subject,
        name=name,
        month=month,
        zone=zone,
        month_row=month_row,
        last_year_row=last_year_row,
        last_year_to_ms=last_year_to_ms,
        days=[flat(r) or {} for r in reads.kpis(scope, "1d", start, end, limit=40)],
        quota=quota,
        budget=_one(reads.figures(scope, "carbon_budget", start, end, limit=1)),
        cems=[flat(r) or {} for r in cems],
        completeness=[flat(r) or {} for r in completeness],
        alerts=[asdict(a) for a in page or []],
        quota_tce_month=configured.quota_tce_month,
        budget_t_month=configured.carbon_budget_t_month,
        budget_method=configured.carbon_budget_method,
        generated_ms=now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000),
    )


def same_span_last_year(
    reads: Reads, scope: SubjectScope, start: datetime, month_row: dict[str, Any] | None
) -> tuple[dict[str, Any] | None, int | None]:
    """The same month last year; for a month not complete yet, its additive figures over
    the same span, to the same moment (as the scorecard compares them), and that moment
    in epoch ms. Ratios and shares stay the whole month's."""
    ago = start.replace(year=start.year - 1)  # the 1st: always a day of last year
    row = flat(reads.kpi_at(scope, "1mo", ago))
    complete = None if month_row is None else month_row.get("complete_to_ms")
    if not (month_row or {}).get("provisional") or not isinstance(complete, int | float):
        return row, None
    span = reads.same_span_last_year(scope, start, complete)
    assert span is not None  # a month's 1st has a day a year before
    _ago, end, sums = span
    if row is None and not sums:
        return None, None
    kept = {k: v for k, v in (row or {"time": int(ago.timestamp() * 1000)}).items()
            if k not in ADDITIVE}  # fmt: skip
    return kept | sums, int(end.timestamp() * 1000)


def flat(row: dict[str, Any] | None) -> dict[str, Any] | None:
    """A stored row with its tags and fields side by side (``time`` in epoch ms)."""
    if row is None:
        return None
    tags, fields = split(row)
    return {"time": row["time"], **tags, **fields}


def build(
    reads: Reads, alerts: AlertReads, scope: SubjectScope, month: date, fmt: Format,
    limits: MonthlyLimits | None,
) -> tuple[bytes, str, str]:  # fmt: skip
    """The report's bytes, media type and file name."""
    report = monthly(figures(reads, alerts, scope, month, limits))
    body = xlsx.render(report) if fmt == "xlsx" else pdf.render(report)
    return body, MEDIA[fmt], f"{scope.subject}-{month:%Y-%m}-monthly.{fmt}"
