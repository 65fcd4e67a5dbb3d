"""Partial state (pure): what a rule has gathered toward its next decision survives a
restart. A restart here is a new engine resumed from what the old one's ``touched``
returned, through JSON as the alert database keeps it; its verdicts must equal those of
an engine that never stopped, and redelivered readings must not count twice."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from alerts.engine import Condition, Engine
from smartpark.registry import Registry
from tests.alerts.test_engine import GRID, MIN, STACK, T0, THRESHOLD, _engine, _stack_minute

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
    assert set(kept.rows) == {("cems", "tianfu-np/e08-anode/emissions/e08-stack-1"),
                              ("grid-high", "e08-grid-1")}  # fmt: skip
    engine.reading(GRID, T0 + MIN, {"power_kw": 6000.0}, T0 + MIN)  # the breach ended
    engine.tick(T0 + 40 * MIN)  # the stack went quiet: its hour is judged
    kept.commit(engine)
    assert kept.rows == {}
