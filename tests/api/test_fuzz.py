"""The API fuzzed from its own OpenAPI schema (schemathesis) on the park the pipeline
filled, as an enterprise, as the park's operator and with no key: never a 5xx, every
answer as the schema documents it, and nothing of another enterprise in what an
enterprise's key gets. Bounded: ``EXAMPLES`` generated cases per operation and caller.

Path and query values are drawn from the schema and, half of the time, from the park
itself (its ids, the alerts' ids, the last hours), so cases get past 404 and 422 into
the reads."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from smartpark.alertstore import AlertDB
from smartpark.registry import Registry
from tests.api.conftest import Park, another_api

EXAMPLES = 15  # per operation and caller: the whole run stays within a few minutes
# The report routes render a whole workbook or PDF per request, and their parameters are
# few and constrained in the schema (a period or year, a format): fewer examples.
REPORT_EXAMPLES = 4
CALLERS = ("e08", "operator", None)
RUN: Counter[str] = Counter()  # cases sent, by caller (the report's counts)


@pytest.fixture(scope="module")
def fuzzed(api_park: Park) -> Iterator[Park]:
    """A second API on the same park whose rate limits a fuzzer does not hit (they have
    their own test)."""
    with another_api(api_park, rate_per_s=100_000, burst=100_000) as served:
        yield served


def _real_values(park: Park, registry: Registry) -> dict[str, st.SearchStrategy[Any]]:
    db = AlertDB(park.settings.alerts.db)
    alert_ids = sorted(a.id for a in db.open_alerts()) or ["0123456789abcdef"]
    db.close()
    ents = [e.id for e in registry.parks["tianfu-np"].enterprises]
    now = datetime.now(UTC)
    times = [(now - timedelta(hours=h)).isoformat() for h in (0, 3, 26)]
    return {
        "park_id": st.just("tianfu-np"),
        "enterprise": st.sampled_from(["e08-anode", "e01-baijiu", ents[-1]]),
        "scope": st.sampled_from(["e08-anode", "e01-baijiu", "_park"]),
        "sensor": st.sampled_from(["e08-grid-1", "e01-grid-1", "e08-cems-1"]),
        "alert_id": st.sampled_from(alert_ids),
        "field": st.sampled_from(["power_kw", "energy_kwh", "so2_mg_m3"]),
        "start": st.sampled_from(times),
        "end": st.sampled_from([(now + timedelta(hours=1)).isoformat(), *times]),
        "window": st.sampled_from(["1m", "1h", "1d"]),
        "year": st.sampled_from([now.year, 2000]),
    }


@pytest.fixture(scope="module")
def api_schema(fuzzed: Park, park: Registry) -> schemathesis.BaseSchema:
    # Loaded and sent with httpx: requests breaks on the urllib3-future that
    # grafana-client's niquests installs in place of urllib3.
    doc = httpx.get(fuzzed.url + "/openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(doc)
    real = _real_values(fuzzed, park)

    def realistic(generated: dict[str, Any], *, write: bool) -> st.SearchStrategy[dict[str, Any]]:
        # Writes get made-up alert ids: acknowledging the park's real alerts would change
        # what the other API tests read.
        swap = {k: v for k, v in real.items() if not (write and k == "alert_id")}
        if not generated or not swap.keys() & generated.keys():
            return st.just(generated)
        mixed = st.fixed_dictionaries(
            {k: swap[k] if k in swap else st.just(v) for k, v in generated.items()}
        )
        return st.one_of(st.just(generated), mixed)

    def _write(ctx: Any) -> bool:
        return ctx.operation is not None and ctx.operation.method.upper() != "GET"

    @schema.hook  # type: ignore[untyped-decorator]
    def flatmap_path_parameters(ctx: Any, path_parameters: dict[str, Any]) -> Any:
        return realistic(path_parameters, write=_write(ctx))

    @schema.hook  # type: ignore[untyped-decorator]
    def flatmap_query(ctx: Any, query: dict[str, Any]) -> Any:
        return realistic(query, write=_write(ctx))

    return schema


def _others(registry: Registry, own: str) -> list[str]:
    return [e.id for p in registry.parks.values() for e in p.enterprises if e.id != own]


def _no_other_enterprise(park: Registry, who: str | None, case: Any, response: Any) -> None:
    """An enterprise's key gets nothing that names another enterprise (unless the
    request itself named it), nor the park's aggregate (not shared in this park)."""
    if who != "e08":
        if who is None and case.path.startswith("/v1/"):
            assert response.status_code >= 400, "no key, yet an answer"
        return
    asked = str(case.formatted_path) + repr(case.query or {})
    body = response.text
    leaked = [e for e in _others(park, "e08-anode") if e in body and e not in asked]
    assert not leaked, f"{case.method} {case.formatted_path} gave e08 {leaked}"
    if response.status_code < 300 and "_park" in asked:
        raise AssertionError(f"{case.formatted_path}: the park's aggregate for an enterprise")


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def _send(case: Any, fuzzed: Park, park: Registry) -> None:
    """One generated request as an enterprise, as the operator and with no key."""
    if case.path == "/v1/stream":
        # A valid ticket would open a stream that never ends; what a fuzzer can send
        # (no ticket, a made-up one, any Last-Event-ID) is answered at once.
        case.query = {k: v for k, v in (case.query or {}).items() if k != "ticket"}
    for who in CALLERS:
        headers = {"Authorization": f"Bearer {fuzzed.keys[who]}"} if who else {}
        RUN[str(who)] += 1
        sent = case.as_transport_kwargs(base_url=fuzzed.url, headers=headers)
        response = httpx.request(
            sent["method"], sent["url"], params=sent.get("params"), headers=sent.get("headers"),
            cookies=sent.get("cookies"), json=sent.get("json"), content=sent.get("data"),
            timeout=30,
        )  # fmt: skip
        case.validate_response(response, checks=CHECKS, headers=headers)
        _no_other_enterprise(park, who, case, response)


def test_the_api_answers_every_generated_request_as_documented(
    api_schema: schemathesis.BaseSchema, fuzzed: Park, park: Registry
) -> None:
    """Valid and invalid requests generated per operation (``EXAMPLES`` each), each sent
    by every caller; every failing operation is reported, not only the first."""
    failures: dict[str, str] = {}
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        )

        @given(case=strategy)
        @settings(
            max_examples=REPORT_EXAMPLES if "/reports/" in operation.path else EXAMPLES,
            deadline=None, derandomize=True, database=None,
            suppress_health_check=list(HealthCheck), phases=[Phase.generate, Phase.shrink],
        )  # fmt: skip
        def run(case: Any) -> None:
            _send(case, fuzzed, park)

        try:
            run()
        except (Exception, BaseExceptionGroup) as exc:  # noqa: BLE001 (each operation reported)
            failures[operation.label] = f"{type(exc).__name__}: {exc}"[:2000]
    print(f"fuzzed operations={operations} requests={sum(RUN.values())} by caller={dict(RUN)}")
    assert operations >= 20
    assert not failures, "\n\n".join(f"{k}\n{v}" for k, v in failures.items())


def test_the_schema_is_precise_enough_to_fuzz(fuzzed: Park) -> None:
    """Ids, times, windows and cursors are constrained in the schema itself, so the
    generated requests exercise the reads rather than the parser."""
    doc = httpx.get(fuzzed.url + "/openapi.json", timeout=10).json()
    params = {
        (path, p["name"]): p["schema"]
        for path, item in doc["paths"].items()
        for op in item.values()
        for p in op.get("parameters", [])
    }
    kpis = "/v1/parks/{park_id}/scopes/{scope}/kpis"
    assert params[(kpis, "park_id")]["pattern"] and params[(kpis, "park_id")]["maxLength"] == 64
    assert params[(kpis, "scope")]["pattern"].endswith("|_park)$")
    assert params[(kpis, "window")]["enum"] == ["1m", "15m", "1h", "1d", "1mo"]
    assert params[(kpis, "start")]["format"] == "date-time"
    alerts = "/v1/parks/{park_id}/alerts"
    assert params[(alerts, "cursor")]["anyOf"][0]["pattern"]
    assert params[(alerts, "limit")]["maximum"] == 200
    assert params[("/v1/alerts/{alert_id}", "alert_id")]["pattern"] == "^[0-9a-f]{16}$"
    for path, item in doc["paths"].items():
        for method, op in item.items():
            for status in ("401", "404", "422"):
                assert status in op["responses"], (method, path, status)
