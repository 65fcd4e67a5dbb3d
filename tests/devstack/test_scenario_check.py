"""``smartpark scenario check``: the shipped scenarios' checks through the whole pipeline,
and the judge that can fail them."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime

import pytest

from devstack.scenario_check import judge
from simulators import scenario as scenario_mod
from simulators.scenario import Checks
from tests.conftest import EXAMPLE_PARK

SCENARIOS = EXAMPLE_PARK.parent / "scenarios"
CHECKED = sorted(
    p.name for p in SCENARIOS.glob("*.yaml") if scenario_mod.load(p).checks is not None
)


def _alert(event: str, subject: str, fired_at: str, value: float, id_: str = "a1") -> dict:
    return {
        "id": id_,
        "event": event,
        "rule": "cems",
        "subject": subject,
        "fired_at": fired_at,
        "value": value,
        "message": "m",
    }


CHECKS = Checks.model_validate(
    {
        "rules": [{"id": "cems", "type": "cems_hourly"}],
        "alerts": [
            {
                "rule": "cems",
                "subject": "s/nox",
                "fired_from": "2026-11-04T10:00:00+08:00",
                "fired_to": "2026-11-04T10:00:00+08:00",
                "value": [48, 49],
                "resolved": True,
            }
        ],
        "kpis": [
            {
                "scope": "_park",
                "window": "1d",
                "start": "2026-11-04T00:00:00+08:00",
                "field": "energy_tce",
                "range": [1, 2],
            }
        ],
    }
)
DAY = str(int(datetime.fromisoformat("2026-11-04T00:00:00+08:00").timestamp() * 1000))
KPI = {("_park", "1d", DAY, "energy_tce"): 1.5}
FIRED = "2026-11-04T02:00:00+00:00"


@pytest.mark.parametrize(
    ("alerts", "kpis", "failing"),
    [
        ([_alert("firing", "s/nox", FIRED, 48.3), _alert("resolved", "s/nox", FIRED, 20)], KPI, []),
        ([_alert("firing", "s/nox", FIRED, 48.3)], KPI, ["alert cems s/nox"]),  # not resolved
        ([_alert("firing", "s/nox", "2026-11-04T03:00:00+00:00", 53.6)], KPI, ["alert cems"]),
        (
            [
                _alert("firing", "s/nox", FIRED, 48.3),
                _alert("resolved", "s/nox", FIRED, 20),
                _alert("firing", "t/so2", FIRED, 60, "a2"),
            ],
            KPI,
            ["unexpected alert cems t/so2"],
        ),
        ([], {}, ["alert cems s/nox", "kpi _park"]),
    ],
)
def test_the_judge_fails_what_differs_from_the_checks(
    alerts: list[dict], kpis: dict, failing: list[str]
) -> None:
    outcome = judge(CHECKS, alerts, kpis)
    failed = [line for good, line in outcome.lines if not good]
    assert len(failed) == len(failing) and all(
        line.startswith(prefix) for line, prefix in zip(failed, failing, strict=True)
    )
    assert outcome.ok is (not failing)


@pytest.mark.slow
@pytest.mark.parametrize("name", CHECKED)
def test_shipped_scenario_passes_its_checks_through_the_pipeline(name: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "smartpark", "scenario", "check", str(SCENARIOS / name)],
        capture_output=True,
        text=True,
        timeout=1800,  # the quota month: 3 to 4 min here, 14 on a slow day
    )
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "every check passed" in result.stdout
    assert "FAIL" not in result.stdout
