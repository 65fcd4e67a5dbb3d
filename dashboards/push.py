"""``smartpark dashboards push``: upsert the folder, the datasources and the dashboards
by UID through the Grafana HTTP API (grafana-client), idempotently.

Every dashboard goes with ``folderUid`` (an update without it moves a dashboard to
General) and ``overwrite``. Grafana refuses HTTP updates of file-provisioned dashboards:
push to a Grafana that does not also provision these files.
"""

from __future__ import annotations

import logging
from typing import Any

from grafana_client.api import GrafanaApi
from grafana_client.client import GrafanaClientError, GrafanaException

from dashboards.build import FOLDER, FOLDER_UID
from smartpark.errors import SmartparkError

logger = logging.getLogger(__name__)


class PushError(SmartparkError):
    """Grafana refused or could not be reached."""


def push(
    api: GrafanaApi, *, datasources: list[dict[str, Any]], dashboards: list[dict[str, Any]]
) -> list[str]:
    """Upsert everything; returns what was done, one line per object."""
    done = []
    try:
        try:
            api.folder.get_folder(FOLDER_UID)
            done.append(f"folder {FOLDER_UID}: exists")
        except GrafanaClientError as exc:
            if exc.status_code != 404:
                raise
            api.folder.create_folder(FOLDER, uid=FOLDER_UID)
            done.append(f"folder {FOLDER_UID}: created")
        for source in datasources:
            body = {k: v for k, v in source.items() if k != "editable"}
            try:
                api.datasource.get_datasource_by_uid(source["uid"])
                api.datasource.update_datasource_by_uid(source["uid"], body)
                done.append(f"datasource {source['uid']}: updated")
            except GrafanaClientError as exc:
                if exc.status_code != 404:
                    raise
                api.datasource.create_datasource(body)
                done.append(f"datasource {source['uid']}: created")
        for board in dashboards:
            body = {k: v for k, v in board.items() if k not in ("id", "version")}
            api.dashboard.update_dashboard(
                {"dashboard": body, "folderUid": FOLDER_UID, "overwrite": True,
                 "message": "smartpark dashboards push"}
            )  # fmt: skip
            done.append(f"dashboard {board['uid']}: upserted")
    except GrafanaException as exc:
        raise PushError(f"Grafana: {exc}") from exc
    except OSError as exc:
        raise PushError(f"cannot reach Grafana: {exc}") from exc
    return done
