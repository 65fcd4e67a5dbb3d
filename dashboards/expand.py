"""Grafana's expansion of panel queries, for running them outside Grafana (pure): the
tests and the dashboard benchmark send every panel's query to the real InfluxDB or
Prometheus the way Grafana would.

InfluxQL: ``$timeFilter`` -> ``time >= {from}ms and time <= {to}ms``; ``$__interval`` and
``$interval`` -> the interval for the panel's width (range / max data points, at least
``min_interval``, rounded as Grafana rounds); ``$__interval_ms``. Variables: a single
value as is; several values as a regex ``(a|b)`` (InfluxQL's format for ``=~``) and, for
PromQL, ``a|b``. PromQL: ``$__rate_interval`` = max(4 x scrape interval, interval +
scrape interval); ``$__range`` in seconds.
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

_STEPS_S = (1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200,
            10800, 21600, 43200, 86400, 604800)  # fmt: skip


def interval_s(from_ms: int, to_ms: int, *, max_points: int = 1000, min_s: int = 1) -> int:
    raw = (to_ms - from_ms) / 1000 / max_points
    step = next((s for s in _STEPS_S if s >= raw), _STEPS_S[-1])
    return max(step, min_s)


_RELATIVE = re.compile(r"now(?:-(\d+)([mhdwMy]))?(?:/([dMy]))?")
_SHIFT = re.compile(r"(\d+)([mhdwMy])(?:/([dMy]))?")
_UNIT_S = {"m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _back(at: datetime, count: str | None, unit: str | None) -> datetime:
    """``at`` less ``count`` units, on the calendar for months and years."""
    if unit in ("M", "y"):
        months = int(count or 0) * (12 if unit == "y" else 1)
        month0 = at.year * 12 + at.month - 1 - months
        year, month = month0 // 12, month0 % 12 + 1
        return at.replace(year=year, month=month, day=min(at.day, monthrange(year, month)[1]))
    if unit:
        return at - timedelta(seconds=int(count or 0) * _UNIT_S[unit])
    return at


def _rounded(at: datetime, to: str | None, *, up: bool) -> datetime:
    """``at`` rounded to the start of its day, month or year (``up``: to the last
    millisecond of it, as Grafana rounds a range's end)."""
    if not to:
        return at
    start = at.replace(hour=0, minute=0, second=0, microsecond=0)
    if to in ("M", "y"):
        start = start.replace(day=1, month=1 if to == "y" else start.month)
    if not up:
        return start
    if to == "d":
        nxt = (start + timedelta(days=1, hours=12)).replace(hour=0)
    else:
        nxt = _back(start, "-1" if to == "M" else "-12", "M")
    return nxt - timedelta(milliseconds=1)


def relative_ms(expr: str, *, now_ms: int, zone: ZoneInfo) -> int:
    """A Grafana relative time as a dashboard's ``time.from`` or a panel's ``timeFrom``
    uses it (``now``, ``now-7d``, ``now-1y``, ``now/d``, ``now/M``, ``now-1d/d``): the
    moment it names in the dashboard's time zone; a rounding (``/d``) goes to the start."""
    match = _RELATIVE.fullmatch(expr)
    if match is None:
        raise ValueError(f"not a relative time this expansion knows: {expr!r}")
    count, unit, round_to = match.groups()
    at = _back(datetime.fromtimestamp(now_ms / 1000, zone), count, unit)
    return int(_rounded(at, round_to, up=False).timestamp() * 1000)


def panel_range_ms(
    panel: Mapping[str, Any], board_from: str, *, now_ms: int, zone: ZoneInfo
) -> tuple[int, int]:
    """The range Grafana gives a panel at ``now_ms``: from its ``timeFrom`` (else the
    board's ``from``) to now, moved back by its ``timeShift`` (``1M/M``: the start
    rounded down, the end up - with ``timeFrom: now/M``, the whole month before)."""
    start = relative_ms(panel.get("timeFrom") or board_from, now_ms=now_ms, zone=zone)
    shift = panel.get("timeShift")
    if not shift:
        return start, now_ms
    match = _SHIFT.fullmatch(shift)
    if match is None:
        raise ValueError(f"not a time shift this expansion knows: {shift!r}")
    count, unit, round_to = match.groups()

    def moved(ms: int, *, up: bool) -> int:
        at = _back(datetime.fromtimestamp(ms / 1000, zone), count, unit)
        return int(_rounded(at, round_to, up=up).timestamp() * 1000)

    return moved(start, up=False), moved(now_ms, up=True)


def _duration(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def _variables(text: str, values: Mapping[str, str | Sequence[str]], *, promql: bool) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if name not in values:
            raise KeyError(f"undefined variable ${name}")
        v = values[name]
        if isinstance(v, str):
            return v
        joined = "|".join(re.escape(x) for x in v)
        return joined if promql else f"({joined})"

    return re.sub(r"\$\{(\w+)\}|\$(?!__|timeFilter|interval)(\w+)", value, text)


def influxql(
    query: str, *, from_ms: int, to_ms: int, variables: Mapping[str, str | Sequence[str]],
    max_points: int = 1000,
) -> str:  # fmt: skip
    step = interval_s(from_ms, to_ms, max_points=max_points)
    text = query.replace("$timeFilter", f"time >= {from_ms}ms and time <= {to_ms}ms")
    text = text.replace("$__interval_ms", str(step * 1000))
    text = text.replace("$__interval", _duration(step)).replace("$interval", _duration(step))
    return _variables(text, variables, promql=False)


def promql(
    expr: str, *, from_ms: int, to_ms: int, scrape_s: int,
    variables: Mapping[str, str | Sequence[str]] | None = None, max_points: int = 1000,
) -> str:  # fmt: skip
    step = interval_s(from_ms, to_ms, max_points=max_points, min_s=scrape_s)
    rate = max(4 * scrape_s, step + scrape_s)
    text = expr.replace("$__rate_interval", _duration(rate))
    text = text.replace("$__range", f"{(to_ms - from_ms) // 1000}s")
    text = text.replace("$__interval", _duration(step))
    return _variables(text, variables or {}, promql=True)
