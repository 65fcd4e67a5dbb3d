"""The alert lifecycle over SQLite: de-duplication, reminders, escalation, silences,
flap damping, acknowledgement, and a restart in the middle of a firing alert."""

from __future__ import annotations

from pathlib import Path

import pytest

from alerts.engine import Condition, Engine
from alerts.lifecycle import Lifecycle
from alerts.rules import Lifecycle as LifecycleConfig
from alerts.rules import Silence, parse
from smartpark.alertstore import AlertDB
from smartpark.model import SensorRef
from smartpark.registry import Registry

T0 = 1_793_700_000_000
S = 1000


def _cond(
    raised: bool, at: int = T0, subject: str = "e08-grid-1", enterprise: str = "e08-anode"
) -> Condition:
    return Condition(
        "grid-high",
        "warning",
        "tianfu-np",
        enterprise,
        subject,
        raised,
        at,
        7600.0,
        7500.0,
        "power_kw 7600 above 7500",
    )


@pytest.fixture
def db(tmp_path: Path) -> AlertDB:
    return AlertDB(tmp_path / "alerts.db")


def test_one_alert_per_rule_and_subject_and_reminders_until_acknowledged(db: AlertDB) -> None:
    life = Lifecycle(db, LifecycleConfig(remind_every_s=600, escalate_after_s=1800))
    first = life.apply(_cond(True), T0)
    assert [(n.event, n.audience) for n in first] == [("firing", "both")]
    assert life.apply(_cond(True, T0 + 60 * S), T0 + 60 * S) == []  # de-duplicated
    assert life.apply(_cond(True, subject="e08-grid-2"), T0) != []  # another subject, another alert
    assert life.tick(T0 + 599 * S) == []
    reminders = [n for n in life.tick(T0 + 600 * S) if n.alert.subject == "e08-grid-1"]
    assert [(n.event, n.audience) for n in reminders] == [("reminder", "enterprise")]
    alert_id = first[0].alert.id
    assert [n.event for n in life.ack(alert_id, "energy manager", T0 + 700 * S)] == ["acknowledged"]
    later = [n for n in life.tick(T0 + 3600 * S) if n.alert.subject == "e08-grid-1"]
    assert later == []  # no reminder, no escalation once acknowledged
    assert life.ack(alert_id, "again", T0 + 3601 * S) == []
    keys = [first[0].key, reminders[0].key]
    assert len(set(keys)) == 2 and all(k.startswith(alert_id + "/") for k in keys)


def test_escalation_to_the_operator_once(db: AlertDB) -> None:
    life = Lifecycle(db, LifecycleConfig(remind_every_s=10_000, escalate_after_s=1800))
    life.apply(_cond(True), T0)
    assert life.tick(T0 + 1799 * S) == []
    escalated = life.tick(T0 + 1800 * S)
    assert [(n.event, n.audience) for n in escalated] == [("escalated", "operator")]
    assert life.tick(T0 + 2000 * S) == []


def test_flap_damping_keeps_one_alert_and_resolves_after_a_steady_clear(db: AlertDB) -> None:
    life = Lifecycle(db, LifecycleConfig(resolve_after_s=120))
    notices = life.apply(_cond(True), T0)
    for k in range(1, 6):  # flapping every 30 s
        notices += life.apply(_cond(k % 2 == 0, T0 + k * 30 * S), T0 + k * 30 * S)
        notices += life.tick(T0 + k * 30 * S)
    assert [n.event for n in notices] == ["firing"]
    # the last change (k=5) was a clear at T0+150 s: resolved 120 s later
    assert life.tick(T0 + 269 * S) == []
    resolved = life.tick(T0 + 270 * S)
    assert [n.event for n in resolved] == ["resolved"] and resolved[
        0
    ].alert.resolved_ms == T0 + 270 * S
    assert db.history(resolved[0].alert.id)[0][0] == "firing"


def test_silence_holds_notices_until_it_ends(db: AlertDB) -> None:
    silence = Silence(
        start="2026-11-03T17:00:00+08:00",
        end="2026-11-03T19:00:00+08:00",
        reason="maintenance",
        scope={"enterprises": ["e08-anode"]},
    )
    life = Lifecycle(db, LifecycleConfig(), [silence])
    start = 1_793_696_400_000  # 17:00 local
    assert life.apply(_cond(True, start + 60 * S), start + 60 * S) == []
    assert (
        life.apply(_cond(True, start, enterprise="e09-anode", subject="e09-grid-1"), start) != []
    )  # other scope
    during = life.tick(start + 3600 * S)
    assert all(n.alert.enterprise != "e08-anode" for n in during)
    after = [n for n in life.tick(start + 7200 * S) if n.alert.enterprise == "e08-anode"]
    assert [n.event for n in after] == ["firing"]  # still open when the silence ended
    # A condition that came and went inside a silence is never notified.
    life.apply(_cond(True, start + 60 * S, subject="e08-grid-3"), start + 60 * S)
    assert life.apply(_cond(False, start + 120 * S, subject="e08-grid-3"), start + 120 * S) == []


def test_a_restart_in_the_middle_of_a_firing_alert(
    db: AlertDB, park: Registry, tmp_path: Path
) -> None:
    rules = parse(
        {
            "rules": [
                {
                    "id": "grid-high",
                    "type": "threshold",
                    "field": "power_kw",
                    "above": 7500,
                    "clear": 7000,
                }
            ]
        }
    ).rules
    ref = SensorRef("tianfu-np", "e08-anode", "electricity", "e08-grid-1")
    engine, life = Engine(rules, park), Lifecycle(db, LifecycleConfig())
    fired = [
        n for c in engine.reading(ref, T0, {"power_kw": 7600.0}, T0) for n in life.apply(c, T0)
    ]
    assert [n.event for n in fired] == ["firing"]
    db.close()

    db2 = AlertDB(tmp_path / "alerts.db")  # a new process: state from SQLite only
    engine2, life2 = Engine(rules, park), Lifecycle(db2, LifecycleConfig())
    engine2.restore({(a.park, a.rule): {a.subject} for a in db2.open_alerts()})
    again = [
        n
        for c in engine2.reading(ref, T0 + 60 * S, {"power_kw": 7700.0}, T0)
        for n in life2.apply(c, T0 + 60 * S)
    ]
    assert again == []  # still the same alert, no second firing
    cleared = [
        n
        for c in engine2.reading(ref, T0 + 120 * S, {"power_kw": 6900.0}, T0)
        for n in life2.apply(c, T0 + 120 * S)
    ]
    assert [(n.event, n.alert.id) for n in cleared] == [("resolved", fired[0].alert.id)]
    assert [k for k, _ in db2.history(fired[0].alert.id)] == ["firing", "resolved"]
    db2.close()


def test_escalation_counts_from_the_first_notice_not_from_the_event_time(db: AlertDB) -> None:
    life = Lifecycle(db, LifecycleConfig(remind_every_s=7200, escalate_after_s=3600))
    past = T0 - 30 * 86_400 * S  # a replayed reading from a month ago, notified now
    fired = life.apply(_cond(True, past), T0)
    assert fired[0].payload()["fired_at"] != fired[0].payload()["notified_at"]
    assert life.tick(T0 + S, {"tianfu-np": past + S}) == []  # no escalation a second later
    assert life.tick(T0 + 3599 * S, {"tianfu-np": past}) == []
    assert [n.event for n in life.tick(T0 + 3600 * S, {"tianfu-np": past})] == ["escalated"]


def test_a_replayed_clear_resolves_when_event_time_passes_the_damping(db: AlertDB) -> None:
    life = Lifecycle(db, LifecycleConfig(resolve_after_s=300))
    past = T0 - 86_400 * S
    life.apply(_cond(True, past), T0)
    assert life.apply(_cond(False, past + 60 * S), T0 + S) == []  # cleared, damping
    assert not life.resolution_due("tianfu-np", past + 359 * S)
    assert life.tick(T0 + 2 * S, {"tianfu-np": past + 359 * S}) == []
    assert life.resolution_due("tianfu-np", past + 360 * S)
    resolved = life.tick(T0 + 2 * S, {"tianfu-np": past + 360 * S})
    assert [n.event for n in resolved] == ["resolved"]


def test_a_clear_resolves_on_the_wall_clock_when_nothing_more_arrives(db: AlertDB) -> None:
    life = Lifecycle(db, LifecycleConfig(resolve_after_s=300))
    past = T0 - 86_400 * S
    life.apply(_cond(True, past), T0)
    life.apply(_cond(False, past + 60 * S), T0)
    assert life.tick(T0 + 299 * S, {"tianfu-np": past + 60 * S}) == []
    assert [n.event for n in life.tick(T0 + 300 * S, {"tianfu-np": past + 60 * S})] == ["resolved"]
