"""Three parks in two time zones on one deployment: ``smartpark process`` (through the
CLI, no ``--park``) runs one processor per park under one supervisor, each with its own
processing configuration and its days in its own time zone; the supervisor restarts a
park's processor that died, one alert service alerts for all three, and one API serves
a city key the three parks, a park key its park and an enterprise key itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from api.keys import KeyStore
from devstack.servers import free_port
from ingest.collector import Collector
from smartpark import registry as registry_mod
from smartpark.settings import Settings, to_env
from smartpark.store import open_store
from smartpark.store.influxql import Select
from tests.alerts.test_recovery import _start as start_alerts
from tests.alerts.test_service import Receiver
from tests.conftest import EXAMPLE_PARK, wait_until
from tests.processing.test_recovery import Processor, _publish
from tests.processing.test_stream import _messages

pytestmark = pytest.mark.slow
ZONES = {"chengdu-np": 8, "chongqing-np": 8, "kashgar-np": 6}  # hours east of UTC
NAMES = {8: "Asia/Shanghai", 6: "Asia/Urumqi"}
KEEP = ("e01-baijiu", "e08-anode")
CITY = "west"  # one city holds the three parks
START = datetime(2026, 11, 2, 23, tzinfo=timezone(timedelta(hours=8)))  # 15:00 UTC


def _registry(path: Path) -> Path:
    doc = yaml.safe_load(EXAMPLE_PARK.read_text(encoding="utf-8"))
    park = doc["parks"][0]
    enterprises = [e for e in park["enterprises"] if e["id"] in KEEP]
    plain = {k: v for k, v in park.items() if k not in ("mappings", "gateways")}
    doc["parks"] = [
        {**plain, "id": p, "timezone": NAMES[h], "city": CITY, "enterprises": enterprises}
        for p, h in ZONES.items()
    ]
    path.write_text(yaml.safe_dump(doc), encoding="utf-8")
    return path


def _configs(folder: Path) -> Path:
    """One processing configuration per park: Kashgar's e08 has a quota of its own."""
    folder.mkdir()
    for park in ZONES:
        config: dict[str, Any] = {"factors": "cn"}
        if park == "kashgar-np":
            config["quotas_tce_month"] = {"e08-anode": 1800}
        (folder / f"{park}.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    return folder


def _health(processor: Processor) -> dict[str, Any]:
    """The supervisor's /healthz (it asks every park's processor: slower than one's)."""
    try:
        return dict(httpx.get(processor.url, timeout=15).json())
    except httpx.HTTPError:
        return {}


def _parks(processor: Processor) -> dict[str, dict[str, Any]]:
    parks: dict[str, dict[str, Any]] = _health(processor).get("parks", {})
    return parks


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:  # a zombie is not running
        return stat.read().split(") ", 1)[1][0] != "Z"


def _days(settings: Settings, park: str) -> list[datetime]:
    store = open_store(settings.influx)
    try:
        series = store.query(
            Select("kpi", ["energy_tce"], tags={"park": park, "scope": "_park", "window": "1d"})
            .to_influxql()
        )  # fmt: skip
    finally:
        store.close()
    return [
        datetime.fromtimestamp(int(ts) / 1000, timezone(timedelta(hours=ZONES[park])))
        for s in series
        for ts, energy in s.values
        if energy is not None and energy > 0
    ]


def test_one_deployment_stores_computes_and_alerts_for_three_parks_in_two_zones(
    settings: Settings, tmp_path: Path
) -> None:
    registry_file = _registry(tmp_path / "parks.yaml")
    registry = registry_mod.load(registry_file)
    settings.park = settings.park.model_copy(update={"registry": registry_file, "id": None})
    settings.processing = settings.processing.model_copy(
        update={"config": _configs(tmp_path / "processing"), "http_port": free_port(),
                "state_dir": tmp_path / "state"}
    )  # fmt: skip
    webhook = free_port()
    receiver = Receiver(webhook)
    rules = tmp_path / "alerts.yaml"
    rules.write_text(yaml.safe_dump({
        "rules": [{"id": "grid-busy", "type": "threshold", "field": "power_kw", "above": 1,
                   "scope": {"sensors": ["e08-grid-1"]}}],
        "operator": [{"type": "webhook", "url": f"http://127.0.0.1:{webhook}/op"}],
        "mqtt": False,
    }))  # fmt: skip
    settings.alerts = settings.alerts.model_copy(
        update={"config": rules, "http_port": free_port(), "tick_s": 0.2}
    )
    env = os.environ | to_env(settings)
    check = subprocess.run([sys.executable, "-m", "smartpark", "process", "--check"],
                           env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert check.returncode == 0, check.stderr
    assert [line.split(":")[0].rsplit("/", 1)[1] for line in check.stdout.splitlines()] == [
        f"{park}.yaml" for park in ZONES
    ]  # each park checked against its own file
    (tmp_path / "processing" / "kashgar-np.yaml").rename(tmp_path / "kashgar.yaml")
    refused = subprocess.run([sys.executable, "-m", "smartpark", "process"],
                             env=env, capture_output=True, text=True, timeout=60)  # fmt: skip
    assert refused.returncode == 1 and "has no kashgar-np.yaml" in refused.stderr
    (tmp_path / "kashgar.yaml").rename(tmp_path / "processing" / "kashgar-np.yaml")
    collector = Collector(settings=settings, registry=registry, store=open_store(settings.influx))
    collector.start()
    processor = Processor(settings, tmp_path / "process.log")
    alerts = start_alerts(settings, tmp_path / "alerts.log")
    try:
        assert collector.connected.wait(10)
        wait_until(lambda: sorted(_parks(processor)) == sorted(ZONES), 30, "every park supervised")
        messages = _messages(registry, settings.mqtt.topic_root, 2, start=START)
        _publish(settings, messages)
        last = max(m.t_ms for m in messages) - 60_000

        def parks_caught_up() -> bool:
            parks = _parks(processor)
            return len(parks) == 3 and all(
                int(f.get("watermark_ms") or 0) >= last for f in parks.values()
            )

        wait_until(parks_caught_up, 60, "every park's processor caught up")
        # Midnight in Chengdu and Chongqing falls in the two hours; in Kashgar it is 21:00
        # to 23:00 of 2 November: one local day there, two in the others.
        midnight = {8: datetime(2026, 11, 3, tzinfo=timezone(timedelta(hours=8))),
                    6: datetime(2026, 11, 2, tzinfo=timezone(timedelta(hours=6)))}  # fmt: skip
        for park, hours in ZONES.items():
            wanted = {midnight[hours]} | (
                {midnight[8] - timedelta(days=1)} if hours == 8 else set()
            )
            wait_until(lambda p=park, w=wanted: set(_days(settings, p)) == w, 30, f"{park} days")

        # the metrics of every park, labelled, on the supervisor's port
        metrics = httpx.get(
            f"http://127.0.0.1:{settings.processing.http_port}/metrics", timeout=5
        ).text
        for park in ZONES:
            assert f'smartpark_processing_readings_total{{park="{park}"}}' in metrics, park
        # a park's processor that dies is started again; the others carry on
        pid = _parks(processor)["kashgar-np"]["pid"]
        os.kill(int(pid), signal.SIGKILL)
        time.sleep(0.5)

        def restarted() -> bool:
            facts = _parks(processor).get("kashgar-np", {})
            return bool(facts.get("restarts") == 1 and facts.get("connected") is True)

        wait_until(restarted, 60, "Kashgar's processor restarted")
        wait_until(lambda: _health(processor).get("status") == "ok", 30, "every park healthy")

        wait_until(lambda: len(receiver.to("/op")) >= 3, 30, "a firing per park")
        fired = receiver.to("/op")
        assert sorted((a["park"], a["subject"]) for a in fired) == [
            (p, "e08-grid-1") for p in sorted(ZONES)
        ], fired
        _keys_see_their_own(settings, tmp_path)
        # a supervisor killed outright takes its parks' processors with it
        pids = [int(f["pid"]) for f in _parks(processor).values()]
        processor.kill()
        wait_until(lambda: not any(_alive(pid) for pid in pids), 30, "no processor left")
    finally:
        processor.stop()
        alerts.send_signal(signal.SIGTERM)
        alerts.wait(30)
        collector.stop()
        receiver.stop()


def _keys_see_their_own(settings: Settings, tmp_path: Path) -> None:
    """The API over the three parks' store: a city key sees the three and their figures,
    a park's operator only that park, an enterprise only itself (the same id in another
    park is another enterprise): 404 for the rest, as for a park that does not exist."""
    settings.api = settings.api.model_copy(
        update={"keys_db": tmp_path / "api.db", "port": free_port()}
    )
    keys = KeyStore(settings.api.keys_db)
    try:
        city = keys.create(role="city", park=CITY, enterprise=None, name="city")
        operator = keys.create(role="operator", park="kashgar-np", enterprise=None, name="op")
        e08 = keys.create(role="enterprise", park="chengdu-np", enterprise="e08-anode",
                          name="e08")  # fmt: skip
    finally:
        keys.close()
    env = os.environ | to_env(settings)
    with (tmp_path / "api.log").open("ab") as out:
        api = subprocess.Popen([sys.executable, "-m", "smartpark", "api", "run"], env=env,
                               stdout=out, stderr=out)  # fmt: skip
    base = f"http://127.0.0.1:{settings.api.port}"

    def get(token: str, path: str) -> httpx.Response:
        return httpx.get(base + "/v1" + path, headers={"Authorization": f"Bearer {token}"},
                         timeout=30)  # fmt: skip

    def up() -> bool:
        assert api.poll() is None, (tmp_path / "api.log").read_text()[-2000:]
        try:
            return httpx.get(base + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    day = "window=1d&start=2026-11-01T00:00:00Z&end=2026-11-04T00:00:00Z"
    try:
        wait_until(up, 60, "the API")
        assert sorted(p["id"] for p in get(city, "/parks").json()) == sorted(ZONES)
        card = get(city, f"/cities/{CITY}/scorecard")
        assert card.status_code == 200, card.text
        assert sorted(p["park"] for p in card.json()["parks"]) == sorted(ZONES)
        for park in ZONES:  # each park's own days, through the city key
            points = get(city, f"/parks/{park}/scopes/_park/kpis?{day}").json()["points"]
            assert points and all(p["values"]["energy_tce"] > 0 for p in points), park
        assert [p["id"] for p in get(operator, "/parks").json()] == ["kashgar-np"]
        assert get(operator, f"/parks/kashgar-np/scopes/_park/kpis?{day}").json()["points"]
        assert get(operator, f"/parks/chengdu-np/scopes/_park/kpis?{day}").status_code == 404
        assert get(operator, f"/cities/{CITY}/scorecard").status_code == 404
        own = get(e08, f"/parks/chengdu-np/scopes/e08-anode/kpis?{day}")
        assert own.status_code == 200 and own.json()["points"], own.text
        for other in ("/parks/kashgar-np/scopes/e08-anode/kpis", "/parks/chengdu-np/scopes/"
                      "e01-baijiu/kpis", "/parks/chongqing-np/scopes/_park/kpis"):  # fmt: skip
            assert get(e08, f"{other}?{day}").status_code == 404, other
        assert get(e08, f"/cities/{CITY}/scorecard").status_code == 404
        assert get("sp_000000000000_nope", "/parks").status_code == 401
    finally:
        api.send_signal(signal.SIGTERM)
        api.wait(30)
