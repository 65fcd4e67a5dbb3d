"""Tenancy at the broker: the accounts and ACL that ``smartpark broker config`` generates,
enforced by a real Mosquitto 2.0 started with them (and a TLS listener with certificates
from ``deploy/mosquitto/make-dev-certs.sh``)."""

from __future__ import annotations

import getpass
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import paho.mqtt.client as paho
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr

from alerts import app as alerts_stage
from api.stream import EventHub
from broker.accounts import accounts, acl_text
from broker.files import write
from devstack.servers import BrokerSecurity, Mosquitto, binary, free_port
from ingest.collector import Collector
from processing import app as processing_stage
from smartpark import registry as registry_mod
from smartpark.alertwire import encode_ack
from smartpark.settings import AlertsSettings, ProcessingSettings, Settings, to_env
from smartpark.store import open_store
from smartpark.store.influxql import Select
from smartpark.wire import ack_topic
from tests.conftest import EXAMPLE_PARK, ROOT, count_points, wait_until

ROOT_TOPIC = "smartpark"
PARK = "tianfu-np"
E08, E01 = "device.tianfu-np.e08-anode", "device.tianfu-np.e01-baijiu"


def _broker_config(out: Path, secrets: Path, registry: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTPARK_")}
    result = subprocess.run(
        [sys.executable, "-m", "smartpark", "broker", "config", "--out", str(out),
         "--secrets", str(secrets), "--registry", str(registry), "--simulator"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr


def _certs(out: Path) -> Path:
    script = ROOT / "deploy" / "mosquitto" / "make-dev-certs.sh"
    result = subprocess.run([str(script), str(out), "localhost"], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return out


@dataclass
class Secured:
    broker: Mosquitto
    secrets: dict[str, str]
    files: Path
    secrets_path: Path
    certs: Path


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    work = tmp_path_factory.mktemp("secured")
    registry = work / "park.yaml"
    registry.write_text(EXAMPLE_PARK.read_text())
    _broker_config(work / "mosquitto", work / "private" / "secrets.json", registry)
    certs = _certs(work / "certs")
    broker = Mosquitto(
        work / "broker",
        security=BrokerSecurity(
            files=work / "mosquitto",
            tls_cert=certs / "server.crt",
            tls_key=certs / "server.key",
            tls_ca=certs / "ca.crt",
        ),
    )
    broker.start()
    secrets = json.loads((work / "private" / "secrets.json").read_text())
    yield Secured(broker, secrets, work / "mosquitto", work / "private" / "secrets.json", certs)
    broker.stop()


@dataclass
class Client:
    """A raw MQTT 5 client that records what the broker answers."""

    client: paho.Client
    connected: list[str] = field(default_factory=list)
    session_present: list[bool] = field(default_factory=list)
    subacks: list[str] = field(default_factory=list)
    pubacks: dict[int, str] = field(default_factory=dict)
    messages: list[tuple[str, bytes]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def publish(self, topic: str, payload: bytes) -> str:
        info = self.client.publish(topic, payload, qos=1)
        wait_until(lambda: info.mid in self.pubacks, 10, f"PUBACK for {topic}")
        return self.pubacks[info.mid]

    def subscribe(self, *filters: str) -> list[str]:
        self.subacks.clear()
        self.client.subscribe([(f, 1) for f in filters])
        wait_until(lambda: bool(self.subacks), 10, "SUBACK")
        return self.subacks

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _client(
    port: int, user: str, password: str, *, client_id: str | None = None, clean_start: bool = True,
    wait: bool = True, **tls: Any,
) -> Client:  # fmt: skip
    raw = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id or f"t-{user}-{time.monotonic_ns()}",
        protocol=paho.MQTTv5,
    )  # fmt: skip
    raw.username_pw_set(user, password)
    if tls:
        raw.tls_set(**tls)
    c = Client(raw)

    def on_message(_c: Any, _u: Any, msg: paho.MQTTMessage) -> None:
        with c.lock:
            c.messages.append((msg.topic, bytes(msg.payload)))

    def on_connect(_c: Any, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        c.connected.append(str(reason))
        c.session_present.append(bool(flags.session_present))

    raw.on_connect = on_connect
    raw.on_subscribe = lambda _c, _u, _m, reasons, _p: c.subacks.extend(str(r) for r in reasons)
    raw.on_publish = lambda _c, _u, mid, reason, _p: c.pubacks.__setitem__(mid, str(reason))
    raw.on_message = on_message
    raw.connect("127.0.0.1", port, clean_start=clean_start)
    raw.loop_start()
    if wait:
        wait_until(lambda: bool(c.connected), 10, f"{user} connected")
    return c


def _device(secured: Secured, account: str, password: str | None = None, **kw: Any) -> Client:
    """``account`` (a device) on the devices' listener, with TLS as devices connect."""
    port = secured.broker.device_port
    assert port is not None
    password = secured.secrets[account] if password is None else password
    return _client(port, account, password, ca_certs=str(secured.certs / "ca.crt"), **kw)


def _as(settings: Settings, secured: Secured, account: str) -> Settings:
    """``settings`` on the secured broker under ``account``."""
    out = settings.model_copy(deep=True)
    out.mqtt = out.mqtt.model_copy(
        update={
            "port": secured.broker.port,
            "topic_root": ROOT_TOPIC,
            "username": account,
            "password": SecretStr(secured.secrets[account]),
            "client_id": f"{account}-{time.monotonic_ns()}",
        }
    )
    return out


def _reading(ts_ms: int, **values: float) -> bytes:
    return orjson.dumps({"ts": ts_ms, "values": values})


# -- what is generated ------------------------------------------------------------------


def test_each_account_gets_only_what_its_role_needs() -> None:
    reg = registry_mod.load(EXAMPLE_PARK)
    by_name = {a.name: a for a in accounts(reg, "smartpark")}
    assert "smartpark-simulator" not in by_name  # only with --simulator (test parks)
    e08 = by_name[E08]
    assert e08.write == ("smartpark/tianfu-np/e08-anode/+/+",)
    assert e08.read == (
        "smartpark/tianfu-np/e08-anode/_alerts",
        "smartpark/tianfu-np/e08-anode/_kpi",
    )
    # no service may publish readings; only the processor writes KPIs, only alerts alerts
    for name in ("smartpark-collector", "smartpark-processor", "smartpark-alerts", "smartpark-api"):
        assert "smartpark/+/+/+/+" not in by_name[name].write
    writers = {t: n for n, a in by_name.items() for t in a.write}
    assert writers["smartpark/+/+/_kpi"] == "smartpark-processor"
    assert writers["smartpark/+/+/_alerts"] == "smartpark-alerts"
    assert writers["smartpark/_control/alerts/ack"] == "smartpark-api"
    acl = acl_text(by_name.values())
    assert (
        "user device.tianfu-np.e08-anode\ntopic read smartpark/tianfu-np/e08-anode/_alerts\n" in acl
    )
    assert len([a for a in by_name.values() if a.role == "device"]) == 12


def _parsed(doc: dict[str, Any]) -> registry_mod.Registry:
    reg, problems = registry_mod.parse(doc)
    assert reg is not None, problems
    return reg


def test_rerunning_keeps_passwords_adds_new_accounts_and_removes_gone_ones(tmp_path: Path) -> None:
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    secrets_path = tmp_path / "private" / "secrets.json"
    first = write(accounts(_parsed(doc), "smartpark"), tmp_path, secrets_path)
    assert len(first.added) == 18 and first.removed == []  # 12 devices, 4 services, 2 gateways
    assert secrets_path.stat().st_mode & 0o777 == 0o600
    before = json.loads(secrets_path.read_text())
    passwd = (tmp_path / "services.passwd").read_text() + (tmp_path / "devices.passwd").read_text()
    assert all(pw not in passwd for pw in before.values())  # hashes only
    assert all(line.split(":", 1)[1].startswith("$7$101$") for line in passwd.splitlines())

    enterprises = doc["parks"][0]["enterprises"]
    gone = enterprises.pop()["id"]  # e12 leaves the park
    enterprises.append(
        {
            "id": "e13-new",
            "name": "New Co",
            "industry": "food_beverage/liquor",
            "land_mu": 10,
            "sensors": [],
        }
    )
    second = write(accounts(_parsed(doc), "smartpark"), tmp_path, secrets_path)
    after = json.loads(secrets_path.read_text())
    assert second.added == ["device.tianfu-np.e13-new"]
    assert second.removed == [f"device.tianfu-np.{gone}"]
    assert {k: v for k, v in after.items() if k in before} == {
        k: v for k, v in before.items() if k in after
    }
    assert f"device.tianfu-np.{gone}" not in (tmp_path / "devices.passwd").read_text()
    assert gone not in (tmp_path / "devices.acl").read_text()
    assert "e13-new" in (tmp_path / "devices.acl").read_text()
    services = (tmp_path / "services.passwd").read_text() + (tmp_path / "services.acl").read_text()
    assert "device." not in services  # a device's password is no good on the services' side
    assert "smartpark-collector" not in (tmp_path / "devices.passwd").read_text()


# -- enforced by a real Mosquitto -----------------------------------------------------------


def test_a_device_cannot_publish_as_another_enterprise_and_nothing_of_it_is_stored(
    secured: Secured, settings: Settings, store: Any
) -> None:
    collector_settings = _as(settings, secured, "smartpark-collector")
    collector = Collector(
        settings=collector_settings,
        registry=registry_mod.load(EXAMPLE_PARK),
        store=open_store(collector_settings.influx),
    )
    collector.start()
    e01 = _device(secured, E01)
    try:
        assert collector.connected.wait(10)
        now = int(time.time() * 1000)
        forged = e01.publish(
            f"{ROOT_TOPIC}/{PARK}/e08-anode/electricity/e08-grid-1",
            _reading(now, energy_kwh=1.0, power_kw=1.0),
        )
        # Mosquitto 2.0.11 answers an MQTT 5 QoS 1 publish outside the ACL with PUBACK
        # 0x87 and then drops the connection (paho reconnects).
        assert forged == "Not authorized"
        wait_until(lambda: e01.client.is_connected(), 15, "e01 reconnected")
        own = e01.publish(
            f"{ROOT_TOPIC}/{PARK}/e01-baijiu/electricity/e01-grid-1",
            _reading(now, energy_kwh=5.0, power_kw=2.0),
        )
        assert own in ("Success", "No matching subscribers")
        wait_until(
            lambda: count_points(store, "electricity", "energy_kwh") == 1, what="e01's reading"
        )
        time.sleep(0.5)
        rows = store.query(
            Select("electricity", ["energy_kwh"], tags={"enterprise": "e08-anode"},
                   retention_policy=store.raw_policy).to_influxql()
        )  # fmt: skip
        assert rows == [] and count_points(store, "electricity", "energy_kwh") == 1
        assert not collector.stats.deadlettered  # refused at the broker, never seen here
    finally:
        e01.close()
        collector.stop()


def test_a_device_receives_its_own_alerts_and_kpis_and_nothing_of_anyone_elses(
    secured: Secured,
) -> None:
    port = secured.broker.port
    e01 = _device(secured, E01)
    e08 = _device(secured, E08)
    alerts = _client(port, "smartpark-alerts", secured.secrets["smartpark-alerts"])
    processor = _client(port, "smartpark-processor", secured.secrets["smartpark-processor"])
    try:
        snoop = [f"{ROOT_TOPIC}/{PARK}/e08-anode/_alerts", f"{ROOT_TOPIC}/{PARK}/e08-anode/_kpi",
                 f"{ROOT_TOPIC}/#", "#"]  # fmt: skip
        # Mosquitto 2.0.11 grants every subscription; what the ACL does not allow the
        # subscriber to read is simply never delivered to it.
        assert e01.subscribe(*snoop) == ["Granted QoS 1"] * 4
        assert (
            e08.subscribe(
                f"{ROOT_TOPIC}/{PARK}/e08-anode/_alerts", f"{ROOT_TOPIC}/{PARK}/e08-anode/_kpi"
            )
            == ["Granted QoS 1"] * 2
        )
        assert (
            alerts.publish(f"{ROOT_TOPIC}/{PARK}/e08-anode/_alerts", b'{"id": "a1"}') == "Success"
        )
        assert (
            processor.publish(f"{ROOT_TOPIC}/{PARK}/e08-anode/_kpi", b'{"scope": "e08-anode"}')
            == "Success"
        )
        assert (
            alerts.publish(f"{ROOT_TOPIC}/{PARK}/e01-baijiu/_alerts", b'{"id": "a2"}') == "Success"
        )
        wait_until(lambda: len(e08.messages) == 2, 10, "e08 receives its alert and KPI")
        wait_until(lambda: len(e01.messages) >= 1, 10, "e01 receives its own alert")
        time.sleep(0.5)
        # (once per matching subscription: `smartpark/#` and `#` overlap)
        assert {t for t, _ in e01.messages} == {f"{ROOT_TOPIC}/{PARK}/e01-baijiu/_alerts"}
        # and a device cannot forge an alert or a KPI for anyone, itself included
        assert e01.publish(f"{ROOT_TOPIC}/{PARK}/e01-baijiu/_alerts", b"{}") == "Not authorized"
    finally:
        for c in (e01, e08, alerts, processor):
            c.close()


def test_the_services_work_end_to_end_under_their_own_accounts(
    secured: Secured, settings: Settings, store: Any, tmp_path: Path
) -> None:
    rules = tmp_path / "alerts.yaml"
    rules.write_text(yaml.safe_dump({
        "rules": [{"id": "grid-high", "type": "threshold", "field": "power_kw", "above": 100,
                   "scope": {"enterprises": ["e08-anode"]}}],
        "mqtt": True,
    }))  # fmt: skip
    collector_settings = _as(settings, secured, "smartpark-collector")
    collector = Collector(settings=collector_settings, registry=registry_mod.load(EXAMPLE_PARK),
                          store=open_store(collector_settings.influx))  # fmt: skip
    proc_settings = _as(settings, secured, "smartpark-processor")
    proc_settings.processing = ProcessingSettings(
        config=EXAMPLE_PARK.parent / "processing.yaml", http_port=0,
        state_dir=tmp_path / "processing",
    )  # fmt: skip
    alert_settings = _as(settings, secured, "smartpark-alerts")
    alert_settings.alerts = AlertsSettings(config=rules, db=tmp_path / "alerts.db", http_port=0)
    processing = processing_stage.build(proc_settings)
    alerting = alerts_stage.build(alert_settings, serve_http=False)
    e08 = _device(secured, E08)
    # the API's broker side: its event hub (live stream, dead letters) and its ack requests
    api = EventHub(_as(settings, secured, "smartpark-api").mqtt, replay_s=600, client_id="api-1")
    started: list[Any] = []
    try:
        for part in (collector, processing, alerting, api):
            part.start()
            started.append(part)
        assert api.connected.wait(10)
        assert collector.connected.wait(10)
        assert processing.stream.subscribed.wait(10)
        assert alerting.service.subscribed.wait(10)
        e08.subscribe(
            f"{ROOT_TOPIC}/{PARK}/e08-anode/_alerts", f"{ROOT_TOPIC}/{PARK}/e08-anode/_kpi"
        )
        start = (int(time.time()) // 60 - 10) * 60_000  # ten minutes ago, on a minute
        topic = f"{ROOT_TOPIC}/{PARK}/e08-anode/electricity/e08-grid-1"
        for i in range(6):  # one a minute: the first minutes close, KPIs are published
            ts = start + i * 60_000
            assert e08.publish(topic, _reading(ts, energy_kwh=1000.0 + i * 0.1, power_kw=500.0)) in (
                "Success", "No matching subscribers")  # fmt: skip
        wait_until(lambda: count_points(store, "electricity", "energy_kwh") == 6, what="6 stored")

        def got(client: Client, suffix: str) -> list[dict[str, Any]]:
            with client.lock:
                return [orjson.loads(p) for t, p in client.messages if t.endswith(suffix)]

        wait_until(lambda: got(e08, "/_alerts"), 20, "e08 receives its alert")
        wait_until(lambda: got(e08, "/_kpi"), 60, "e08 receives its KPIs")
        wait_until(
            lambda: {e.kind for e in api.since(0)} == {"kpi", "alert"}, 20, "the API sees both"
        )
        alert_id = got(e08, "/_alerts")[0]["id"]
        info = api.client.publish(ack_topic(ROOT_TOPIC), encode_ack(alert_id, "manager"), qos=1)
        info.wait_for_publish(10)  # as POST /v1/alerts/{id}/ack does
        wait_until(
            lambda: getattr(alerting.service.db.get(alert_id), "state", None) == "acknowledged", 20,
            "the alert service applies the API's acknowledgement",
        )  # fmt: skip
    finally:
        for part in reversed(started):
            part.stop()
        e08.close()


# -- client ids are bound to accounts ----------------------------------------------------


def _collector(
    secured: Secured, settings: Settings, client_id: str | None = None
) -> tuple[Collector, str]:
    s = _as(settings, secured, "smartpark-collector")
    if client_id is not None:
        s.mqtt = s.mqtt.model_copy(update={"client_id": client_id})
    collector = Collector(settings=s, registry=registry_mod.load(EXAMPLE_PARK),
                          store=open_store(s.influx))  # fmt: skip
    return collector, s.mqtt.client_id


def _sessions(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The collector's connects and disconnects, in order (its Subscriber says them)."""
    said = [(r.name, r.getMessage().split(" ")) for r in caplog.records]
    return [
        " ".join(words[1:3])
        for name, words in said
        if name == "smartpark.mqtt"
        and words[0] == "collector"
        and words[1] in ("connected", "disconnected")
    ]


def test_a_device_cannot_take_the_collectors_client_id_nor_its_queued_readings(
    secured: Secured, settings: Settings, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smartpark.mqtt")
    collector, client_id = _collector(secured, settings)
    collector.start()
    e01 = _device(secured, E01)
    topic = f"{ROOT_TOPIC}/{PARK}/e01-baijiu/electricity/e01-grid-1"
    now = int(time.time() * 1000)
    try:
        assert collector.connected.wait(10)
        # On the services' listener a device's password is no good, whatever client id.
        refused = _client(secured.broker.port, E08, secured.secrets[E08], client_id=client_id,
                          clean_start=False)  # fmt: skip
        refused.close()
        assert refused.connected[0] == "Not authorized"
        # On the devices' listener the broker replaces the client id by the account name:
        # the device gets a session of its own, not the collector's.
        thief = _device(secured, E08, client_id=client_id, clean_start=False)
        assert thief.connected == ["Success"] and thief.session_present == [False]
        assert e01.publish(topic, _reading(now, energy_kwh=1.0, power_kw=1.0)) == "Success"
        wait_until(lambda: count_points(store, "electricity", "energy_kwh") == 1, 20, "stored")
        thief.close()
        assert collector.connected.is_set()
        collector.stop()  # its persistent session queues what arrives meanwhile
        assert e01.publish(topic, _reading(now + 60_000, energy_kwh=2.0, power_kw=1.0)) in (
            "Success", "No matching subscribers")  # fmt: skip
        for clean in (True, False):  # a fresh start would discard the collector's queue
            _device(secured, E08, client_id=client_id, clean_start=clean).close()
        collector, _ = _collector(secured, settings, client_id)
        collector.start()
        wait_until(lambda: count_points(store, "electricity", "energy_kwh") == 2, 20,
                   "the reading queued while the collector was away")  # fmt: skip
    finally:
        e01.close()
        collector.stop()
    # connected, (stopped), connected again to its own session: never thrown off
    assert _sessions(caplog) == [
        "connected session_present=False",
        "connected session_present=True",
    ]


def test_a_device_reconnecting_in_a_loop_with_others_client_ids_keeps_nobody_off(
    secured: Secured, settings: Settings, store: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="smartpark.mqtt")
    collector, client_id = _collector(secured, settings)
    collector.start()
    e01 = _device(secured, E01)
    topic = f"{ROOT_TOPIC}/{PARK}/e01-baijiu/electricity/e01-grid-1"
    start = (int(time.time()) // 60 - 30) * 60_000
    try:
        assert collector.connected.wait(10)
        for i in range(20):  # the collector's id and e01's, in turn, resuming sessions
            stolen = client_id if i % 2 else E01
            _device(secured, E08, client_id=stolen, clean_start=False).close()
            ts = start + i * 60_000
            assert e01.publish(topic, _reading(ts, energy_kwh=10.0 + i, power_kw=1.0)) in (
                "Success", "No matching subscribers")  # fmt: skip
        wait_until(lambda: count_points(store, "electricity", "energy_kwh") == 20, 20,
                   "every reading published during the loop")  # fmt: skip
        assert collector.connected.is_set()
        assert e01.connected == ["Success"]  # e01 was never thrown off either
    finally:
        e01.close()
        collector.stop()
    assert _sessions(caplog) == ["connected session_present=False"]


def test_a_service_with_a_wrong_password_says_so(secured: Secured, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMARTPARK_")} | {
        "SMARTPARK_MQTT__PORT": str(secured.broker.port),
        "SMARTPARK_MQTT__USERNAME": "smartpark-collector",
        "SMARTPARK_MQTT__PASSWORD": "not-the-password",
        "SMARTPARK_INGEST__REGISTRY": str(EXAMPLE_PARK),
        "SMARTPARK_INGEST__HTTP_PORT": "0",
        "SMARTPARK_INGEST__SPOOL_DIR": str(tmp_path / "spool"),
    }
    log = tmp_path / "collector.log"
    with log.open("w") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "smartpark", "collect"], env=env,
                                stdout=sink, stderr=subprocess.STDOUT, text=True)  # fmt: skip
        try:
            wait_until(lambda: "refused the connection" in log.read_text(), 30, "the refusal")
        finally:
            proc.terminate()
            proc.communicate(timeout=30)
    out = log.read_text()
    assert "collector: the broker at 127.0.0.1:" in out
    assert (
        "refused the connection: Not authorized; check SMARTPARK_MQTT__USERNAME (smartpark-collector) and SMARTPARK_MQTT__PASSWORD"
        in out
    )
    assert "not-the-password" not in out


def test_an_added_enterprise_works_after_a_reload_without_restarting_anything(
    secured: Secured, settings: Settings, store: Any, tmp_path: Path
) -> None:
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    doc["parks"][0]["enterprises"].append({
        "id": "e13-new", "name": "New Co", "industry": "food_beverage/liquor", "land_mu": 10,
        "sensors": [{"id": "e13-grid-1", "kind": "electricity", "rated_per_h": 100}],
    })  # fmt: skip
    registry = tmp_path / "park.yaml"
    registry.write_text(EXAMPLE_PARK.read_text())
    collector_settings = _as(settings, secured, "smartpark-collector")
    collector_settings.park = collector_settings.park.model_copy(update={"registry": registry})
    http_port = free_port()
    env = os.environ | to_env(collector_settings) | {"SMARTPARK_INGEST__HTTP_PORT": str(http_port)}
    proc = subprocess.Popen([sys.executable, "-m", "smartpark", "collect"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    health = f"http://127.0.0.1:{http_port}/healthz"
    try:
        wait_until(lambda: _healthy(health), 30, "collector subscribed")
        routes = httpx.get(health, timeout=2).json()["routes"]
        registry.write_text(yaml.safe_dump(doc))
        _broker_config(secured.files, secured.secrets_path, registry)
        secured.broker.reload()
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: httpx.get(health, timeout=2).json()["routes"] == routes + 1, 20,
                   "the collector routes the new meter")  # fmt: skip
        password = json.loads(secured.secrets_path.read_text())["device.tianfu-np.e13-new"]
        e13 = _connected_device(secured, "device.tianfu-np.e13-new", password)
        try:
            now = int(time.time() * 1000)
            topic = f"{ROOT_TOPIC}/{PARK}/e13-new/electricity/e13-grid-1"
            assert e13.publish(topic, _reading(now, energy_kwh=1.0, power_kw=1.0)) in (
                "Success", "No matching subscribers")  # fmt: skip
            wait_until(lambda: count_points(store, "electricity", "energy_kwh") == 1, 20, "stored")
        finally:
            e13.close()
        stats = httpx.get(health, timeout=2).json()
        assert stats["connected"] is True
        assert stats["stats"]["deadlettered"] == {}
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=30)
    assert "registry reloaded routes=" in out
    assert out.count("connected session_present") == 1, out  # the session was never dropped


def _connected_device(secured: Secured, account: str, password: str) -> Client:
    """``account`` connected, once the reloaded broker knows it (a reload is asynchronous:
    until it is done the broker refuses the new account)."""
    tries: list[Client] = []

    def accepted() -> bool:
        tries.append(_device(secured, account, password))
        if tries[-1].connected == ["Success"]:
            return True
        tries[-1].close()
        return False

    wait_until(accepted, 20, f"{account} accepted after the reload")
    return tries[-1]


def _healthy(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_tls_connects_with_the_generated_ca_and_refuses_an_untrusted_one(
    secured: Secured, tmp_path: Path
) -> None:
    port = secured.broker.device_port
    assert port is not None
    good = _device(secured, E08)
    try:
        assert good.connected == ["Success"]
    finally:
        good.close()
    other = _certs(tmp_path / "other")  # a CA the broker's certificate is not from
    context = ssl.create_default_context(cafile=str(other / "ca.crt"))
    with (
        pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"),
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        context.wrap_socket(sock, server_hostname="localhost"),
    ):
        pass


def test_every_smartpark_client_connects_with_tls_from_the_settings(
    secured: Secured, settings: Settings
) -> None:
    from smartpark.mqtt import BoundedPublisher

    s = _as(settings, secured, "smartpark-simulator")
    s.mqtt = s.mqtt.model_copy(
        update={
            "port": secured.broker.device_port,
            "host": "localhost",
            "tls_ca": secured.certs / "ca.crt",
        }
    )
    publisher = BoundedPublisher(s.mqtt, client_id="tls-sim", persistent=False)
    try:
        assert publisher.wait_connected(10)
        publisher.publish(f"{ROOT_TOPIC}/{PARK}/e01-baijiu/electricity/e01-grid-1", b"{}")
        assert publisher.wait_all(10)
    finally:
        publisher.close()


def test_the_shipped_configuration_runs_with_the_generated_files(
    secured: Secured, tmp_path: Path
) -> None:
    """deploy/mosquitto/mosquitto.conf, paths and ports moved to this machine: accounts and
    ACL enforced on both listeners, TLS on the second, anonymous clients refused."""
    plain, tls = free_port(), free_port()
    conf = (ROOT / "deploy" / "mosquitto" / "mosquitto.conf").read_text()
    conf = (
        conf.replace("/mosquitto/config/", f"{secured.files}/")
        .replace("/mosquitto/certs/", f"{secured.certs}/")
        .replace("/mosquitto/data/", f"{tmp_path}/")
        .replace("listener 1883 0.0.0.0", f"listener {plain} 127.0.0.1")
        .replace("listener 8883 0.0.0.0", f"listener {tls} 127.0.0.1")
    ) + f"user {getpass.getuser()}\n"
    (tmp_path / "mosquitto.conf").write_text(conf)
    broker = subprocess.Popen(
        [binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(tmp_path / "mosquitto.conf")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        wait_until(lambda: _listening(plain) and _listening(tls), 10, "both listeners")
        device = _client(tls, E08, secured.secrets[E08], ca_certs=str(secured.certs / "ca.crt"))
        try:
            assert device.connected == ["Success"]
            assert (
                device.publish(f"{ROOT_TOPIC}/{PARK}/e01-baijiu/electricity/e01-grid-1", b"{}")
                == "Not authorized"
            )
        finally:
            device.close()
        wrong_side = _client(plain, E08, secured.secrets[E08])
        wrong_side.close()
        assert wrong_side.connected[0] == "Not authorized"
        anonymous = paho.Client(CallbackAPIVersion.VERSION2, client_id="anon", protocol=paho.MQTTv5)
        refused: list[str] = []
        anonymous.on_connect = lambda _c, _u, _f, reason, _p: refused.append(str(reason))
        anonymous.connect("127.0.0.1", plain)
        anonymous.loop_start()
        try:
            wait_until(lambda: bool(refused), 10, "an answer")
            assert refused[0] == "Not authorized"
        finally:
            anonymous.disconnect()
            anonymous.loop_stop()
    finally:
        broker.terminate()
        broker.communicate(timeout=15)


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False
