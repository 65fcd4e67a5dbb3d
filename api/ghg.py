"""The greenhouse-gas inventory's figures, read through the API's read layer like the
monthly and annual reports' (``api.monthly``, ``api.annual``): the period's stored monthly
KPI points, the boundary's meters from the registry and their stored completeness, and
the factor set the processing configuration chooses; rendered by ``reports``."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from api.monthly import MAX_ROWS, MEDIA, Format, flat
from api.reads import Reads
from api.scope import EnterpriseScope, SubjectScope
from reports import pdf, xlsx
from reports.ghg import GhgFigures, Meter, ghg
from smartpark.errors import ConfigError
from smartpark.factorset import FactorSet
from smartpark.model import PARK_SCOPE

PERIOD = re.compile(r"^(\d{4})(?:-(0[1-9]|1[0-2]))?$")


def period_of(period: str) -> tuple[int, int | None]:
    """The year and month (None for a whole year) of ``YYYY`` or ``YYYY-MM``."""
    m = PERIOD.fullmatch(period)
    if m is None or not 2000 <= int(m.group(1)) <= 2100:
        raise ConfigError(f"a period is YYYY or YYYY-MM (2000-2100), e.g. 2026, not {period!r}")
    return int(m.group(1)), int(m.group(2)) if m.group(2) else None


def _bounds(year: int, month: int | None, zone: ZoneInfo) -> tuple[datetime, datetime]:
    if month is None:
        return datetime(year, 1, 1, tzinfo=zone), datetime(year + 1, 1, 1, tzinfo=zone)
    end = datetime(year + month // 12, month % 12 + 1, 1, tzinfo=zone)
    return datetime(year, month, 1, tzinfo=zone), end


def figures(
    reads: Reads, scope: SubjectScope, period: str, factors: FactorSet | None,
    *, now_ms: int | None = None,
) -> GhgFigures:  # fmt: skip
    """Everything the inventory of ``scope``'s subject and ``period`` shows."""
    year, month = period_of(period)
    park = scope.registry.parks[scope.park]
    zone = ZoneInfo(park.timezone)
    start, end = _bounds(year, month, zone)
    months = [flat(r) or {} for r in reads.kpis(scope, "1mo", start, end, limit=12)]
    # the boundary: the enterprise, or the park's enterprises the caller sees
    ids = [scope.subject] if scope.subject != PARK_SCOPE else scope.enterprises()
    within = [e for e in park.enterprises if e.id in ids]
    completeness: list[dict[str, Any]] = []
    for e in within:
        rows = reads.evaluations(
            EnterpriseScope.within(scope, e.id), "data_quality", start, end, limit=MAX_ROWS
        )
        completeness += [flat(r) or {} for r in rows]
    meters = [
        Meter(s.id, s.kind, e.id, s.description,
              s.interval_s or scope.registry.kinds[s.kind].interval_s)
        for e in within for s in e.sensors
    ]  # fmt: skip
    return GhgFigures(
        park=scope.park, subject=scope.subject,
        name=park.name if scope.subject == PARK_SCOPE else within[0].name,
        period=period, zone=zone, months=months, months_in_period=1 if month else 12,
        enterprises=[(e.id, e.name, e.industry) for e in within], meters=meters,
        completeness=completeness, factors=factors,
        generated_ms=now_ms if now_ms is not None else int(datetime.now(UTC).timestamp() * 1000),
    )  # fmt: skip


def build(
    reads: Reads, scope: SubjectScope, period: str, fmt: Format, factors: FactorSet | None
) -> tuple[bytes, str, str]:
    """The report's bytes, media type and file name."""
    report = ghg(figures(reads, scope, period, factors))
    body = xlsx.render(report) if fmt == "xlsx" else pdf.render(report)
    return body, MEDIA[fmt], f"{scope.subject}-{period}-ghg.{fmt}"
