"""The error shape, languages, body cap, pagination and health."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient

from tests.factories import World


def test_error_shape_in_chinese_by_default_and_english_on_request(client: TestClient, world: World) -> None:
    zh = client.get("/api/v1/stores/999999999", headers=world.headers("owner"))
    en = client.get(
        "/api/v1/stores/999999999", headers={**world.headers("owner"), "Accept-Language": "en-US,en"}
    )
    assert zh.status_code == en.status_code == 404
    assert zh.json() == {"error": {"code": "not_found", "message": "门店不存在", "details": None}}
    assert en.json()["error"]["message"] == "Store not found"
    assert en.headers["Content-Language"] == "en"


def test_validation_errors_name_the_field(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/stores", json={"code": "bad code!", "name": ""}, headers=world.headers("owner")
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert {d["field"] for d in error["details"]} == {"code", "name"}


def test_unknown_fields_are_refused(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/regions",
        json={"code": "R1", "name": "华东", "colour": "red"},
        headers=world.headers("owner"),
    )
    assert response.status_code == 422
    assert response.json()["error"]["details"][0]["field"] == "colour"


def test_body_size_cap(client: TestClient, world: World) -> None:
    big = b'{"records": [' + b"0" * (5 * 1024 * 1024) + b"]}"
    response = client.post(
        "/api/v1/customers/batch",
        content=big,
        headers={**world.headers("owner"), "Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "body_too_large"


def test_health(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "database": "sqlite"}


def test_openapi_lists_every_route_with_its_permission(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    public = {
        ("/health", "get"),
        ("/api/v1/health", "get"),
        ("/api/v1/auth/sign-in", "post"),
        ("/api/v1/auth/sign-out", "post"),
        # WeCom calls these; each request proves itself with the tenant's signature instead.
        ("/api/v1/wecom/{tenant_slug}/callback", "get"),
        ("/api/v1/wecom/{tenant_slug}/callback", "post"),
        # WeChat Pay calls this; each notification proves itself with the platform key's signature.
        ("/api/v1/payments/wechat-pay/{tenant_slug}/notify", "post"),
    }
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if (path, method) in public:
                continue
            assert "x-permission" in operation, f"{method.upper()} {path} declares no permission"
    assert client.get("/docs").status_code == 200


def test_cursor_pagination_walks_every_store_once(client: TestClient, world: World) -> None:
    owner = world.headers("owner")
    for i in range(5):
        assert (
            client.post(
                "/api/v1/stores", json={"code": f"P{i}", "name": f"分页店{i}"}, headers=owner
            ).status_code
            == 201
        )
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/api/v1/stores", params=params, headers=owner).json()
        seen += [s["code"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ["S1", "S2", "P0", "P1", "P2", "P3", "P4"]
    bad = client.get("/api/v1/stores", params={"cursor": "@@@"}, headers=owner)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"
    assert client.get("/api/v1/stores", params={"limit": 1000}, headers=owner).status_code == 422


def test_each_request_logs_one_structured_event_with_its_tenant(
    client: TestClient, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="siyu.request"):
        client.get("/api/v1/tenant", headers=world.headers("analyst"))
    events = [json.loads(r.message) for r in caplog.records if r.name == "siyu.request"]
    assert len(events) == 1
    assert events[0]["path"] == "/api/v1/tenant"
    assert (events[0]["status"], events[0]["tenant_id"]) == (200, world.tenant_id)
    assert events[0]["actor"] == f"staff:{world.staff['analyst']}"


def test_ids_beyond_bigint_are_refused_at_the_edge(client: TestClient, world: World) -> None:
    r = client.delete(f"/api/v1/regions/{2**63}", headers=world.headers("owner"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "validation_error"
    r = client.post(
        "/api/v1/customer-merges", json={"survivor_id": 2**64, "merged_id": 1}, headers=world.headers("owner")
    )
    assert r.status_code == 422
