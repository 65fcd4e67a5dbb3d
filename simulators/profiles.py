"""Load shapes: how much of its rated load an enterprise draws, step by step (pure numpy).

Every function takes the step timestamps and returns fractions of the rated rate.
Targets (mean load over an ordinary week): continuous 0.58, shift 0.40, batch 0.22
with about 40 % of the time idle. Shift and continuous shapes are scaled so that an
ordinary week (five working days, no holidays) averages exactly the target; batch
reaches it by construction (expected on-level x 60 % + idle x 40 %).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cache
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from smartpark.model import LoadClass

F64 = npt.NDArray[np.float64]
I64 = npt.NDArray[np.int64]
Bool = npt.NDArray[np.bool_]

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
_EPOCH = date(1970, 1, 1)

LOAD_FACTOR = {LoadClass.CONTINUOUS: 0.58, LoadClass.SHIFT: 0.40, LoadClass.BATCH: 0.22}
BATCH_ON_H, BATCH_OFF_H = 3.0, 2.0  # mean run and idle durations: 40 % idle
BATCH_IDLE = 0.03
BATCH_WARMUP_MS = 30 * 60_000

# (local hour, fraction) breakpoints of a working day; nights and days off are flat.
_SHIFT_DAY = (
    (0, 0.20),
    (6, 0.20),
    (8, 0.70),
    (12, 0.70),
    (12.5, 0.55),
    (13, 0.70),
    (20, 0.70),
    (22, 0.20),
    (24, 0.20),
)
_SHIFT_OFF = 0.16
_GAS_DAY = (
    (0, 0.08),
    (5.5, 0.08),
    (6, 0.95),
    (8, 0.95),
    (8.5, 0.60),
    (20, 0.60),
    (21, 0.08),
    (24, 0.08),
)  # morning warm-up 06:00-08:00
_GAS_OFF = 0.06


@dataclass(frozen=True, slots=True)
class LocalTime:
    """Local hour of day, local day number (days since 1970-01-01) and working-day flag."""

    hour: F64
    day: I64
    working: Bool


def local_time(
    ts_ms: I64, *, tz: ZoneInfo, holidays: frozenset[int], workdays: frozenset[int]
) -> LocalTime:
    """Calendar facts for each step; holidays and worked weekend days are local day numbers."""
    if not len(ts_ms):
        local = ts_ms
    elif _offset_ms(tz, ts_ms[0]) == _offset_ms(tz, ts_ms[-1]):
        local = ts_ms + np.int64(_offset_ms(tz, ts_ms[0]))
    else:  # a DST change inside the chunk: take each step's own offset
        offsets = [_offset_ms(tz, t) for t in ts_ms.tolist()]
        local = ts_ms + np.asarray(offsets, dtype=np.int64)
    day = local // DAY_MS
    hour = (local % DAY_MS) / HOUR_MS
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    working = (weekday < 5) & ~np.isin(day, list(holidays)) | np.isin(day, list(workdays))
    return LocalTime(hour=hour, day=day, working=working)


def day_number(d: date) -> int:
    return (d - _EPOCH).days


def _offset_ms(tz: ZoneInfo, ts_ms: int | np.int64) -> int:
    offset = tz.utcoffset(datetime.fromtimestamp(int(ts_ms) / 1000, tz=UTC))
    return int(offset.total_seconds() * 1000) if offset is not None else 0


def _shape(hour: F64, working: Bool, day: tuple[tuple[float, float], ...], off: float) -> F64:
    xs = [x for x, _ in day]
    ys = [y for _, y in day]
    return np.where(working, np.interp(hour, xs, ys), off)


@cache
def _shift_scale() -> float:
    minutes = np.arange(1440) / 60.0
    work = float(_shape(minutes, np.ones(1440, dtype=np.bool_), _SHIFT_DAY, _SHIFT_OFF).mean())
    return LOAD_FACTOR[LoadClass.SHIFT] / ((5 * work + 2 * _SHIFT_OFF) / 7)


def smooth_noise(rng: np.random.Generator, n: int, *, sd: float, width: int = 15) -> F64:
    """Mean-zero noise with standard deviation ``sd``, correlated over ``width`` steps."""
    if n == 0:
        return np.zeros(0)
    white = rng.standard_normal(n + width - 1)
    kernel = np.full(width, 1.0 / np.sqrt(width))
    return np.asarray(np.convolve(white, kernel, mode="valid") * sd, dtype=np.float64)


@dataclass(slots=True)
class BatchState:
    """Where an enterprise's batch cycle stands between chunks."""

    running: bool = False
    until_ms: int = 0
    started_ms: int = 0


def batch_runs(ts_ms: I64, state: BatchState, rng: np.random.Generator) -> tuple[Bool, I64]:
    """Which steps a batch is running, and when each step's run started; advances ``state``."""
    running = np.zeros(len(ts_ms), dtype=np.bool_)
    started = np.zeros(len(ts_ms), dtype=np.int64)
    if not len(ts_ms):
        return running, started
    t, end = int(ts_ms[0]), int(ts_ms[-1]) + 1
    if state.until_ms <= t:  # first chunk, or a gap in the run: start a fresh cycle
        state.running = bool(rng.random() < BATCH_ON_H / (BATCH_ON_H + BATCH_OFF_H))
        state.started_ms = t
        state.until_ms = t + int(
            rng.exponential(BATCH_ON_H if state.running else BATCH_OFF_H) * HOUR_MS
        )
    while t < end:
        lo = int(np.searchsorted(ts_ms, t))
        hi = int(np.searchsorted(ts_ms, state.until_ms))
        running[lo:hi] = state.running
        started[lo:hi] = state.started_ms
        if state.until_ms >= end:
            break
        t = state.until_ms
        state.running = not state.running
        state.started_ms = t
        mean_h = BATCH_ON_H if state.running else BATCH_OFF_H
        state.until_ms = t + max(int(rng.exponential(mean_h) * HOUR_MS), 60_000)
    return running, started


def electricity(cls: LoadClass, lt: LocalTime, *, running: Bool, rng: np.random.Generator) -> F64:
    """Fraction of rated electric load, step by step."""
    n = len(lt.hour)
    if cls is LoadClass.CONTINUOUS:
        base = LOAD_FACTOR[cls] * (1 + 0.04 * np.sin(2 * np.pi * (lt.hour - 9) / 24))
        noise = smooth_noise(rng, n, sd=0.04)
    elif cls is LoadClass.SHIFT:
        base = _shape(lt.hour, lt.working, _SHIFT_DAY, _SHIFT_OFF) * _shift_scale()
        noise = smooth_noise(rng, n, sd=0.06)
    else:
        on = (LOAD_FACTOR[cls] - 0.4 * BATCH_IDLE) / 0.6
        base = np.where(running, on, BATCH_IDLE)
        noise = smooth_noise(rng, n, sd=0.06)
    return np.clip(base * (1 + noise), 0.0, 1.2)


def gas(
    cls: LoadClass,
    lt: LocalTime,
    ts_ms: I64,
    *,
    running: Bool,
    started_ms: I64,
    rng: np.random.Generator,
) -> F64:
    """Fraction of rated gas flow: follows shifts with a morning warm-up, or the batches."""
    n = len(lt.hour)
    if cls is LoadClass.CONTINUOUS:
        base = np.full(n, 0.55)
    elif cls is LoadClass.SHIFT:
        base = _shape(lt.hour, lt.working, _GAS_DAY, _GAS_OFF)
    else:
        warming = running & (ts_ms - started_ms < BATCH_WARMUP_MS)
        base = np.where(running, np.where(warming, 0.95, 0.60), 0.05)
    return np.clip(base * (1 + smooth_noise(rng, n, sd=0.05)), 0.0, 1.2)
