"""The park model: every registered sensor's readings, one UTC day (chunk) at a time.

Pure and seeded: each random draw comes from a generator keyed by (seed, purpose,
subject, day), so the same scenario gives the same readings whatever else runs.
Reading-level faults (silence, gap, stuck, clock skew, spike, counter reset) are
applied here, because they change values and timestamps; message-level faults are
applied when the readings are encoded (``simulators.messages``).

Physics, in short: an enterprise draws ``rated_per_h x load fraction`` on each grid
meter (see ``profiles``); rooftop PV follows the sun at the park's location times a
daily clearness, and is consumed on site first, so grid meters show import only; gas
follows shifts with a morning warm-up; each CEMS stack follows its enterprise's gas
use (O2 3-8 % firing, about 20.8 % when the boiler is off, so measured concentrations
fall to nearly zero); production counters move with electricity use. Counter fields
are cumulative registers of ``quantity / multiplier`` that wrap at ``rollover`` and
restart near zero when a meter is replaced (the counter_reset fault).
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

import numpy as np

from simulators import profiles
from simulators.profiles import DAY_MS, F64, I64, BatchState, Bool, smooth_noise
from simulators.scenario import Scenario
from simulators.solar import clear_sky_ghi_w_m2
from smartpark.cems import DATA_FLAG
from smartpark.model import LoadClass, Semantics
from smartpark.registry import RegisteredSensor, Registry

DEFAULT_RATED_PER_H = {"electricity": 500.0, "pv": 200.0, "gas": 100.0, "emissions": 1200.0}
FLUE_GAS_O2_AIR_PCT = 20.8
# Corrected-concentration baselines of a gas boiler after low-NOx retrofit, mg/m3.
_CEMS_BASE = {"nox_mg_m3": (22.0, 3.0), "so2_mg_m3": (1.5, 0.8), "pm_mg_m3": (2.5, 0.6)}

# Purposes of the keyed random generators.
_NOISE, _ENTERPRISE, _CLEARNESS, _CLOUDS, _FAULTS, _START, _CEMS = range(7)


def keyed_rng(seed: int, *key: int) -> np.random.Generator:
    """A generator that depends only on the seed and the key."""
    return np.random.default_rng([seed & 0xFFFFFFFF, *key])


@dataclass(slots=True)
class Block:
    """One sensor's readings in one chunk, ready to encode."""

    sensor: int  # index into ParkModel.sensors
    true_ts: I64  # when each reading was taken: drives the send time
    ts: I64  # what the device stamped (differs under clock skew)
    seq: I64
    values: dict[str, F64]


@dataclass(slots=True)
class FaultLog:
    """What was injected: events per fault and the readings or messages that could start one."""

    events: Counter[str] = field(default_factory=Counter)
    eligible: Counter[str] = field(default_factory=Counter)
    episodes: list[tuple[str, str, int, int]] = field(default_factory=list)  # CEMS exceedances

    def rate(self, fault: str) -> float:
        return self.events[fault] / self.eligible[fault] if self.eligible[fault] else 0.0


@dataclass(slots=True)
class _SensorState:
    registers: dict[str, float]
    seq: int = 0
    silent: bool = False
    gap_until: int = 0
    stuck_until: int = 0
    stuck_values: dict[str, float] = field(default_factory=dict)
    skew_until: int = 0
    skew_ms: int = 0


def rated_per_h(sensor: RegisteredSensor) -> float:
    if sensor.spec.rated_per_h is not None:
        return sensor.spec.rated_per_h
    return DEFAULT_RATED_PER_H.get(sensor.ref.kind, 10.0)


def _counters(sensor: RegisteredSensor) -> list[str]:
    return [n for n, f in sensor.fields.items() if f.semantics is Semantics.COUNTER]


def _gauges(sensor: RegisteredSensor) -> list[str]:
    """The measured gauges; not the analyser's data flag, which the model leaves out
    (absent means normal)."""
    return [
        n for n, f in sensor.fields.items() if f.semantics is Semantics.GAUGE and n != DATA_FLAG
    ]


class ParkModel:
    """Readings of every sensor of the registry's parks under one scenario."""

    def __init__(self, registry: Registry, scenario: Scenario) -> None:
        self.registry = registry
        self.scenario = scenario
        self.sensors = list(registry.sensors())
        self.log = FaultLog()
        self._holidays = frozenset(profiles.day_number(d) for d in scenario.holidays)
        self._workdays = frozenset(profiles.day_number(d) for d in scenario.workdays)
        self._batch: dict[tuple[str, str], BatchState] = {}
        self._states = [self._initial_state(i, s) for i, s in enumerate(self.sensors)]

    def going_on(self, scenario: Scenario) -> ParkModel:
        """The same park under ``scenario`` (another interval or batch), every meter going
        on from where this model's registers are: a feed that switches from a coarse
        backfill to live readings without a jump in its counters."""
        model = ParkModel(self.registry, scenario)
        model._states, model._batch, model.log = self._states, self._batch, self.log
        return model

    def _initial_state(self, i: int, sensor: RegisteredSensor) -> _SensorState:
        rng = keyed_rng(self.scenario.seed, _START, i)
        registers: dict[str, float] = {}
        daily = rated_per_h(sensor) * 24 * 0.5 / sensor.spec.multiplier
        for name in _counters(sensor):
            top = sensor.spec.rollover or 1_000_000.0
            if sensor.spec.rollover and rng.random() < self.scenario.near_rollover:
                registers[name] = max(0.0, top - daily * rng.uniform(0.2, 1.0))
            else:
                registers[name] = rng.uniform(0, min(top, 500_000.0))
        return _SensorState(registers=registers)

    def steps(self, chunk: int, start_ms: int, end_ms: int) -> I64:
        """Timestamps of the readings of UTC day ``chunk`` that fall in [start, end)."""
        step = self.scenario.interval_s * 1000
        lo = max(start_ms, chunk * DAY_MS)
        lo += -lo % step
        hi = min(end_ms, (chunk + 1) * DAY_MS)
        return np.arange(lo, hi, step, dtype=np.int64)

    def chunk(self, chunk: int, start_ms: int, end_ms: int) -> list[Block]:
        """Every sensor's readings for UTC day ``chunk`` within [start, end)."""
        ts = self.steps(chunk, start_ms, end_ms)
        if not len(ts):
            return []
        blocks: list[Block] = []
        for p_i, park in enumerate(self.registry.parks.values()):
            lt = profiles.local_time(
                ts, tz=ZoneInfo(park.timezone), holidays=self._holidays, workdays=self._workdays
            )
            sun = self._sun(p_i, ts, lt, lat=park.location.lat, lon=park.location.lon)
            for e_i, ent in enumerate(park.enterprises):
                blocks += self._enterprise(
                    park.id, ent.id, ent.load_class, (p_i, e_i), ts, lt, sun, chunk
                )
        return blocks

    def _sun(self, p_i: int, ts: I64, lt: profiles.LocalTime, *, lat: float, lon: float) -> F64:
        """Fraction of peak PV output at each step: geometry x daily clearness x clouds."""
        pv = self.scenario.pv
        clear = clear_sky_ghi_w_m2(ts, lat=lat, lon=lon) / 1000.0 * pv.performance_ratio
        days, where = np.unique(lt.day, return_inverse=True)
        k = pv.clearness_mean * (1 - pv.clearness_mean) / max(pv.clearness_sd**2, 1e-9) - 1
        daily = np.array(
            [
                keyed_rng(self.scenario.seed, _CLEARNESS, p_i, int(d)).beta(
                    pv.clearness_mean * k, (1 - pv.clearness_mean) * k
                )
                if pv.clearness_sd > 0
                else pv.clearness_mean
                for d in days
            ]
        )
        chunk = int(ts[0] // DAY_MS)
        clouds = 1 + smooth_noise(
            keyed_rng(self.scenario.seed, _CLOUDS, p_i, chunk), len(ts), sd=pv.minute_sd, width=9
        )
        return np.asarray(np.clip(clear * daily[where] * clouds, 0.0, 1.05), dtype=np.float64)

    def _load_factor(self, enterprise: str, ts: I64) -> F64:
        factor = np.ones(len(ts))
        for change in self.scenario.load_changes:
            if change.enterprise == enterprise:
                lo, hi = change.start.timestamp() * 1000, change.end.timestamp() * 1000
                factor[(ts >= lo) & (ts < hi)] *= change.factor
        return factor

    def _enterprise(
        self,
        park: str,
        enterprise: str,
        cls: LoadClass,
        where: tuple[int, int],
        ts: I64,
        lt: profiles.LocalTime,
        sun: F64,
        chunk: int,
    ) -> list[Block]:
        seed = self.scenario.seed
        rng = keyed_rng(seed, _ENTERPRISE, *where, chunk)
        state = self._batch.setdefault((park, enterprise), BatchState())
        running, started = profiles.batch_runs(ts, state, rng)
        scale = self._load_factor(enterprise, ts)
        elec = profiles.electricity(cls, lt, running=running, rng=rng) * scale
        gas = profiles.gas(cls, lt, ts, running=running, started_ms=started, rng=rng) * scale
        members = [
            i
            for i, s in enumerate(self.sensors)
            if s.ref.park == park and s.ref.enterprise == enterprise
        ]
        rates: dict[int, F64] = {}
        for i in members:
            sensor = self.sensors[i]
            noise = 1 + smooth_noise(keyed_rng(seed, _NOISE, i, chunk), len(ts), sd=0.03)
            kind = sensor.ref.kind
            profile = sun if kind == "pv" else gas if kind in ("gas", "emissions") else elec
            rates[i] = np.clip(rated_per_h(sensor) * profile * noise, 0.0, None)
        grid = [i for i in members if self.sensors[i].ref.kind == "electricity"]
        solar = [i for i in members if self.sensors[i].ref.kind == "pv"]
        if grid and solar:  # on-site PV is consumed first: grid meters show the rest
            demand = np.sum([rates[i] for i in grid], axis=0)
            pv_kw = np.sum([rates[i] for i in solar], axis=0)
            imported = 1 - np.minimum(1.0, pv_kw / np.where(demand > 0, demand, 1.0))
            for i in grid:
                rates[i] = rates[i] * imported
        return [self._block(i, ts, rates[i], gas, chunk) for i in members]

    def _block(self, i: int, ts: I64, rate: F64, gas: F64, chunk: int) -> Block:
        sensor, state = self.sensors[i], self._states[i]
        rng = keyed_rng(self.scenario.seed, _FAULTS, i, chunk)
        n = len(ts)
        values: dict[str, F64] = {}
        if sensor.ref.kind == "emissions":
            values.update(self._cems(i, ts, gas, rate, chunk))
        for name in _gauges(sensor):
            values.setdefault(name, rate.copy())
        resets = self._fault_mask(rng, n, "counter_reset") if _counters(sensor) else None
        for name in _counters(sensor):
            values[name] = self._register(sensor, state, name, ts, rate, resets, rng)
        gauges = [g for g in _gauges(sensor) if g in values]
        if gauges:
            self._stuck(state, ts, values, gauges, rng)
            self._spike(values, gauges, rng)
        seq = state.seq + np.arange(1, n + 1, dtype=np.int64)
        state.seq += n
        stamped = self._skew(state, ts, rng)
        keep = self._gaps(state, ts, rng)
        rounded = {
            k: np.round(v[keep], 2 if k in _counters(sensor) else 3) for k, v in values.items()
        }
        return Block(sensor=i, true_ts=ts[keep], ts=stamped[keep], seq=seq[keep], values=rounded)

    # -- CEMS -----------------------------------------------------------------------

    def _cems(self, i: int, ts: I64, gas: F64, rate: F64, chunk: int) -> dict[str, F64]:
        sensor, cems = self.sensors[i], self.scenario.cems
        rng = keyed_rng(self.scenario.seed, _CEMS, i, chunk)
        firing = np.clip(gas, 0.0, 1.0)
        on = firing > 0.12
        o2 = np.where(
            on,
            np.clip(3.0 + 4.0 * (1 - firing) + smooth_noise(rng, len(ts), sd=0.3), 2.5, 9.0),
            FLUE_GAS_O2_AIR_PCT + smooth_noise(rng, len(ts), sd=0.05),
        )
        ref = sensor.spec.ref_o2_pct
        ref = cems.default_ref_o2_pct if ref is None else ref
        limits = sensor.spec.limits or cems.default_limits_mg_m3
        out: dict[str, F64] = {"o2_pct": o2, "flow_m3h": np.where(on, rate, rate * 0.02)}
        dilution = (21.0 - o2) / (21.0 - ref)
        for name, (mean, sd) in _CEMS_BASE.items():
            corrected = np.clip(mean + smooth_noise(rng, len(ts), sd=sd), 0.05, None)
            for start, end, fld, factor in self._episodes(i, chunk):
                if fld == name and name in limits:
                    during = (ts >= start) & (ts < end)
                    corrected[during] = (
                        limits[name] * factor * (1 + 0.03 * rng.standard_normal(int(during.sum())))
                    )
            out[name] = np.clip(corrected * dilution, 0.0, None)
        return out

    def _episodes(self, i: int, chunk: int) -> list[tuple[int, int, str, float]]:
        """CEMS exceedance episodes touching UTC day ``chunk``: planned and random."""
        sensor, cems = self.sensors[i], self.scenario.cems
        found: list[tuple[int, int, str, float]] = []
        for ep in cems.episodes:
            if ep.sensor == sensor.ref.sensor:
                start = int(ep.start.timestamp() * 1000)
                found.append((start, start + int(ep.duration_min * 60_000), ep.field, ep.factor))
        for day in (chunk - 1, chunk):
            rng = keyed_rng(self.scenario.seed, _CEMS, i, day, 1)
            for _ in range(int(rng.poisson(cems.rate_per_day))):
                start = day * DAY_MS + int(rng.uniform(0, DAY_MS))
                minutes = rng.uniform(*cems.duration_min)
                found.append(
                    (
                        start,
                        start + int(minutes * 60_000),
                        cems.field,
                        float(rng.uniform(*cems.factor)),
                    )
                )
        lo, hi = chunk * DAY_MS, (chunk + 1) * DAY_MS
        for start, end, _field, _factor in found:
            if lo <= start < hi:
                self.log.episodes.append(("cems_exceedance", sensor.ref.sensor, start, end))
                self.log.events["cems_exceedance"] += 1
        return [ep for ep in found if ep[0] < hi and ep[1] > lo]

    # -- counters -------------------------------------------------------------------

    def _register(
        self,
        sensor: RegisteredSensor,
        state: _SensorState,
        name: str,
        ts: I64,
        rate: F64,
        resets: Bool | None,
        rng: np.random.Generator,
    ) -> F64:
        """Cumulative register values; wraps at rollover, restarts near 0 on a reset."""
        inc = rate * (self.scenario.interval_s / 3600) / sensor.spec.multiplier
        total = np.empty(len(ts))
        cuts = [0, *(np.flatnonzero(resets).tolist() if resets is not None else []), len(ts)]
        level = state.registers[name]
        for a, b in itertools.pairwise(cuts):
            if a == b:
                continue
            if resets is not None and resets[a]:
                level = float(rng.uniform(0.0, 5.0))  # a new meter starts near zero
            total[a:b] = level + np.cumsum(inc[a:b])
            level = float(total[b - 1])
        top = sensor.spec.modulus()
        if top is not None:
            total = np.mod(total, top)
        state.registers[name] = float(total[-1]) if len(total) else state.registers[name]
        return np.asarray(total, dtype=np.float64)

    # -- reading faults ---------------------------------------------------------------

    def _fault_mask(self, rng: np.random.Generator, n: int, fault: str) -> Bool:
        rate = float(getattr(self.scenario.faults, fault).rate)
        mask = rng.random(n) < rate
        self.log.eligible[fault] += n
        self.log.events[fault] += int(mask.sum())
        return mask

    def _episode_starts(
        self, rng: np.random.Generator, ts: I64, fault: str, until: int
    ) -> tuple[list[tuple[int, int]], int]:
        """(start, end) of the episodes that start in ``ts``; ``until`` ends the running one.

        A reading inside an episode cannot start another, so it is not counted eligible.
        """
        spec = getattr(self.scenario.faults, fault)
        draws = np.flatnonzero(rng.random(len(ts)) < spec.rate)
        low, high = spec.duration_min
        durations = rng.uniform(float(low), float(high), size=len(draws)) * 60_000
        covered = ts < until
        episodes: list[tuple[int, int]] = []
        for k, minutes_ms in zip(draws.tolist(), durations.tolist(), strict=True):
            t = int(ts[k])
            if t < until:
                continue
            until = t + int(minutes_ms)
            episodes.append((t, until))
            covered |= (ts > t) & (ts < until)
        self.log.eligible[fault] += len(ts) - int(covered.sum())
        self.log.events[fault] += len(episodes)
        return episodes, until

    def _stuck(
        self,
        state: _SensorState,
        ts: I64,
        values: dict[str, F64],
        gauges: list[str],
        rng: np.random.Generator,
    ) -> None:
        frozen = ts < state.stuck_until
        for g in gauges:  # an episode carried over from the last chunk
            values[g][frozen] = state.stuck_values.get(g, 0.0)
        episodes, state.stuck_until = self._episode_starts(rng, ts, "stuck", state.stuck_until)
        for start, end in episodes:
            k = int(np.searchsorted(ts, start))
            during = (ts >= start) & (ts < end)
            state.stuck_values = {g: float(values[g][k]) for g in gauges}
            for g in gauges:
                values[g][during] = values[g][k]

    def _spike(self, values: dict[str, F64], gauges: list[str], rng: np.random.Generator) -> None:
        n = len(next(iter(values.values())))
        spikes = np.flatnonzero(self._fault_mask(rng, n, "spike"))
        factors = rng.uniform(*self.scenario.faults.spike.factor, size=len(spikes))
        which = rng.integers(0, len(gauges), size=len(spikes))
        for k, f, g in zip(spikes.tolist(), factors.tolist(), which.tolist(), strict=True):
            values[gauges[g]][k] = max(values[gauges[g]][k], 1.0) * f

    def _skew(self, state: _SensorState, ts: I64, rng: np.random.Generator) -> I64:
        offset = np.where(ts < state.skew_until, state.skew_ms, 0).astype(np.int64)
        episodes, state.skew_until = self._episode_starts(rng, ts, "clock_skew", state.skew_until)
        for start, end in episodes:
            state.skew_ms = int(rng.uniform(*self.scenario.faults.clock_skew.skew_s) * 1000)
            offset[(ts >= start) & (ts < end)] = state.skew_ms
        return ts + offset

    def _gaps(self, state: _SensorState, ts: I64, rng: np.random.Generator) -> Bool:
        """Which readings are sent: gaps and silence drop the rest."""
        keep = np.ones(len(ts), dtype=np.bool_)
        if state.silent:
            return np.zeros(len(ts), dtype=np.bool_)
        keep &= ts >= state.gap_until
        gaps, state.gap_until = self._episode_starts(rng, ts, "gap", state.gap_until)
        for start, end in gaps:
            keep[(ts >= start) & (ts < end)] = False
        draws = rng.random(len(ts)) < self.scenario.faults.silence.rate
        eligible = np.flatnonzero(keep)
        hits = eligible[draws[eligible]]
        if len(hits):  # silent from the first hit to the end of the run
            self.log.events["silence"] += 1
            self.log.eligible["silence"] += int(np.searchsorted(eligible, hits[0])) + 1
            keep[hits[0] :] = False
            state.silent = True
        else:
            self.log.eligible["silence"] += len(eligible)
        return keep
