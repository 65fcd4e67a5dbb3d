"""The documented rate limits: 429 with ``Retry-After`` per key (API requests) and per
address (sign-in attempts, requests with an invalid key); a flood of bad keys from one
address slows nobody else. Other addresses are real ones: loopback's 127.0.0.x. The API
here has low limits (``RATE_PER_S``, ``BURST``), so no test depends on how fast this
machine can send."""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from api.keys import KeyStore
from devstack.servers import InfluxDB, Mosquitto
from smartpark.settings import (
    AlertsSettings,
    ApiSettings,
    InfluxSettings,
    IngestSettings,
    MqttSettings,
    Settings,
)
from tests.api.conftest import serve
from tests.conftest import EXAMPLE_PARK, wait_until

RATE_PER_S, BURST = 0.5, 40


@dataclass
class Limited:
    url: str
    keys_db: Path


@pytest.fixture(scope="module")
def limited(
    mosquitto: Mosquitto, influxdb: InfluxDB, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Limited]:
    """An API with low limits (no data needed: limits come before any read)."""
    work = tmp_path_factory.mktemp("limits")
    settings = Settings(
        mqtt=MqttSettings(port=mosquitto.port, topic_root="limits"),
        influx=InfluxSettings(url=influxdb.url, database="limits"),
        ingest=IngestSettings(registry=EXAMPLE_PARK, spool_dir=work / "spool"),
        api=ApiSettings(port=0, keys_db=work / "api.db", rate_per_s=RATE_PER_S, burst=BURST),
        alerts=AlertsSettings(db=work / "alerts.db"),
    )
    with serve(settings) as url:
        yield Limited(url, settings.api.keys_db)


@pytest.fixture
def keys(limited: Limited) -> Iterator[dict[str, str]]:
    """Two fresh operator keys (fresh buckets)."""
    store = KeyStore(limited.keys_db)
    made = {
        name: store.create(role="operator", park="tianfu-np", enterprise=None, name=name)
        for name in ("limited", "other")
    }
    store.close()
    yield made


def _client(address: str) -> httpx.Client:
    return httpx.Client(transport=httpx.HTTPTransport(local_address=address), timeout=10)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _until_429(send: Callable[[], httpx.Response], tries: int = 400) -> list[httpx.Response]:
    answers: list[httpx.Response] = []
    for _ in range(tries):
        answers.append(send())
        if answers[-1].status_code == 429:
            break
    return answers


def _limited(answer: httpx.Response) -> None:
    assert answer.status_code == 429, answer.text
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.json()["detail"]


def test_the_api_limit_is_per_key(limited: Limited, keys: dict[str, str]) -> None:
    burst = BURST
    with _client("127.0.0.6") as client:
        url = limited.url + "/v1/parks"
        answers = _until_429(lambda: client.get(url, headers=_bearer(keys["limited"])))
        assert [a.status_code for a in answers[:burst]] == [200] * burst
        _limited(answers[-1])
        # the same address, another key: its own bucket
        assert client.get(url, headers=_bearer(keys["other"])).status_code == 200
    with _client("127.0.0.7") as elsewhere:  # the key's bucket, whatever the address
        _limited(elsewhere.get(url, headers=_bearer(keys["limited"])))


def test_sign_in_attempts_are_limited_per_address(limited: Limited, keys: dict[str, str]) -> None:
    url = limited.url + "/session"
    with _client("127.0.0.8") as guesser:
        answers = _until_429(lambda: guesser.post(url, json={"key": "sp_000000000000_guess"}))
        assert {a.status_code for a in answers[:-1]} == {401}
        _limited(answers[-1])
        _limited(guesser.post(url, json={"key": keys["limited"]}))  # every attempt counts
    with _client("127.0.0.9") as manager:  # another address signs in as usual
        assert manager.post(url, json={"key": keys["other"]}).status_code == 200


def test_a_flood_of_bad_keys_from_one_address_slows_nobody_else(
    limited: Limited, keys: dict[str, str]
) -> None:
    url = limited.url + "/v1/parks"
    flood_answers: list[int] = []
    stop = threading.Event()

    def flood() -> None:
        with _client("127.0.0.10") as attacker:
            n = 0
            while not stop.is_set():
                n += 1
                bad = _bearer(f"sp_{n:012d}_not-a-key")
                flood_answers.append(attacker.get(url, headers=bad).status_code)

    def timings(client: httpx.Client, token: str) -> list[float]:
        out = []
        for _ in range(15):  # twice: within the key's own burst
            began = time.perf_counter()
            assert client.get(url, headers=_bearer(token)).status_code == 200
            out.append(time.perf_counter() - began)
            time.sleep(0.01)
        return out

    with _client("127.0.0.1") as user:
        baseline = statistics.median(timings(user, keys["other"]))
        thread = threading.Thread(target=flood)
        thread.start()
        try:
            wait_until(lambda: 429 in flood_answers, 60, "the flood limited")
            during = statistics.median(timings(user, keys["other"]))
            with _client("127.0.0.10") as same_address:  # a valid key there still works
                assert same_address.get(url, headers=_bearer(keys["limited"])).status_code == 200
        finally:
            stop.set()
            thread.join(30)
    assert flood_answers[:BURST] == [401] * BURST and 429 in flood_answers  # then limited
    # One flooding connection shares the server's CPU, nothing more: no queueing behind it.
    assert during < baseline * 4 + 0.05, (baseline, during)
