"""Two-tenant isolation, generated from the OpenAPI schema: tenant A's owner credentials on every
route that names one of tenant B's objects answer 404 — exactly like an absent id — and B's data
is unchanged afterwards."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from siyu.db.models import Base
from siyu.db.session import unit_of_work
from siyu.wecom.models import ChannelCode, CustomerGroup
from tests.conftest import World

# A valid body for each request schema used by a route with an object id in its path. A new route
# whose body schema is missing here fails the test, so isolation coverage grows with the API.
VALID_BODIES: dict[str, dict[str, Any]] = {
    "RegionUpdate": {"name": "改名"},
    "StoreUpdate": {"name": "改名"},
    "StaffUpdate": {"name": "改名"},
    "CustomerUpdate": {"name": "改名", "city": "北京"},
    "IdentityIn": {"type": "member_card", "value": "ISOLATE01"},
    "ConsentCreate": {"purpose": "marketing_sms", "granted": False, "source": "test"},
    "BindingCreate": {"guide_id": 1},
    "TagCreate": {"name_zh": "隔离", "name_en": "Isolation"},
    "CustomerTagCreate": {"tag_id": 1},
    "AudienceUpdate": {"name": "改名"},
}


def snapshot(engine: Engine, tenant_id: int) -> str:
    """A digest of every row tenant B owns, in every tenant table."""
    digest = hashlib.sha256()
    with unit_of_work(engine) as session:
        for table in Base.metadata.sorted_tables:
            if "tenant_id" not in table.c or table.name == "auth_tokens":
                continue
            rows = session.execute(
                select(table).where(table.c.tenant_id == tenant_id).order_by(*table.primary_key)
            )
            for row in rows:
                digest.update(json.dumps([str(v) for v in row], ensure_ascii=False).encode())
    return digest.hexdigest()


def b_objects(client: TestClient, b: World) -> dict[str, int]:
    owner = b.headers("owner")
    region = client.post("/api/v1/regions", json={"code": "B-R", "name": "B区"}, headers=owner).json()["id"]
    batch = client.post(
        "/api/v1/customers/batch",
        headers=owner,
        json={
            "records": [
                {
                    "identities": [{"type": "member_card", "value": "BCARD1"}],
                    "phone": "13800000001",
                    "name": "乙",
                },
                {"identities": [{"type": "member_card", "value": "BCARD2"}]},
            ]
        },
    ).json()["results"]
    c1, c2 = batch[0]["customer_id"], batch[1]["customer_id"]
    merge = client.post(
        "/api/v1/customer-merges", json={"survivor_id": c1, "merged_id": c2}, headers=owner
    ).json()["id"]
    identity = client.get(f"/api/v1/customers/{c1}", headers=owner).json()["identities"][0]["id"]
    key = client.post("/api/v1/api-keys", json={"name": "B"}, headers=owner).json()["id"]
    client.post(
        "/api/v1/products/batch",
        json={"products": [{"code": "B-SKU", "name": "乙商品", "list_price_fen": 1000}]},
        headers=owner,
    ).raise_for_status()
    product = client.get("/api/v1/products", headers=owner).json()["items"][0]["id"]
    order = client.post(
        "/api/v1/orders/batch",
        json={
            "orders": [
                {
                    "channel": "pos",
                    "external_id": "B-ORDER-1",
                    "store_code": "S1",
                    "status": "paid",
                    "placed_at": "2026-06-18T12:00:00+08:00",
                    "paid_at": "2026-06-18T12:00:00+08:00",
                    "lines": [{"sku_code": "B-SKU", "quantity": 1, "unit_price_fen": 1000}],
                    "payments": [{"method": "cash", "amount_fen": 1000}],
                }
            ]
        },
        headers=owner,
    ).json()["results"][0]["order_id"]
    group = client.post(
        "/api/v1/tag-groups", json={"name_zh": "乙组", "name_en": "B group"}, headers=owner
    ).json()["id"]
    tag = client.post(
        f"/api/v1/tag-groups/{group}/tags", json={"name_zh": "乙", "name_en": "B"}, headers=owner
    ).json()["id"]
    client.post(
        "/api/v1/tag-assignments/batch", json={"items": [{"customer_id": c1, "tag_id": tag}]}, headers=owner
    ).raise_for_status()
    audience = client.post(
        "/api/v1/audiences",
        json={"name": "乙人群", "rule": {"type": "tags", "match": "has", "tag_ids": [tag]}},
        headers=owner,
    ).json()["id"]
    client.post(f"/api/v1/audiences/{audience}/snapshots", headers=owner).raise_for_status()
    # A channel code is made in WeCom first; here its row is written directly (no WeCom needed).
    with unit_of_work(b.engine) as db:
        now = dt.datetime.now(dt.UTC)
        code = ChannelCode(
            tenant_id=b.tenant_id,
            name="乙码",
            state="b-code",
            source_label="海报",
            mode="round_robin",
            guide_ids=[b.staff["guide"]],
            schedule=[],
            tag_ids=[],
            rotation=0,
            active=True,
            created_at=now,
            updated_at=now,
        )
        db.add(code)
        chat = CustomerGroup(
            tenant_id=b.tenant_id,
            chat_id="wrB",
            status="active",
            needs_sync=False,
            created_at=now,
            last_event_at=now,
        )
        db.add(chat)
        db.flush()
        code_id, chat_id = code.id, chat.id
    return {
        "code_id": code_id,
        "customer_group_id": chat_id,
        "group_id": group,
        "tag_id": tag,
        "audience_id": audience,
        "version": 1,
        "region_id": region,
        "store_id": b.store_ids[0],
        "staff_id": b.staff["guide"],
        "customer_id": c1,
        "identity_id": identity,
        "merge_id": merge,
        "key_id": key,
        "product_id": product,
        "order_id": order,
    }


def test_tenant_a_cannot_touch_tenant_b(client: TestClient, world: World, make_world: Any) -> None:
    a, b = world, make_world(world.engine)
    ids = b_objects(client, b)
    before = snapshot(b.engine, b.tenant_id)
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    checked = []
    for path, item in schema["paths"].items():
        params = re.findall(r"\{(\w+)\}", path)
        # Callbacks name their tenant in the URL and prove it with that tenant's signature, not a bearer.
        if not params or params in (["kind"], ["tenant_slug"]):
            continue
        for method, op in item.items():
            assert set(params) <= set(ids), f"no tenant-B object for {params} in {path}: extend b_objects()"
            url = re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), path)
            kwargs: dict[str, Any] = {"headers": a.headers("owner")}
            if "requestBody" in op:
                ref = op["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
                assert ref in components and ref in VALID_BODIES, f"add a valid {ref} body to VALID_BODIES"
                kwargs["json"] = VALID_BODIES[ref]
            response = client.request(method.upper(), url, **kwargs)
            assert response.status_code == 404, (
                f"{method.upper()} {url}: {response.status_code} {response.text}"
            )
            assert response.json()["error"]["code"] == "not_found"
            absent = client.request(method.upper(), re.sub(r"/\d+", "/987654321", url), **kwargs)
            assert absent.status_code == 404 and absent.json()["error"]["code"] == "not_found"
            checked.append(f"{method.upper()} {path}")
    assert len(checked) >= 18
    # Lookups by B's identities and lists never show B's customers either.
    assert (
        client.get(
            "/api/v1/customers/lookup",
            params={"type": "member_card", "value": "BCARD1"},
            headers=a.headers("owner"),
        ).status_code
        == 404
    )
    assert (
        client.get("/api/v1/customers", params={"q": "BCARD1"}, headers=a.headers("owner")).json()["items"]
        == []
    )
    assert snapshot(b.engine, b.tenant_id) == before
