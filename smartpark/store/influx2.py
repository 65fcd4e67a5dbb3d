"""InfluxDB 2/3 adapter: writes through influxdb-client (``/api/v2/write``).

Reads use InfluxQL through the v1 compatibility ``/query`` API with the same token
(InfluxDB 2 maps each bucket to a virtual DBRP; InfluxDB 3 serves InfluxQL natively).
"""

from __future__ import annotations

import httpx
import orjson
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException
from urllib3.exceptions import HTTPError as Urllib3Error

from smartpark.errors import StoreRejected, StoreUnavailable
from smartpark.store.base import Series
from smartpark.store.influx1 import parse_results


class Influx2Store:
    def __init__(self, *, url: str, token: str, org: str, bucket: str, timeout_s: float = 10.0):
        # retries=False: the collector decides about retries (spool, backoff), not urllib3.
        self._client = InfluxDBClient(
            url=url, token=token, org=org, timeout=int(timeout_s * 1000), retries=False
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._http = httpx.Client(
            base_url=url, headers={"Authorization": f"Token {token}"}, timeout=timeout_s
        )
        self.org = org
        self.bucket = bucket
        self.raw_policy: str | None = None  # a bucket has one retention: set it on the bucket

    def write(self, body: bytes) -> None:
        try:
            self._write_api.write(
                bucket=self.bucket,
                org=self.org,
                record=body,
                write_precision="ms",  # type: ignore[arg-type]
            )
        except ApiException as exc:
            status = int(exc.status or 0)
            if status >= 500 or status == 429 or status == 0:
                raise StoreUnavailable(f"store answered {status}: {exc.reason}") from exc
            raise StoreRejected(
                f"store refused write ({status}): {exc.body!r:.300}", status
            ) from exc
        except (Urllib3Error, OSError) as exc:
            raise StoreUnavailable(f"store unreachable: {exc!r}") from exc

    def query(self, influxql: str) -> list[Series]:
        try:
            response = self._http.post(
                "/query", data={"q": influxql, "db": self.bucket, "epoch": "ms"}
            )
        except httpx.HTTPError as exc:
            raise StoreUnavailable(f"store unreachable: {exc!r}") from exc
        if response.status_code >= 500:
            raise StoreUnavailable(f"query answered {response.status_code}")
        if response.status_code >= 400:
            raise StoreRejected(f"query refused: {response.text[:300]}", response.status_code)
        return parse_results(orjson.loads(response.content))

    def ping(self) -> bool:
        try:
            return bool(self._client.ping())
        except (Urllib3Error, OSError):
            return False

    def close(self) -> None:
        self._http.close()
        self._client.close()  # type: ignore[no-untyped-call]
