"""InfluxDB 1.x adapter: ``/write`` and ``/query`` over HTTP (also InfluxDB 2/3 v1 APIs)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson

from smartpark.errors import StoreRejected, StoreUnavailable
from smartpark.schema import ROLLUPS
from smartpark.store import influxql
from smartpark.store.base import Series

# A line of a roll-up (kept with the database's default policy); every other line is a
# raw reading (its measurement is a sensor kind). Names are plain ids, never escaped.
_ROLLUP = "|".join(re.escape(name) for name in sorted(ROLLUPS))
_ROLLUP_LINE = re.compile(rf"^(?:{_ROLLUP})[, ]".encode(), re.MULTILINE)
_RAW_LINE = re.compile(rf"^(?!(?:{_ROLLUP})[, ])[^\n]".encode(), re.MULTILINE)


def split_raw(body: bytes) -> tuple[bytes, bytes]:
    """(raw reading lines, roll-up lines) of a line-protocol body. One scan each in C for
    a body of one sort (the collector's, the processor's); line by line only when mixed."""
    if not _ROLLUP_LINE.search(body):
        return body, b""
    if not _RAW_LINE.search(body):
        return b"", body
    raw: list[bytes] = []
    rollups: list[bytes] = []
    for line in body.split(b"\n"):
        if line:
            (rollups if _ROLLUP_LINE.match(line) else raw).append(line)
    return b"\n".join(raw), b"\n".join(rollups)


def parse_results(payload: Any) -> list[Series]:
    """Flatten the ``/query`` JSON answer; raise ``StoreRejected`` for statement errors."""
    out: list[Series] = []
    for result in payload.get("results", []):
        if "error" in result:
            raise StoreRejected(f"query failed: {result['error']}", status=400)
        for s in result.get("series", []):
            out.append(
                Series(s.get("name", ""), s.get("tags", {}), s["columns"], s.get("values", []))
            )
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
        raw_policy: str | None = None,
        raw_days: int = 0,
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
        # raw readings go to their own policy (created with the database), or with the rest
        self.raw_policy = raw_policy if raw_policy and raw_days > 0 else None
        self._raw_days = raw_days
        self._raw_params = {**self._write_params, "rp": raw_policy or ""}

    def ensure_database(self) -> None:
        """Create the database and the raw readings' retention policy if missing, and set
        the policy's duration to the configured one (idempotent)."""
        self._post_query(influxql.create_database(self.database), with_db=False)
        if self.raw_policy is None:
            return
        create = influxql.create_retention_policy(self.raw_policy, self.database, self._raw_days)
        try:
            self._post_query(create, with_db=False)
        except StoreRejected as exc:
            if "already exists" not in str(exc):
                raise
            alter = influxql.create_retention_policy(
                self.raw_policy, self.database, self._raw_days, alter=True
            )
            self._post_query(alter, with_db=False)

    def write(self, body: bytes) -> None:
        if self.raw_policy is None:
            self._write_to(body, self._write_params)
            return
        raw, rollups = split_raw(body)
        if raw:
            self._write_to(raw, self._raw_params)
        if rollups:
            self._write_to(rollups, self._write_params)

    def _write_to(self, body: bytes, params: dict[str, str]) -> None:
        response = self._post_write(body, params)
        if self._create_database and _missing(response):
            # A fresh or wiped server, or a database from before the raw policy: create
            # what is missing (idempotent) and retry once.
            self.ensure_database()
            response = self._post_write(body, params)
        raise_for_write(response)

    def _post_write(self, body: bytes, params: dict[str, str]) -> httpx.Response:
        try:
            return self._http.post("/write", params=params, content=body)
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"store unreachable: {exc!r}") from exc

    def query(self, statement: str) -> list[Series]:
        try:
            return self._post_query(statement, with_db=True)
        except StoreRejected as exc:
            if "database not found" in str(exc) or _no_raw_policy_yet(exc, self.raw_policy):
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


def _missing(response: httpx.Response) -> bool:
    """The write failed because the database or the retention policy does not exist."""
    return response.status_code == 404 or (
        response.status_code == 500 and b"retention policy not found" in response.content
    )


def _no_raw_policy_yet(exc: StoreRejected, raw_policy: str | None) -> bool:
    return raw_policy is not None and f"retention policy not found: {raw_policy}" in str(exc)
