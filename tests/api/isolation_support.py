"""What the two-tenant isolation tests share: tenant B's objects of every kind, and a digest of
every row B owns."""

from __future__ import annotations

import datetime as dt
import hashlib
import json

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from siyu.db.session import unit_of_work
from siyu.metadata import Base
from siyu.wecom.models import ChannelCode, CustomerGroup, WeComMedia
from tests.factories import World


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
    adjusted = client.post(
        f"/api/v1/customers/{c1}/points/adjustments",
        json={"points": 500, "reason": "乙的积分", "idempotency_key": "b-adjust-1"},
        headers=owner,
    ).json()["id"]
    hold = client.post(
        "/api/v1/loyalty/holds",
        json={"customer_id": c1, "asset": "points", "amount": 100, "idempotency_key": "b-hold-1"},
        headers=owner,
    ).json()["id"]
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
        image = WeComMedia(
            tenant_id=b.tenant_id,
            filename="b.png",
            content_type="image/png",
            sha256="0" * 64,
            content=b"\x89PNG\r\n\x1a\n",
            created_at=now,
        )
        db.add(image)
        db.flush()
        code_id, chat_id, media_id = code.id, chat.id, image.id
    topped = client.post(
        f"/api/v1/customers/{c1}/stored-value/top-ups",
        json={"principal_fen": 10_000, "idempotency_key": "b-topup-iso"},
        headers=owner,
    )
    topped.raise_for_status()
    sv_refund = client.post(
        f"/api/v1/customers/{c1}/stored-value/refund-requests",
        json={"principal_fen": 1_000, "reason": "乙的退款", "idempotency_key": "b-sv-refund-1"},
        headers=owner,
    )
    sv_refund.raise_for_status()
    return {
        "request_id": sv_refund.json()["id"],
        "hold_id": hold,
        "transaction_id": adjusted,
        "media_id": media_id,
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


def own_code(w: World) -> int:
    """A channel code of the world's brand, written directly (no WeCom needed)."""
    with unit_of_work(w.engine) as db:
        now = dt.datetime.now(dt.UTC)
        code = ChannelCode(
            tenant_id=w.tenant_id,
            name="甲码",
            state="a-code",
            source_label="海报",
            mode="round_robin",
            guide_ids=[w.staff["guide"]],
            schedule=[],
            tag_ids=[],
            rotation=0,
            active=True,
            created_at=now,
            updated_at=now,
        )
        db.add(code)
        db.flush()
        return code.id
