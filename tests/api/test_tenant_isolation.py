"""Two-tenant isolation, generated from the OpenAPI schema: tenant A's owner credentials on every
route that names one of tenant B's objects answer 404 — exactly like an absent id — and B's data
is unchanged afterwards."""

from __future__ import annotations

import re
from typing import Any

from fastapi.testclient import TestClient

from tests.api.isolation_support import b_objects, snapshot
from tests.factories import World

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
    "ChannelCodeCreate": {"name": "隔离", "source_label": "海报", "guide_ids": [1]},
    "PointsAdjustmentIn": {"points": 5, "reason": "隔离测试", "idempotency_key": "iso-adjust-1"},
    "TopUpIn": {"principal_fen": 100, "idempotency_key": "iso-topup-1"},
    "CardOpenIn": {"source": "store"},
    "DenialIn": {"capability": "use_points", "denied": True, "reason": "隔离测试"},
    "BurnQuoteIn": {"goods_fen": 100},
    "ActionIn": {"action": "sign_in", "idempotency_key": "iso-action-1"},
    "SvRefundIn": {"reason": "隔离测试", "idempotency_key": "iso-sv-refund-1"},
    "SvRefundDecisionIn": {"approve": False},
    "MembershipIn": {"plan_code": "plus", "idempotency_key": "iso-membership-1"},
    "MembershipCancelIn": {"reason": "隔离测试"},
    "WeChatMembershipIn": {"plan_code": "plus", "openid": "oM_isolation_01", "idempotency_key": "iso-wx-m-1"},
    "WeChatTopUpIn": {"principal_fen": 100, "openid": "oM_isolation_01", "idempotency_key": "iso-wx-1"},
    "WeChatRefundIn": {
        "out_trade_no": "SY000000000000",
        "amount_fen": 1,
        "reason": "隔离测试",
        "idempotency_key": "iso-wx-refund-1",
    },
    "SpendIn": {"amount_fen": 1, "idempotency_key": "iso-spend-1"},
    "CaptureIn": {"amount": 1, "idempotency_key": "iso-capture-1"},
    "ReleaseIn": {"idempotency_key": "iso-release-1"},
    "ReversalIn": {"reason": "隔离测试", "idempotency_key": "iso-reverse-1"},
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
