"""Every report route takes exactly the query parameters it documents (OpenAPI and docs/orders.md)."""

from __future__ import annotations

from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from siyu.reports.views import router
from tests.factories import World

PREFIX = "/api/v1/reports"
# The parameters docs/orders.md gives for each report route. A new report route belongs here too.
DOCUMENTED = {
    "/store-daily": {"store_id", "store_code", "date"},
    "/store-daily.xlsx": {"store_id", "store_code", "date"},
    "/rollup": {"date", "region_id"},
    "/guide-ranking": {"store_id", "store_code", "date_from", "date_to"},
}
STORE_SELECTORS = ("store_id", "store_code")  # one of them per call


def _report_paths(schema: dict[str, Any]) -> list[str]:
    """Every route under /api/v1/reports, as the OpenAPI document lists them."""
    return [path for path in schema["paths"] if path.startswith(PREFIX)]


def _routes() -> dict[str, APIRoute]:
    """The report routes as FastAPI built them (what each one reads)."""
    return {r.path: r for r in router.routes if isinstance(r, APIRoute)}


def _used(dependant: Dependant) -> set[tuple[str, str]]:
    """(name, alias) of every query parameter a route reads, its dependencies' included."""
    used = {(f.name, f.alias) for f in dependant.query_params}
    for sub in dependant.dependencies:
        used |= _used(sub)
    return used


def _query_parameters(schema: dict[str, Any], path: str) -> dict[str, dict[str, Any]]:
    operation = schema["paths"][path]["get"]
    return {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "query"}


def _value(name: str, parameter: dict[str, Any], w: World) -> Any:
    """A valid value for a documented parameter, from its schema."""
    schema = parameter["schema"]
    kinds = [schema, *schema.get("anyOf", [])]
    if name == "store_id":
        return w.store_ids[0]
    if name == "store_code":
        return "S1"
    if any(k.get("format") == "date" for k in kinds):
        return "2026-06-18"
    if any(k.get("type") == "integer" for k in kinds):
        return 1
    raise AssertionError(f"no test value for {name}: {schema}")  # a new kind of parameter


def test_report_routes_document_the_parameters_they_use(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    routes = _routes()
    assert {path.removeprefix(PREFIX) for path in _report_paths(schema)} == set(DOCUMENTED)
    assert set(routes) == set(_report_paths(schema))
    for path, route in routes.items():
        documented = _query_parameters(schema, path)
        assert set(documented) == DOCUMENTED[path.removeprefix(PREFIX)], path
        # What the route reads: each query parameter under its own name (no alias borrowed from
        # another route's parameter), and nothing undocumented.
        assert _used(route.dependant) == {(n, n) for n in documented}, path


def test_a_call_with_exactly_the_documented_parameters_succeeds(client: TestClient, world: World) -> None:
    w = world
    schema = client.get("/openapi.json").json()
    for path in _report_paths(schema):
        documented = _query_parameters(schema, path)
        assert set(documented) == DOCUMENTED[path.removeprefix(PREFIX)], path  # as docs/orders.md says
        selectors = [s for s in STORE_SELECTORS if s in documented] or [None]
        for selector in selectors:  # every documented parameter is sent in some call
            params = {
                name: _value(name, p, w)
                for name, p in documented.items()
                if name not in STORE_SELECTORS or name == selector
            }
            r = client.get(path, params=params, headers=w.headers("owner"))
            assert r.status_code == 200, (path, params, r.text)
            if path.endswith("guide-ranking"):
                body = r.json()
                assert (body["date_from"], body["date_to"]) == ("2026-06-18", "2026-06-18")
        required = {name for name, p in documented.items() if p.get("required")}
        for name in required:  # and each required one is really needed
            params = {n: _value(n, documented[n], w) for n in required - {name}}
            if selectors != [None]:
                params[selectors[-1]] = _value(selectors[-1], documented[selectors[-1]], w)
            r = client.get(path, params=params, headers=w.headers("owner"))
            assert r.status_code == 422 and name in r.text, (path, name, r.text)
