"""Partial state (pure): what a rule has gathered toward its next decision survives a
restart. A restart here is a new engine resumed from what the old one's ``touched``
returned, through JSON as the alert database keeps it; its verdicts must equal those of
an engine that never stopped, and redelivered readings must not count twice."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson
import pytest

from alerts.engine import Condition, Engine
from smartpark.registry import Registry
from tests.alerts.test_engine import (
    CST,
    GRID,
    MIN,
    STACK,
    T0,
    THRESHOLD,
    _engine,
    _stack_minute,
    _update,
)

CEMS = {"id": "cems", "type": "cems_hourly", "pollutants": ["nox_mg_m3"]}


class Kept:
    """What the service commits: the latest state per (rule, key), None deleting it."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], bytes] = {}

    def commit(self, engine: Engine) -> None:
        for rule, key, state in engine.touched():
            if state is None:
                self.rows.pop((rule, key), None)
            else:
                self.rows[(rule, key)] = orjson.dumps(state)

    def restart(self, park: Registry, *rules: dict[str, Any]) -> Engine:
        engine = _engine(park, *rules)
        engine.resume((r, k, orjson.loads(v)) for (r, k), v in self.rows.items())
        return engine


def _run(
    park: Registry,
    rule: dict[str, Any],
    inputs: list[tuple[Any, int, dict[str, float]]],
    *,
    restart_after: int | None,
    redeliver: int = 0,
) -> list[tuple[int, bool, float]]:
    """Feed ``inputs``; restart after ``restart_after`` of them (committing after each),
    then feed the ``redeliver`` inputs before the restart point again and the rest."""
    kept, engine = Kept(), _engine(park, rule)
    out: list[Condition] = []
    for i, (ref, ts, values) in enumerate(inputs):
        if i == restart_after:
            engine = kept.restart(park, rule)
            for ref_, ts_, values_ in inputs[i - redeliver : i]:
                out += engine.reading(ref_, ts_, values_, ts_)
        out += engine.reading(ref, ts, values, ts)
        kept.commit(engine)
    out += engine.tick(inputs[-1][1] + 10 * MIN)  # the stack goes quiet: its last hour
    kept.commit(engine)
    return [(c.at_ms - T0, c.raised, round(c.value or 0.0, 1)) for c in out]


def _cems_hours(first_40: float, last_20: float) -> list[tuple[Any, int, dict[str, float]]]:
    return [
        (STACK, T0 + i * MIN, _stack_minute(first_40 if i < 40 else last_20))
        for i in range(61)  # the 61st minute starts the next hour: 09:00 is judged
    ]


@pytest.mark.parametrize(
    ("rule", "inputs", "restart_after", "redeliver"),
    [
        # for_s 120: over at 0, 1, 2 min; a restart after the first must not restart the clock
        (THRESHOLD, [(GRID, T0 + i * MIN, {"power_kw": 7100.0}) for i in range(4)], 1, 0),
        (THRESHOLD, [(GRID, T0 + i * MIN, {"power_kw": 7100.0}) for i in range(4)], 2, 1),
        # a dip before the restart reset the clock: it stays reset
        (
            THRESHOLD,
            [
                (GRID, T0 + i * MIN, {"power_kw": v})
                for i, v in enumerate([7100, 6900, 7100, 7100, 7100])
            ],
            2,
            0,
        ),
        # a CEMS hour: 40 minutes at 60 mg/m3, 20 at 0 (mean 40 > 30); restarted at minute 40
        (CEMS, _cems_hours(60.0, 0.0), 40, 0),
        # ... and with the last ten minutes before the restart redelivered after it
        (CEMS, _cems_hours(60.0, 0.0), 40, 10),
        # compliant on the whole hour although the first 40 minutes alone exceed
        (CEMS, _cems_hours(40.0, 0.0), 40, 5),
    ],
    ids=[
        "for-duration",
        "for-duration-redelivered",
        "for-duration-reset-by-dip",
        "cems-minute-40",
        "cems-minute-40-redelivered",
        "cems-compliant-hour",
    ],
)
def test_a_restart_decides_what_an_engine_that_never_stopped_decides(
    park: Registry,
    rule: dict[str, Any],
    inputs: list[tuple[Any, int, dict[str, float]]],
    restart_after: int,
    redeliver: int,
) -> None:
    never_stopped = _run(park, rule, inputs, restart_after=None)
    assert _run(park, rule, inputs, restart_after=restart_after, redeliver=redeliver) == (
        never_stopped
    )


def test_the_cases_above_decide_something(park: Registry) -> None:
    """The table compares two runs; this pins what the runs decide, so it cannot pass on
    two engines that both decide nothing."""
    grid = [(GRID, T0 + i * MIN, {"power_kw": 7100.0}) for i in range(4)]
    assert _run(park, THRESHOLD, grid, restart_after=1) == [(2 * MIN, True, 7100.0)]
    # 60 minutes: (40 x 60 + 20 x 0) / 60 = 40 mg/m3 over 30, fired at the hour's end
    assert _run(park, CEMS, _cems_hours(60.0, 0.0), restart_after=40) == [(60 * MIN, True, 40.0)]
    assert _run(park, CEMS, _cems_hours(40.0, 0.0), restart_after=40) == []


def test_without_the_kept_state_the_hour_after_a_restart_is_invalid(park: Registry) -> None:
    """What the kept state prevents: 20 minutes left of the hour are fewer than 45."""
    engine = _engine(park, CEMS)
    out: list[Condition] = []
    for ref, ts, values in _cems_hours(60.0, 0.0)[40:]:
        out += engine.reading(ref, ts, values, ts)
    assert out == []


def test_what_is_decided_leaves_nothing_kept(park: Registry) -> None:
    kept, engine = Kept(), _engine(park, CEMS, THRESHOLD)
    for ref, ts, values in _cems_hours(60.0, 0.0)[:30]:
        engine.reading(ref, ts, values, ts)
    engine.reading(GRID, T0, {"power_kw": 7100.0}, T0)
    kept.commit(engine)
    assert set(kept.rows) == {("cems", "tianfu-np|tianfu-np/e08-anode/emissions/e08-stack-1"),
                              ("grid-high", "tianfu-np|e08-grid-1")}  # fmt: skip
    engine.reading(GRID, T0 + MIN, {"power_kw": 6000.0}, T0 + MIN)  # the breach ended
    engine.tick(T0 + 40 * MIN)  # the stack went quiet: its hour is judged
    kept.commit(engine)
    assert kept.rows == {}


QUOTA = {"id": "quota", "type": "quota_forecast", "quotas_tce_month": {"e08-anode": 2600}}


def _quota_days(
    park: Registry, restart_after: int | None, *, keep: bool = True
) -> list[tuple[int, bool]]:
    """November's daily energy of e08 (80 tce a day to the 9th, then 100), the service
    restarted after ``restart_after`` days: its open alerts restored as the service does,
    its month's days resumed from what it committed (or not, ``keep=False``). The
    conditions as (day of month, raised)."""
    day0 = int(datetime(2026, 11, 1, tzinfo=CST).timestamp() * 1000)
    kept, engine = Kept(), _engine(park, QUOTA)
    out: list[Condition] = []
    for d in range(20):
        if d == restart_after:
            active = engine.active()
            engine = kept.restart(park, QUOTA) if keep else _engine(park, QUOTA)
            engine.restore(active)
        energy = 80.0 if d < 9 else 100.0
        out += engine.kpi(_update("e08-anode", "1d", day0 + d * 86_400_000, {"energy_tce": energy}))
        kept.commit(engine)
    return [(datetime.fromtimestamp((c.at_ms - 1) / 1000, CST).day, c.raised) for c in out]


def test_a_restart_mid_month_forecasts_from_the_whole_month(park: Registry) -> None:
    """The quota forecast fires when the 14th's KPI comes in (1,220 tce / 14 x 30 = 2,614
    over 2,600) and holds to the 20th. Restarted on the 12th or, while firing, on the
    16th, the service decides the same; without its month's days it would forecast from
    the days since the restart: no firing at all, or a false resolution on the 16th."""
    never_stopped = _quota_days(park, None)
    assert never_stopped == [(14, True)]
    assert _quota_days(park, 11) == _quota_days(park, 15) == never_stopped
    assert _quota_days(park, 11, keep=False) == []
    assert _quota_days(park, 15, keep=False) == [(14, True), (16, False)]


def test_what_is_kept_of_the_month_is_the_newest_two_months(park: Registry) -> None:
    """Fifteen months of daily KPIs: the committed state holds February and March 2027
    (the newest month and the one before), keyed by park and scope."""
    kept, engine = Kept(), _engine(park, QUOTA)
    day = datetime(2026, 1, 1, tzinfo=CST)
    while day < datetime(2027, 3, 6, tzinfo=CST):
        engine.kpi(_update("e08-anode", "1d", int(day.timestamp() * 1000), {"energy_tce": 1.0}))
        kept.commit(engine)
        day += timedelta(days=1)
    state = orjson.loads(kept.rows[("quota", "tianfu-np|e08-anode")])
    months = {f"{datetime.fromtimestamp(ms / 1000, CST):%Y-%m}" for ms, _v, _w in state["days"]}
    assert months == {"2027-02", "2027-03"} and len(state["days"]) == 28 + 5
    assert state["newest"] == [2027, 3]
