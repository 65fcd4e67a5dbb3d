"""``smartpark process`` for a registry of several parks: one processor process per
park (``smartpark process --park P``), started, watched and stopped together.

One process per park rather than one process holding every park's state: a park's
processor is CPU-bound Python and polars, so parks in one process would share one
interpreter lock, while processes use every core; a park's crash, memory or stuck job
stays its own; and each park runs exactly the code, state directory, journal, ledger
and schedule of a one-park deployment (nothing to partition, nothing to test twice).
The price is a broker connection and an interpreter per park.

The supervisor serves ``/healthz`` (healthy when every park's processor is; each park's
own health under ``parks``) and ``/metrics`` (every park's metrics with a ``park`` label,
and ``smartpark_processing_restarts{park}``) on the processing port; each park's
processor listens on a free port of its own on the same host. A processor that exits
is started again after 1 s, doubling to at most 60 s while it keeps failing; SIGTERM
and SIGINT stop every park (SIGKILL after 30 s), SIGHUP is passed on (each processor
rereads the registry) and starts the parks the registry gained and stops those it lost;
a supervisor that dies however it dies takes its processors with it (Linux's parent-death
signal), so a restarted one never finds its parks' processors still running.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import httpx
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

from smartpark.httpserver import StatusServer, status_server

logger = logging.getLogger(__name__)

BACKOFF_S = (1.0, 60.0)  # first wait before a restart, and the most it doubles to
STOP_WAIT_S = 30.0
PR_SET_PDEATHSIG = 1  # linux/prctl.h
_LIBC = ctypes.CDLL(None, use_errno=True)  # resolved here: the child only calls prctl


def _die_with_parent() -> None:
    """In the child before it runs: SIGTERM when the supervisor dies, even by SIGKILL,
    so no park processor is left behind to fight its successor for its broker session."""
    if _LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGTERM) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")


def free_port(host: str) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@dataclass
class Child:
    """One park's processor process."""

    park: str
    port: int
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    wait_s: float = BACKOFF_S[0]
    due: float = 0.0  # monotonic time of the next start, while it is down
    started: float = 0.0


class Supervisor:
    """Runs ``argv + ["--park", P, "--http-port", port]`` for each park ``P``."""

    def __init__(self, argv: list[str], parks: list[str], *, host: str, port: int) -> None:
        self.argv = argv
        self.host = host
        self.children = {p: Child(p, free_port(host)) for p in parks}
        self._lock = threading.Lock()
        self._stopping = False
        self.status: StatusServer = status_server(
            host=host, port=port, metrics=_ParkMetrics(self), health=self.health
        )

    # -- processes -------------------------------------------------------------------

    def _start(self, child: Child) -> None:
        argv = [*self.argv, "--park", child.park, "--http-port", str(child.port)]
        child.proc = subprocess.Popen(argv, env=os.environ.copy(), preexec_fn=_die_with_parent)
        child.started = time.monotonic()
        logger.info("processor of park %s started pid=%d port=%d", child.park,
                    child.proc.pid, child.port)  # fmt: skip

    def start(self) -> None:
        self.status.start()
        with self._lock:
            for child in self.children.values():
                self._start(child)

    def poll(self) -> None:
        """Start again what exited (after its backoff); called about every 0.2 s."""
        now = time.monotonic()
        with self._lock:
            if self._stopping:
                return
            for child in self.children.values():
                if child.proc is not None and child.proc.poll() is not None:
                    code = child.proc.returncode
                    if now - child.started > 2 * BACKOFF_S[1]:
                        child.wait_s = BACKOFF_S[0]  # it had run a while: no longer failing
                    logger.error("processor of park %s exited (code %s); starting it again in "
                                 "%.0f s", child.park, code, child.wait_s)  # fmt: skip
                    child.proc, child.due = None, now + child.wait_s
                    child.wait_s = min(child.wait_s * 2, BACKOFF_S[1])
                    child.restarts += 1
                if child.proc is None and now >= child.due:
                    self._start(child)

    def reload(self, parks: list[str]) -> None:
        """SIGHUP: passed on to each processor; parks gained are started, parks lost
        stopped."""
        with self._lock:
            for park in [p for p in self.children if p not in parks]:
                logger.info("park %s left the registry: stopping its processor", park)
                _stop([self.children.pop(park)])
            for child in self.children.values():
                if child.proc is not None and child.proc.poll() is None:
                    child.proc.send_signal(signal.SIGHUP)
            for park in [p for p in parks if p not in self.children]:
                logger.info("park %s joined the registry", park)
                self.children[park] = child = Child(park, free_port(self.host))
                self._start(child)

    def stop(self) -> None:
        with self._lock:
            self._stopping = True
            _stop(list(self.children.values()))
        self.status.stop()

    # -- status ----------------------------------------------------------------------

    def _get(self, child: Child, path: str) -> httpx.Response | None:
        try:
            return httpx.get(f"http://{self.host}:{child.port}{path}", timeout=2)
        except httpx.HTTPError:
            return None

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Every park processor's health, asked all at once: one at a time, twenty parks on
        a loaded host took longer than anyone waits for an answer."""
        parks: dict[str, Any] = {}
        children = list(self.children.values())
        with ThreadPoolExecutor(max_workers=max(1, len(children))) as pool:
            answers = list(pool.map(lambda c: self._get(c, "/healthz"), children))
        for child, answer in zip(children, answers, strict=True):
            facts: dict[str, Any] = {"status": "down", "connected": False}
            if answer is not None and answer.headers.get("content-type") == "application/json":
                facts = answer.json()
            pid = child.proc.pid if child.proc is not None else None
            parks[child.park] = facts | {"pid": pid, "restarts": child.restarts}
        problems = [f"park {p}: {f.get('status')}" for p, f in parks.items()
                    if f.get("status") != "ok"]  # fmt: skip
        connected = bool(parks) and all(f.get("connected") is True for f in parks.values())
        return not problems, {"connected": connected, "problems": problems, "parks": parks}


class _ParkMetrics(Collector):
    """Every park processor's metrics at scrape time, each sample labelled ``park``."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        restarts = CounterMetricFamily(
            "smartpark_processing_restarts", "park processor restarts", labels=["park"]
        )
        for child in list(self.supervisor.children.values()):
            restarts.add_metric([child.park], child.restarts)
            answer = self.supervisor._get(child, "/metrics")  # (a scrape may wait)
            if answer is None or answer.status_code != 200:
                continue
            for family in text_string_to_metric_families(answer.text):
                into = merged.setdefault(
                    family.name, Metric(family.name, family.documentation, family.type)
                )
                for sample in family.samples:
                    labels = {"park": child.park, **sample.labels}
                    into.add_sample(sample.name, labels, sample.value, sample.timestamp)
        yield restarts
        yield from merged.values()


def _stop(children: list[Child]) -> None:
    running = [c.proc for c in children if c.proc is not None and c.proc.poll() is None]
    for proc in running:
        proc.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_WAIT_S
    for proc in running:
        try:
            proc.wait(max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            logger.error("processor pid=%d did not stop in %.0f s: killed", proc.pid, STOP_WAIT_S)
            proc.kill()
            proc.wait(10)


def child_argv(*, config: str | None, registry: str | None, log_level: str) -> list[str]:
    """The command of one park's processor (``--park`` and ``--http-port`` are added)."""
    argv = [sys.executable, "-m", "smartpark", "process", "--log-level", log_level]
    if config is not None:
        argv += ["--config", config]
    if registry is not None:
        argv += ["--registry", registry]
    return argv
