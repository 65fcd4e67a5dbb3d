"""The annual energy-use report's figures (能源利用状况报告), read through the API's read
layer like the monthly report's (``api.monthly``): the year's and the year before's
stored monthly KPI points; rendered by ``reports``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.monthly import MEDIA, Format, flat, same_span_last_year
from api.reads import Reads
from api.scope import SubjectScope
from reports import pdf, xlsx
from reports.annual import YearFigures, annual
from smartpark.model import PARK_SCOPE
from smartpark.products import LEVEL_NAMES


def _months(reads: Reads, scope: SubjectScope, year: int, zone: ZoneInfo) -> list[dict[str, Any]]:
    start, end = datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)
    return [flat(r) or {} for r in reads.kpis(scope, "1mo", start, end, limit=12)]


def _year_before(
    reads: Reads, scope: SubjectScope, year: int, months: list[dict[str, Any]], zone: ZoneInfo
) -> tuple[list[dict[str, Any]], int | None]:
    """The year before's monthly points; for a year not complete yet (its newest month
    open), its same span: the whole months before that month's, then that month to the
    same moment (``api.monthly``'s same-span row), and that moment in epoch ms."""
    year_before = _months(reads, scope, year - 1, zone)
    newest = months[-1] if months else {}
    if not newest.get("provisional") or not isinstance(newest.get("time"), int):
        return year_before, None
    start = datetime.fromtimestamp(int(newest["time"]) / 1000, zone)
    ago = start.replace(year=start.year - 1)
    whole = [m for m in year_before if int(m["time"]) < ago.timestamp() * 1000]
    row, to_ms = same_span_last_year(reads, scope, start, newest)
    return whole + ([row] if row is not None else []), to_ms


def figures(
    reads: Reads, scope: SubjectScope, year: int, *, now_ms: int | None = None
) -> YearFigures:
    """Everything the annual report of ``scope``'s subject and ``year`` shows."""
    park = scope.registry.parks[scope.park]
    zone = ZoneInfo(park.timezone)
    months = _months(reads, scope, year, zone)
    levels: dict[str, float] = {}
    for m in months:  # the product standard's levels, as the newest month states them
        for level in LEVEL_NAMES:
            value = m.get(f"product_{level}_kgce_per_output")
            if isinstance(value, int | float) and not isinstance(value, bool):
                levels[level] = float(value)
    name = park.name if scope.subject == PARK_SCOPE else next(
        e.name for e in park.enterprises if e.id == scope.subject
    )  # fmt: skip
    last_months, last_to_ms = _year_before(reads, scope, year, months, zone)
    return YearFigures(
        park=scope.park, subject=scope.subject, name=name, year=year, zone=zone,
        months=months, last_months=last_months, last_year_to_ms=last_to_ms, levels=levels,
        generated_ms=now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000),
    )  # fmt: skip


def build(reads: Reads, scope: SubjectScope, year: int, fmt: Format) -> tuple[bytes, str, str]:
    """The report's bytes, media type and file name."""
    report = annual(figures(reads, scope, year))
    body = xlsx.render(report) if fmt == "xlsx" else pdf.render(report)
    return body, MEDIA[fmt], f"{scope.subject}-{year}-annual.{fmt}"
