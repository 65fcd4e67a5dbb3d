"""CEMS hourly means: the O2 guard near 21 %, validity, exceedance on hourly means only."""

from __future__ import annotations

import polars as pl
import pytest

from smartpark.cems import CemsRules, Stack, corrected, hourly

TZ = "Asia/Shanghai"
H = 1_793_548_800_000  # 2026-11-02 00:00 local
STACKS = {"s": Stack(ref_o2_pct=3.5, limits_mg_m3={"nox_mg_m3": 30.0})}


@pytest.mark.parametrize(
    ("o2", "expected"),
    [
        (3.5, 20.0),
        (8.0, 20.0 * 17.5 / 13.0),
        (18.99, 20.0 * 17.5 / 2.01),
        (19.0, None),
        (20.8, None),
        (21.0, None),
        (25.0, None),
        (-1.0, None),
    ],
)
def test_o2_correction_and_its_guard_near_21_percent(o2: float, expected: float | None) -> None:
    value = pl.select(corrected(pl.lit(20.0), pl.lit(o2), ref_o2_pct=3.5, rules=CemsRules())).item()
    assert value == (pytest.approx(expected) if expected is not None else None)


def _minutes(n: int, *, nox: float, o2: float, start: int = H) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "sensor": ["s"] * n,
            "ts": [start + i * 60_000 for i in range(n)],
            "nox_mg_m3": [nox] * n,
            "o2_pct": [o2] * n,
        }
    )


def test_an_exceedance_is_a_valid_hourly_mean_above_the_limit() -> None:
    # Hour 0: 30 minutes at 60 (corrected 60) and 30 at 10 -> mean 35 > 30: exceeded.
    # Hour 1: 20 minutes at 90, then the boiler stops (40 minutes of air, O2 20.8): only
    # 20 valid minutes, so no valid mean and no exceedance. Hour 3: 20, compliant.
    frames = [
        _minutes(30, nox=60.0, o2=3.5),
        _minutes(30, nox=10.0, o2=3.5, start=H + 30 * 60_000),
        _minutes(20, nox=90.0, o2=3.5, start=H + 3_600_000),
        _minutes(40, nox=0.3, o2=20.8, start=H + 3_600_000 + 20 * 60_000),
        _minutes(60, nox=20.0, o2=3.5, start=H + 3 * 3_600_000),
    ]
    out = hourly(pl.concat(frames), STACKS, tz=TZ).to_dicts()
    assert [(r["valid_minutes"], r["hour_valid"], r["nox_mg_m3_exceeded"]) for r in out] == [
        (60, True, True),
        (20, False, False),
        (60, True, False),
    ]
    assert out[0]["nox_mg_m3_corrected"] == pytest.approx(35.0)
    assert out[1]["nox_mg_m3_corrected"] is None  # not enough valid minutes to judge
    assert out[0]["nox_mg_m3_limit"] == 30.0


@pytest.mark.parametrize(
    "flag", [1, 2, 4, 5]
)  # start-up/shut-down, maintenance, fault, calibration
def test_minutes_the_analyser_flagged_do_not_count(flag: int) -> None:
    # 45 normal minutes at 20 mg/m3 and 15 flagged at 500 (calibration gas, a fault ...):
    # the hour is valid on its 45 normal minutes and its mean is theirs, 20, not 140.
    frame = _minutes(60, nox=20.0, o2=3.5).with_columns(
        nox_mg_m3=pl.Series([500.0 if i < 15 else 20.0 for i in range(60)]),
        data_flag=pl.Series([float(flag) if i < 15 else 0.0 for i in range(60)]),
    )
    out = hourly(frame, STACKS, tz=TZ).row(0, named=True)
    assert out["valid_minutes"] == 45 and out["hour_valid"]
    assert out["nox_mg_m3_corrected"] == pytest.approx(20.0) and not out["nox_mg_m3_exceeded"]
    # unflagged, the same minutes would have made an exceedance: (15 x 500 + 45 x 20) / 60
    unflagged = hourly(frame.drop("data_flag"), STACKS, tz=TZ).row(0, named=True)
    assert unflagged["nox_mg_m3_corrected"] == pytest.approx(140.0)
    assert unflagged["nox_mg_m3_exceeded"]


def test_an_hour_with_too_few_unflagged_minutes_is_invalid() -> None:
    frame = _minutes(60, nox=50.0, o2=3.5).with_columns(
        data_flag=pl.Series([2.0 if i < 20 else None for i in range(60)])  # null = normal
    )
    out = hourly(frame, STACKS, tz=TZ).row(0, named=True)
    assert out["valid_minutes"] == 40 and not out["hour_valid"] and not out["nox_mg_m3_exceeded"]


def test_mass_emitted_is_measured_concentration_times_flow_over_unflagged_minutes() -> None:
    """60,000 m3/h at 50 mg/m3 NOx (measured, at 8 % O2) is 3 kg an hour: 50 g a minute.
    Five minutes in calibration are left out of the mass (2.75 kg over 55 minutes), not
    filled in; and the O2 correction does not touch the mass."""
    minutes = _minutes(60, nox=50.0, o2=8.0).with_columns(
        flow_m3h=pl.lit(60_000.0),
        data_flag=pl.Series([5.0] * 5 + [None] * 55),
    )
    [row] = hourly(minutes, STACKS, tz=TZ).to_dicts()
    assert row["mass_minutes"] == 55 and row["nox_kg"] == pytest.approx(2.75)
    assert row["nox_mg_m3_corrected"] == pytest.approx(50.0 * 17.5 / 13.0)  # 55 valid minutes
    # Without a flow there is no mass at all, rather than a mass of zero.
    assert "nox_kg" not in hourly(_minutes(60, nox=50.0, o2=8.0), STACKS, tz=TZ).columns


# -- over range (issue 25, item 1) -------------------------------------------------------

OVER = {
    "s": Stack(ref_o2_pct=3.5, limits_mg_m3={"nox_mg_m3": 50.0}, range_mg_m3={"nox_mg_m3": 250.0})
}


@pytest.mark.parametrize(
    ("flag", "saturated_reads", "stacks", "mean", "exceeded", "over_range"),
    [
        # 50 minutes at 20 mg/m3 (O2 6 %: corrected 23.33) and 10 at the 250 ceiling
        # (corrected 291.67): (50 x 23.33 + 10 x 291.67) / 60 = 68.06 > 50
        pytest.param(6.0, 250.0, OVER, 68.06, True, True, id="T-counted-at-its-reading"),
        # an analyser that reports 0 while saturated: counted at its declared range
        pytest.param(6.0, 0.0, OVER, 68.06, True, True, id="T-counted-at-the-range"),
        # without a declared range: at what it reports (the ceiling), still exceeding
        pytest.param(6.0, 250.0, {"s": Stack(3.5, {"nox_mg_m3": 50.0})}, 68.06, True, True,
                     id="T-without-a-declared-range"),
        # the same ten minutes flagged C (calibration) are invalid: 23.33, compliant
        pytest.param(5.0, 250.0, OVER, 23.33, False, False, id="C-is-invalid"),
    ],
)  # fmt: skip
def test_an_over_range_minute_never_makes_an_hour_compliant(
    flag: float,
    saturated_reads: float,
    stacks: dict[str, Stack],
    mean: float,
    exceeded: bool,
    over_range: bool,
) -> None:
    minutes = pl.concat(
        [
            _minutes(50, nox=20.0, o2=6.0).with_columns(data_flag=pl.lit(0.0)),
            _minutes(10, nox=saturated_reads, o2=6.0, start=H + 50 * 60_000).with_columns(
                data_flag=pl.lit(flag)
            ),
        ]
    )
    row = hourly(minutes, stacks, tz=TZ).row(0, named=True)
    assert round(row["nox_mg_m3_corrected"], 2) == mean
    assert row["nox_mg_m3_exceeded"] is exceeded
    assert row["over_range"] is over_range
    assert row["over_range_minutes"] == (10 if over_range else 0)
    assert row["valid_minutes"] == (60 if over_range else 50)
