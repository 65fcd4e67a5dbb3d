"""The alert service built from Settings: refuses what it cannot run, serves /healthz and
/metrics, and turns unhealthy when a channel keeps failing."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import orjson
import pytest
import yaml

from alerts import app as stage
from devstack.servers import free_port
from smartpark.errors import ConfigError
from smartpark.mqtt import BoundedPublisher
from smartpark.settings import AlertsSettings, Settings
from tests.conftest import wait_until


def _config(tmp_path: Path, webhook_port: int, **extra: object) -> Path:
    doc = {
        "rules": [
            {
                "id": "grid-high",
                "type": "threshold",
                "field": "power_kw",
                "above": 100,
                "scope": {"enterprises": ["e08-anode"]},
            }
        ],
        "enterprises": {
            "e08-anode": [{"type": "webhook", "url": f"http://127.0.0.1:{webhook_port}/e08"}]
        },
        "mqtt": False,
        **extra,
    }
    path = tmp_path / "alerts.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def test_rules_for_unknown_enterprises_and_missing_secrets_are_refused(
    settings: Settings, tmp_path: Path
) -> None:
    path = _config(
        tmp_path,
        free_port(),
        operator=[{"type": "webhook", "url": "http://127.0.0.1:9/op", "secret": "operator"}],
    )
    doc = yaml.safe_load(path.read_text())
    doc["rules"][0]["scope"]["enterprises"] = ["e99-nope"]
    doc["rules"].append(
        {"id": "budget", "type": "carbon_budget_forecast",
         "budgets_t_month": {"_park": 1_500, "e98-gone": 10}}
    )  # fmt: skip
    path.write_text(yaml.safe_dump(doc))
    settings.alerts = AlertsSettings(config=path, db=tmp_path / "alerts.db")
    with pytest.raises(ConfigError) as err:
        stage.load(settings)
    assert err.value.problems == [
        "rules[0 id='grid-high'].scope.enterprises: 'e99-nope' is not in the registry",
        f"rules[{len(doc['rules']) - 1} id='budget']: 'e98-gone' is not in the registry",
        "operator: webhook http://127.0.0.1:9/op needs secret 'operator', which "
        "SMARTPARK_ALERTS__WEBHOOK_SECRETS does not have",
    ]


def test_alert_service_is_unhealthy_while_a_channel_keeps_failing(
    settings: Settings, tmp_path: Path, publisher: BoundedPublisher
) -> None:
    port = free_port()
    settings.alerts = AlertsSettings(
        config=_config(tmp_path, free_port()),  # nobody listens there
        db=tmp_path / "alerts.db",
        http_port=port,
        tick_s=0.2,
    )
    alerts = stage.build(settings)
    alerts.start()
    try:
        assert alerts.service.subscribed.wait(10)
        health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
        assert health.status_code == 200, health.text
        assert health.json()["outbox_pending"] == 0
        topic = f"{settings.mqtt.topic_root}/tianfu-np/e08-anode/electricity/e08-grid-1"
        reading = {"ts": int(time.time() * 1000), "values": {"power_kw": 500.0}}
        publisher.publish(topic, orjson.dumps(reading))
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 503,
            what="unhealthy while the webhook fails",
        )
        # the notice's InfluxDB event goes out on its own worker, at the store's pace:
        # once it is written, only the failing webhook's notice is left waiting
        wait_until(
            lambda: alerts.service.dispatcher.delivered["influx"] == 1,
            what="the alert event written to InfluxDB",
        )
        facts = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).json()
        assert facts["failing_channels"] == [
            f"webhook:{alerts.service.config.enterprises['e08-anode'][0].url}"
        ]
        assert facts["outbox_pending"] == 1 and facts["open_alerts"] == 1
        metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=2).text
        assert "smartpark_alerts_conditions_total 1.0" in metrics
        assert "smartpark_alerts_failing_channels 1.0" in metrics
    finally:
        alerts.stop()
