"""Every route takes the scope the who-sees-what table gives it (walked from
``app.routes``, so a route added without a scope fails here), and the visibility rule
itself as a table."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.routing import Route

from api.app import create_app
from api.deps import SCOPES, ParkDep, ServicesDep
from api.keys import Caller
from api.scope import EnterpriseScope, ParkScope, SubjectScope, may_see
from smartpark import registry as registry_mod
from smartpark.settings import AlertsSettings, ApiSettings, IngestSettings, Settings
from tests.conftest import EXAMPLE_PARK

P = "/v1/parks/{park_id}"
E = P + "/enterprises/{enterprise}"
S = P + "/scopes/{scope}"
# (method, path) -> the scope it must take: "own park" (the caller's), "own parks" (its
# park, or a city key's parks), "park", "enterprise"
# (one enterprise the caller sees), "subject" (an enterprise or the park's aggregate);
# "ticket" (the stream: the scope the ticket was issued for); "public" (no data).
TABLE = {
    ("GET", "/v1/parks"): "own parks",
    ("GET", P): "park",
    ("GET", "/v1/cities/{city_id}/scorecard"): "city",
    ("GET", P + "/enterprises"): "park",
    ("GET", E + "/sensors"): "enterprise",
    ("GET", E + "/latest"): "enterprise",
    ("GET", E + "/sensors/{sensor}/series"): "enterprise",
    ("GET", E + "/deadletters"): "enterprise",
    ("GET", S + "/kpis"): "subject",
    ("GET", S + "/scorecard"): "subject",
    ("GET", E + "/cems"): "enterprise",
    ("GET", E + "/completeness"): "enterprise",
    ("GET", E + "/quota"): "enterprise",
    ("GET", S + "/carbon-budget"): "subject",
    ("GET", S + "/limits"): "subject",
    ("GET", P + "/grades"): "park",
    ("GET", E + "/report"): "enterprise",
    ("GET", S + "/reports/monthly"): "subject",
    ("GET", S + "/reports/annual"): "subject",
    ("GET", S + "/reports/ghg"): "subject",
    ("GET", P + "/alerts"): "park",
    ("GET", "/v1/alerts/{alert_id}"): "own park",
    ("POST", "/v1/alerts/{alert_id}/ack"): "own park",
    ("POST", "/v1/stream/ticket"): "own park",
    ("GET", "/v1/stream"): "ticket",
    ("GET", "/"): "public",
    ("POST", "/session"): "public",
    ("GET", "/session"): "public",
    ("POST", "/session/logout"): "public",
    ("GET", "/healthz"): "public",
    ("GET", "/metrics"): "public",
    ("GET", "/openapi.json"): "public",
    ("GET", "/docs"): "public",
    ("GET", "/docs/oauth2-redirect"): "public",
    ("GET", "/redoc"): "public",
}
UNSCOPED = {"ticket", "public"}


@pytest.fixture
def app(tmp_path: Path) -> Iterator[FastAPI]:
    settings = Settings(
        ingest=IngestSettings(registry=EXAMPLE_PARK, spool_dir=tmp_path / "spool"),
        api=ApiSettings(keys_db=tmp_path / "keys.db"),
        alerts=AlertsSettings(db=tmp_path / "alerts.db"),
    )
    yield create_app(settings)


def _scopes(dependant: Dependant) -> set[str]:
    names = {name for name, call in SCOPES.items() if dependant.call is call}
    for sub in dependant.dependencies:
        names |= _scopes(sub)
    return names


def _taken(route: APIRoute) -> set[str]:
    """The scope dependencies a route takes, outermost first ("enterprise" resolves
    "park" on its way: only the outermost counts)."""
    return {name for sub in route.dependant.dependencies for name in _scopes(sub)} - {
        inner for sub in route.dependant.dependencies for inner in _inner(sub)
    }


def _inner(dependant: Dependant) -> set[str]:
    return {name for sub in dependant.dependencies for name in _scopes(sub)}


def walk(routes: list[Any], prefix: str = "") -> Iterator[tuple[str, str, set[str]]]:
    """(method, full path, scopes taken) of every route, into included routers (FastAPI
    0.16x keeps an included router whole; older releases copied its routes)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from walk(inner.routes, prefix + route.include_context.prefix)
        elif isinstance(route, APIRoute):
            for method in route.methods - {"HEAD"}:
                yield method, prefix + route.path, _taken(route)
        elif isinstance(route, Route) and route.methods:
            for method in route.methods - {"HEAD"}:
                yield method, prefix + route.path, set()
        # a Mount (/static) serves files only


def unchecked(app: FastAPI) -> list[tuple[str, str, list[str]]]:
    """Routes outside the table, or whose scope is not the table's."""
    wrong = []
    for method, path, taken in walk(app.routes):
        want = TABLE.get((method, path))
        if want is None or (want in UNSCOPED and taken) or (
            want not in UNSCOPED and taken != {want}
        ):  # fmt: skip
            wrong.append((method, path, sorted(taken)))
    return sorted(wrong)


def test_every_route_takes_the_scope_of_the_who_sees_what_table(app: FastAPI) -> None:
    assert unchecked(app) == []
    served = {(method, path) for method, path, _ in walk(app.routes)}
    assert served == set(TABLE)  # nothing in the table that is not served


def test_a_route_added_without_a_scope_fails_the_table(app: FastAPI) -> None:
    @app.get("/v1/parks/{park_id}/leak")
    def leak(park_id: str, s: ServicesDep) -> list[str]:
        return [e.id for e in s.registry.parks[park_id].enterprises]

    @app.get(E + "/latest")  # the park checked, the enterprise not: a scope too wide
    def too_wide(scope: ParkDep, enterprise: str) -> list[str]:
        return scope.enterprises()

    assert [w[:2] for w in unchecked(app)] == [
        ("GET", E + "/latest"),
        ("GET", "/v1/parks/{park_id}/leak"),
    ]


# -- the rule -------------------------------------------------------------------------

OPERATOR = Caller("k1", "operator", "operator", "tianfu-np", None)
E08 = Caller("k2", "e08", "enterprise", "tianfu-np", "e08-anode")
STRANGER = Caller("k3", "other", "operator", "other-np", None)


def _registry(*, shared: bool) -> registry_mod.Registry:
    doc = yaml.safe_load(EXAMPLE_PARK.read_text())
    doc["parks"][0]["share_park_totals"] = shared
    reg, problems = registry_mod.parse(doc)
    assert reg is not None, problems
    return reg


@pytest.mark.parametrize(
    ("caller", "park", "subject", "aggregate", "shared", "sees"),
    [
        (OPERATOR, "tianfu-np", "e08-anode", False, False, True),
        (OPERATOR, "tianfu-np", "_park", False, False, True),
        (OPERATOR, "tianfu-np", "_park", True, False, True),
        (OPERATOR, "tianfu-np", "e99-unknown", False, False, False),
        (OPERATOR, "other-np", "e08-anode", False, False, False),
        (E08, "tianfu-np", "e08-anode", False, False, True),
        (E08, "tianfu-np", "e08-anode", True, False, True),
        (E08, "tianfu-np", "e01-baijiu", False, False, False),
        (E08, "tianfu-np", "e01-baijiu", True, True, False),
        (E08, "tianfu-np", "_park", True, False, False),
        (E08, "tianfu-np", "_park", True, True, True),  # the park's figures, when shared
        (E08, "tianfu-np", "_park", False, True, False),  # never park rules' alerts
        (STRANGER, "tianfu-np", "e08-anode", False, False, False),
        (STRANGER, "other-np", "_park", True, True, False),  # a park not in the registry
    ],
)  # fmt: skip
def test_who_sees_what_rule(
    caller: Caller, park: str, subject: str, aggregate: bool, shared: bool, sees: bool
) -> None:
    reg = _registry(shared=shared)
    assert may_see(reg, caller, park, subject, aggregate=aggregate) is sees


def test_scopes_are_made_only_by_their_checks() -> None:
    reg = _registry(shared=False)
    park = ParkScope.check(reg, E08, "tianfu-np")
    assert EnterpriseScope.within(park, "e08-anode").enterprise == "e08-anode"
    with pytest.raises(TypeError, match="never directly"):
        SubjectScope(E08, "tianfu-np", reg, object(), "e01-baijiu")
    for make in (
        lambda: ParkScope.check(reg, STRANGER, "tianfu-np"),
        lambda: EnterpriseScope.within(park, "e01-baijiu"),
        lambda: EnterpriseScope.within(park, "_park"),
        lambda: SubjectScope.within(park, "_park"),
    ):
        with pytest.raises(Exception, match="not found"):
            make()
    assert park.enterprises() == ["e08-anode"] and park.alert_subjects() == ["e08-anode"]
