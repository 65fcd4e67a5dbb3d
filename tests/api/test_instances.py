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
import time
from collections.abc import Callable, Iterator
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
def _two_instances(
    settings: Settings, tmp_path: Path, before_b: Callable[[], None] | None = None
) -> Iterator[tuple[str, str]]:
    """Two ``smartpark api run`` of ``settings`` on free ports, up; their URLs. With
    ``before_b``, B starts only once A is up and ``before_b`` has run."""
    ports = free_port(), free_port()
    urls = tuple(f"http://127.0.0.1:{p}" for p in ports)
    procs = [_run(settings, ports[0], tmp_path / f"api-{ports[0]}.log")]
    if before_b is None:
        procs.append(_run(settings, ports[1], tmp_path / f"api-{ports[1]}.log"))
    try:
        for i, url in enumerate(urls):
            if i == len(procs):
                assert before_b is not None
                before_b()
                procs.append(_run(settings, ports[1], tmp_path / f"api-{ports[1]}.log"))

            def up(url: str = url, proc: subprocess.Popen[bytes] = procs[i]) -> bool:
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


def _events(
    url: str, ticket: str, until: str, last_id: str | None = None, out: list[str] | None = None
) -> list[str]:
    """The connected, id and data lines of ``url``'s stream until a data line holding
    ``until``, or the first line after 10 s (a keep-alive comes every 15 s)."""
    deadline = time.monotonic() + 10
    headers = {"Last-Event-ID": last_id} if last_id else {}
    out = [] if out is None else out
    with httpx.stream("GET", url + "/v1/stream", params={"ticket": ticket}, headers=headers,
                      timeout=20) as answer:  # fmt: skip
        for line in answer.iter_lines():
            if line.startswith(("id: ", "data: ", ": connected")):
                out.append(line)
            if (line.startswith("data: ") and until in line) or time.monotonic() > deadline:
                return out
    return out


def test_sign_in_limits_and_stream_resumption_hold_across_instances(
    settings: Settings, tmp_path: Path
) -> None:
    """Wrong keys tried on A and B in turn are refused at the count one instance allows
    (the buckets are in the shared key database), not twice that; a stream left on A
    resumes on B with A's last event id and gets only what came since."""
    burst = 6
    settings.park = settings.park.model_copy(update={"registry": EXAMPLE_PARK})
    settings.api = settings.api.model_copy(
        update={"keys_db": tmp_path / "api.db", "rate_per_s": 0.01, "burst": burst}
    )
    keys = KeyStore(settings.api.keys_db)
    try:
        token = keys.create(role="enterprise", park="tianfu-np", enterprise="e08-anode",
                            name="e08 energy manager")  # fmt: skip
    finally:
        keys.close()
    auth = {"Authorization": f"Bearer {token}"}
    topic = kpi_topic(settings.mqtt.topic_root, "tianfu-np", "e08-anode")
    publisher = BoundedPublisher(settings.mqtt, client_id="two-api-resume", persistent=False)
    assert publisher.wait_connected()

    def only_a_sees() -> None:
        """An update before B starts: a per-process counter would now differ by one."""
        early = KpiUpdate("tianfu-np", "e08-anode", "1m", 0, 60_000, 0, {"energy_tce": 1.0})
        publisher.publish(topic, encode_kpi_update(early))
        assert publisher.wait_all(10)

    with contextlib.closing(publisher), _two_instances(settings, tmp_path, only_a_sees) as (a, b):
        first = KpiUpdate("tianfu-np", "e08-anode", "1m", 60_000, 120_000, 0, {"energy_tce": 4.25})
        later = KpiUpdate("tianfu-np", "e08-anode", "1m", 120_000, 180_000, 0, {"energy_tce": 5.5})
        on_a: list[str] = []
        ticket_a = httpx.post(a + "/v1/stream/ticket", headers=auth, timeout=10).json()["ticket"]
        thread = threading.Thread(
            target=_events, args=(a, ticket_a, "4.25", None, on_a), daemon=True
        )
        thread.start()
        wait_until(lambda: ": connected" in on_a, 30, "A's stream attached")
        publisher.publish(topic, encode_kpi_update(first))
        thread.join(15)
        assert any("4.25" in line for line in on_a), on_a
        last_id = on_a[-2].removeprefix("id: ")
        publisher.publish(topic, encode_kpi_update(later))  # missed while away
        assert publisher.wait_all(10)
        ticket_b = httpx.post(b + "/v1/stream/ticket", headers=auth, timeout=10).json()["ticket"]
        on_b = _events(b, ticket_b, "5.5", last_id)
        assert any("5.5" in line for line in on_b), on_b
        assert not any("4.25" in line for line in on_b), on_b  # A's id was found on B
        codes = [
            httpx.post(url + "/session", json={"key": f"sp_{i:012d}_wrong"}, timeout=10).status_code
            for i, url in enumerate([a, b] * burst)
        ]
    assert codes == [401] * burst + [429] * burst, codes
