"""Two parks on one alert service: enterprise and sensor ids are unique within a park
only, so two parks built from one template both have ``e08-anode`` and ``e08-grid-1``.
Each park's subjects are judged, kept and alerted apart (rules, partial state, open
alerts in SQLite), in the park's own time zone."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from alerts import rules as rules_mod
from alerts.app import problems
from alerts.engine import Condition, Engine
from alerts.lifecycle import Lifecycle
from alerts.rules import Lifecycle as LifecycleConfig
from alerts.rules import parse
from smartpark import registry as registry_mod
from smartpark.alertstore import AlertDB
from smartpark.model import SensorRef
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.wire import KpiUpdate
from tests.alerts.test_partial import Kept
from tests.conftest import EXAMPLE_PARK

MIN = 60_000
DAY = 86_400_000
ZONES = {"chengdu-np": "Asia/Shanghai", "kashgar-np": "Asia/Urumqi"}  # UTC+8 and UTC+6
GRID = {"id": "grid-high", "type": "threshold", "field": "power_kw", "above": 7000, "for_s": 60}
QUOTA = {"id": "quota", "type": "quota_forecast", "quotas_tce_month": {"e08-anode": 2600}}


@pytest.fixture(scope="module")
def two_parks() -> Registry:
    doc = yaml.safe_load(EXAMPLE_PARK.read_text(encoding="utf-8"))
    park = doc["parks"][0]
    doc["parks"] = [{**park, "id": p, "timezone": tz} for p, tz in ZONES.items()]
    registry, problems = registry_mod.parse(doc)
    assert registry is not None, problems
    return registry


def _grid(park: str) -> SensorRef:
    return SensorRef(park, "e08-anode", "electricity", "e08-grid-1")


def _ms(park: str, year: int, month: int, day: int, hour: int = 0) -> int:
    return int(datetime(year, month, day, hour, tzinfo=ZoneInfo(ZONES[park])).timestamp() * 1000)


def test_the_same_sensor_id_in_two_parks_is_two_subjects(two_parks: Registry) -> None:
    """Chengdu's grid meter over its limit for two minutes fires once, for Chengdu;
    Kashgar's quiet readings of its own ``e08-grid-1`` neither clear it nor reset its
    for-duration, and Kashgar's own breach is a second alert."""
    engine = Engine(parse({"rules": [GRID]}).rules, two_parks)
    t0 = _ms("chengdu-np", 2026, 11, 4, 9)
    out: list[Condition] = []
    for i in range(3):
        out += engine.reading(_grid("chengdu-np"), t0 + i * MIN, {"power_kw": 7600.0}, t0)
        out += engine.reading(_grid("kashgar-np"), t0 + i * MIN, {"power_kw": 5000.0}, t0)
    assert [(c.park, c.raised, c.at_ms - t0) for c in out] == [("chengdu-np", True, MIN)]
    for i in range(3, 5):
        out += engine.reading(_grid("kashgar-np"), t0 + i * MIN, {"power_kw": 7400.0}, t0)
    assert [(c.park, c.raised) for c in out] == [("chengdu-np", True), ("kashgar-np", True)]
    # a reading of a park the registry does not have is judged by no rule
    assert engine.reading(_grid("nowhere"), t0, {"power_kw": 9000.0}, t0) == []


def test_each_park_forecasts_its_own_enterprises_month_in_its_own_zone(
    two_parks: Registry,
) -> None:
    """Both parks' e08-anode report 1 to 14 November: Chengdu's at 100 tce a day
    forecasts 3,000 tce over its 2,600 quota, Kashgar's at 60 a day 1,800 within it.
    Kept across a restart per park (``park|key``), each resumes its own month."""
    rules = parse({"rules": [QUOTA]}).rules
    kept, engine = Kept(), Engine(rules, two_parks)
    out: list[Condition] = []
    for day in range(1, 15):
        if day == 8:  # restarted: open alerts from SQLite, the months from ``partial``
            active = engine.active()
            engine = kept.restart(two_parks, QUOTA)
            engine.restore(active)
        for park, tce in (("chengdu-np", 100.0), ("kashgar-np", 60.0)):
            start = _ms(park, 2026, 11, day)
            update = KpiUpdate(park, "e08-anode", "1d", start, start + DAY, 0,
                               {"energy_tce": tce})  # fmt: skip
            out += engine.kpi(update)
        kept.commit(engine)
    assert [(c.park, c.raised, round(c.value or 0)) for c in out] == [("chengdu-np", True, 3000)]
    # fired at the end of the first day reported, local midnight of 2 November in Chengdu
    assert out[0].at_ms == _ms("chengdu-np", 2026, 11, 2)
    assert {key for _rule, key in kept.rows} == {"chengdu-np|e08-anode", "kashgar-np|e08-anode"}


def test_two_parks_alerts_of_one_rule_and_subject_are_two_alerts(
    two_parks: Registry, tmp_path: Path
) -> None:
    """In SQLite: the same rule, subject and event time in two parks opens two alerts
    (their ids differ), and each resolves on its own park's clearing."""
    db = AlertDB(tmp_path / "alerts.db")
    life = Lifecycle(db, LifecycleConfig(resolve_after_s=0))
    at = _ms("chengdu-np", 2026, 11, 4, 9)

    def cond(park: str, raised: bool) -> Condition:
        return Condition("grid-high", "warning", park, "e08-anode", "e08-grid-1", raised, at,
                         7600.0, 7000.0, "power_kw 7600 above 7000")  # fmt: skip

    fired = [n for park in ZONES for n in life.apply(cond(park, True), at)]
    assert [(n.event, n.alert.park) for n in fired] == [
        ("firing", "chengdu-np"), ("firing", "kashgar-np")
    ]  # fmt: skip
    assert fired[0].alert.id != fired[1].alert.id
    resolved = life.apply(cond("kashgar-np", False), at + MIN)
    assert [(n.event, n.alert.park) for n in resolved] == [("resolved", "kashgar-np")]
    assert [(a.park, a.state) for a in db.open_alerts()] == [("chengdu-np", "firing")]
    db.close()


def test_partial_state_kept_before_parks_were_told_apart_goes_to_the_only_park(
    two_parks: Registry,
) -> None:
    """A key committed without its park (an older database) resumes in a one-park
    registry and is skipped with two parks (it cannot say whose it is)."""
    one = registry_mod.load(EXAMPLE_PARK)
    t0 = _ms("chengdu-np", 2026, 11, 4, 9)
    old = [("grid-high", "e08-grid-1", t0)]  # a breach began at t0 (its for-duration)
    for registry, park, fires in ((one, "tianfu-np", True), (two_parks, "chengdu-np", False)):
        engine = Engine(parse({"rules": [GRID]}).rules, registry)
        engine.resume(old)
        out = engine.reading(_grid(park), t0 + MIN, {"power_kw": 7600.0}, t0 + MIN)
        assert bool(out) is fires, park


def test_an_older_database_gets_the_per_park_index(tmp_path: Path) -> None:
    """A database made when one open alert was unique per rule and subject: opened now,
    its index is per rule, park and subject, and two parks' alerts fit."""
    path = tmp_path / "alerts.db"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE alerts (id TEXT PRIMARY KEY, rule TEXT, park TEXT, subject TEXT,"
        " state TEXT);"
        "CREATE UNIQUE INDEX one_open_alert ON alerts(rule, subject) WHERE state != 'resolved';"
    )
    old.close()
    AlertDB(path).close()
    db = sqlite3.connect(path)
    indexes = {row[1] for row in db.execute("PRAGMA index_list(alerts)")}
    assert "one_open_alert" not in indexes and "one_open_alert_per_park" in indexes
    db.executemany(
        "INSERT INTO alerts (id, rule, park, subject, state) VALUES (?, 'r', ?, 's', 'firing')",
        [("a", "chengdu-np"), ("b", "kashgar-np")],
    )
    db.close()


def _hook(name: str) -> dict[str, str]:
    return {"type": "webhook", "url": f"https://example.org/{name}"}


def test_an_id_two_parks_use_is_routed_by_park_and_never_to_the_other(
    two_parks: Registry,
) -> None:
    """Channels of ``e08-anode`` alone would send both parks' e08 alerts to one
    recipient: refused, with how to name it. Named by park, each park's alerts go to its
    own enterprise and its own operator."""
    plain = rules_mod.AlertConfig.model_validate({"enterprises": {"e08-anode": [_hook("e08")]}})
    [problem] = problems(plain, two_parks, Settings())
    assert problem == (
        "enterprises.e08-anode: 'e08-anode' is an enterprise of parks chengdu-np, kashgar-np: "
        "name it chengdu-np/e08-anode (each park's its own), so that its alerts never reach "
        "another enterprise's recipients"
    )
    config = rules_mod.AlertConfig.model_validate({
        "operator": [_hook("city")],
        "park_operators": {"kashgar-np": [_hook("kashgar-op")]},
        "enterprises": {"chengdu-np/e08-anode": [_hook("chengdu-e08")],
                        "kashgar-np/e08-anode": [_hook("kashgar-e08")]},
    })  # fmt: skip
    assert problems(config, two_parks, Settings()) == []
    urls = {
        park: ([str(c.url) for c in config.enterprise_channels(park, "e08-anode")],
               [str(c.url) for c in config.operator_channels(park)])
        for park in ZONES
    }  # fmt: skip
    assert urls == {
        "chengdu-np": (["https://example.org/chengdu-e08"], ["https://example.org/city"]),
        "kashgar-np": (["https://example.org/kashgar-e08"], ["https://example.org/kashgar-op"]),
    }
    wrong = rules_mod.AlertConfig.model_validate({
        "park_operators": {"lhasa-np": [_hook("x")]},
        "enterprises": {"lhasa-np/e08-anode": [_hook("y")]},
    })  # fmt: skip
    assert problems(wrong, two_parks, Settings()) == [
        "enterprises.lhasa-np/e08-anode: 'lhasa-np/e08-anode' is not an enterprise of the registry",
        "park_operators.lhasa-np: 'lhasa-np' is not a park of the registry",
    ]
