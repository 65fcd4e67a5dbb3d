"""The processing stage built from Settings serves /healthz and /metrics like every service."""

from __future__ import annotations

import httpx

from devstack.servers import free_port
from processing import app as stage
from smartpark.settings import ProcessingSettings, Settings
from tests.conftest import EXAMPLE_PARK, wait_until

CONFIG = EXAMPLE_PARK.parent / "processing.yaml"


def _status(port: int, path: str) -> httpx.Response:
    return httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2)


def test_processor_reports_healthy_when_subscribed_and_counts_in_metrics(
    settings: Settings, store: object
) -> None:
    port = free_port()
    settings.processing = ProcessingSettings(
        config=CONFIG, http_port=port, state_dir=settings.processing.state_dir
    )
    processing = stage.build(settings)
    processing.start()
    try:
        assert processing.stream.subscribed.wait(10)
        health = _status(port, "/healthz")
        assert health.status_code == 200, health.text
        facts = health.json()
        assert facts["status"] == "ok" and facts["connected"] is True
        assert facts["park"] == "tianfu-np" and facts["unwritten_windows"] == 0
        metrics = _status(port, "/metrics").text
        assert "smartpark_processing_windows_computed_total 0.0" in metrics
        assert "smartpark_processing_connected 1.0" in metrics
    finally:
        processing.stop()


def test_processor_without_a_broker_is_unhealthy(settings: Settings, store: object) -> None:
    port = free_port()
    settings.processing = ProcessingSettings(
        config=CONFIG, http_port=port, state_dir=settings.processing.state_dir
    )
    settings.mqtt = settings.mqtt.model_copy(update={"port": free_port()})  # nobody listens
    processing = stage.build(settings)
    processing.start()
    try:
        wait_until(lambda: _status(port, "/healthz").status_code == 503, what="503")
        facts = _status(port, "/healthz").json()
        assert facts["status"] == "unhealthy"
        assert facts["problems"] == ["not subscribed to the broker"]
        assert "smartpark_processing_connected 0.0" in _status(port, "/metrics").text
    finally:
        processing.stop()
