"""What the API reads from InfluxDB, as typed queries (``smartpark.store.influxql``): ids
have been checked against the id grammar before they get here, times are datetimes and
every answer is bounded by the caller (range and points)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from smartpark.model import KPI_METHOD_TAGS
from smartpark.registry import Registry
from smartpark.store.base import Series, Store
from smartpark.store.influxql import Select

#: Tag columns of the measurements the API reads (the rest of a row are fields).
TAGS = frozenset(
    {"park", "scope", "window", "enterprise", "sensor", "kind", "grade", "period", *KPI_METHOD_TAGS}
)
#: KPI fields that add up over periods (totals); ratios and shares do not.
ADDITIVE_SUFFIXES = ("_tce", "_t", "_kwh", "_m3", "_kg", "_cny")


def rows(series: Iterable[Series]) -> list[dict[str, Any]]:
    """Every row of every series as a dict (``time`` in epoch ms, tags included)."""
    out = []
    for s in series:
        for values in s.values:
            row = dict(zip(s.columns, values, strict=True))
            row.update(s.tags)
            row["time"] = int(row["time"])
            out.append({k: v for k, v in row.items() if v is not None})
    return out


def split(row: dict[str, Any]) -> tuple[dict[str, str], dict[str, Any]]:
    """(tags, fields) of one row."""
    tags = {k: v for k, v in row.items() if k in TAGS}
    fields = {k: v for k, v in row.items() if k not in TAGS and k != "time"}
    return tags, fields


class Reads:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry

    def _q(self, select: Select) -> list[dict[str, Any]]:
        return rows(self.store.query(select.to_influxql()))

    def latest(self, park: str, enterprise: str, *, now: datetime) -> list[dict[str, Any]]:
        """Each sensor's newest reading (all its fields) within the last 7 days."""
        kinds = sorted(
            {s.ref.kind for s in self.registry.sensors() if s.ref.enterprise == enterprise}
        )
        out = []
        for kind in kinds:
            fields = sorted(self.registry.kinds[kind].fields)
            query = Select(
                kind,
                fields,
                tags={"park": park, "enterprise": enterprise},
                start=now - timedelta(days=7),
                group_by_tags=["sensor"],
                newest_first=True,
                limit=1,
            )
            for row in self._q(query):
                tags, values = split(row)
                out.append(
                    {
                        "sensor": tags["sensor"],
                        "kind": kind,
                        "ts_ms": row["time"],
                        "age_s": round((now.timestamp() * 1000 - row["time"]) / 1000, 3),
                        "values": values,
                    }
                )
        return sorted(out, key=lambda r: r["sensor"])

    def series(
        self, park: str, kind: str, sensor: str, field: str, start: datetime, end: datetime,
        *, max_points: int,
    ) -> tuple[int, list[dict[str, Any]]]:  # fmt: skip
        """A field's time-weighted-enough mean per interval, the interval chosen so the
        answer has at most ``max_points`` points (at least 1 s)."""
        span_s = (end - start).total_seconds()
        interval = max(1, math.ceil(span_s / max_points))
        query = Select(
            kind,
            [field],
            aggregate="mean",
            tags={"park": park, "sensor": sensor},
            start=start,
            end=end,
            group_by_time_s=interval,
        )
        return interval, [{"ts_ms": r["time"], field: r.get(field)} for r in self._q(query)]

    def points(
        self, measurement: str, tags: dict[str, str], start: datetime, end: datetime,
        *, limit: int,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """The points of a measurement (every field) in [start, end), oldest first."""
        query = Select(measurement, ["*"], tags=tags, start=start, end=end, limit=limit)
        return self._q(query)

    def kpi_at(self, park: str, scope: str, window: str, start: datetime) -> dict[str, Any] | None:
        """The KPI point of one window, or None when it is not stored."""
        found = self.points(
            "kpi",
            {"park": park, "scope": scope, "window": window},
            start,
            start + timedelta(milliseconds=1),
            limit=1,
        )
        return found[0] if found else None

    def totals(
        self, park: str, scope: str, window: str, start: datetime, end: datetime
    ) -> tuple[dict[str, float], int]:
        """The additive KPI fields summed over the stored windows in [start, end), and how
        many windows there were."""
        found = self.points(
            "kpi", {"park": park, "scope": scope, "window": window}, start, end, limit=400
        )
        sums: dict[str, float] = {}
        for row in found:
            for key, value in split(row)[1].items():
                if key.endswith(ADDITIVE_SUFFIXES) and isinstance(value, int | float):
                    sums[key] = sums.get(key, 0.0) + float(value)
        return sums, len(found)
