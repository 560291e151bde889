"""Two-tenant isolation for ids sent in request bodies: tenant A's owner naming one of tenant B's
objects in a body gets exactly the answer an absent id gets, and B's data is unchanged.

Every id-like field of every JSON body in the OpenAPI schema must be covered here (or named as not
a database id), so coverage grows with the API.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

from tests.api.isolation_support import b_objects, own_code, snapshot
from tests.factories import World

ABSENT = 987_654_321
# Body fields named like ids that are not database ids (external references, WeCom's own ids).
NOT_DB_IDS = {
    ".orders[].external_id",
    ".orders[].payments[].transaction_id",
    ".refunds[].external_id",
    ".refunds[].order_external_id",
    ".corp_id",
    ".platform_key_id",  # WeChat Pay's public key id, not a row of ours
    ".days[].chat_id",
}


def a_objects(client: TestClient, a: World) -> dict[str, int]:
    """A's own customer, tag and audience (A's valid side of each body)."""
    owner = a.headers("owner")
    c = client.post(
        "/api/v1/customers/batch",
        json={"records": [{"identities": [{"type": "member_card", "value": "ACARD1"}]}]},
        headers=owner,
    ).json()["results"][0]["customer_id"]
    group = client.post(
        "/api/v1/tag-groups", json={"name_zh": "甲组", "name_en": "A group"}, headers=owner
    ).json()["id"]
    tag = client.post(
        f"/api/v1/tag-groups/{group}/tags", json={"name_zh": "甲", "name_en": "A"}, headers=owner
    ).json()["id"]
    audience = client.post(
        "/api/v1/audiences",
        json={"name": "甲人群", "rule": {"type": "tags", "match": "has", "tag_ids": [tag]}},
        headers=owner,
    ).json()["id"]
    return {"customer_id": c, "tag_id": tag, "audience_id": audience}


# (method, path, the id field this case sends, body given (A's ids, the foreign id))
Case = tuple[str, str, str, Callable[[dict[str, Any], int], dict[str, Any]]]


def cases(a: dict[str, Any]) -> list[Case]:
    store, guide, c = a["store_id"], a["guide"], a["customer_id"]
    return [
        (
            "POST",
            "/api/v1/stores",
            ".region_id",
            lambda _, x: {"code": "ISO-S", "name": "隔离店", "region_id": x},
        ),
        ("PATCH", f"/api/v1/stores/{store}", ".region_id", lambda _, x: {"region_id": x}),
        (
            "POST",
            "/api/v1/staff",
            ".store_ids",
            lambda _, x: {
                "employee_no": "ISO1",
                "username": "iso1",
                "name": "隔离",
                "role": "guide",
                "store_ids": [x],
            },
        ),
        ("PATCH", f"/api/v1/staff/{guide}", ".store_ids", lambda _, x: {"store_ids": [x]}),
        (
            "POST",
            "/api/v1/customers/batch",
            ".records[].guide_id",
            lambda _, x: {
                "records": [{"identities": [{"type": "member_card", "value": "ISO2"}], "guide_id": x}]
            },
        ),
        (
            "POST",
            "/api/v1/customers/batch",
            ".records[].store_id",
            lambda _, x: {
                "records": [{"identities": [{"type": "member_card", "value": "ISO3"}], "store_id": x}]
            },
        ),
        ("PATCH", f"/api/v1/customers/{c}", ".guide_id", lambda _, x: {"guide_id": x}),
        ("PATCH", f"/api/v1/customers/{c}", ".store_id", lambda _, x: {"store_id": x}),
        ("POST", "/api/v1/customer-merges", ".merged_id", lambda _, x: {"survivor_id": c, "merged_id": x}),
        ("POST", "/api/v1/customer-merges", ".survivor_id", lambda _, x: {"survivor_id": x, "merged_id": c}),
        ("POST", f"/api/v1/customers/{c}/exclusive-guide", ".guide_id", lambda _, x: {"guide_id": x}),
        (
            "POST",
            f"/api/v1/customers/{c}/exclusive-guide",
            ".store_id",
            lambda _, x: {"guide_id": guide, "store_id": x},
        ),
        (
            "POST",
            "/api/v1/tag-assignments/batch",
            ".items[].customer_id",
            lambda o, x: {"items": [{"customer_id": x, "tag_id": o["tag_id"]}]},
        ),
        (
            "POST",
            "/api/v1/tag-assignments/batch",
            ".items[].tag_id",
            lambda _, x: {"items": [{"customer_id": c, "tag_id": x}]},
        ),
        ("POST", f"/api/v1/customers/{c}/tags", ".tag_id", lambda _, x: {"tag_id": x}),
        (
            "POST",
            "/api/v1/audiences/overlap",
            ".a.audience_id",
            lambda o, x: {"a": {"audience_id": x}, "b": {"audience_id": o["audience_id"]}},
        ),
        (
            "POST",
            "/api/v1/audiences/overlap",
            ".b.audience_id",
            lambda o, x: {"a": {"audience_id": o["audience_id"]}, "b": {"audience_id": x}},
        ),
        (
            "POST",
            "/api/v1/wecom/channel-codes",
            ".guide_ids",
            lambda _, x: {"name": "隔离码", "source_label": "海报", "guide_ids": [x]},
        ),
        (
            "POST",
            "/api/v1/wecom/channel-codes",
            ".backup_guide_id",
            lambda _, x: {
                "name": "隔离码",
                "source_label": "海报",
                "guide_ids": [guide],
                "backup_guide_id": x,
            },
        ),
        (
            "POST",
            "/api/v1/wecom/channel-codes",
            ".schedule[].guide_ids",
            lambda _, x: {
                "name": "隔离码",
                "source_label": "海报",
                "mode": "schedule",
                "schedule": [{"weekdays": [1], "start": "09:00", "end": "18:00", "guide_ids": [x]}],
            },
        ),
        (
            "POST",
            "/api/v1/wecom/channel-codes",
            ".tag_ids",
            lambda _, x: {"name": "隔离码", "source_label": "海报", "guide_ids": [guide], "tag_ids": [x]},
        ),
        (
            "POST",
            "/api/v1/wecom/channel-codes",
            ".welcome_attachments[].media_id",
            lambda _, x: {
                "name": "隔离码",
                "source_label": "海报",
                "guide_ids": [guide],
                "welcome_attachments": [{"type": "image", "media_id": x}],
            },
        ),
        *[
            ("PUT", f"/api/v1/wecom/channel-codes/{a['code_id']}", field, make)
            for field, make in (
                (".guide_ids", lambda _, x: {"name": "甲码", "source_label": "海报", "guide_ids": [x]}),
                (
                    ".backup_guide_id",
                    lambda _, x: {
                        "name": "甲码",
                        "source_label": "海报",
                        "guide_ids": [guide],
                        "backup_guide_id": x,
                    },
                ),
                (
                    ".schedule[].guide_ids",
                    lambda _, x: {
                        "name": "甲码",
                        "source_label": "海报",
                        "mode": "schedule",
                        "schedule": [{"weekdays": [1], "from": "09:00", "to": "18:00", "guide_ids": [x]}],
                    },
                ),
                (
                    ".tag_ids",
                    lambda _, x: {
                        "name": "甲码",
                        "source_label": "海报",
                        "guide_ids": [guide],
                        "tag_ids": [x],
                    },
                ),
                (
                    ".welcome_attachments[].media_id",
                    lambda _, x: {
                        "name": "甲码",
                        "source_label": "海报",
                        "guide_ids": [guide],
                        "welcome_attachments": [{"type": "image", "media_id": x}],
                    },
                ),
            )
        ],
        (
            "POST",
            "/api/v1/wecom/transfers",
            ".from_staff_id",
            lambda _, x: {"from_staff_id": x, "kind": "resigned"},
        ),
        (
            "POST",
            "/api/v1/wecom/transfers",
            ".takeover_staff_id",
            lambda _, x: {"from_staff_id": guide, "kind": "on_job", "takeover_staff_id": x},
        ),
        (
            "POST",
            "/api/v1/wecom/transfers",
            ".customer_ids",
            lambda _, x: {"from_staff_id": guide, "kind": "on_job", "customer_ids": [x]},
        ),
        (
            "POST",
            f"/api/v1/customers/{c}/stored-value/top-ups",
            ".store_id",
            lambda _, x: {"principal_fen": 100, "store_id": x, "idempotency_key": f"iso-top-{x}"},
        ),
        (
            "POST",
            f"/api/v1/customers/{c}/member-card",
            ".store_id",
            lambda _, x: {"source": "store", "store_id": x},
        ),
        (
            "POST",
            f"/api/v1/customers/{c}/member-card",
            ".guide_id",
            lambda _, x: {"source": "guide", "guide_id": x},
        ),
        (
            "POST",
            f"/api/v1/customers/{c}/member-card",
            ".channel_code_id",
            lambda _, x: {"source": "channel_code", "channel_code_id": x},
        ),
        (
            "POST",
            f"/api/v1/customers/{c}/stored-value/wechat-pay",
            ".store_id",
            lambda _, x: {
                "principal_fen": 100,
                "openid": "oM_iso_0001",
                "store_id": x,
                "idempotency_key": f"iso-wx-{x}",
            },
        ),
        (
            "POST",
            f"/api/v1/customers/{c}/stored-value/refund-requests",
            ".store_id",
            lambda _, x: {"reason": "隔离测试", "store_id": x, "idempotency_key": f"iso-svr-{x}"},
        ),
        (
            "POST",
            f"/api/v1/customers/{c}/memberships",
            ".store_id",
            lambda _, x: {"plan_code": "plus", "store_id": x, "idempotency_key": f"iso-mem-{x}"},
        ),
        (
            "POST",
            f"/api/v1/customers/{c}/memberships/wechat-pay",
            ".store_id",
            lambda _, x: {
                "plan_code": "plus",
                "openid": "oM_iso_0001",
                "store_id": x,
                "idempotency_key": f"iso-wxm-{x}",
            },
        ),
        (
            "PUT",
            "/api/v1/loyalty/program",
            ".campaigns[].store_ids",
            lambda _, x: {
                "campaigns": [
                    {
                        "name": "隔离测试",
                        "starts_at": "2026-11-10T00:00:00Z",
                        "ends_at": "2026-11-11T00:00:00Z",
                        "store_ids": [x],
                    }
                ]
            },
        ),
        (
            "POST",
            f"/api/v1/customers/{c}/stored-value/spends",
            ".store_id",
            lambda _, x: {"amount_fen": 1, "store_id": x, "idempotency_key": f"iso-spend-{x}"},
        ),
        (
            "POST",
            "/api/v1/loyalty/holds",
            ".customer_id",
            lambda _, x: {
                "customer_id": x,
                "asset": "points",
                "amount": 1,
                "idempotency_key": f"iso-hold-{x}",
            },
        ),
        (
            "POST",
            "/api/v1/loyalty/holds",
            ".store_id",
            lambda _, x: {
                "customer_id": c,
                "asset": "points",
                "amount": 1,
                "store_id": x,
                "idempotency_key": f"iso-hold-s{x}",
            },
        ),
    ]


def _foreign_key(field: str) -> str:
    """Which of B's objects a field names."""
    name = field.rsplit(".", 1)[-1]
    if name in ("region_id",):
        return "region_id"
    if name == "channel_code_id":
        return "code_id"
    if name in ("store_id", "store_ids"):
        return "store_id"
    if name in ("guide_id", "guide_ids", "backup_guide_id", "from_staff_id", "takeover_staff_id"):
        return "staff_id"
    if name in ("customer_id", "customer_ids", "merged_id", "survivor_id"):
        return "customer_id"
    if name in ("tag_id", "tag_ids"):
        return "tag_id"
    return name  # audience_id


def id_fields(
    schema: dict[str, Any], components: dict[str, Any], path: str = "", seen: tuple[str, ...] = ()
) -> set[str]:
    """Every field of a body schema named like an id, as `.a.b[].c`."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return set() if name in seen else id_fields(components[name], components, path, (*seen, name))
    out: set[str] = set()
    for key in ("anyOf", "oneOf", "allOf"):
        for sub in schema.get(key, []):
            out |= id_fields(sub, components, path, seen)
    if schema.get("type") == "array" and "items" in schema:
        out |= id_fields(schema["items"], components, f"{path}[]", seen)
    for name, sub in schema.get("properties", {}).items():
        if name.endswith(("_id", "_ids")):
            out.add(f"{path}.{name}")
        out |= id_fields(sub, components, f"{path}.{name}", seen)
    return out


def test_ids_in_bodies_name_nothing_of_another_brand(
    client: TestClient, world: World, make_world: Any
) -> None:
    a, b = world, make_world(world.engine)
    foreign = b_objects(client, b)
    mine = {
        "store_id": a.store_ids[0],
        "guide": a.staff["guide"],
        "code_id": own_code(a),
        **a_objects(client, a),
    }
    before = snapshot(b.engine, b.tenant_id)
    schema = client.get("/openapi.json").json()
    components = schema["components"]["schemas"]
    found = set()
    for path, item in schema["paths"].items():
        for method, op in item.items():
            body = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body:
                found |= {
                    (method.upper(), path, f) for f in id_fields(body["schema"], components) - NOT_DB_IDS
                }
    covered = set()
    for method, url, field, make in cases(mine):
        template = next(p for m, p, f in found if m == method and f == field and _matches(p, url))
        covered.add((method, template, field))
        victim = foreign[_foreign_key(field)]
        theirs = client.request(method, url, json=make(mine, victim), headers=a.headers("owner"))
        absent = client.request(method, url, json=make(mine, ABSENT), headers=a.headers("owner"))
        assert theirs.status_code >= 400, f"{method} {url} {field}: {theirs.status_code} {theirs.text}"
        assert (theirs.status_code, theirs.json()["error"]["code"]) == (
            absent.status_code,
            absent.json()["error"]["code"],
        ), f"{method} {url} {field}: B's id {theirs.text} vs an absent id {absent.text}"
        # The very same answer, but for the id the caller sent back to them.
        assert absent.text.replace(str(ABSENT), str(victim)) == theirs.text, f"{method} {url} {field}"
    missing = found - covered
    assert not missing, f"cover these body ids in cases(): {sorted(missing)}"
    assert snapshot(b.engine, b.tenant_id) == before


def _matches(template: str, url: str) -> bool:
    return re.fullmatch(re.sub(r"\{\w+\}", r"\\d+", template), url) is not None
