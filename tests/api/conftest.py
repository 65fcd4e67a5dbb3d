"""A park for the API tests: two hours of the example park (ending now) replayed through
the real collector, processor and alert service into a real InfluxDB and SQLite; the
API served by uvicorn on a free port; keys for every kind of caller."""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import uvicorn
import yaml
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from alerts import app as alerts_stage
from api.app import create_app
from api.keys import KeyStore
from devstack.servers import InfluxDB, Mosquitto, free_port
from ingest import app as ingest_stage
from processing import app as processing_stage
from processing import periods
from simulators.player import play
from smartpark.clock import SystemClock
from smartpark.mqtt import BoundedPublisher
from smartpark.registry import Registry
from smartpark.settings import (
    AlertsSettings,
    ApiSettings,
    InfluxSettings,
    IngestSettings,
    MqttSettings,
    ProcessingSettings,
    Settings,
)
from smartpark.store import open_store
from smartpark.store.influx1 import Influx1Store
from smartpark.store.influxql import Select
from tests.conftest import EXAMPLE_PARK, clear_of_midnight, wait_until
from tests.processing.test_stream import _messages

CALLERS = ("e08", "e01", "operator", "city", "othercity", "stranger", "revoked")


@dataclass
class Park:
    settings: Settings
    url: str
    keys: dict[str, str]
    store: Influx1Store
    start: datetime

    @property
    def day_start(self) -> datetime:
        """Local midnight (the park's zone) of the replay's first reading: the label of the
        first 1d window it fills, and where a dashboard's "today" begins."""
        local = self.start.astimezone(ZoneInfo("Asia/Shanghai"))
        return local.replace(hour=0, minute=0, second=0, microsecond=0)

    def get(self, path: str, who: str | None, **params: object) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.get(self.url + path, headers=headers, params=params, timeout=10)  # type: ignore[arg-type]

    def post(self, path: str, who: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.post(self.url + path, headers=headers, timeout=10)


def _kpi_points(store: Influx1Store, window: str) -> int:
    series = store.query(
        Select("kpi", ["energy_tce"], aggregate="count", tags={"window": window}).to_influxql()
    )
    return int(series[0].values[0][1]) if series else 0


@pytest.fixture(scope="module")
def api_park(
    mosquitto: Mosquitto,
    influxdb: InfluxDB,
    park: Registry,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Park]:
    work = tmp_path_factory.mktemp("api")
    rules = work / "alerts.yaml"
    rules.write_text(
        yaml.safe_dump(
            {
                "rules": [
                    {"id": "grid-busy", "type": "threshold", "field": "power_kw", "above": 1,
                     "scope": {"sensors": ["e08-grid-1", "e01-grid-1"]}}
                ],
                "mqtt": True,
                "lifecycle": {"remind_every_s": 2, "escalate_after_s": 86_400},
            }
        )
    )  # fmt: skip
    settings = Settings(
        mqtt=MqttSettings(port=mosquitto.port, topic_root="apitest", client_id="api-collector"),
        influx=InfluxSettings(url=influxdb.url, database="api_test"),
        ingest=IngestSettings(
            registry=EXAMPLE_PARK, spool_dir=work / "spool", http_port=0, batch_max_age_ms=20
        ),
        processing=ProcessingSettings(
            config=EXAMPLE_PARK.parent / "processing.yaml", state_dir=work / "proc", http_port=0
        ),
        alerts=AlertsSettings(config=rules, db=work / "alerts.db", http_port=0, tick_s=0.2),
        api=ApiSettings(port=free_port(), keys_db=work / "api.db"),
    )
    # "today" in its tests is the day its feed ends in: not a day that has just begun
    # (nothing of it replayed, no completeness so far before 00:10) or ends while they
    # run (its figures move on to the next)
    clear_of_midnight("Asia/Shanghai", before_s=600, after_s=660)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(hours=2)
    collector = ingest_stage.build(settings, serve_http=False)
    processing = processing_stage.build(settings, serve_http=False)
    alerting = alerts_stage.build(settings, serve_http=False)
    store = open_store(settings.influx)
    assert isinstance(store, Influx1Store)
    collector.start()
    processing.start()
    # the jobs run below at a stated moment; the scheduler's wall-clock runs (today's
    # completeness every 5 minutes) would rewrite points between a test's two reads
    processing.schedule.scheduler.pause()
    alerting.start()
    server = None
    try:
        assert collector.connected.wait(10) and processing.stream.subscribed.wait(10)
        assert alerting.service.subscribed.wait(10)
        messages = _messages(park, "apitest", 2, start=start)
        publisher = BoundedPublisher(settings.mqtt, client_id="api-feed", persistent=False)
        assert publisher.wait_connected()
        play(iter(messages), publisher.publish, clock=SystemClock(), speed=None)
        assert publisher.wait_all(60)
        publisher.close()
        wait_until(lambda: _kpi_points(store, "1h") >= 13, 60, "an hour of KPIs")
        # The processor has taken the whole feed and written its windows (today's live
        # day included) before the jobs below read them: otherwise a stream still behind,
        # on a loaded host, rewrites today's day after the burn-downs summed it.
        last_ms = max(m.t_ms for m in messages) - 60_000
        stream = processing.stream
        wait_until(
            lambda: (stream.watermark_ms or 0) >= last_ms and stream.book.unwritten() == 0,
            120,
            "the processor caught up with the feed",
        )
        wait_until(lambda: len(alerting.service.db.open_alerts()) >= 2, 30, "two alerts")
        # What the hourly job does for "today so far": the day's point exists before midnight.
        setup = processing_stage.load(settings)
        jobs = processing_stage.jobs(setup, settings, clock=SystemClock())
        day = datetime.now(UTC).astimezone(jobs.zone).replace(hour=0, minute=0, second=0,
                                                             microsecond=0)  # fmt: skip
        jobs.rollup("1d", day - timedelta(days=1), day + timedelta(days=1))
        jobs.rollup("1mo", day.replace(day=1), day + timedelta(days=1))
        jobs.cems_hourly(day - timedelta(days=1), day + timedelta(days=1))
        # the hourly job of the last hour and the 5-minute job: today's completeness so far
        # (none in the day's first minutes: the page and the board show yesterday's then)
        periods.hourly(jobs, datetime.now(UTC) - timedelta(hours=1))
        periods.today(jobs, datetime.now(UTC))
        jobs.quota(day.date())
        jobs.carbon_budget(day.date())
        jobs.store.close()
        keystore = KeyStore(settings.api.keys_db)
        keys = {
            "e08": keystore.create(role="enterprise", park="tianfu-np", enterprise="e08-anode",
                                   name="e08 energy manager"),
            "e01": keystore.create(role="enterprise", park="tianfu-np", enterprise="e01-baijiu",
                                   name="e01 energy manager"),
            "operator": keystore.create(role="operator", park="tianfu-np", enterprise=None,
                                        name="park operator"),
            "stranger": keystore.create(role="operator", park="other-np", enterprise=None,
                                        name="another park"),
            "city": keystore.create(role="city", park="chengdu", enterprise=None,
                                    name="chengdu energy office"),
            "othercity": keystore.create(role="city", park="mianyang", enterprise=None,
                                         name="another city"),
            "revoked": keystore.create(role="enterprise", park="tianfu-np",
                                       enterprise="e08-anode", name="old key"),
        }  # fmt: skip
        assert keystore.revoke(keys["revoked"].split("_")[1])
        keystore.close()
        config = uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=settings.api.port, log_level="warning"
        )
        server = uvicorn.Server(config)
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        url = f"http://127.0.0.1:{settings.api.port}"
        wait_until(lambda: _up(url), 30, "the API")
        yield Park(settings, url, keys, store, start)
    finally:
        if server is not None:
            server.should_exit = True
            time.sleep(0.5)
        alerting.stop()
        processing.stop()
        collector.stop()
        store.close()


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """The API of ``settings`` on a free port, in a thread; yields its URL."""
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=0,
                                           log_level="warning"))  # fmt: skip
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_until(lambda: server.started, 30, "the API")
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def another_api(api_park: Park, **api: Any) -> Iterator[Park]:
    """A second API on the same park, with other API settings (rate limits)."""
    settings = api_park.settings.api.model_copy(update={"port": 0, **api})
    s = api_park.settings.model_copy(update={"api": settings})
    with serve(s) as url:
        yield Park(s, url, api_park.keys, api_park.store, api_park.start)


def _up(url: str) -> bool:
    try:
        return httpx.get(url + "/healthz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _chromium() -> tuple[str, str]:
    browser = shutil.which("chromium") or "/usr/bin/chromium"
    driver = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    assert Path(browser).exists() and Path(driver).exists(), (
        "Chromium is not installed: ./dev setup installs chromium and chromium-driver"
    )
    return browser, driver


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    binary, driver_path = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--window-size=1440,900", "--lang=zh-CN"):  # fmt: skip
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
