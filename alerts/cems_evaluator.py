"""The ``cems_hourly`` rule's evaluator (pure): a stack's valid O2-corrected hourly mean
over its registry limit, by the hourly job's own function (``smartpark.cems.hourly``), so
the rule and the stored ``cems_hourly`` points judge an hour alike.

Minutes are kept per stack and local hour; an hour is judged when the stack's readings
pass its end, or when the stack has been quiet for the grace period (receive time). The
unjudged minutes are the partial state a restart resumes (:mod:`alerts.conditions`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import polars as pl

from alerts.conditions import Condition, Context, Evaluator, evaluates
from alerts.rules import CemsHourlyRule
from smartpark import cems
from smartpark.model import SensorRef

HOUR_MS = 3_600_000
CEMS_GRACE_MS = 5 * 60_000


@evaluates(CemsHourlyRule)
class CemsHourly(Evaluator):
    """A stack's valid O2-corrected hourly mean over its registry limit."""

    rule: CemsHourlyRule
    readings = True
    ticks = True

    def __init__(self, rule: CemsHourlyRule, ctx: Context) -> None:
        super().__init__(rule, ctx)
        # stack -> hour -> minute's ts -> row (a redelivered minute replaces itself)
        self._buckets: dict[SensorRef, dict[int, dict[int, tuple[Any, ...]]]] = {}
        self._received: dict[SensorRef, int] = {}  # wall clock of each stack's last reading
        self.configure()

    def configure(self) -> None:
        self._stacks = {
            s.ref: stack for s in self.ctx.sensors() if (stack := cems.stack_of(s.spec))
        }
        self._by_key = {_key(ref): ref for ref in self._stacks}

    def reading(
        self, ref: SensorRef, ts_ms: int, values: Mapping[str, float], now_ms: int
    ) -> list[Condition]:
        if "o2_pct" not in values:
            return []
        self._received[ref] = now_ms
        zone = self.ctx.tz[ref.park]
        offset = zone.utcoffset(datetime.fromtimestamp(ts_ms / 1000, UTC))
        off_ms = int(offset.total_seconds() * 1000) if offset is not None else 0
        hour = (ts_ms + off_ms) // HOUR_MS * HOUR_MS - off_ms
        buckets = self._buckets.setdefault(ref, {})
        row = (ref.sensor, ts_ms, *(values.get(f) for f in cems.MINUTE_FIELDS))
        buckets.setdefault(hour, {})[ts_ms] = row
        self.touch(_key(ref))
        done = [h for h in buckets if h < hour]  # an hour is judged when the next one starts
        return [c for h in sorted(done) for c in self._judge(ref, h, buckets.pop(h))]

    def tick(self, now_ms: int) -> list[Condition]:
        """The hours of stacks that have sent nothing for the grace period (receive time):
        an hour is judged once, when the stack's own readings pass its end or when the
        stack goes quiet, never because the wall clock is ahead of a replay."""
        out: list[Condition] = []
        for ref, buckets in self._buckets.items():
            if buckets and now_ms - self._received.setdefault(ref, now_ms) >= CEMS_GRACE_MS:
                for hour in sorted(buckets):
                    out += self._judge(ref, hour, buckets.pop(hour))
                self.touch(_key(ref))
        return out

    def partial(self, key: str) -> Any:
        ref = self._by_key.get(key)
        buckets = self._buckets.get(ref) if ref is not None else None
        if not buckets:
            return None
        return {str(hour): list(rows.values()) for hour, rows in buckets.items()}

    def resume(self, key: str, state: Any) -> None:
        """The minutes of unjudged hours; the stack counts as just heard from (the broker
        redelivers what it queued meanwhile before the grace period ends)."""
        ref = self._by_key.get(key)
        if ref is None:
            return  # no longer a stack with limits in the registry
        self._buckets[ref] = {
            int(hour): {int(row[1]): tuple(row) for row in rows} for hour, rows in state.items()
        }

    def _judge(
        self, ref: SensorRef, hour: int, minutes: dict[int, tuple[Any, ...]]
    ) -> list[Condition]:
        rows = list(minutes.values())
        rule = self.rule
        stack = self._stacks.get(ref)
        if stack is None or not stack.limits_mg_m3:
            return []
        tz = self.ctx.tz[ref.park]
        frame = pl.DataFrame(rows, schema=["sensor", "ts", *cems.MINUTE_FIELDS], orient="row")
        result = cems.hourly(
            frame,
            {ref.sensor: stack},
            tz=str(tz),
            rules=cems.CemsRules(rule.o2_max_valid_pct, rule.min_valid_minutes),
        )
        if result.height == 0 or not result["hour_valid"][0]:
            return []  # an invalid hour neither fires nor clears
        row = result.row(0, named=True)
        label = datetime.fromtimestamp(hour / 1000, tz).strftime("%H:00")
        over = (  # the analyser saturated: the true mean is at least this
            f" (over range {row['over_range_minutes']} min: at least)" if row["over_range"] else ""
        )
        out = []
        for p in rule.pollutants:
            limit, mean = row.get(f"{p}_limit"), row.get(f"{p}_corrected")
            if limit is None or mean is None:
                continue
            out += self.switch(
                park=ref.park,
                enterprise=ref.enterprise,
                subject=f"{ref.sensor}/{p}",
                on=bool(row[f"{p}_exceeded"]),
                at_ms=hour + HOUR_MS,
                value=mean,
                limit=limit,
                message=(
                    f"{p} hourly mean {mean:.1f} mg/m3 (O2-corrected) over the limit {limit:g} "
                    f"in the hour from {label}{over}",
                    f"{p} hourly mean {mean:.1f} mg/m3 within {limit:g} from {label}",
                ),
            )
        return out


def _key(ref: SensorRef) -> str:
    return f"{ref.park}/{ref.enterprise}/{ref.kind}/{ref.sensor}"
