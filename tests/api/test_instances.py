"""Two ``smartpark api run`` behind one address (a load balancer may send each request
to either): one key database, so a session opened on one is served by the other, and a
stream ticket issued by one opens the stream on the other, which carries the KPI
updates it receives from the broker itself."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx

from api.guard import SESSION_COOKIE
from api.keys import KeyStore
from devstack.servers import free_port
from smartpark.mqtt import BoundedPublisher
from smartpark.settings import Settings, to_env
from smartpark.wire import KpiUpdate, encode_kpi_update, kpi_topic
from tests.conftest import EXAMPLE_PARK, wait_until


def _run(settings: Settings, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | to_env(settings) | {"SMARTPARK_API__PORT": str(port)}
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "smartpark", "api", "run"], env=env, stdout=out, stderr=out
        )


@contextlib.contextmanager
def _two_instances(settings: Settings, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """Two ``smartpark api run`` of ``settings`` on free ports, up; their URLs."""
    ports = free_port(), free_port()
    urls = tuple(f"http://127.0.0.1:{p}" for p in ports)
    procs = [_run(settings, p, tmp_path / f"api-{p}.log") for p in ports]
    try:
        for url, proc in zip(urls, procs, strict=True):

            def up(url: str = url, proc: subprocess.Popen[bytes] = proc) -> bool:
                assert proc.poll() is None, "an API instance died"
                try:
                    return httpx.get(url + "/healthz", timeout=1).json().get("status") == "ok"
                except httpx.HTTPError:
                    return False

            wait_until(up, 60, f"the API at {url}")
        yield urls[0], urls[1]
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(30)


def test_two_instances_serve_the_same_sessions_and_streams(
    settings: Settings, tmp_path: Path
) -> None:
    settings.park = settings.park.model_copy(update={"registry": EXAMPLE_PARK})
    settings.api = settings.api.model_copy(update={"keys_db": tmp_path / "api.db"})
    keys = KeyStore(settings.api.keys_db)
    try:
        token = keys.create(role="enterprise", park="tianfu-np", enterprise="e08-anode",
                            name="e08 energy manager")  # fmt: skip
    finally:
        keys.close()
    events: list[str] = []
    with _two_instances(settings, tmp_path) as (a, b):
        # a session opened on A is served by B
        signed = httpx.post(a + "/session", json={"key": token}, timeout=10)
        assert signed.status_code == 200, signed.text
        cookie = {SESSION_COOKIE: signed.cookies[SESSION_COOKIE]}
        who = httpx.get(b + "/session", cookies=cookie, timeout=10)
        assert who.status_code == 200 and who.json()["enterprise"] == "e08-anode", who.text
        # a ticket issued by A opens the stream on B, once
        auth = {"Authorization": f"Bearer {token}"}
        ticket = httpx.post(a + "/v1/stream/ticket", headers=auth, timeout=10).json()["ticket"]

        def listen() -> None:
            try:
                with httpx.stream("GET", b + "/v1/stream", params={"ticket": ticket},
                                  timeout=30) as answer:  # fmt: skip
                    events.append(f"status {answer.status_code}")
                    for line in answer.iter_lines():
                        events.append(line)
                        if "4.25" in line:
                            return
            except httpx.HTTPError as exc:  # recorded, never raised in the thread
                events.append(f"stream ended: {exc!r}")

        thread = threading.Thread(target=listen, daemon=True)
        thread.start()
        wait_until(lambda: ": connected" in events, 30, "B's stream attached")
        publisher = BoundedPublisher(settings.mqtt, client_id="two-api-kpi", persistent=False)
        assert publisher.wait_connected()
        update = KpiUpdate("tianfu-np", "e08-anode", "1m", 60_000, 120_000, 0, {"energy_tce": 4.25})
        root = settings.mqtt.topic_root
        publisher.publish(kpi_topic(root, "tianfu-np", "e08-anode"), encode_kpi_update(update))
        assert publisher.wait_all(10)
        publisher.close()
        wait_until(lambda: any("4.25" in e for e in events), 10, "the KPI update on B's stream")
        assert events[0] == "status 200"
        again = httpx.get(a + "/v1/stream", params={"ticket": ticket}, timeout=10)
        assert again.status_code == 401  # used up, on either instance


def test_sign_in_attempts_are_limited_across_instances(settings: Settings, tmp_path: Path) -> None:
    """Wrong keys tried on A and B in turn are refused at the count one instance allows
    (the buckets are in the shared key database), not twice that."""
    burst = 6
    settings.park = settings.park.model_copy(update={"registry": EXAMPLE_PARK})
    settings.api = settings.api.model_copy(
        update={"keys_db": tmp_path / "api.db", "rate_per_s": 0.01, "burst": burst}
    )
    with _two_instances(settings, tmp_path) as (a, b):
        codes = [
            httpx.post(url + "/session", json={"key": f"sp_{i:012d}_wrong"}, timeout=10).status_code
            for i, url in enumerate([a, b] * burst)
        ]
    assert codes == [401] * burst + [429] * burst, codes
