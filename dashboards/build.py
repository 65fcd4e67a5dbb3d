"""The provisioning files: every dashboard's JSON and the provisioning YAML (pure but for
``write``). Grafana file provisioning does not resolve ``${DS_*}`` placeholders, so every
panel pins the datasource UIDs provisioned here; the dashboards provider reads the
``smartpark`` folder; UIDs are stable and unique."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import boards
from dashboards.queries import INFLUX_UID, PROMETHEUS_UID
from smartpark.parks import choose_park
from smartpark.registry import Registry
from smartpark.settings import Settings

FOLDER_UID = "smartpark"
FOLDER = "smartpark"


def dashboards(registry: Registry, settings: Settings) -> dict[str, dict[str, Any]]:
    """Every dashboard as Grafana JSON, by UID."""
    language = settings.dashboards.language
    park = registry.parks[choose_park(registry, settings.park.id)]
    built = [
        boards.park_overview(park.id, park.targets, language, park.target_variants),
        boards.enterprise(language, park.id),
        boards.cems_compliance(language, park.id),
        boards.evaluation(language, park.id),
        boards.pipeline_health(language),
    ]
    out = {}
    for board in built:
        doc = json.loads(json.dumps(board.build(), cls=JSONEncoder))
        # the park's own zone, never the viewer's browser: "today" is the park's day
        doc["timezone"] = park.timezone
        if doc["uid"] == "smartpark-enterprise":
            doc.setdefault("annotations", {}).setdefault("list", []).append(
                boards.alert_annotations()
            )
        out[doc["uid"]] = doc
    return out


def datasources(settings: Settings) -> dict[str, Any]:
    d = settings.dashboards
    return {
        "apiVersion": 1,
        "datasources": [
            {
                "name": "smartpark InfluxDB",
                "uid": INFLUX_UID,
                "type": "influxdb",
                "access": "proxy",
                "url": d.influx_url,
                "user": settings.influx.username or "smartpark",
                "jsonData": {
                    "dbName": settings.influx.database,
                    "httpMode": "GET",
                    "version": "InfluxQL",
                },
                # Grafana expands $VARIABLES in provisioning files from its environment.
                "secureJsonData": {"password": "$SMARTPARK_INFLUX__PASSWORD"},
                "editable": False,
            },
            {
                "name": "smartpark Prometheus",
                "uid": PROMETHEUS_UID,
                "type": "prometheus",
                "access": "proxy",
                "url": d.prometheus_url,
                "editable": False,
            },
        ],
    }


def provider() -> dict[str, Any]:
    return {
        "apiVersion": 1,
        "providers": [
            {
                "name": "smartpark",
                "orgId": 1,
                "folder": FOLDER,
                "folderUid": FOLDER_UID,
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": "/var/lib/grafana/dashboards/smartpark"},
            }
        ],
    }


def files(registry: Registry, settings: Settings) -> dict[str, str]:
    """Relative path -> text of every generated file (deterministic)."""
    out = {
        "provisioning/datasources/smartpark.yaml": yaml.safe_dump(
            datasources(settings), sort_keys=True
        ),
        "provisioning/dashboards/smartpark.yaml": yaml.safe_dump(provider(), sort_keys=True),
    }
    for uid, doc in dashboards(registry, settings).items():
        out[f"dashboards/{uid}.json"] = (
            json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
        )
    return out


def write(out_dir: Path, registry: Registry, settings: Settings) -> list[Path]:
    written = []
    for rel, text in files(registry, settings).items():
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
