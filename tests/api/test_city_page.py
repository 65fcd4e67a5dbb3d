"""The city page in a real browser against the real API on a city of three parks (and a
park of another city) whose month the processor's own encoding wrote: a city key sees its
parks side by side as the city scorecard gives them, ranked, with the city's total as
their sum, names shown as text, nothing of an enterprise, and nothing of another city."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from api.keys import KeyStore
from devstack.servers import InfluxDB, Mosquitto
from smartpark.settings import (
    AlertsSettings,
    ApiSettings,
    InfluxSettings,
    MqttSettings,
    ParkSettings,
    ProcessingSettings,
    Settings,
)
from smartpark.store import open_store
from tests.api import cityparks
from tests.api.conftest import Park, serve
from tests.api.test_page import ARTIFACTS, _fetch, _sign_in, _wait


@pytest.fixture(scope="module")
def city(
    mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Park]:
    work = tmp_path_factory.mktemp("city")
    settings = Settings(
        mqtt=MqttSettings(port=mosquitto.port, topic_root="citypage"),
        influx=InfluxSettings(url=influxdb.url, database="city_page"),
        park=ParkSettings(registry=cityparks.registry(work / "parks.yaml")),
        processing=ProcessingSettings(config=cityparks.configs(work / "processing")),
        alerts=AlertsSettings(db=work / "alerts.db"),
        api=ApiSettings(port=0, keys_db=work / "api.db"),
    )
    now = datetime.now(UTC)
    store = open_store(settings.influx)
    try:
        cityparks.write(store, now)
    finally:
        store.close()
    keystore = KeyStore(settings.api.keys_db)
    keys = {
        "city": keystore.create(role="city", park="chengdu", enterprise=None, name="成都市发改委"),
        "othercity": keystore.create(role="city", park="mianyang", enterprise=None,
                                     name="绵阳市"),
        "operator": keystore.create(role="operator", park="tianfu-np", enterprise=None,
                                    name="天府园区运营"),
    }  # fmt: skip
    keystore.close()
    with serve(settings) as url:
        yield Park(settings, url, keys, None, now)  # type: ignore[arg-type]


def _cell(row: object, key: str) -> float | None:
    cell = row.find_element(By.CSS_SELECTOR, f'td[data-k="{key}"]')  # type: ignore[attr-defined]
    value = cell.get_attribute("data-value")
    return None if value is None else float(value)


def test_a_city_key_sees_its_parks_side_by_side_as_the_scorecard_gives_them(
    city: Park, browser: WebDriver
) -> None:
    _sign_in(browser, city, "city", page="city")
    card = city.get("/v1/cities/chengdu/scorecard", "city").json()
    rows = browser.find_elements(By.CSS_SELECTOR, "#city-table tbody tr")
    # ranked as the API ranks them (by the judged clean-energy share), the total last
    assert [r.get_attribute("data-park") for r in rows] == [
        "tianfu-np", "shuangliu-np", "qingbaijiang-np", "_city",
    ]  # fmt: skip
    assert [p["park"] for p in card["parks"]] == [r.get_attribute("data-park") for r in rows[:3]]
    for row, park in zip(rows, card["parks"], strict=False):
        assert _cell(row, "rank") == park["rank"]
        assert _cell(row, "share") == pytest.approx(park["clean_energy_share"]["value_pct"])
        carbon = park["co2_per_energy"]
        assert _cell(row, "co2_per_tce") == pytest.approx(carbon["value_t_per_tce"])
        for key in ("energy_tce", "co2_location_t", "energy_tce_per_10k_cny"):
            assert _cell(row, key) == pytest.approx(park[key]), key
        assert _cell(row, "completeness") == pytest.approx(park["completeness"]["mean_pct"])
        for key, found in (("quota", park["quota"]), ("budget", park["carbon_budget"])):
            cell = row.find_element(By.CSS_SELECTOR, f'td[data-k="{key}"]')
            assert cell.get_attribute("data-status") == found["status"], key
        milestones = row.find_element(By.CSS_SELECTOR, 'td[data-k="milestones"]').text
        met = park["clean_energy_share"]["met_pct"]
        assert milestones.count("✓") == sum(met.values()) and "2035 75 %" in milestones
    # Qingbaijiang's e08 used 5,000 of its 2,600 tce; Shuangliu has no carbon budget
    by_park = {r.get_attribute("data-park"): r for r in rows}
    quota = by_park["qingbaijiang-np"].find_element(By.CSS_SELECTOR, 'td[data-k="quota"]')
    assert quota.get_attribute("data-status") == "breached" and quota.text.startswith("已超")
    budget = by_park["shuangliu-np"].find_element(By.CSS_SELECTOR, 'td[data-k="budget"]')
    assert budget.get_attribute("data-status") == "not_configured"
    # the city's total is the sum of its three parks (never the other city's)
    total = by_park["_city"]
    expected = sum(p.energy_tce for p in cityparks.CITY)
    assert _cell(total, "energy_tce") == pytest.approx(expected)
    assert _cell(total, "energy_tce") == pytest.approx(card["totals"]["energy_tce"])
    assert _cell(total, "co2_location_t") == pytest.approx(sum(p.co2_t for p in cityparks.CITY))
    # names are text: the markup in Shuangliu's name is shown, not made into elements
    name = by_park["shuangliu-np"].find_element(By.CSS_SELECTOR, 'td[data-k="park"]')
    assert cityparks.MARKUP in name.text and not name.find_elements(By.TAG_NAME, "b")
    table = browser.find_element(By.ID, "city-table").get_attribute("outerHTML") or ""
    assert "fucheng" not in table and "涪城" not in table  # another city's park
    assert "e08" not in table and "e09" not in table  # no enterprise named
    assert browser.find_element(By.ID, "dash").is_displayed() is False


def test_the_city_cookie_reads_its_city_only_and_signs_out(city: Park, browser: WebDriver) -> None:
    _sign_in(browser, city, "city", page="city")
    for path in (
        "/v1/cities/mianyang/scorecard",  # another city
        "/v1/cities/nowhere/scorecard",
        "/v1/parks/fucheng-np",  # another city's park
        "/v1/parks/fucheng-np/scopes/_park/scorecard",
    ):
        got = _fetch(browser, path)
        assert got["status"] == 404 and "fucheng" not in got["body"], (path, got)
    assert _fetch(browser, "/v1/stream/ticket", "POST", csrf=True)["status"] == 404
    browser.find_element(By.ID, "signout").click()
    _wait(browser, "the sign-in form", lambda d: d.find_element(By.ID, "signin").is_displayed())
    assert browser.find_element(By.ID, "city").is_displayed() is False
    assert _fetch(browser, "/v1/cities/chengdu/scorecard")["status"] == 401
    # the other city's key: its own park only
    _sign_in(browser, city, "othercity", page="city")
    rows = browser.find_elements(By.CSS_SELECTOR, "#city-table tbody tr")
    assert [r.get_attribute("data-park") for r in rows] == ["fucheng-np", "_city"]


def test_the_city_page_in_english_fits_a_phone_and_a_desktop(
    city: Park, browser: WebDriver
) -> None:
    _sign_in(browser, city, "city", page="city")
    browser.find_element(By.ID, "lang").click()
    _wait(browser, "English",
          lambda d: d.find_element(By.ID, "city-name").text.startswith("chengdu: parks"))  # fmt: skip
    assert "never netted across parks" in browser.find_element(By.ID, "city-note").text
    browser.find_element(By.ID, "lang").click()  # back to Chinese for the screenshots
    _wait(browser, "Chinese", lambda d: "各园区" in d.find_element(By.ID, "city-name").text)
    for width, height in ((390, 844), (1440, 900)):
        browser.set_window_size(width, height)
        time.sleep(0.2)
        inner = browser.execute_script("return window.innerWidth")
        scroll = browser.execute_script("return document.documentElement.scrollWidth")
        assert scroll <= inner, f"the page is {scroll} px wide in a {inner} px window"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "city-1440.png"
    assert browser.save_screenshot(str(path)) and path.stat().st_size > 10_000
