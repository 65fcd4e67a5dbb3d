"""Open windows on a live feed: today and the month to date move every minute, equal
the stored minute points so far, and carry the pro-rated declared amounts."""

from __future__ import annotations

import calendar
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import orjson
import polars as pl
import pytest

from processing.config import Declared, GreenPower
from processing.config import load as load_config
from simulators.player import play
from smartpark.clock import SystemClock
from smartpark.errors import StoreError
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import Settings
from smartpark.store.influx1 import Influx1Store
from smartpark.store.lineprotocol import encode_point
from tests.conftest import ROOT, clear_of_midnight, wait_until
from tests.processing.test_stream import _messages, _processor

ZONE = ZoneInfo("Asia/Shanghai")
E08 = "e08-anode"


def _point(store: Influx1Store, scope: str, window: str, start_ms: int) -> dict[str, object]:
    [series] = store.query(
        f"SELECT * FROM kpi WHERE scope = '{scope}' AND \"window\" = '{window}' "  # noqa: S608
        f"AND time = {start_ms}ms"
    )
    return dict(zip(series.columns, series.values[0], strict=True))


def _minutes(store: Influx1Store, scope: str, lo_ms: int, hi_ms: int, field: str) -> float:
    [series] = store.query(
        f"SELECT sum({field}) FROM kpi WHERE scope = '{scope}' AND \"window\" = '1m' "  # noqa: S608
        f"AND time >= {lo_ms}ms AND time < {hi_ms}ms"
    )
    return float(series.values[0][1])


@pytest.mark.slow
def test_today_and_the_month_to_date_are_live_and_add_up_to_their_minutes(
    settings: Settings, park: Registry, store: Influx1Store, publisher: BoundedPublisher
) -> None:
    """The example park's feed stamped now (four minutes back, then live for two and a half): the
    stored points of today and of this month are at most two minutes old, equal the sums
    of today's stored minute points (to 1e-9), the month adds a stored earlier day, and
    both carry the declared amounts of the time they cover: e08's 365 M CNY a year is
    1 M a day x the covered part of today (or of the month so far), its 30,000 kWh green
    contract counts up to the month's elapsed part, allocated by grid import."""
    # the feed reaches four minutes back, runs two and a half live: all in one local day
    clear_of_midnight(str(ZONE), before_s=300, after_s=300)
    now = datetime.now(ZONE)
    day = now.replace(hour=0, minute=0, second=0, microsecond=0)
    month = day.replace(day=1)
    day_ms, month_ms = int(day.timestamp() * 1000), int(month.timestamp() * 1000)
    days_in_year = 366 if calendar.isleap(now.year) else 365
    example = load_config(ROOT / "examples" / "processing.yaml")
    config = example.model_copy(
        update={
            "green_power": [GreenPower(enterprise=E08, month=f"{now:%Y-%m}", kwh=30_000)],
            "declared": [Declared(enterprise=E08, year=now.year,
                                  added_value_cny=days_in_year * 1e6)],
        }
    )  # fmt: skip
    earlier = day - timedelta(days=1)
    stored_grid_kwh = 0.0
    if earlier >= month:  # a stored earlier day of this month (not on the 1st)
        stored_grid_kwh = 100_000.0
        totals = {"grid_kwh": stored_grid_kwh, "pv_kwh": 0.0, "gas_m3": 0.0, "steam_kg": 0.0,
                  "output": 0.0, "readings": 1440.0, "flags": 0.0}  # fmt: skip
        tags = {"park": "tianfu-np", "scope": E08, "window": "1d"}
        store.write(encode_point("kpi", tags, totals, int(earlier.timestamp() * 1000)).encode())

    start = now.replace(second=0, microsecond=0) - timedelta(minutes=4)
    messages = _messages(park, settings.mqtt.topic_root, 7 / 60, start)
    now_ms = int(time.time() * 1000)
    past = [m for m in messages if orjson.loads(m.payload)["ts"] <= now_ms]
    future = [m for m in messages if orjson.loads(m.payload)["ts"] > now_ms]
    processor = _processor(settings, park, store, "live", config=config)
    try:
        play(iter(past), publisher.publish, clock=SystemClock(), speed=None)
        for m in sorted(future, key=lambda m: orjson.loads(m.payload)["ts"]):
            wait_s = orjson.loads(m.payload)["ts"] / 1000 - time.time()
            if wait_s > 0:
                time.sleep(wait_s)
            if time.time() * 1000 > now_ms + 150_000:
                break  # two and a half minutes live are enough
            publisher.publish(m.topic, m.payload)
        wait_until(lambda: processor.live.complete_to_ms is not None, 60, "a live minute")
    finally:
        processor.stop()
    today = _point(store, "_park", "1d", day_ms)
    complete_to = int(today["complete_to_ms"])  # type: ignore[call-overload]
    assert today["provisional"] is True
    assert time.time() * 1000 - complete_to <= 120_000 + 30_000  # two minutes, and the test's
    assert int(today["revision"]) >= 1  # type: ignore[call-overload]  # rewritten each minute
    for field in ("energy_tce", "grid_kwh", "co2_location_t"):
        minutes = _minutes(store, "_park", day_ms, complete_to, field)
        assert today[field] == pytest.approx(minutes, rel=1e-9)
    this_month = _point(store, E08, "1mo", month_ms)
    e08_today = _point(store, E08, "1d", day_ms)
    assert this_month["complete_to_ms"] == e08_today["complete_to_ms"] == complete_to
    assert this_month["grid_kwh"] == pytest.approx(
        stored_grid_kwh + e08_today["grid_kwh"],
        rel=1e-9,  # type: ignore[operator]
    )
    assert this_month["grid_kwh"] >= e08_today["grid_kwh"]  # type: ignore[operator]
    # pro-rated: 1 M CNY a day x the covered part; the contract by the month's elapsed part
    assert e08_today["added_value_cny"] == pytest.approx(1e6 * (complete_to - day_ms) / 86_400_000)
    assert this_month["added_value_cny"] == pytest.approx(
        1e6 * (complete_to - month_ms) / 86_400_000
    )
    month_len_ms = calendar.monthrange(now.year, now.month)[1] * 86_400_000
    to_date = 30_000 * (complete_to - month_ms) / month_len_ms
    used = min(to_date, this_month["grid_kwh"])  # type: ignore[type-var]
    assert this_month["green_kwh"] == pytest.approx(used, rel=1e-9)
    assert e08_today["green_kwh"] == pytest.approx(
        used * e08_today["grid_kwh"] / this_month["grid_kwh"],
        rel=1e-9,  # type: ignore[operator]
    )
    e08_minutes = _minutes(store, E08, day_ms, complete_to, "grid_kwh")
    assert e08_today["grid_kwh"] == pytest.approx(e08_minutes, rel=1e-9)


def test_a_failed_store_read_leaves_the_minute_due(park: Registry, store: Influx1Store) -> None:
    """The live minute counts as computed only once its store reads succeeded: a read
    that fails (the store unreachable) leaves it due for the next tick, which computes it."""
    from devstack.servers import free_port
    from processing import config as config_mod
    from processing.engine import Park
    from processing.live import LiveWindows
    from processing.reads import StoreReads
    from tests.processing.test_recovery import CONFIG_PATH

    config = config_mod.load(CONFIG_PATH)
    coef = config_mod.coefficients(config, config_mod.load_factor_set(config.factors))
    model = Park.from_registry(park, "tianfu-np", config)
    day = int(datetime(2026, 11, 4, tzinfo=ZoneInfo("Asia/Shanghai")).timestamp() * 1000)
    sensor = str(model.meters["sensor"][0])
    buffer = pl.DataFrame(
        {"sensor": [sensor] * 3, "ts": [day, day + 60_000, day + 120_000],
         "value": [10.0, 11.0, 12.5]},
        schema={"sensor": pl.Utf8, "ts": pl.Int64, "value": pl.Float64},
    )  # fmt: skip
    down = Influx1Store(url=f"http://127.0.0.1:{free_port()}", database="x", timeout_s=2)
    live = LiveWindows(park=model, config=config, coefficients=coef,
                       reads=StoreReads(down, model))  # fmt: skip
    minute = live.due(day + 130_000)
    assert minute == day + 120_000
    with pytest.raises(StoreError):
        live.compute(buffer, minute)
    assert live.due(day + 130_000) == minute  # still due: retried, not skipped
    live.reads = StoreReads(store, model)  # the store is back
    windows = live.compute(buffer, minute)
    assert set(windows) == {"1d", "1mo"} and windows["1d"].height > 0
    assert live.due(day + 130_000) is None
    down.close()
