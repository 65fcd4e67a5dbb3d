"""Boards for several parks and a city's board. One park keeps the UIDs deployments link
to; several parks get a UID namespace each (stable, within Grafana's 40 characters); a
city board per city. The city board's queries, expanded as Grafana expands them over
its range, run against a real InfluxDB holding three parks' month (and another city's
park) written in the processor's own encoding, and show what the city scorecard shows."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from dashboards import build, expand
from dashboards.city import uid
from devstack.servers import InfluxDB
from smartpark import registry as registry_mod
from smartpark.registry import Registry
from smartpark.settings import InfluxSettings, ParkSettings, Settings
from smartpark.store import open_store
from tests.api import cityparks

BOARDS = ("park", "enterprise", "cems", "evaluation")


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return registry_mod.load(cityparks.registry(tmp_path_factory.mktemp("city") / "parks.yaml"))


def test_one_park_keeps_its_uids_and_several_parks_get_their_own(
    park: Registry, three: Registry
) -> None:
    one = build.dashboards(park, Settings())
    assert list(one) == [*(f"smartpark-{b}" for b in BOARDS), "smartpark-health",
                         "smartpark-city-chengdu"]  # fmt: skip
    several = build.dashboards(three, Settings())
    expected = [f"sp-{p.id}-{b}" for p in cityparks.PARKS for b in BOARDS]
    assert list(several) == [*expected, "smartpark-health", "smartpark-city-chengdu",
                             "smartpark-city-mianyang"]  # fmt: skip
    for key, doc in several.items():
        assert doc["uid"] == key and len(key) <= 40
    # each park's boards name and filter their park
    board = several["sp-shuangliu-np-park"]
    assert board["title"].endswith(cityparks.MARKUP)
    [variable] = [v for v in board["templating"]["list"] if v["name"] == "park"]
    assert variable["current"]["value"] == "shuangliu-np"
    # SMARTPARK_PARK__ID: that park only, under the one-park UIDs, no city board
    chosen = build.dashboards(three, Settings(park=ParkSettings(id="qingbaijiang-np")))
    assert list(chosen) == [*(f"smartpark-{b}" for b in BOARDS), "smartpark-health"]
    assert chosen["smartpark-park"]["templating"]["list"][0]["current"]["value"] == (
        "qingbaijiang-np"
    )


@pytest.mark.parametrize(
    ("prefix", "name", "suffix", "expected"),
    [
        ("sp-", "tianfu-np", "-evaluation", "sp-tianfu-np-evaluation"),
        ("smartpark-city-", "chengdu", "", "smartpark-city-chengdu"),
        # 64 characters (the id grammar's longest): cut, and the name's hash keeps it apart
        ("sp-", "a" * 64, "-evaluation", "sp-aaaaaaaaaaaaaaaaa-ffe054fe-evaluation"),
        ("sp-", "a" * 63 + "b", "-evaluation", "sp-aaaaaaaaaaaaaaaaa-97aa7c54-evaluation"),
        ("smartpark-city-", "c" * 30, "", "smartpark-city-cccccccccccccccc-489105dc"),
    ],
)
def test_a_uid_stays_within_40_characters_stable_and_unique(
    prefix: str, name: str, suffix: str, expected: str
) -> None:
    assert uid(prefix, name, suffix) == expected and len(expected) <= 40


def _run(store: Any, board: dict[str, Any], now: int) -> dict[str, list[Any]]:
    """Each panel's queries expanded over the board's range (in its zone) and run: the
    rows by panel title and refId."""
    zone = ZoneInfo(board["timezone"])
    window = {"from_ms": expand.relative_ms(board["time"]["from"], now_ms=now, zone=zone),
              "to_ms": now}  # fmt: skip
    out = {}
    for panel in board["panels"]:
        for target in panel["targets"]:
            text = expand.influxql(target["query"], variables={}, **window)
            out[f"{panel['title']}/{target['refId']}"] = store.query(text)
    return out


def _by_park(series: list[Any]) -> dict[str, dict[str, Any]]:
    return {s.tags["park"]: dict(zip(s.columns, s.values[-1], strict=True)) for s in series}


def test_the_city_board_shows_its_three_parks_on_the_processors_points(
    influxdb: InfluxDB, three: Registry, tmp_path: Path
) -> None:
    settings = Settings(influx=InfluxSettings(url=influxdb.url, database="city_board"))
    store = open_store(settings.influx)
    try:
        cityparks.write(store, datetime.now(UTC))
        board = build.dashboards(three, settings)["smartpark-city-chengdu"]
        assert board["timezone"] == "Asia/Shanghai" and board["time"]["from"] == "now/M"
        got = _run(store, board, int(time.time() * 1000))
    finally:
        store.close()
    city = {p.id: p for p in cityparks.CITY}
    titles = {key.split("/")[0] for key in got}
    assert len(titles) == 10 and all(got.values()), [k for k, v in got.items() if not v]
    # the city's totals: the sums of its three parks (Mianyang's park is not in them)
    [energy] = got["Energy this month (sum of parks)/A"]
    assert energy.values[0][1] == pytest.approx(sum(p.energy_tce for p in city.values()))
    [co2] = got["CO2 location-based this month (sum of parks)/A"]
    assert co2.values[0][1] == pytest.approx(sum(p.co2_t for p in city.values()))
    # per park: the judged share, CO2 per tce, the ranked table's row, completeness
    share = _by_park(got["Clean-energy share by park (judged variant; milestones 65/70/75 %)/A"])
    assert {p: r["clean_energy_share_grid_implied_equal_value_pct"] for p, r in share.items()} == {
        p: c.share_pct for p, c in city.items()
    }
    per_tce = _by_park(got["CO2 per tce by park (against the target)/A"])
    assert {p: r["co2_location_t_per_tce"] for p, r in per_tce.items()} == {
        p: c.co2_per_tce for p, c in city.items()
    }
    ranked = _by_park(got["Parks ranked by clean-energy share: CO2 per tce, energy, CO2, "
                          "intensities/A"])  # fmt: skip
    assert set(ranked) == set(city)
    for park_id, row in ranked.items():
        assert row["energy_tce"] == pytest.approx(city[park_id].energy_tce)
        assert row["co2_location_t"] == pytest.approx(city[park_id].co2_t)
    done = _by_park(got["Data completeness by park (mean of this month's sensor-days)/A"])
    assert {p: r["completeness_pct"] for p, r in done.items()} == {
        p: c.completeness_pct for p, c in city.items()
    }
    # quotas: Qingbaijiang's e08 used 5,000 of 2,600 tce (over: one enterprise)
    quota = "Energy-use quotas by park (highest of its enterprises; how many over, forecast over)"
    over = _by_park(got[f"{quota}/B"])
    assert {p: r["breached"] for p, r in over.items()} == {"qingbaijiang-np": 1}
    highest = _by_park(got[f"{quota}/A"])
    assert set(highest) == set(city)
    assert highest["qingbaijiang-np"]["used_pct"] == pytest.approx(5000 / 2600 * 100)
    # the parks' own carbon budgets (Shuangliu has none), with the method and factor
    budgets = got["Carbon budget by park (tCO2)/A"]
    assert {s.tags["park"] for s in budgets} == {"tianfu-np", "qingbaijiang-np"}
    assert {s.tags["co2_method"] for s in budgets} == {"location"}
