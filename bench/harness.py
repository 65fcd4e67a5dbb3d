"""What the benchmarks share: the collector as its own process, watched through /proc; a
store that records the statements it ran."""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from smartpark.httpserver import wait_connected
from smartpark.mqtt import connect, make_client
from smartpark.settings import MqttSettings, Settings, to_env

CLK_TCK = os.sysconf("SC_CLK_TCK")


class CollectorProc:
    def __init__(self, settings: Settings, log: Path, *, wait: bool = True) -> None:
        self.settings = settings
        env = os.environ | to_env(settings)
        self.log = log.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "smartpark", "collect", "--log-level", "WARNING"],
            env=env,
            stdout=self.log,
            stderr=self.log,
        )
        self.url = f"http://127.0.0.1:{settings.ingest.http_port}"
        if wait and not wait_connected(self.url, alive=lambda: self.proc.poll() is None):
            raise RuntimeError(f"collector did not come up; see {log}")

    def stats(self) -> dict:
        return httpx.get(f"{self.url}/healthz", timeout=5).json()["stats"]

    def stats_or_none(self) -> dict | None:
        """The stats, or None while the status server is not up yet."""
        try:
            return self.stats()
        except httpx.HTTPError:
            return None

    def cpu_s(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def peak_rss_mb(self) -> float:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmHWM")

    def lag_buckets(self) -> list[tuple[float, float]]:
        text = httpx.get(f"{self.url}/metrics", timeout=5).text
        out = []
        for line in text.splitlines():
            if line.startswith("smartpark_ingest_reading_lag_seconds_bucket"):
                le = line.split('le="', 1)[1].split('"', 1)[0]
                out.append(
                    (float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1]))
                )
        return out

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(60)
        self.log.close()


# -- the bare client: what any paho QoS 1 subscriber costs, measured on the same queue --


def bare_session(mqtt: MqttSettings, client_id: str, topic_filter: str) -> None:
    """Leave a persistent session subscribed to ``topic_filter``: what is published from
    now on queues at the broker for ``client_id``."""
    done = threading.Event()
    client = make_client(mqtt, client_id=client_id)
    client.on_connect = lambda c, *_: c.subscribe(topic_filter, qos=1)
    client.on_subscribe = lambda *_: done.set()
    connect(client, mqtt, persistent=True, receive_maximum=mqtt.receive_maximum)
    client.loop_start()
    if not done.wait(10):
        raise RuntimeError("bare subscriber: no SUBACK")
    client.disconnect()
    client.loop_stop()


def _bare_drain(mqtt: MqttSettings, client_id: str, n: int, out: Any) -> None:
    """Child process: reconnect to the session, take ``n`` queued messages (paho acks each
    QoS 1 message itself), report wall and CPU time from the first message to the last."""
    state = {"count": 0, "t0": 0.0, "cpu0": 0.0}
    done = threading.Event()

    def on_message(_c: Any, _u: Any, _m: Any) -> None:
        if state["count"] == 0:
            state["t0"], state["cpu0"] = time.monotonic(), time.process_time()
        state["count"] += 1
        if state["count"] == n:
            state["t1"], state["cpu1"] = time.monotonic(), time.process_time()
            done.set()

    client = make_client(mqtt, client_id=client_id)
    client.on_message = on_message
    connect(client, mqtt, persistent=True, receive_maximum=mqtt.receive_maximum)
    client.loop_start()
    ok = done.wait(600)
    client.disconnect()
    client.loop_stop()
    if not ok:
        out.put({"error": f"bare subscriber got {state['count']} of {n}"})
        return
    out.put(
        {
            "messages": n,
            "seconds": state["t1"] - state["t0"],
            "cpu_s": state["cpu1"] - state["cpu0"],
        }
    )


def bare_drain(mqtt: MqttSettings, client_id: str, n: int) -> dict:
    """Drain ``n`` queued messages with a bare paho subscriber in a process of its own."""
    ctx = mp.get_context("spawn")
    out = ctx.Queue()
    proc = ctx.Process(target=_bare_drain, args=(mqtt, client_id, n, out))
    proc.start()
    result = out.get(timeout=660)
    proc.join(30)
    if "error" in result:
        raise RuntimeError(result["error"])
    return result


class Recording:
    """A real store that also remembers the statements it ran."""

    def __init__(self, store) -> None:
        self.store, self.statements = store, []

    def query(self, influxql: str):
        self.statements.append(influxql)
        return self.store.query(influxql)

    def __getattr__(self, name: str):
        # the rest of the store as it is (its retention policies, its database)
        return getattr(self.store, name)
