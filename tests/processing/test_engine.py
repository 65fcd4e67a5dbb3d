"""The KPI engine end to end over simulated readings (pure, no servers)."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import polars as pl
import pytest

from processing.config import Declared, GreenPower, ProcessingConfig, coefficients, load_factor_set
from processing.engine import Park, kpis
from processing.kpis import Coefficients
from processing.meters import window_start, window_starts
from simulators.scenario import at
from simulators.stream import ParkFeed
from smartpark.model import PARK_SCOPE
from smartpark.registry import Registry

CST = timezone(timedelta(hours=8))


def _readings(park: Registry, days: float, start: datetime) -> pl.DataFrame:
    """The carrier counters of a simulated park, as the processor receives them."""
    scenario = at(start, days, seed=3)
    feed = ParkFeed(park, scenario, root="sp")
    rows: list[tuple[str, int, float]] = []
    counters = {
        "electricity": "energy_kwh",
        "pv": "energy_kwh",
        "gas": "volume_m3",
        "production": "output",
    }
    for chunk in range(scenario.start_ms // 86_400_000, scenario.end_ms // 86_400_000 + 1):
        for block in feed.model.chunk(chunk, scenario.start_ms, scenario.end_ms):
            sensor = feed.model.sensors[block.sensor]
            field = counters.get(sensor.ref.kind)
            if field:
                rows += zip(
                    [sensor.ref.sensor] * len(block.ts),
                    block.ts.tolist(),
                    block.values[field].tolist(),
                    strict=True,
                )
    return pl.DataFrame(
        rows, schema={"sensor": pl.Utf8, "ts": pl.Int64, "value": pl.Float64}, orient="row"
    )


@pytest.fixture(scope="module")
def two_days(park: Registry) -> pl.DataFrame:
    return _readings(park, 2, datetime(2026, 11, 2, tzinfo=CST))


@pytest.fixture(scope="module")
def setup(park: Registry) -> tuple[Park, ProcessingConfig]:
    config = ProcessingConfig(
        green_power=[GreenPower(enterprise="e08-anode", month="2026-11", kwh=3_000_000)],
        declared=[
            Declared(enterprise="e08-anode", year=2026, added_value_cny=365e6),
            Declared(enterprise="e08-anode", year=2026, month=11, added_value_cny=60e6),
        ],
    )
    return Park.from_registry(park, "tianfu-np", config), config


def test_hours_add_up_to_days_and_the_park_to_its_enterprises(
    two_days: pl.DataFrame, setup: tuple[Park, ProcessingConfig]
) -> None:
    park, config = setup
    coef = coefficients(config, load_factor_set(config.factors))
    hours = kpis(two_days, park, config, coef, window="1h")
    days = kpis(two_days, park, config, coef, window="1d")
    assert days.filter(pl.col("scope") == PARK_SCOPE).height == 2  # two local days
    for scope in ("e08-anode", PARK_SCOPE):
        h = hours.filter(pl.col("scope") == scope)["energy_tce"].sum()
        d = days.filter(pl.col("scope") == scope)["energy_tce"].sum()
        assert h == pytest.approx(d, rel=1e-9)
    by_day = (
        days.filter(pl.col("scope") != PARK_SCOPE)
        .group_by("window")
        .agg(pl.col("co2_location_t").sum())
        .sort("window")
    )
    park_rows = days.filter(pl.col("scope") == PARK_SCOPE).sort("window")
    assert park_rows["co2_location_t"].to_list() == pytest.approx(
        by_day["co2_location_t"].to_list()
    )
    # The first reading of every sensor has no interval before it: flagged, not invented.
    assert all(
        f & 8 for f in days.filter(pl.col("scope") == PARK_SCOPE).sort("window")["flags"][:1]
    )


def test_declared_values_and_contracts_are_allocated_by_days(
    two_days: pl.DataFrame, setup: tuple[Park, ProcessingConfig]
) -> None:
    """Data of 2 and 3 November, complete to the 4th: 3 of November's 30 days have
    elapsed, so 300,000 kWh of the 3 GWh contract count (used in full: e08 imported more),
    given to the days and to the hours in proportion to their grid import."""
    park, config = setup
    coef = coefficients(config, load_factor_set(config.factors))
    complete_to = int(datetime(2026, 11, 4, tzinfo=CST).timestamp() * 1000)
    days = kpis(two_days, park, config, coef, window="1d", complete_to_ms=complete_to).filter(
        pl.col("scope") == "e08-anode"
    )
    assert days["grid_kwh"].sum() > 300_000
    assert days["green_kwh"].sum() == pytest.approx(300_000)
    assert (days["green_kwh"] / days["grid_kwh"]).to_list() == pytest.approx(
        [300_000 / days["grid_kwh"].sum()] * 2
    )
    for row in days.to_dicts():
        assert row["added_value_cny"] == pytest.approx(2e6)  # the month's declaration wins
        assert row["energy_tce_per_10k_cny"] == pytest.approx(row["energy_tce"] / 200)
    hours = kpis(two_days, park, config, coef, window="1h", complete_to_ms=complete_to)
    hours = hours.filter(pl.col("scope") == "e08-anode")
    assert hours["added_value_cny"].is_null().all()  # never a year's value on an hour
    assert hours["green_kwh"].sum() == pytest.approx(300_000)
    other = kpis(two_days, park, config, coef, window="1d").filter(pl.col("scope") == PARK_SCOPE)
    assert other["added_value_cny"].is_null().all()  # not every enterprise declared


def test_output_adds_up_only_in_one_unit_and_the_park_may_declare_its_own_value(
    two_days: pl.DataFrame, setup: tuple[Park, ProcessingConfig]
) -> None:
    park, config = setup
    coef = coefficients(config, load_factor_set(config.factors))
    # The example park counts output in t, kL, kpcs and km2: no park output, no park
    # intensity per output; e08 (two sensors, both t) keeps its own.
    assert park.output_units["e08-anode"] == "t" and park.output_unit is None
    days = kpis(two_days, park, config, coef, window="1d")
    whole = days.filter(pl.col("scope") == PARK_SCOPE)
    assert whole["output"].is_null().all() and whole["energy_kgce_per_output"].is_null().all()
    e08 = days.filter(pl.col("scope") == "e08-anode").sort("window")
    assert (e08["output"] > 0).all()
    assert e08["energy_kgce_per_output"].to_list() == pytest.approx(
        (e08["energy_tce"] * 1000 / e08["output"]).to_list()
    )
    # Were every enterprise counting tonnes, the park's output would be their sum.
    tonnes = replace(park, output_units=dict.fromkeys(park.output_units, "t"))
    days_t = kpis(two_days, tonnes, config, coef, window="1d")
    summed = (
        days_t.filter(pl.col("scope") != PARK_SCOPE).group_by("window").agg(pl.col("output").sum())
    )
    park_t = days_t.filter(pl.col("scope") == PARK_SCOPE).join(summed, on="window", suffix="_sum")
    assert park_t["output"].to_list() == pytest.approx(park_t["output_sum"].to_list())
    # An enterprise whose own sensors count in different units gets no output either.
    mixed = replace(park, output_units={**park.output_units, "e08-anode": None})
    e08_mixed = (
        kpis(two_days, mixed, config, coef, window="1d")
        .filter(pl.col("scope") == "e08-anode")
        .sort("window")
    )
    assert e08_mixed["output"].is_null().all()
    assert e08_mixed["energy_tce"].to_list() == pytest.approx(e08["energy_tce"].to_list())
    # The park's own figure (730 M CNY for 2026): 2 M a day in its rows, while e08's
    # own declaration still gives e08 its 2 M and the enterprises' sum stays unknown.
    declared = [*config.declared, Declared(enterprise="_park", year=2026, added_value_cny=730e6)]
    own = config.model_copy(update={"declared": declared})
    days_own = kpis(two_days, park, own, coef, window="1d")
    whole = days_own.filter(pl.col("scope") == PARK_SCOPE)
    assert whole["added_value_cny"].to_list() == pytest.approx([2e6, 2e6])
    assert whole["energy_tce_per_10k_cny"].to_list() == pytest.approx(
        (whole["energy_tce"] / 200).to_list()
    )
    assert days_own.filter(pl.col("scope") == "e08-anode")["added_value_cny"].to_list() == (
        pytest.approx([2e6, 2e6])
    )
    month = kpis(two_days, park, own, coef, window="1mo").filter(pl.col("scope") == PARK_SCOPE)
    assert month["added_value_cny"].item() == pytest.approx(730e6 / 365 * 30)
    with pytest.raises(ValueError, match="declares added_value_cny only"):
        Declared(enterprise="_park", year=2026, revenue_cny=1e9)


def test_readings_each_side_of_local_midnight_fall_in_their_own_day(
    setup: tuple[Park, ProcessingConfig],
) -> None:
    park, config = setup
    coef = coefficients(config, load_factor_set(config.factors))
    midnight = int(datetime(2026, 11, 3, tzinfo=CST).timestamp() * 1000)
    readings = pl.DataFrame(
        {
            "sensor": ["e04-grid-1"] * 3,
            "ts": [midnight - 60_000, midnight - 1, midnight + 60_000],
            "value": [100.0, 100.25, 100.5],  # 600 kW at x40: 0.25 a minute is plausible
        }
    )
    days = (
        kpis(readings, park, config, coef, window="1d")
        .filter(pl.col("scope") == "e04-cannery")
        .sort("window")
    )
    assert days["window"].to_list() == [midnight - 86_400_000, midnight]
    assert days["grid_kwh"].to_list() == [10.0, 10.0]  # multiplier 40


@pytest.mark.parametrize("tz", ["Asia/Shanghai", "Europe/Berlin", "America/St_Johns"])
@pytest.mark.parametrize("window", ["1m", "15m", "1h", "1d", "1mo"])
def test_fast_windows_equal_the_time_zone_conversion(tz: str, window: str) -> None:
    rng = random.Random(1)
    base = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)
    ts = pl.Series(
        "ts",
        sorted(base + rng.randrange(0, 400 * 86_400_000) for _ in range(5_000)),
        dtype=pl.Int64,
    )
    short = ts.filter(ts < base + 20 * 86_400_000)  # no DST change: the integer path
    for sample in (ts, short):
        slow = pl.select(window_start(pl.lit(sample), window=window, tz=tz)).to_series()
        assert window_starts(sample, window=window, tz=tz).to_list() == slow.to_list()


def test_unbundled_certificates_are_reported_apart_and_count_where_configured(
    two_days: pl.DataFrame, setup: tuple[Park, ProcessingConfig]
) -> None:
    """The same 3 GWh of e08 as certificates bought unbundled (绿证): kept apart as
    certificates_kwh; by default they prove renewable consumption (off the quota total,
    as traded green power) while their kWh stay at the residual factor in market-based
    CO2; each effect has its own switch (issue 25, item 9)."""
    park, traded = setup
    coef = coefficients(traded, load_factor_set(traded.factors))
    certs = traded.model_copy(
        update={
            "green_power": [
                g.model_copy(update={"kind": "certificates"}) for g in traded.green_power
            ]
        }
    )

    def e08(config: ProcessingConfig, c: Coefficients = coef) -> pl.DataFrame:
        days = kpis(two_days, park, config, c, window="1d")
        return days.filter(pl.col("scope") == "e08-anode").sort("window")

    neither = replace(coef, certificates_in_quota=False)
    both = replace(coef, certificates_in_market_co2=True)
    a, b, c, d = e08(traded), e08(certs), e08(certs, neither), e08(certs, both)
    assert (a["green_kwh"] > 0).all() and (b["green_kwh"] == 0).all()
    assert b["certificates_kwh"].to_list() == pytest.approx(a["green_kwh"].to_list())
    # not in market CO2 by default: the certificates' kWh stay at the residual factor
    assert (b["co2_market_t"] - a["co2_market_t"]).to_list() == pytest.approx(
        (a["green_kwh"] * coef.residual_co2_kg_per_kwh / 1000).to_list()
    )
    # but off what the quota burns, as traded green power is
    assert b["energy_excl_renewables_tce"].to_list() == pytest.approx(
        a["energy_excl_renewables_tce"].to_list()
    )
    # switched off: deducted nowhere (its PV still is)
    assert (c["energy_excl_renewables_tce"] - a["energy_excl_renewables_tce"]).to_list() == (
        pytest.approx((a["green_kwh"] * coef.electricity_kgce_per_kwh / 1000).to_list())
    )
    # both on: the same as traded green power
    assert d["co2_market_t"].to_list() == pytest.approx(a["co2_market_t"].to_list())
    assert d["energy_excl_renewables_tce"].to_list() == pytest.approx(
        a["energy_excl_renewables_tce"].to_list()
    )


def test_feedstock_is_a_total_of_its_own_where_declared(
    two_days: pl.DataFrame, setup: tuple[Park, ProcessingConfig]
) -> None:
    """原料用能: e08 declares 30 % of its gas as raw material. energy_excl_feedstock_tce =
    energy_tce - 0.3 x gas_m3 x 1.3300 kgce / 1000; every other figure is unchanged, and
    the park's is the sum of its enterprises'."""
    park, config = setup
    coef = coefficients(config, load_factor_set(config.factors))
    fed = config.model_copy(update={"feedstock": {"e08-anode": {"gas_m3": 0.3}}})
    base = kpis(two_days, park, config, coef, window="1d").sort("scope", "window")
    days = kpis(two_days, park, fed, coef, window="1d").sort("scope", "window")
    e08 = days.filter(pl.col("scope") == "e08-anode")
    assert (e08["gas_m3"] > 0).all()
    expected = e08["energy_tce"] - 0.3 * e08["gas_m3"] * 1.3300 / 1000
    assert e08["energy_excl_feedstock_tce"].to_list() == pytest.approx(expected.to_list())
    others = days.filter(~pl.col("scope").is_in(["e08-anode", PARK_SCOPE]))
    assert (others["energy_excl_feedstock_tce"] == others["energy_tce"]).all()
    assert days["energy_tce"].to_list() == pytest.approx(base["energy_tce"].to_list())
    park_rows = days.filter(pl.col("scope") == PARK_SCOPE)
    feedstock = (park_rows["energy_tce"] - park_rows["energy_excl_feedstock_tce"]).to_list()
    assert feedstock == pytest.approx((0.3 * e08["gas_m3"] * 1.3300 / 1000).to_list())
    with pytest.raises(ValueError, match="feedstock: shares are between 0 and 1"):
        ProcessingConfig(feedstock={"e08-anode": {"gas_m3": 1.5}})
