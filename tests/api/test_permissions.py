"""Permission matrix over every route in the OpenAPI schema and every role, plus data scope."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from siyu.access import ROLE_PERMISSIONS, Perm
from tests.factories import World

ROLES = ["owner", "hq_operator", "analyst", "store_manager", "guide", "integration"]


def operations(client: TestClient) -> list[tuple[str, str, str, dict[str, Any]]]:
    schema = client.get("/openapi.json").json()
    out = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if "x-permission" in op:
                out.append((method, path, op["x-permission"], op))
    return out


def concrete(path: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: "customers" if m.group(1) == "kind" else "987654321", path)


@pytest.mark.parametrize("role", ROLES)
def test_every_route_allows_exactly_the_roles_holding_its_permission(
    client: TestClient, world: World, role: str
) -> None:
    checked = 0
    for method, path, permission, op in operations(client):
        kwargs: dict[str, Any] = {"headers": world.headers(role)}
        if "requestBody" in op:
            if "multipart/form-data" in op["requestBody"]["content"]:
                kwargs["files"] = {"file": ("x.csv", b"name\n", "text/csv")}
            else:
                kwargs["json"] = {}
        response = client.request(method.upper(), concrete(path), **kwargs)
        needs = {Perm(permission), *(Perm(p) for p in op.get("x-permission-also", []))}
        allowed = needs <= ROLE_PERMISSIONS[role]
        if allowed:
            assert response.status_code not in (401, 403), (
                f"{role} denied {method.upper()} {path}: {response.text}"
            )
        else:
            assert response.status_code == 403, (
                f"{role} reached {method.upper()} {path}: {response.status_code}"
            )
            assert response.json()["error"]["code"] == "forbidden"
        checked += 1
    assert checked >= 35


def test_role_facts_the_product_relies_on() -> None:
    assert Perm.CUSTOMERS_MERGE not in ROLE_PERMISSIONS["guide"]
    assert Perm.PHONE_REVEAL not in ROLE_PERMISSIONS["store_manager"]
    assert not {p for p in ROLE_PERMISSIONS["analyst"] if p.value.endswith(":write")}
    assert Perm.API_KEYS not in ROLE_PERMISSIONS["integration"]
    assert Perm.STAFF_WRITE not in ROLE_PERMISSIONS["hq_operator"]


def _customer(client: TestClient, world: World, card: str, **profile: Any) -> int:
    body = {"records": [{"identities": [{"type": "member_card", "value": card}], **profile}]}
    response = client.post("/api/v1/customers/batch", json=body, headers=world.headers("integration"))
    assert response.status_code == 200, response.text
    return int(response.json()["results"][0]["customer_id"])


def test_guides_see_only_their_customers_and_managers_their_stores(client: TestClient, world: World) -> None:
    s1, s2 = world.store_ids
    mine = _customer(client, world, "SCOPE01", store_id=s1, guide_id=world.staff["guide"])
    colleague = _customer(client, world, "SCOPE02", store_id=s1, guide_id=world.staff["guide2"])
    elsewhere = _customer(client, world, "SCOPE03", store_id=s2, guide_id=world.staff["guide2"])
    listed = {
        c["id"] for c in client.get("/api/v1/customers", headers=world.headers("guide")).json()["items"]
    }
    assert listed == {mine}
    assert client.get(f"/api/v1/customers/{colleague}", headers=world.headers("guide")).status_code == 404
    assert (
        client.get(
            "/api/v1/customers/lookup",
            params={"type": "member_card", "value": "SCOPE02"},
            headers=world.headers("guide"),
        ).status_code
        == 404
    )
    managed = {
        c["id"]
        for c in client.get("/api/v1/customers", headers=world.headers("store_manager")).json()["items"]
    }
    assert managed == {mine, colleague}
    denied = client.patch(
        f"/api/v1/customers/{elsewhere}", json={"name": "改名"}, headers=world.headers("store_manager")
    )
    assert denied.status_code == 404
    assert client.get(f"/api/v1/customers/{elsewhere}", headers=world.headers("owner")).json()["name"] is None
    everyone = {
        c["id"] for c in client.get("/api/v1/customers", headers=world.headers("analyst")).json()["items"]
    }
    assert everyone == {mine, colleague, elsewhere}
