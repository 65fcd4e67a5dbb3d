"""Every service is observable the same way: ``/metrics`` (Prometheus) and ``/healthz``
(JSON, 200 or 503 with ``problems``) on one small HTTP server, and :class:`FlatMetrics`
for services whose figures are plain counters and gauges."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import orjson
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

logger = logging.getLogger(__name__)

HealthCheck = Callable[[], tuple[bool, dict[str, Any]]]


class FlatMetrics(Collector):
    """Counters and gauges read from the service at scrape time, named ``{prefix}{name}``;
    ``counters()`` and ``gauges()`` return ``{name: value}``."""

    def __init__(
        self,
        prefix: str,
        *,
        counters: Callable[[], Mapping[str, float]],
        gauges: Callable[[], Mapping[str, float]],
    ) -> None:
        self.prefix = prefix
        self.counters = counters
        self.gauges = gauges

    def collect(self) -> Iterator[Metric]:
        for name, value in self.counters().items():
            yield CounterMetricFamily(self.prefix + name, name.replace("_", " "), value)
        for name, value in self.gauges().items():
            yield GaugeMetricFamily(self.prefix + name, name.replace("_", " "), value)


def status_server(*, host: str, port: int, metrics: Collector, health: HealthCheck) -> StatusServer:
    """A status server over a fresh registry holding ``metrics``."""
    registry = CollectorRegistry()
    registry.register(metrics)
    return StatusServer(host=host, port=port, registry=registry, health=health)


class StatusServer:
    """Serves the registry's metrics and a health check on a background thread."""

    def __init__(
        self, *, host: str, port: int, registry: CollectorRegistry, health: HealthCheck
    ) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path == "/metrics":
                    outer._reply(self, 200, generate_latest(registry), CONTENT_TYPE_LATEST)
                elif self.path == "/healthz":
                    ok, facts = health()
                    facts["status"] = "ok" if ok else "unhealthy"
                    outer._reply(self, 200 if ok else 503, orjson.dumps(facts), "application/json")
                else:
                    outer._reply(self, 404, b"not found\n", "text/plain")

            def log_message(self, format: str, *args: Any) -> None:
                logger.debug("http " + format, *args)

        self._server = ThreadingHTTPServer((host, port), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, name="status-http")

    @staticmethod
    def _reply(handler: BaseHTTPRequestHandler, code: int, body: bytes, ctype: str) -> None:
        handler.send_response(code)
        handler.send_header("Content-Type", ctype)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        try:
            handler.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):  # the asker gave up waiting
            logger.debug("status client left before its answer: %s", handler.path)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def wait_connected(
    base_url: str, *, timeout_s: float = 30.0, alive: Callable[[], bool] = lambda: True
) -> bool:
    """Poll a service's ``/healthz`` until it reports connected (and subscribed).

    False when ``timeout_s`` passes or ``alive()`` turns false (the process died).
    """
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1).json().get("connected"):
                return True
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.05)
    return False
