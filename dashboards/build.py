"""The provisioning files: every dashboard's JSON and the provisioning YAML (pure but for
``write``). Grafana file provisioning does not resolve ``${DS_*}`` placeholders, so every
panel pins the datasource UIDs provisioned here; the dashboards provider reads the
``smartpark`` folder; UIDs are stable and unique: one park's boards keep
``smartpark-{board}``, several parks' are ``sp-{park}-{board}``, a city's
``smartpark-city-{city}``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards import boards
from dashboards import city as city_board
from dashboards.queries import INFLUX_UID, PROMETHEUS_UID
from smartpark.parks import choose_park
from smartpark.registry import ParkSpec, Registry
from smartpark.settings import Settings

FOLDER_UID = "smartpark"
FOLDER = "smartpark"


def parks_built(registry: Registry, settings: Settings) -> list[str]:
    """The parks whose boards are built: ``SMARTPARK_PARK__ID`` alone when it is set,
    else every park of the registry."""
    if settings.park.id is not None:
        return [choose_park(registry, settings.park.id)]
    return list(registry.parks)


def park_uid(park: str, board: str, *, several: bool) -> str:
    """A park board's UID: ``smartpark-{board}`` when one park is built (the UIDs that
    deployments of one park link to), ``sp-{park}-{board}`` when several are (within
    Grafana's 40 characters: ``dashboards.city.uid``)."""
    return city_board.uid("sp-", park, f"-{board}") if several else f"smartpark-{board}"


def city_zone(parks: list[ParkSpec]) -> str:
    """A city board's zone: its parks' (of several, the one whose month starts first, so
    the board's "this month" holds every park's month-to-date point; offsets compared on
    a fixed day, so a build does not depend on when it runs)."""
    return max(
        (p.timezone for p in parks),
        key=lambda z: _REFERENCE.astimezone(ZoneInfo(z)).utcoffset() or timedelta(0),
    )


_REFERENCE = datetime(2026, 1, 15, tzinfo=UTC)


def _doc(board: Any, zone: str) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    # the park's own zone, never the viewer's browser: "today" is the park's day
    doc["timezone"] = zone
    return doc


def dashboards(registry: Registry, settings: Settings) -> dict[str, dict[str, Any]]:
    """Every dashboard as Grafana JSON, by UID: each park's four boards, the pipeline's
    health, and (unless ``SMARTPARK_PARK__ID`` chooses one park) a board per city of
    the registry's parks."""
    language = settings.dashboards.language
    chosen = parks_built(registry, settings)
    several = len(chosen) > 1
    out = {}
    for park_id in chosen:
        park = registry.parks[park_id]
        built = [
            boards.park_overview(park.id, park.targets, language, park.target_variants),
            boards.enterprise(language, park.id),
            boards.cems_compliance(language, park.id),
            boards.evaluation(language, park.id),
        ]
        for board in built:
            doc = _doc(board, park.timezone)
            name = doc["uid"].removeprefix("smartpark-")
            if name == "enterprise":
                doc.setdefault("annotations", {}).setdefault("list", []).append(
                    boards.alert_annotations()
                )
            if several:
                doc["uid"] = park_uid(park.id, name, several=True)
                doc["title"] = f"{doc['title']} · {park.name}"
            out[doc["uid"]] = doc
    health = _doc(boards.pipeline_health(language), registry.parks[chosen[0]].timezone)
    out[health["uid"]] = health
    if settings.park.id is None:
        cities = dict.fromkeys(c for p in chosen if (c := registry.parks[p].city) is not None)
        for city_id in cities:
            members = [registry.parks[p] for p in chosen if registry.parks[p].city == city_id]
            doc = _doc(city_board.city(city_id, members, language), city_zone(members))
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
