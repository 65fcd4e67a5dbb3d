"""Alert lifecycle: firing -> acknowledged -> resolved, one open alert per rule and subject
(of a park: ids are unique within a park).

Conditions from the engine become alerts here, and alerts become notices (what to
tell whom). Time has one rule: what the readings decide runs on **event time** (a
condition's ``at_ms``, and each park's watermark: the newest reading or KPI time seen),
so a replay at any speed gives what the live feed gave; the **wall clock** paces what
people are told (reminders and escalation count from when the alert was first
*notified*) and resolves a cleared alert when nothing more arrives. Rules of the game:

- a raised condition opens an alert, unless one is open for that rule and subject
  (de-duplication); it is notified at once unless a silence or maintenance window
  covers its event time, in which case it is notified when the park's event time
  passes the silence's end, if still open;
- a cleared condition resolves the alert after ``resolve_after_s`` without a new
  raise, of event time or, when nothing arrives, of wall time (flap damping: a
  condition that flaps inside that time stays one alert and sends no new notices);
- while unacknowledged, a reminder goes to the enterprise every ``remind_every_s``
  and, after ``escalate_after_s``, the alert is escalated to the park operator once;
- acknowledging stops reminders and escalation.

Every notice carries an idempotency key (alert id and event number), the same on
every channel and every retry, so receivers can drop repeats.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from alerts.conditions import Condition
from alerts.rules import Lifecycle as LifecycleConfig
from alerts.rules import Silence
from smartpark.alertstore import Alert, AlertDB
from smartpark.alertwire import AlertNotice, alert_notice

Event = Literal["firing", "reminder", "escalated", "acknowledged", "resolved"]
Audience = Literal["enterprise", "operator", "both"]
AUDIENCE: dict[Event, Audience] = {
    "firing": "both",
    "reminder": "enterprise",
    "escalated": "operator",
    "acknowledged": "both",
    "resolved": "both",
}


@dataclass(frozen=True, slots=True)
class Notice:
    alert: Alert
    event: Event
    at_ms: int
    key: str

    @property
    def audience(self) -> Audience:
        return AUDIENCE[self.event]

    def payload(self) -> AlertNotice:
        """The alert payload every channel carries (``smartpark.alertwire.alert_notice``)."""
        return alert_notice(self.alert, event=self.event, key=self.key, at_ms=self.at_ms)


@dataclass(frozen=True, slots=True)
class SilenceWindow:
    start_ms: int
    end_ms: int
    silence: Silence

    def covers(self, alert: Alert, now_ms: int) -> bool:
        s = self.silence
        return (
            self.start_ms <= now_ms < self.end_ms
            and (not s.rules or alert.rule in s.rules)
            and s.scope.admits(
                park=alert.park, enterprise=alert.enterprise, sensor=alert.subject.split("/")[0]
            )
        )

    @classmethod
    def of(cls, silence: Silence) -> SilenceWindow:
        start, end = silence.start.timestamp(), silence.end.timestamp()
        return cls(int(start * 1000), int(end * 1000), silence)


class Lifecycle:
    def __init__(
        self, db: AlertDB, config: LifecycleConfig, silences: Iterable[Silence] = ()
    ) -> None:
        self.db = db
        self.config = config
        self.silences = [SilenceWindow.of(s) for s in silences]
        self.suppressed = 0  # notices held back by silences
        # Cleared alerts waiting out their damping: id -> (park, event time of the clear).
        self._clearing = {
            a.id: (a.park, a.cleared_ms) for a in db.open_alerts() if a.cleared_ms is not None
        }

    def resolution_due(self, park: str, event_ms: int) -> bool:
        """True when a cleared alert of ``park`` has waited out its damping by ``event_ms``
        (the caller then ticks, so a replay resolves where the live feed would)."""
        damping = self.config.resolve_after_s * 1000
        return any(p == park and event_ms - at >= damping for p, at in self._clearing.values())

    def _silenced(self, alert: Alert, event_ms: int) -> bool:
        return any(w.covers(alert, event_ms) for w in self.silences)

    def _notice(self, alert: Alert, event: Event, now_ms: int, *, save: bool = True) -> Notice:
        alert.seq += 1
        if save:
            self.db.save(alert, event, now_ms)
        return Notice(alert, event, now_ms, f"{alert.id}/{alert.seq}")

    def apply(self, cond: Condition, now_ms: int) -> list[Notice]:
        current = self.db.open_alert(cond.rule, cond.park, cond.subject)
        if cond.raised:
            if current is not None:
                if current.cleared_ms is not None:  # flapped back before it resolved
                    current.cleared_ms = current.cleared_wall_ms = None
                    self._clearing.pop(current.id, None)
                    self.db.save(current, "re-raised", now_ms, cond.message)
                return []
            alert_id = hashlib.sha256(
                f"{cond.park}|{cond.rule}|{cond.subject}|{cond.at_ms}".encode()
            ).hexdigest()[:16]
            alert = Alert(
                id=alert_id,
                rule=cond.rule,
                severity=cond.severity,
                park=cond.park,
                enterprise=cond.enterprise,
                subject=cond.subject,
                state="firing",
                value=cond.value,
                limit_value=cond.limit,
                message=cond.message,
                fired_ms=cond.at_ms,
            )
            if self._silenced(alert, cond.at_ms):
                self.suppressed += 1
                self.db.save(alert, "silenced", now_ms, cond.message)
                return []
            alert.notified_ms = alert.first_notified_ms = now_ms
            return [self._notice(alert, "firing", now_ms)]
        if current is None or current.cleared_ms is not None:
            return []
        current.cleared_ms = cond.at_ms
        current.cleared_wall_ms = now_ms
        self._clearing[current.id] = (current.park, cond.at_ms)
        current.message = cond.message
        current.value = cond.value
        if self.config.resolve_after_s <= 0:
            return self._resolve(current, now_ms)
        self.db.save(current, "cleared", now_ms, cond.message)
        return []

    def _resolve(self, alert: Alert, now_ms: int) -> list[Notice]:
        self._clearing.pop(alert.id, None)
        alert.state = "resolved"
        alert.resolved_ms = now_ms
        if alert.notified_ms is None:  # never told anyone (silenced throughout)
            self.db.save(alert, "resolved", now_ms)
            return []
        return [self._notice(alert, "resolved", now_ms)]

    def ack(self, alert_id: str, by: str, now_ms: int) -> list[Notice]:
        alert = self.db.get(alert_id)
        if alert is None or alert.state != "firing":
            return []
        alert.state = "acknowledged"
        alert.acked_ms = now_ms
        alert.acked_by = by
        return [self._notice(alert, "acknowledged", now_ms)]

    def tick(self, now_ms: int, event_ms: Mapping[str, int] | None = None) -> list[Notice]:
        """Resolutions after damping, late notices after silences, reminders, escalation.

        ``now_ms`` is the wall clock; ``event_ms`` each park's event-time watermark."""
        out: list[Notice] = []
        cfg = self.config
        events = event_ms or {}
        for alert in self.db.open_alerts():
            event_now = events.get(alert.park, now_ms)
            if alert.cleared_ms is not None:
                damping = cfg.resolve_after_s * 1000
                quiet = alert.cleared_wall_ms if alert.cleared_wall_ms is not None else now_ms
                if event_now - alert.cleared_ms >= damping or now_ms - quiet >= damping:
                    out += self._resolve(alert, now_ms)
                continue
            if self._silenced(alert, event_now):
                continue
            if alert.notified_ms is None:  # a silence covered it and has ended
                alert.notified_ms = alert.first_notified_ms = now_ms
                out.append(self._notice(alert, "firing", now_ms))
                continue
            if alert.state != "firing":
                continue
            first = alert.first_notified_ms or alert.notified_ms
            if not alert.escalated and now_ms - first >= cfg.escalate_after_s * 1000:
                alert.escalated = 1
                out.append(self._notice(alert, "escalated", now_ms))
            if now_ms - alert.notified_ms >= cfg.remind_every_s * 1000:
                alert.notified_ms = now_ms
                alert.reminders += 1
                out.append(self._notice(alert, "reminder", now_ms))
        return out
