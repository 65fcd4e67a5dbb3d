"""CEMS: minute values to O2-corrected hourly means, validity and exceedances (pure).

corrected = measured x (21 - O2_ref) / (21 - O2_measured). A minute whose O2 is at or
above ``o2_max_valid_pct`` (default 19 %: the boiler is off and the analyser reads
air; near 21 % the formula divides by almost zero) is invalid, not an infinite
concentration; so is a minute the analyser flagged (``data_flag`` other than 0, see
``DATA_FLAGS``: maintenance, calibration, fault, start-up/shut-down ...). An hour is
valid with at least ``min_valid_minutes`` valid minutes (45 by default, as HJ 75
asks; verify), and compliance is judged on valid hourly means only: an exceedance
is a valid hourly mean above the stack's limit.

Over range (flag ``T``) is not invalid: the analyser is saturated and the true value
is at least its range maximum. Such a minute is valid and each pollutant is counted at
``max(reported, range)`` where the stack declares the pollutant's range
(``range_mg_m3``), at the reported value otherwise; the hour says ``over_range`` (and
how many such minutes). Dropping them would turn an exceeding hour compliant (ten
minutes at a 250 mg/m3 ceiling: 68.06 mg/m3 against a limit of 50, not 23.33). The
flag is one per minute, so every pollutant with a declared range is taken at least at
its range in such a minute: conservative, never compliant by omission.

Mass emitted (``<pollutant>_kg``, for emission totals such as the mu-average's added
value per tonne of pollutant): each minute's measured concentration (mg/m3, not
O2-corrected) x the flue-gas flow (``flow_m3h``, standard state, dry) / 60, summed
over the hour's minutes that have both and no analyser flag (over-range minutes count,
at the value the mean uses); ``mass_minutes`` says how many those were, so a short
count is visible rather than filled in.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import polars as pl

from smartpark.windows import window_start

if TYPE_CHECKING:
    from smartpark.sensorspec import SensorSpec

POLLUTANTS = ("so2_mg_m3", "nox_mg_m3", "pm_mg_m3")
# The analyser's data flag per minute, as HJ 212 names them; readings carry the number
# (``data_flag``); absent means normal. Every flag but N and T makes the minute invalid.
DATA_FLAGS = {
    0: "N normal",
    1: "F stopped (start-up / shut-down)",
    2: "M maintenance",
    3: "S manual entry",
    4: "D fault",
    5: "C calibration",
    6: "T over range",
    7: "B communication error",
}
DATA_FLAG = "data_flag"
OVER_RANGE = 6  # T: valid, counted at least at the range maximum
# What the hourly means are computed from: one list for the job and the alert rule.
MINUTE_FIELDS = ("o2_pct", *POLLUTANTS, DATA_FLAG, "flow_m3h")


@dataclass(frozen=True, slots=True)
class CemsRules:
    o2_max_valid_pct: float = 19.0
    min_valid_minutes: int = 45


@dataclass(frozen=True, slots=True)
class Stack:
    ref_o2_pct: float
    limits_mg_m3: Mapping[str, float]
    range_mg_m3: Mapping[str, float] = field(default_factory=dict)  # the analyser's span


def stack_of(spec: SensorSpec) -> Stack | None:
    """The stack a registry sensor describes, or None when it states no reference O2.

    The registry refuses limits without ``ref_o2_pct``: there is no silent default (a
    coal boiler's 9 % read as a gas boiler's 3.5 % overstates its NOx 1.46 times)."""
    if spec.ref_o2_pct is None:
        return None
    return Stack(
        ref_o2_pct=spec.ref_o2_pct,
        limits_mg_m3=dict(spec.limits),
        range_mg_m3=dict(spec.range_mg_m3),
    )


def corrected(
    measured: pl.Expr, o2: pl.Expr, *, ref_o2_pct: float | pl.Expr, rules: CemsRules
) -> pl.Expr:
    """The O2-corrected concentration, or null where O2 makes the minute invalid."""
    ref = ref_o2_pct if isinstance(ref_o2_pct, pl.Expr) else pl.lit(ref_o2_pct)
    return pl.when(o2.is_not_null() & (o2 < rules.o2_max_valid_pct) & (o2 >= 0)).then(
        measured * (21.0 - ref) / (21.0 - o2)
    )


def hourly(
    minutes: pl.DataFrame, stacks: Mapping[str, Stack], *, tz: str, rules: CemsRules = CemsRules()
) -> pl.DataFrame:
    """Per stack and local hour: valid minutes, corrected means, limits and exceedance flags.

    ``minutes``: sensor, ts, o2_pct, the pollutants (mg/m3 measured), optionally
    ``data_flag`` (``DATA_FLAGS``; null = normal).
    """
    ref = pl.col("sensor").replace_strict(
        {s: st.ref_o2_pct for s, st in stacks.items()}, default=None, return_dtype=pl.Float64
    )
    frame = minutes.unique(subset=["sensor", "ts"], keep="last", maintain_order=True)
    if DATA_FLAG not in frame.columns:
        frame = frame.with_columns(pl.lit(None, dtype=pl.Float64).alias(DATA_FLAG))
    pollutants = [p for p in POLLUTANTS if p in minutes.columns]
    flag = pl.col(DATA_FLAG).fill_null(0)
    over = flag == OVER_RANGE
    # an over-range minute: each pollutant at least at its declared range maximum
    frame = frame.with_columns(
        [
            pl.when(over)
            .then(
                pl.max_horizontal(
                    pl.col(p), _by_sensor({s: st.range_mg_m3.get(p) for s, st in stacks.items()})
                )
            )
            .otherwise(pl.col(p))
            .alias(p)
            for p in pollutants
        ]
    )
    valid = (
        ((flag == 0) | over)
        & pl.col("o2_pct").is_not_null()
        & (pl.col("o2_pct") < rules.o2_max_valid_pct)
        & ref.is_not_null()
    )
    frame = frame.with_columns(
        hour=window_start(pl.col("ts"), window="1h", tz=tz),
        valid=valid,
        **{
            f"{p}_corrected": pl.when(valid).then(
                corrected(pl.col(p), pl.col("o2_pct"), ref_o2_pct=ref, rules=rules)
            )
            for p in POLLUTANTS
            if p in minutes.columns
        },
    )
    mass: dict[str, pl.Expr] = {}
    if "flow_m3h" in frame.columns:
        unflagged = ((flag == 0) | over) & pl.col("flow_m3h").is_not_null()
        mass["mass_minutes"] = unflagged.sum()
        for p in pollutants:  # mg/m3 x m3/h / 60 = mg per minute; / 1e6 = kg
            minute_kg = pl.col(p) * pl.col("flow_m3h") / 60 / 1e6
            mass[f"{p.removesuffix('_mg_m3')}_kg"] = pl.when(unflagged).then(minute_kg).sum()
    out = frame.group_by("sensor", "hour", maintain_order=True).agg(
        minutes=pl.len(),
        valid_minutes=pl.col("valid").sum(),
        over_range_minutes=(pl.col("valid") & over).sum(),
        **{f"{p}_corrected": pl.col(f"{p}_corrected").mean() for p in pollutants},
        **mass,
    )
    out = out.with_columns(
        hour_valid=pl.col("valid_minutes") >= rules.min_valid_minutes,
        over_range=pl.col("over_range_minutes") > 0,
    )
    for p in pollutants:
        limit = _by_sensor({s: st.limits_mg_m3.get(p) for s, st in stacks.items()})
        mean = pl.when(pl.col("hour_valid")).then(pl.col(f"{p}_corrected"))
        out = out.with_columns(
            mean.alias(f"{p}_corrected"),
            limit.alias(f"{p}_limit"),
            (mean > limit).fill_null(False).alias(f"{p}_exceeded"),
        )
    return out.sort("sensor", "hour")


def _by_sensor(values: Mapping[str, float | None]) -> pl.Expr:
    """Each row's stack figure (a limit, a range) by its sensor; null where none."""
    return pl.col("sensor").replace_strict(values, default=None, return_dtype=pl.Float64)
