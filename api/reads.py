"""What the API reads, from InfluxDB as typed queries (``smartpark.store.influxql``) and
from the alert service's SQLite. Every read takes a checked scope (``api.scope``) and
builds its tags from it: the park, enterprise or ``_park`` a query names is the scope's,
never a string a route passed. Times are datetimes and every answer is bounded by the
caller (range and points). Measurements, tags and fields are those of ``smartpark.schema``
(the readings': the registry's)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from api.scope import EnterpriseScope, ParkScope, SubjectScope
from smartpark import schema
from smartpark.alertstore import Alert, AlertDB
from smartpark.registry import Registry
from smartpark.store import policy_for
from smartpark.store.base import Series, Store
from smartpark.store.influxql import Aggregate, Select

#: Tag columns of the measurements the API reads (the rest of a row are fields).
TAGS = schema.ROLLUP_TAGS | frozenset(schema.READING_TAGS)
#: KPI fields that add up over periods (totals, by their unit); ratios and shares do not.
ADDITIVE = schema.KPI_ADDITIVE


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


def a_year_before(start: datetime) -> datetime | None:
    """The same local day or month a year before; None for 29 February (no such day)."""
    try:
        return start.replace(year=start.year - 1)
    except ValueError:
        return None


class Reads:
    def __init__(self, store: Store, registry: Registry) -> None:
        self.store = store
        self.registry = registry

    def _q(self, select: Select) -> list[dict[str, Any]]:
        return rows(self.store.query(select.to_influxql()))

    def latest(self, scope: EnterpriseScope, *, now: datetime) -> list[dict[str, Any]]:
        """Each sensor's newest reading (all its fields) within the last 7 days."""
        park, enterprise = scope.park, scope.enterprise
        kinds = sorted(
            {s.ref.kind for s in self.registry.sensors()
             if s.ref.park == park and s.ref.enterprise == enterprise}
        )  # fmt: skip
        out = []
        for kind in kinds:
            measurement = schema.readings(kind, self.registry.kinds[kind])
            query = Select(
                measurement.name,
                sorted(measurement.fields),
                tags={measurement.tag("park"): park, measurement.tag("enterprise"): enterprise},
                start=now - timedelta(days=7),
                group_by_tags=["sensor"],
                newest_first=True,
                limit=1,
                retention_policy=policy_for(self.store, measurement.name),
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
        self, scope: EnterpriseScope, sensor: str, field: str, start: datetime, end: datetime,
        *, max_points: int,
    ) -> tuple[int, list[dict[str, Any]]] | None:  # fmt: skip
        """A field's time-weighted-enough mean per interval, the interval chosen so the
        answer has at most ``max_points`` points (at least 1 s); None when the sensor is
        not the enterprise's or has no such field."""
        found = self.registry.sensor(scope.park, sensor)
        if found is None or found.ref.enterprise != scope.enterprise or field not in found.fields:
            return None
        span_s = (end - start).total_seconds()
        interval = max(1, math.ceil(span_s / max_points))
        query = Select(
            found.ref.kind,
            [field],
            aggregate="mean",
            tags={"park": scope.park, "sensor": sensor},
            start=start,
            end=end,
            group_by_time_s=interval,
            retention_policy=policy_for(self.store, found.ref.kind),
        )
        return interval, [{"ts_ms": r["time"], field: r.get(field)} for r in self._q(query)]

    def _points(
        self, measurement: str, tags: dict[str, str], start: datetime, end: datetime,
        *, limit: int,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """The points of a roll-up (every field) in [start, end), oldest first."""
        rollup = schema.rollup(measurement)
        checked = {rollup.tag(k): v for k, v in tags.items()}
        query = Select(rollup.name, ["*"], tags=checked, start=start, end=end, limit=limit)
        return self._q(query)

    def kpis(
        self, scope: SubjectScope, window: str, start: datetime, end: datetime, *, limit: int
    ) -> list[dict[str, Any]]:
        """The stored KPI points of the scope's subject and ``window`` in [start, end)."""
        tags = {"park": scope.park, "scope": scope.subject, "window": window}
        return self._points(schema.KPI.name, tags, start, end, limit=limit)

    def figures(
        self, scope: SubjectScope, measurement: str, start: datetime, end: datetime, *, limit: int
    ) -> list[dict[str, Any]]:
        """The points of a roll-up kept per subject (an enterprise or ``_park``: carbon
        budgets) in [start, end)."""
        tags = {"park": scope.park, "scope": scope.subject}
        return self._points(measurement, tags, start, end, limit=limit)

    def evaluations(
        self, scope: EnterpriseScope, measurement: str, start: datetime, end: datetime,
        *, limit: int,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """The points of a roll-up kept per enterprise (CEMS hours, completeness, quota)."""
        tags = {"park": scope.park, "enterprise": scope.enterprise}
        return self._points(measurement, tags, start, end, limit=limit)

    def park_points(
        self, scope: ParkScope, measurement: str, start: datetime, end: datetime, *, limit: int
    ) -> list[dict[str, Any]]:
        """The points in [start, end) of a roll-up kept per enterprise (quota, completeness,
        grades) across the park: those of the enterprises the caller sees."""
        seen = set(scope.enterprises())
        found = self._points(measurement, {"park": scope.park}, start, end, limit=limit)
        return [r for r in found if r.get("enterprise") in seen]

    def grades(self, scope: ParkScope, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The mu-average rows of [start, end) of the enterprises the caller sees."""
        return self.park_points(scope, schema.MUJU.name, start, end, limit=1000)

    def per_enterprise(
        self, scope: ParkScope, measurement: str, field: str, aggregate: Aggregate,
        start: datetime, end: datetime,
    ) -> dict[str, float]:  # fmt: skip
        """``aggregate`` of one field of a roll-up kept per enterprise over [start, end),
        one figure per enterprise the caller sees (one statement for the whole park, so
        a park of many sensor-days answers a row per enterprise, not per point)."""
        rollup = schema.rollup(measurement)
        query = Select(
            rollup.name, [rollup.field(field).name], aggregate=aggregate,
            tags={rollup.tag("park"): scope.park}, start=start, end=end,
            group_by_tags=[rollup.tag("enterprise")],
        )  # fmt: skip
        seen = set(scope.enterprises())
        return {
            row["enterprise"]: float(row[field])
            for row in self._q(query)
            if row.get("enterprise") in seen and isinstance(row.get(field), int | float)
        }

    def kpi_at(self, scope: SubjectScope, window: str, start: datetime) -> dict[str, Any] | None:
        """The KPI point of one window, or None when it is not stored."""
        found = self.kpis(scope, window, start, start + timedelta(milliseconds=1), limit=1)
        return found[0] if found else None

    def totals(
        self, scope: SubjectScope, window: str, start: datetime, end: datetime
    ) -> tuple[dict[str, float], int]:
        """The additive KPI fields summed over the stored windows in [start, end), and how
        many windows there were."""
        found = self.kpis(scope, window, start, end, limit=400)
        sums: dict[str, float] = {}
        for row in found:
            for key, value in split(row)[1].items():
                if key in ADDITIVE and isinstance(value, int | float):
                    sums[key] = sums.get(key, 0.0) + float(value)
        return sums, len(found)

    def same_span_last_year(
        self, scope: SubjectScope, start: datetime, complete_to_ms: float
    ) -> tuple[datetime, datetime, dict[str, float]] | None:
        """An open window from ``start`` complete to ``complete_to_ms``, a year before:
        its start, its end at the same moment, and its additive figures (``to_date``);
        None on 29 February (no such day a year before)."""
        ago = a_year_before(start)
        if ago is None:
            return None
        end = ago + timedelta(milliseconds=complete_to_ms - start.timestamp() * 1000)
        return ago, end, self.to_date(scope, ago, end)

    def to_date(self, scope: SubjectScope, lo: datetime, hi: datetime) -> dict[str, float]:
        """The additive KPI figures over [lo, hi) from the stored windows that tile it: whole
        local days, then hours, then the minutes of the last hour (at most 31 + 24 + 59
        windows, so a month to date stays within one read's limit each)."""
        day = max(lo, hi.replace(hour=0, minute=0, second=0, microsecond=0))
        hour = max(day, hi.replace(minute=0, second=0, microsecond=0))
        sums: dict[str, float] = {}
        for window, a, b in (("1d", lo, day), ("1h", day, hour), ("1m", hour, hi)):
            if a < b:
                part, _count = self.totals(scope, window, a, b)
                for key, value in part.items():
                    sums[key] = sums.get(key, 0.0) + value
        return sums


class AlertReads:
    """The alert service's alerts as a scope sees them."""

    def __init__(self, db: AlertDB) -> None:
        self.db = db

    def page(
        self, scope: ParkScope, *, enterprise: str | None, states: list[str] | None,
        severity: str | None, rule: str | None, since_ms: int | None, until_ms: int | None,
        after: tuple[int, str] | None, limit: int,
    ) -> list[Alert] | None:  # fmt: skip
        """A page of alerts, newest first; None when ``enterprise`` is not one the scope
        sees alerts of."""
        seen = scope.alert_subjects()
        if enterprise is not None:
            if enterprise not in seen:
                return None
            seen = [enterprise]
        return self.db.page(
            park=scope.park, enterprises=seen, states=states, severity=severity, rule=rule,
            since_ms=since_ms, until_ms=until_ms, after=after, limit=limit,
        )  # fmt: skip

    def get(self, scope: ParkScope, alert_id: str) -> Alert | None:
        """One alert, if it is in the scope's park and the caller sees its subject."""
        alert = self.db.get(alert_id)
        if alert is None or alert.park != scope.park:
            return None
        return alert if scope.sees(alert.enterprise, aggregate=False) else None

    def history(self, alert: Alert) -> list[tuple[str, int]]:
        """The events of an alert ``get`` returned."""
        return self.db.history(alert.id)

    def close(self) -> None:
        self.db.close()
