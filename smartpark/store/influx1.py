"""InfluxDB 1.x adapter: ``/write`` and ``/query`` over HTTP (also InfluxDB 2/3 v1 APIs)."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from smartpark.errors import StoreRejected, StoreUnavailable
from smartpark.store import influxql
from smartpark.store.base import Series


def parse_results(payload: Any) -> list[Series]:
    """Flatten the ``/query`` JSON answer; raise ``StoreRejected`` for statement errors."""
    out: list[Series] = []
    for result in payload.get("results", []):
        if "error" in result:
            raise StoreRejected(f"query failed: {result['error']}", status=400)
        for s in result.get("series", []):
            out.append(Series(s["name"], s.get("tags", {}), s["columns"], s.get("values", [])))
    return out


def raise_for_write(response: httpx.Response) -> None:
    if response.status_code < 300:
        return
    text = response.text[:500]
    if response.status_code >= 500 or response.status_code == 429:
        raise StoreUnavailable(f"store answered {response.status_code}: {text}")
    raise StoreRejected(
        f"store refused write ({response.status_code}): {text}", response.status_code
    )


class Influx1Store:
    """Line protocol to ``/write?db=..&precision=ms``; InfluxQL to ``/query``."""

    def __init__(
        self,
        *,
        url: str,
        database: str,
        retention_policy: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = 10.0,
        create_database: bool = False,
    ) -> None:
        auth = httpx.BasicAuth(username, password or "") if username else None
        self._http = httpx.Client(base_url=url, auth=auth, timeout=timeout_s)
        self._write_params = {"db": database, "precision": "ms"}
        if retention_policy:
            self._write_params["rp"] = retention_policy
        self.database = database
        self._create_database = create_database

    def ensure_database(self) -> None:
        """Create the database if missing (idempotent on InfluxDB 1.x)."""
        self._post_query(influxql.create_database(self.database), with_db=False)

    def write(self, body: bytes) -> None:
        response = self._post_write(body)
        if response.status_code == 404 and self._create_database:
            # A fresh or wiped server: create the database (idempotent) and retry once.
            self.ensure_database()
            response = self._post_write(body)
        raise_for_write(response)

    def _post_write(self, body: bytes) -> httpx.Response:
        try:
            return self._http.post("/write", params=self._write_params, content=body)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"store unreachable: {exc!r}") from exc

    def query(self, statement: str) -> list[Series]:
        try:
            return self._post_query(statement, with_db=True)
        except StoreRejected as exc:
            if "database not found" in str(exc):
                return []  # nothing written yet: no series, as in an empty database
            raise

    def _post_query(self, statement: str, *, with_db: bool) -> list[Series]:
        params = {"q": statement, "epoch": "ms"}
        if with_db:
            params["db"] = self.database
        try:
            response = self._http.post("/query", data=params)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"store unreachable: {exc!r}") from exc
        if response.status_code >= 500:
            raise StoreUnavailable(f"query answered {response.status_code}: {response.text[:300]}")
        payload = orjson.loads(response.content)
        if response.status_code >= 400:
            raise StoreRejected(f"query refused: {payload.get('error', '')}", response.status_code)
        return parse_results(payload)

    def ping(self) -> bool:
        try:
            return self._http.get("/ping").status_code == 204
        except httpx.HTTPError:
            return False

    def close(self) -> None:
        self._http.close()
