"""The park model and its faults, judged on the feed it writes (no servers)."""

from __future__ import annotations

import io
import itertools
import math
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import orjson
import pytest

from simulators import profiles, recording
from simulators.park import ParkModel, keyed_rng
from simulators.profiles import LocalTime
from simulators.scenario import Scenario, at
from simulators.scenario import load as load_scenario
from simulators.solar import clear_sky_ghi_w_m2, cos_zenith, solar_noon_ms
from simulators.stream import ParkFeed
from smartpark.model import LoadClass
from smartpark.registry import Registry
from smartpark.wire import Limits, decode
from tests.conftest import ROOT

CST = timezone(timedelta(hours=8))
SHANGHAI = ZoneInfo("Asia/Shanghai")
MONDAY = datetime(2026, 11, 2, tzinfo=CST)
ALL_FAULTS = {
    "silence": {"rate": 0.00005},
    "gap": {"rate": 0.001, "duration_min": [5, 20]},
    "stuck": {"rate": 0.0005, "duration_min": [30, 60]},
    "clock_skew": {"rate": 0.0005, "skew_s": [5, 30], "duration_min": [30, 60]},
    "spike": {"rate": 0.001, "factor": [8, 20]},
    "counter_reset": {"rate": 0.0002},
    "duplicate": {"rate": 0.01},
    "late": {"rate": 0.01, "delay_s": [300, 1800]},
    "out_of_order": {"rate": 0.01},
    "malformed": {"rate": 0.005},
}


def _feed_bytes(park: Registry, scenario: Scenario) -> tuple[bytes, ParkFeed]:
    feed = ParkFeed(park, scenario, root="smartpark")
    out = io.BytesIO()
    out.write(recording.header(scenario=scenario.name, seed=scenario.seed))
    recording.write_frames(
        out, feed.frames(scenario.start_ms, scenario.end_ms), recording.Written()
    )
    return out.getvalue(), feed


def _messages(data: bytes) -> list[recording.Message]:
    return list(recording.parse(data.splitlines(), source="feed"))


def _series(
    messages: list[recording.Message], park: Registry
) -> dict[str, list[tuple[int, int, dict[str, float], int | None]]]:
    """Good readings per sensor id: (send time, ts, values, seq), in arrival order."""
    fields = {s.ref.sensor: s.fields for s in park.sensors()}
    limits = Limits(max_past_ms=10**13, max_future_ms=10**13)
    out: dict[str, list[tuple[int, int, dict[str, float], int | None]]] = defaultdict(list)
    for m in messages:
        sensor = m.topic.rsplit("/", 1)[1]
        good, _bad = decode(m.payload, fields=fields[sensor], now_ms=m.t_ms, limits=limits)
        for r in good:
            ts, values, seq = r
            out[sensor].append((m.t_ms, ts, values, seq))
    return out


@pytest.fixture(scope="module")
def faulty_day(park: Registry) -> tuple[bytes, ParkFeed]:
    return _feed_bytes(park, at(MONDAY, 2, seed=7, near_rollover=0.5, faults=ALL_FAULTS))


def test_same_seed_gives_a_byte_identical_feed_and_another_seed_does_not(park: Registry) -> None:
    scenario = at(MONDAY, 0.5, seed=3, faults=ALL_FAULTS)
    first, _ = _feed_bytes(park, scenario)
    second, _ = _feed_bytes(park, scenario)
    other, _ = _feed_bytes(park, scenario.with_changes(seed=4))
    assert first == second
    assert first != other
    assert len(first) > 1_000_000


def test_every_scenario_in_the_repo_loads_and_says_what_it_should_do() -> None:
    paths = sorted((ROOT / "examples" / "scenarios").glob("*.yaml"))
    assert {p.stem for p in paths} >= {
        "normal-week",
        "cems-exceedance-day",
        "quota-breach-month",
        "flaky-network-day",
    }
    for path in paths:
        scenario = load_scenario(path)
        assert scenario.name == path.stem
        assert scenario.description and len(scenario.expect) >= 2
        assert scenario.registry.resolve() == (ROOT / "examples" / "park.yaml").resolve()


def _week(days: int = 28) -> tuple[np.ndarray, LocalTime]:
    ts = np.arange(
        MONDAY.timestamp() * 1000, (MONDAY + timedelta(days=days)).timestamp() * 1000, 60_000
    ).astype(np.int64)
    return ts, profiles.local_time(ts, tz=SHANGHAI, holidays=frozenset(), workdays=frozenset())


@pytest.mark.parametrize(
    ("cls", "target", "tolerance"),
    [
        (LoadClass.CONTINUOUS, 0.58, 0.01),
        (LoadClass.SHIFT, 0.40, 0.015),
        (LoadClass.BATCH, 0.22, 0.025),
    ],
)
def test_each_load_class_meets_its_load_factor_over_four_weeks(
    cls: LoadClass, target: float, tolerance: float
) -> None:
    ts, lt = _week()
    state = profiles.BatchState()
    running, _ = profiles.batch_runs(ts, state, keyed_rng(1, 1))
    load = profiles.electricity(cls, lt, running=running, rng=keyed_rng(1, 2))
    assert abs(load.mean() - target) <= tolerance, load.mean()
    if cls is LoadClass.BATCH:
        assert 0.33 <= 1 - running.mean() <= 0.47  # about 40 % off-hours


def test_shift_plants_run_on_weekdays_and_rest_at_weekends_and_holidays() -> None:
    ts, _ = _week(7)
    wednesday = profiles.day_number(MONDAY.date()) + 2
    lt = profiles.local_time(ts, tz=SHANGHAI, holidays=frozenset({wednesday}), workdays=frozenset())
    load = profiles.electricity(
        LoadClass.SHIFT, lt, running=np.zeros(len(ts), bool), rng=keyed_rng(1, 3)
    )
    by_day = [load[lt.day == d].mean() for d in np.unique(lt.day)]
    monday, wednesday_load, saturday = by_day[0], by_day[2], by_day[5]
    assert monday > 0.45 and saturday < 0.2 and wednesday_load < 0.2
    noon = (lt.day == lt.day[0]) & (lt.hour >= 10) & (lt.hour < 11)
    night = (lt.day == lt.day[0]) & (lt.hour >= 2) & (lt.hour < 3)
    assert load[noon].mean() > 3 * load[night].mean()


def test_model_load_factor_of_whole_enterprises_over_a_normal_week(park: Registry) -> None:
    """Grid import plus self-consumed PV over the rated grid capacity, from the feed itself."""
    scenario = at(MONDAY, 7, seed=11)
    model = ParkModel(park, scenario)
    totals: Counter[str] = Counter()
    steps = 0
    for chunk in range(scenario.start_ms // 86_400_000, scenario.end_ms // 86_400_000 + 1):
        for block in model.chunk(chunk, scenario.start_ms, scenario.end_ms):
            sensor = model.sensors[block.sensor]
            if sensor.ref.kind in ("electricity", "pv"):
                totals[sensor.ref.enterprise] += float(block.values["power_kw"].sum())
            if sensor.ref.sensor == "e08-grid-1":
                steps += len(block.ts)
    rated = Counter()
    for s in park.sensors():
        if s.ref.kind == "electricity":
            rated[s.ref.enterprise] += s.spec.rated_per_h or 0
    assert steps == 7 * 1440
    assert (
        abs(totals["e08-anode"] / rated["e08-anode"] / steps - 0.58) < 0.02
    )  # continuous, PV << load
    assert abs(totals["e04-cannery"] / rated["e04-cannery"] / steps - 0.40) < 0.03  # shift, no PV


def test_pv_is_zero_at_night_and_peaks_near_solar_noon(park: Registry) -> None:
    scenario = at(MONDAY, 30, seed=5, interval_s=300, pv={"clearness_sd": 0.0, "minute_sd": 0.0})
    model = ParkModel(park, scenario)
    index = next(i for i, s in enumerate(model.sensors) if s.ref.sensor == "e12-pv-1")
    ts_all, kw_all = [], []
    for chunk in range(scenario.start_ms // 86_400_000, scenario.end_ms // 86_400_000 + 1):
        for block in model.chunk(chunk, scenario.start_ms, scenario.end_ms):
            if block.sensor == index:
                ts_all.append(block.ts)
                kw_all.append(block.values["power_kw"])
    ts, kw = np.concatenate(ts_all), np.concatenate(kw_all)
    sun_up = cos_zenith(ts, lat=30.41, lon=103.98) > 0
    assert (kw[~sun_up] == 0).all() and (kw[sun_up] > 0).mean() > 0.95
    assert (~sun_up).mean() > 0.45  # November nights are long
    day_start = (ts // 86_400_000) * 86_400_000
    noons = np.array([solar_noon_ms(int(d), lon=103.98) for d in day_start])
    for d in np.unique(day_start)[1:-1]:
        today = day_start == d
        # The day's output is centred on solar noon (its flat top hides the peak in noise).
        centre = float((ts[today] * kw[today]).sum() / kw[today].sum())
        assert abs(centre - noons[today][0]) <= 10 * 60_000
    local_noon = datetime.fromtimestamp(solar_noon_ms(int(day_start[0]), lon=103.98) / 1000, CST)
    # 64 minutes behind Beijing time by longitude, 16 minutes ahead by the equation of time.
    assert (local_noon.hour, local_noon.minute // 5) == (12, 9)  # 12:45-12:50


def test_pv_capacity_factor_over_a_year_is_about_ten_percent() -> None:
    ts = np.arange(1_767_225_600_000, 1_767_225_600_000 + 365 * 86_400_000, 600_000, dtype=np.int64)
    ghi = clear_sky_ghi_w_m2(ts, lat=30.41, lon=103.98)
    pv = Scenario.model_fields["pv"].default
    rng = keyed_rng(1, 2)
    days = ts // 86_400_000
    k = pv.clearness_mean * (1 - pv.clearness_mean) / pv.clearness_sd**2 - 1
    daily = rng.beta(pv.clearness_mean * k, (1 - pv.clearness_mean) * k, size=365)
    cf = (ghi / 1000 * pv.performance_ratio * daily[days - days[0]]).mean()
    assert 0.08 <= cf <= 0.12, cf


def test_counters_only_go_down_at_rollovers_and_logged_resets(
    park: Registry, faulty_day: tuple[bytes, ParkFeed]
) -> None:
    data, feed = faulty_day
    series = _series(_messages(data), park)
    rollovers = resets = 0
    for s in park.sensors():
        counters = [n for n, f in s.fields.items() if f.semantics == "counter"]
        readings = sorted({(ts, seq): v for _, ts, v, seq in series[s.ref.sensor]}.items())
        for name in counters:
            values = [v[name] for _, v in readings if name in v]
            for before, after in itertools.pairwise(values):
                if after >= before:
                    continue
                top = s.spec.rollover
                if (
                    top is not None
                    and before > top * 0.9
                    and after < top * 0.1
                    and after + top - before < top * 0.01
                ):
                    rollovers += 1
                elif after < 10:  # a new meter starts near zero
                    resets += 1
                else:
                    pytest.fail(f"{s.ref.sensor}.{name} went down from {before} to {after}")
    assert rollovers > 5
    # Spiked and stuck readings are gauges only, so every other drop is a logged reset
    # (a reset can hide in a gap, hence <=).
    assert 0 < resets <= feed.log.events["counter_reset"]


def test_every_fault_appears_at_its_configured_rate(faulty_day: tuple[bytes, ParkFeed]) -> None:
    _, feed = faulty_day
    for fault, spec in ALL_FAULTS.items():
        rate, n = spec["rate"], feed.log.eligible[fault]
        events = feed.log.events[fault]
        sd = math.sqrt(n * rate * (1 - rate))
        assert abs(events - n * rate) <= max(4 * sd, 3), (fault, events, n * rate)


def test_faults_are_visible_in_the_feed(park: Registry, faulty_day: tuple[bytes, ParkFeed]) -> None:
    data, feed = faulty_day
    messages = _messages(data)
    log = feed.log.events
    fields = {s.ref.sensor: s.fields for s in park.sensors()}
    limits = Limits(max_past_ms=10**13, max_future_ms=10**13)
    rejected = sum(
        1
        for m in messages
        if not decode(
            m.payload, fields=fields[m.topic.rsplit("/", 1)[1]], now_ms=m.t_ms, limits=limits
        )[0]
    )
    copies = Counter((m.topic, m.payload) for m in messages)
    # Equal copies are duplicates, or malformed payloads that happen to match (empty ones).
    assert (
        log["duplicate"]
        <= sum(c - 1 for c in copies.values())
        <= log["duplicate"] + log["malformed"]
    )
    # A malformed message that is also duplicated is rejected twice.
    assert log["malformed"] <= rejected <= log["malformed"] * 1.05 + 3
    series = _series(messages, park)
    late = sum(1 for s in series.values() for sent, ts, _, _ in s if sent - ts > 240_000)
    assert log["late"] <= late <= log["late"] + log["duplicate"]
    behind = sum(
        1 for s in series.values() for prev, cur in itertools.pairwise(s) if cur[1] < prev[1]
    )
    assert behind >= log["out_of_order"]
    ahead = sum(1 for s in series.values() for sent, ts, _, _ in s if ts > sent)
    assert ahead > 0 and log["clock_skew"] > 0
    jumps = sum(
        1
        for s in series.values()
        for prev, cur in zip(sorted({r[3] for r in s}), sorted({r[3] for r in s})[1:], strict=False)
        if cur - prev > 1
    )
    assert jumps >= log["gap"] * 0.8
    end = feed.scenario.end_ms
    silent = sum(1 for s in series.values() if max(ts for _, ts, _, _ in s) < end - 3_600_000)
    assert silent == log["silence"] > 0


def test_stuck_gauges_hold_one_value_for_the_episode(
    park: Registry, faulty_day: tuple[bytes, ParkFeed]
) -> None:
    data, feed = faulty_day
    series = _series(_messages(data), park)
    runs = 0
    for readings in series.values():
        ordered = [v for _, v in sorted({(ts, seq): v for _, ts, v, seq in readings}.items())]
        gauge = next(
            (k for k in ordered[0] if k in ("power_kw", "flow_m3h", "flow_t_h", "o2_pct")), None
        )
        if gauge is None:
            continue
        length = 1
        for before, after in itertools.pairwise(ordered):
            same = after.get(gauge) == before.get(gauge) != 0  # PV at night is 0 anyway
            length = length + 1 if same else 1
            if length == 25:
                runs += 1
    assert 0.7 * feed.log.events["stuck"] <= runs <= feed.log.events["stuck"]


def test_cems_exceedance_day_breaks_the_hourly_limit_only_where_it_says(park: Registry) -> None:
    scenario = load_scenario(ROOT / "examples" / "scenarios" / "cems-exceedance-day.yaml")
    data, _ = _feed_bytes(park, scenario)
    series = _series(_messages(data), park)

    def hourly(sensor: str, name: str, ref_o2: float = 3.5) -> dict[int, float]:
        by_hour: dict[int, list[float]] = defaultdict(list)
        for _, ts, v, _ in series[sensor]:
            if v["o2_pct"] < 19:
                corrected = v[name] * (21 - ref_o2) / (21 - v["o2_pct"])
                by_hour[datetime.fromtimestamp(ts / 1000, CST).hour].append(corrected)
        return {h: sum(x) / len(x) for h, x in by_hour.items()}

    nox = hourly("e08-stack-1", "nox_mg_m3")
    assert sorted(h for h, mean in nox.items() if mean > 30) == [9, 10, 11]
    so2 = hourly("e10-stack-1", "so2_mg_m3")
    assert max(so2.values()) < 50
    minutes_over = sum(
        1
        for _, ts, v, _ in series["e10-stack-1"]
        if v["so2_mg_m3"] * 17.5 / (21 - v["o2_pct"]) > 50
    )
    assert 40 <= minutes_over <= 45
    idle = [v for s in series.values() for _, _, v, _ in s if "o2_pct" in v and v["o2_pct"] > 20]
    assert idle and max(v["nox_mg_m3"] for v in idle) < 1.0  # a stopped boiler reads air


def test_gateway_batches_carry_arrays_of_readings(park: Registry) -> None:
    data, feed = _feed_bytes(park, at(MONDAY, 0.1, seed=2, batch=5))
    messages = _messages(data)
    arrays = [orjson.loads(m.payload) for m in messages]
    assert all(isinstance(a, list) and 1 <= len(a) <= 5 for a in arrays)
    assert sum(len(a) for a in arrays) == feed.expected_readings(
        feed.scenario.start_ms, feed.scenario.end_ms
    )


def test_a_bad_scenario_is_refused_with_where_it_is_wrong(tmp_path: Path) -> None:
    from smartpark.errors import ConfigError

    path = tmp_path / "s.yaml"
    path.write_text(
        "name: x\ndescription: d\nstart: 2026-11-02T00:00:00\ndays: 1\ninterval_s: 7\nfaults: {gap: {rate: 2}, fog: {rate: 0.1}}\n"
    )
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    text = "\n".join(err.value.problems)
    assert "start:" in text and "timezone" in text
    assert "faults.gap.rate:" in text
    assert "faults.fog:" in text
