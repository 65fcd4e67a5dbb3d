"""The enterprise page in a real browser (Debian's Chromium through chromedriver) against
the real API on a park the pipeline filled: what it shows equals what the API answers,
an enterprise sees nothing of another's, acknowledging works end to end, live updates
arrive, and it fits a phone and a desktop (screenshots in var/test-artifacts)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson
import pytest
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from smartpark.alertstore import AlertDB
from smartpark.mqtt import BoundedPublisher, connect, make_client
from smartpark.wire import KpiUpdate, alert_topic, encode_kpi_update, kpi_topic
from tests.api.conftest import Park
from tests.conftest import ROOT, wait_until

ARTIFACTS = ROOT / "var" / "test-artifacts"
PARK = "tianfu-np"


def _wait(driver: WebDriver, what: str, predicate: Any, timeout_s: float = 20) -> Any:
    try:
        return WebDriverWait(driver, timeout_s, poll_frequency=0.05).until(predicate)
    except TimeoutException:
        errors = driver.find_element(By.ID, "error").text
        raise AssertionError(f"timed out waiting for {what}; page error: {errors!r}") from None


def _sign_in(driver: WebDriver, park: Park, who: str, *, page: str = "dash") -> None:
    """Sign ``who`` in and wait for its page (``dash``: a park's; ``city``: a city's)."""
    driver.get(park.url + "/")
    field = _wait(driver, "the sign-in form", lambda d: d.find_element(By.ID, "key"))
    _wait(driver, "the form shown", lambda d: field.is_displayed())
    field.send_keys(park.keys[who])
    driver.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
    _wait(
        driver,
        "the page",
        lambda d: d.find_element(By.ID, page).get_attribute("data-ready") == "1",
    )


def _fetch(driver: WebDriver, path: str, method: str = "GET", csrf: bool = False) -> dict[str, Any]:
    """A request made by the page's own origin with its cookie (as a script on it would)."""
    script = """
        const [path, method, csrf, done] = arguments;
        const headers = csrf ? {"X-CSRF-Token": state.who.csrf} : {};
        fetch(path, {method, headers, credentials: "same-origin"})
          .then(async r => done({status: r.status, body: await r.text()}))
          .catch(e => done({status: -1, body: String(e)}));
    """
    return dict(driver.execute_async_script(script, path, method, csrf))


def _values(driver: WebDriver, box: str) -> dict[str, float]:
    out = {}
    for card in driver.find_elements(By.CSS_SELECTOR, f"#{box} .card"):
        value = card.find_element(By.CSS_SELECTOR, ".value").get_attribute("data-value")
        if value is not None:
            out[card.get_attribute("data-kpi")] = float(value)
    return out


def _newest_completeness(park: Park) -> dict[str, dict[str, Any]]:
    """e08's newest completeness point per sensor in the API (of the last two days)."""
    now = datetime.now(UTC)
    days = park.get(f"/v1/parks/{PARK}/enterprises/e08-anode/completeness", "e08",
                    start=(now - timedelta(days=2)).isoformat(),
                    end=(now + timedelta(days=1)).isoformat()).json()  # fmt: skip
    newest: dict[str, dict[str, Any]] = {}
    for d in sorted(days, key=lambda d: d["start_ms"]):
        newest[d["sensor"]] = d
    return newest


def test_an_enterprise_sees_its_figures_as_the_api_gives_them(
    api_park: Park, browser: WebDriver
) -> None:
    _sign_in(browser, api_park, "e08")
    assert browser.find_element(By.ID, "scope-box").is_displayed() is False  # no switcher
    card = api_park.get(f"/v1/parks/{PARK}/scopes/e08-anode/scorecard", "e08").json()
    for period in ("today", "month"):
        expected = {k["kpi"]: k["value"] for k in card[period]["kpis"]}
        shown = _values(browser, period)
        assert shown, f"no {period} figures shown"
        for kpi, value in shown.items():
            assert value == pytest.approx(expected[kpi], rel=1e-12), (period, kpi)
        assert "energy_tce" in shown and "co2_location_t" in shown
    # e08 counts its output in tonnes (both production sensors): per tonne, not per "unit"
    assert card["output_unit"] == "t"
    per_output = browser.find_element(By.CSS_SELECTOR, '#today [data-kpi="energy_kgce_per_output"]')
    assert per_output.text.endswith("kgce/t")
    assert "grid_factor" not in browser.find_element(By.ID, "method").text  # said in words
    assert browser.find_element(By.ID, "method").text.startswith("碳排放方法")
    # the open alerts are the API's
    alerts = api_park.get(f"/v1/parks/{PARK}/alerts", "e08", state=["firing", "acknowledged"],
                          enterprise="e08-anode").json()["alerts"]  # fmt: skip
    rows = browser.find_elements(By.CSS_SELECTOR, "#alerts tbody tr")
    assert alerts and sorted(r.get_attribute("data-alert") for r in rows) == sorted(
        a["id"] for a in alerts
    )
    # stacks and completeness: the API's sensors
    stacks = {
        r.get_attribute("data-stack")
        for r in browser.find_elements(By.CSS_SELECTOR, "#cems tbody tr")
    }
    assert stacks == {"e08-stack-1", "e08-stack-2"}
    # exceedance hours: this month's, in the park's zone (the page reads two days back
    # at least, for the last valid hour on the month's first morning)
    month = datetime.now(ZoneInfo("Asia/Shanghai")).replace(day=1, hour=0, minute=0, second=0,
                                                           microsecond=0)  # fmt: skip
    hours = api_park.get(f"/v1/parks/{PARK}/enterprises/e08-anode/cems", "e08",
                         start=(month - timedelta(days=2)).isoformat(),
                         end=datetime.now(UTC).isoformat()).json()  # fmt: skip
    exceeded = {
        stack: sum(1 for h in hours if h["sensor"] == stack
                   and h["start_ms"] >= month.timestamp() * 1000
                   and any(v is True for k, v in h.items() if k.endswith("_exceeded")))
        for stack in stacks
    }  # fmt: skip
    shown_hours = {
        r.get_attribute("data-stack"): int(r.find_elements(By.TAG_NAME, "td")[3].text)
        for r in browser.find_elements(By.CSS_SELECTOR, "#cems tbody tr")
    }
    assert hours and shown_hours == exceeded
    # each sensor's newest day as the job judged it (today so far: what was due by then)
    newest = _newest_completeness(api_park)
    shown = {
        r.get_attribute("data-sensor"): (r.find_elements(By.TAG_NAME, "td")[1].text,
                                         r.get_attribute("class") == "not-met")
        for r in browser.find_elements(By.CSS_SELECTOR, "#completeness tbody tr")
    }  # fmt: skip
    assert newest and set(shown) == set(newest)
    for sensor, d in newest.items():
        assert f"({d['readings']}/{d['expected']})" in shown[sensor][0]
        assert shown[sensor][1] is not d["complete"]
    quota = browser.find_element(By.ID, "quota-text")
    rows_q = api_park.get(f"/v1/parks/{PARK}/enterprises/e08-anode/quota", "e08",
                          start="2000-01-01T00:00:00+00:00", end="2100-01-01T00:00:00+00:00")  # fmt: skip
    if rows_q.status_code == 200 and rows_q.json():
        assert float(quota.get_attribute("data-used")) == pytest.approx(
            rows_q.json()[-1]["used_tce"]
        )
    _budget_shown(browser, api_park, "e08-anode", "e08")
    # the reports' download links work with the page's session (issue 27): the monthly
    # of this month and the one before, this year's annual report and inventory
    links = browser.find_elements(By.CSS_SELECTOR, "#reports a.download")
    assert [a.get_attribute("data-format") for a in links] == ["xlsx", "pdf"] * 4
    kinds = [a.get_attribute("data-kind") for a in links]
    assert kinds == ["monthly"] * 4 + ["annual"] * 2 + ["ghg"] * 2
    for i in (0, 4, 6):  # one XLSX of each kind
        got = _fetch(browser, links[i].get_attribute("href"))
        assert got["status"] == 200, got["body"][:300]
    cookie = browser.get_cookie("sp_session")
    assert cookie is not None and cookie["httpOnly"] is True and cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain HTTP here; Secure behind TLS (tested in test_api)


def test_a_wrong_key_is_refused_with_a_message(api_park: Park, browser: WebDriver) -> None:
    for key in ("sp_000000000000_nope", api_park.keys["revoked"]):
        browser.get(api_park.url + "/")
        field = _wait(browser, "the form", lambda d: d.find_element(By.ID, "key"))
        field.send_keys(key)
        browser.find_element(By.CSS_SELECTOR, "#signin-form button[type=submit]").click()
        shown = _wait(
            browser, "the message",
            lambda d: d.find_element(By.ID, "signin-error").is_displayed()
            and d.find_element(By.ID, "signin-error"),
        )  # fmt: skip
        assert shown.text == "密钥无效（未知、输入有误或已撤销）。"  # noqa: RUF001
        assert browser.find_element(By.ID, "dash").is_displayed() is False
        assert browser.get_cookie("sp_session") is None


def test_an_enterprise_gets_nothing_of_another_by_url_or_request(
    api_park: Park, browser: WebDriver
) -> None:
    _sign_in(browser, api_park, "e08")
    for path in (
        f"/v1/parks/{PARK}/enterprises/e01-baijiu/latest",
        f"/v1/parks/{PARK}/scopes/e01-baijiu/scorecard",
        f"/v1/parks/{PARK}/scopes/_park/scorecard",
        f"/v1/parks/{PARK}/alerts?enterprise=e01-baijiu",
        f"/v1/parks/{PARK}/enterprises/e01-baijiu/deadletters",
    ):
        got = _fetch(browser, path)
        assert got["status"] == 404 and "e01" not in got["body"], (path, got)
    everyone = orjson.loads(_fetch(browser, f"/v1/parks/{PARK}/alerts?state=firing")["body"])
    assert everyone["alerts"] and {a["enterprise"] for a in everyone["alerts"]} == {"e08-anode"}
    browser.get(api_park.url + f"/v1/parks/{PARK}/enterprises/e01-baijiu/latest")  # typed in
    assert "not found" in browser.find_element(By.TAG_NAME, "body").text
    # a write with the cookie but without the CSRF token is refused; with it, it works
    browser.get(api_park.url + "/")
    _wait(
        browser,
        "the page",
        lambda d: d.find_element(By.ID, "dash").get_attribute("data-ready") == "1",
    )
    assert _fetch(browser, "/v1/stream/ticket", "POST")["status"] == 403
    assert _fetch(browser, "/v1/stream/ticket", "POST", csrf=True)["status"] == 200


def test_acknowledging_from_the_page_reaches_the_alert_service_and_the_channel(
    api_park: Park, browser: WebDriver
) -> None:
    notices: list[dict[str, Any]] = []
    listener = make_client(api_park.settings.mqtt, client_id="page-ack-listener")
    subscribed = threading.Event()
    topic = alert_topic(api_park.settings.mqtt.topic_root, PARK, "e08-anode")
    listener.on_connect = lambda c, *_: c.subscribe(topic, qos=1)
    listener.on_subscribe = lambda *_: subscribed.set()
    listener.on_message = lambda _c, _u, m: notices.append(orjson.loads(m.payload))
    connect(listener, api_park.settings.mqtt, persistent=False)
    listener.loop_start()
    db = AlertDB(api_park.settings.alerts.db)
    try:
        assert subscribed.wait(10)
        _sign_in(browser, api_park, "e08")
        row = browser.find_element(By.CSS_SELECTOR, '#alerts tbody tr[data-state="firing"]')
        alert_id = row.get_attribute("data-alert")
        row.find_element(By.TAG_NAME, "button").click()
        _wait(
            browser,
            "the button to say so",
            lambda d: row.find_element(By.TAG_NAME, "button").text == "已确认",
        )
        wait_until(
            lambda: db.get(alert_id).state == "acknowledged", 20, "acknowledged in the service"
        )  # type: ignore[union-attr]
        acked = db.get(alert_id)
        assert acked is not None and acked.acked_by == "e08 energy manager"
        wait_until(
            lambda: any(n["id"] == alert_id and n["event"] == "acknowledged" for n in notices),
            20, "the acknowledgement on the enterprise's channel",
        )  # fmt: skip
    finally:
        listener.disconnect()
        listener.loop_stop()
        db.close()


def test_a_kpi_update_on_mqtt_shows_on_the_open_page_within_2_s(
    api_park: Park, browser: WebDriver
) -> None:
    _sign_in(browser, api_park, "e08")
    _wait(
        browser,
        "the live stream",
        lambda d: d.find_element(By.TAG_NAME, "body").get_attribute("data-stream") == "open",
    )
    publisher = BoundedPublisher(api_park.settings.mqtt, client_id="page-kpi", persistent=False)
    try:
        assert publisher.wait_connected()
        start = (int(time.time()) // 60) * 60_000
        update = KpiUpdate(PARK, "e08-anode", "1m", start, start + 60_000, 0,
                           {"energy_tce": 1.2345, "co2_location_t": 2.5, "electricity_kwh": 9876.5,
                            "clean_energy_share_pct": 12.5}, {"factor_set": "cn"})  # fmt: skip
        other = KpiUpdate(PARK, "e01-baijiu", "1m", start, start + 60_000, 0, {"energy_tce": 7.0})
        root = api_park.settings.mqtt.topic_root
        publisher.publish(kpi_topic(root, PARK, "e01-baijiu"), encode_kpi_update(other))
        sent = time.monotonic()
        publisher.publish(kpi_topic(root, PARK, "e08-anode"), encode_kpi_update(update))
        _wait(
            browser, "the update", lambda d: _values(d, "live-cards").get("energy_tce") == 1.2345, 5
        )
        took = time.monotonic() - sent
        assert took < 2.0, f"the update took {took:.2f} s"
        assert _values(browser, "live-cards")["electricity_kwh"] == 9876.5  # not e01's 7.0
    finally:
        publisher.close()


def test_the_operator_gets_the_park_and_a_switcher_over_its_enterprises(
    api_park: Park, browser: WebDriver
) -> None:
    _sign_in(browser, api_park, "operator")
    switcher = browser.find_element(By.ID, "scope")
    assert switcher.is_displayed()
    options = [o.get_attribute("value") for o in switcher.find_elements(By.TAG_NAME, "option")]
    assert options[0] == "_park" and len(options) == 13
    park = api_park.get(f"/v1/parks/{PARK}/scopes/_park/scorecard", "operator").json()
    expected = {k["kpi"]: k["value"] for k in park["today"]["kpis"]}
    assert _values(browser, "today")["energy_tce"] == pytest.approx(
        expected["energy_tce"], rel=1e-12
    )
    assert browser.find_element(By.ID, "quota-box").is_displayed() is False
    _budget_shown(browser, api_park, "_park", "operator")  # the park has a budget of its own
    browser.find_element(By.CSS_SELECTOR, '#scope option[value="e01-baijiu"]').click()
    _wait(
        browser,
        "e01",
        lambda d: d.find_element(By.ID, "dash").get_attribute("data-scope") == "e01-baijiu",
    )
    e01 = api_park.get(f"/v1/parks/{PARK}/scopes/e01-baijiu/scorecard", "operator").json()
    want = {k["kpi"]: k["value"] for k in e01["today"]["kpis"]}["energy_tce"]
    _wait(
        browser,
        "e01's figures",
        lambda d: _values(d, "today").get("energy_tce") == pytest.approx(want, rel=1e-12),
    )
    text = browser.find_element(By.ID, "budget-text")
    assert text.text == "未配置本月碳排放预算。" and text.get_attribute("data-used") is None


def _budget_shown(browser: WebDriver, api_park: Park, scope: str, who: str) -> None:
    """The page's carbon-budget line says what the API says, with its method and factor."""
    month = datetime.now(ZoneInfo("Asia/Shanghai")).replace(day=1, hour=0, minute=0)
    [row] = api_park.get(
        f"/v1/parks/{PARK}/scopes/{scope}/carbon-budget", who,
        start=(month - timedelta(hours=1)).isoformat(), end=datetime.now(UTC).isoformat(),
    ).json()  # fmt: skip
    _wait(
        browser,
        f"{scope}'s carbon budget",
        lambda d: d.find_element(By.ID, "budget-text").get_attribute("data-used") is not None,
    )
    text = browser.find_element(By.ID, "budget-text")
    assert float(text.get_attribute("data-used")) == pytest.approx(row["used_co2_t"])
    assert float(text.get_attribute("data-budget")) == row["budget_co2_t"]
    assert "基于位置" in text.text and row["co2_factor"] in text.text
    assert browser.find_elements(By.CSS_SELECTOR, "#budget-burndown canvas")


def test_english_stale_data_banner_and_sign_out(api_park: Park, browser: WebDriver) -> None:
    _sign_in(browser, api_park, "e08")
    assert browser.find_element(By.ID, "stale").is_displayed() is False  # the feed is fresh
    browser.find_element(By.ID, "lang").click()
    _wait(
        browser,
        "English",
        lambda d: d.find_element(By.CSS_SELECTOR, "#alerts th").text == "Severity",
    )
    _wait(
        browser,
        "the page",
        lambda d: d.find_element(By.ID, "dash").get_attribute("data-ready") == "1",
    )
    browser.execute_script("state.lastDataMs = Date.now() - 11 * 60 * 1000; checkStale();")
    banner = browser.find_element(By.ID, "stale")
    assert banner.is_displayed() and banner.text.startswith("No new data for 11 min")
    browser.execute_script("localStorage.clear();")
    browser.find_element(By.ID, "signout").click()
    _wait(browser, "the sign-in form", lambda d: d.find_element(By.ID, "signin").is_displayed())
    assert _fetch(browser, "/session")["status"] == 401


@pytest.mark.parametrize("width,height", [(390, 844), (1440, 900)])
def test_the_page_fits_a_phone_and_a_desktop(
    api_park: Park, browser: WebDriver, width: int, height: int
) -> None:
    browser.set_window_size(width, height)
    _sign_in(browser, api_park, "e08")
    inner = browser.execute_script("return window.innerWidth")
    scroll = browser.execute_script("return document.documentElement.scrollWidth")
    assert scroll <= inner, f"the page is {scroll} px wide in a {inner} px window"
    for box in ("today", "month", "alerts"):
        element = browser.find_element(By.ID, box)
        right = browser.execute_script(
            "const r = arguments[0].getBoundingClientRect(); return r.right", element
        )
        assert right <= inner + 1, box
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    browser.set_window_size(width, 2400 if width < 500 else 1800)  # the whole page in the shot
    time.sleep(0.3)
    path = ARTIFACTS / f"page-{width}.png"
    assert browser.save_screenshot(str(path)) and path.stat().st_size > 10_000


def test_the_session_cookie_and_csrf_rules_over_http(api_park: Park) -> None:
    import httpx

    from api.keys import KeyStore

    url = api_park.url
    plain = httpx.post(url + "/session", json={"key": api_park.keys["e01"]})
    assert plain.status_code == 200
    cookie = plain.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Secure" not in cookie
    proxied = httpx.post(url + "/session", json={"key": api_park.keys["e01"]},
                         headers={"X-Forwarded-Proto": "https"})  # fmt: skip
    assert "Secure" in proxied.headers["set-cookie"]
    session, csrf = plain.cookies["sp_session"], plain.json()["csrf"]
    assert api_park.keys["e01"] not in cookie  # the key is not the cookie
    jar = {"sp_session": session}
    who = httpx.get(url + "/session", cookies=jar).json()
    assert who["enterprise"] == "e01-baijiu" and who["role"] == "enterprise"
    assert (
        httpx.get(url + f"/v1/parks/{PARK}/scopes/e01-baijiu/scorecard", cookies=jar).status_code
        == 200
    )
    assert (
        httpx.get(url + f"/v1/parks/{PARK}/scopes/e08-anode/scorecard", cookies=jar).status_code
        == 404
    )
    assert httpx.post(url + "/v1/stream/ticket", cookies=jar).status_code == 403
    assert (
        httpx.post(
            url + "/v1/stream/ticket", cookies=jar, headers={"X-CSRF-Token": "x" * 43}
        ).status_code
        == 403
    )
    assert (
        httpx.post(
            url + "/v1/stream/ticket", cookies=jar, headers={"X-CSRF-Token": csrf}
        ).status_code
        == 200
    )
    page = httpx.get(url + "/")
    assert (
        page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    )
    assert '<script src="/static/app.js"' in page.text and "http" not in page.text.split("<body>")[
        0
    ].replace("http-equiv", "")
    # revoking the key ends its sessions; signing out ends this one
    store = KeyStore(api_park.settings.api.keys_db)
    try:
        throwaway = store.create(role="enterprise", park=PARK, enterprise="e01-baijiu", name="tmp")
        other = httpx.post(url + "/session", json={"key": throwaway})
        other_jar = {"sp_session": other.cookies["sp_session"]}
        assert httpx.get(url + "/session", cookies=other_jar).status_code == 200
        assert store.revoke(throwaway.split("_")[1])
    finally:
        store.close()
    assert httpx.get(url + "/session", cookies=other_jar).status_code == 401
    assert (
        httpx.get(
            url + f"/v1/parks/{PARK}/scopes/e01-baijiu/scorecard", cookies=other_jar
        ).status_code
        == 401
    )
    assert httpx.post(url + "/session/logout", cookies=jar).status_code == 403  # no CSRF token
    assert (
        httpx.post(url + "/session/logout", cookies=jar, headers={"X-CSRF-Token": csrf}).status_code
        == 200
    )
    assert httpx.get(url + "/session", cookies=jar).status_code == 401
