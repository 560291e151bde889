"""The customer API as integrations and the console use it."""

from __future__ import annotations

import io
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from siyu.customers.models import Customer
from siyu.db.session import unit_of_work
from siyu.platform.models import AuditEntry
from tests.factories import World

APP = "wx49f0ab532d5d035a"


def batch(client: TestClient, world: World, records: list[dict[str, Any]], **headers: str) -> Any:
    return client.post(
        "/api/v1/customers/batch",
        json={"records": records},
        headers={**world.headers("integration"), **headers},
    )


def count_customers(world: World) -> int:
    with unit_of_work(world.engine) as session:
        return int(
            session.scalar(
                select(func.count()).select_from(Customer).where(Customer.tenant_id == world.tenant_id)
            )
            or 0
        )


def test_lookup_returns_the_customer_with_every_identity(client: TestClient, world: World) -> None:
    r = batch(
        client,
        world,
        [
            {
                "name": "张伟",
                "phone": "13812341234",
                "identities": [
                    {"type": "wechat_unionid", "value": "oUnionAAAAAAAAAAAAAAAAAAAAAA"},
                    {"type": "wechat_openid", "namespace": APP, "value": "oOpenAAAAAAAAAAAAAAAAAAAAAAA"},
                    {"type": "platform_buyer_id", "namespace": "tmall", "value": "tb-001"},
                ],
            }
        ],
    )
    assert r.status_code == 200
    found = client.get(
        "/api/v1/customers/lookup",
        params={"type": "phone", "value": "+86 138 1234 1234"},
        headers=world.headers("hq_operator"),
    )
    assert found.status_code == 200
    body = found.json()
    assert body["name"] == "张伟" and body["number"] == 1 and body["phone"] == "138****1234"
    assert sorted((i["type"], i["namespace"], i["value"]) for i in body["identities"]) == [
        ("phone", "", "138****1234"),
        ("platform_buyer_id", "tmall", "tb-001"),
        ("wechat_openid", APP, "oOpenAAAAAAAAAAAAAAAAAAAAAAA"),
        ("wechat_unionid", "", "oUnionAAAAAAAAAAAAAAAAAAAAAA"),
    ]
    by_openid = client.get(
        "/api/v1/customers/lookup",
        headers=world.headers("owner"),
        params={"type": "wechat_openid", "namespace": APP, "value": "oOpenAAAAAAAAAAAAAAAAAAAAAAA"},
    )
    assert by_openid.json()["id"] == body["id"]
    missing = client.get(
        "/api/v1/customers/lookup",
        params={"type": "member_card", "value": "NOPE0001"},
        headers=world.headers("owner"),
    )
    assert missing.status_code == 404
    bad_type = client.get(
        "/api/v1/customers/lookup", params={"type": "qq", "value": "1"}, headers=world.headers("owner")
    )
    assert bad_type.status_code == 422 and bad_type.json()["error"]["code"] == "unknown_identity_type"


def test_batch_errors_are_reported_per_row_and_nothing_is_written(client: TestClient, world: World) -> None:
    r = batch(
        client,
        world,
        [
            {"identities": [{"type": "member_card", "value": "GOOD0001"}]},
            {"identities": [{"type": "wechat_unionid", "value": "not valid!"}]},
            {"phone": "138"},
            {"identities": [{"type": "member_card", "value": "GOOD0001"}]},
        ],
    )
    assert r.status_code == 422
    error = r.json()["error"]
    assert error["code"] == "batch_rejected"
    assert error["message"] == "批量数据有 3 处错误，未写入任何数据"
    assert [(e["row"], e["column"], e["code"]) for e in error["details"]["errors"]] == [
        (2, "identities[0]", "invalid_identity"),
        (3, "phone", "invalid_identity"),
        (4, "identities[0]", "duplicate_in_batch"),
    ]
    assert count_customers(world) == 0
    too_many = batch(
        client, world, [{"identities": [{"type": "member_card", "value": f"N{i:05d}"}]} for i in range(1001)]
    )
    assert too_many.status_code == 413 and too_many.json()["error"]["code"] == "batch_too_large"


def test_idempotency_key_replays_the_first_answer(client: TestClient, world: World) -> None:
    records = [{"identities": [{"type": "member_card", "value": "IDEMP001"}], "name": "一"}]
    first = batch(client, world, records, **{"Idempotency-Key": "k-1"})
    again = batch(client, world, records, **{"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json()["created_count"] == 1
    assert count_customers(world) == 1
    changed = batch(client, world, [{**records[0], "name": "二"}], **{"Idempotency-Key": "k-1"})
    assert changed.status_code == 422 and changed.json()["error"]["code"] == "idempotency_key_reused"
    # Keys belong to a tenant: another tenant may use the same key for its own request.
    created = client.post(
        "/api/v1/regions",
        json={"code": "R-IDEM", "name": "区"},
        headers={**world.headers("owner"), "Idempotency-Key": "k-2"},
    )
    replay = client.post(
        "/api/v1/regions",
        json={"code": "R-IDEM", "name": "区"},
        headers={**world.headers("owner"), "Idempotency-Key": "k-2"},
    )
    assert replay.status_code == 201 and replay.json() == created.json()
    without_key = client.post(
        "/api/v1/regions", json={"code": "R-IDEM", "name": "区"}, headers=world.headers("owner")
    )
    assert without_key.status_code == 409 and without_key.json()["error"]["code"] == "duplicate"


def test_phone_reveal_is_permission_gated_and_audited(client: TestClient, world: World) -> None:
    cid = batch(client, world, [{"phone": "13912345678", "store_id": world.store_ids[0]}]).json()["results"][
        0
    ]["customer_id"]
    assert (
        client.get(f"/api/v1/customers/{cid}", headers=world.headers("store_manager")).json()["phone"]
        == "139****5678"
    )
    denied = client.post(f"/api/v1/customers/{cid}/phone/reveal", headers=world.headers("store_manager"))
    assert denied.status_code == 403
    revealed = client.post(f"/api/v1/customers/{cid}/phone/reveal", headers=world.headers("owner"))
    assert revealed.json() == {"customer_id": cid, "phone": "+8613912345678", "national": "13912345678"}
    with unit_of_work(world.engine) as session:
        actions = list(
            session.scalars(
                select(AuditEntry.action).where(
                    AuditEntry.tenant_id == world.tenant_id, AuditEntry.object_id == cid
                )
            )
        )
    assert actions == ["customer.phone_reveal"]
    log = client.get("/api/v1/audit-log", params={"object_id": cid}, headers=world.headers("owner")).json()[
        "items"
    ]
    assert [(e["action"], e["actor_id"]) for e in log] == [("customer.phone_reveal", world.staff["owner"])]
    assert client.get("/api/v1/audit-log", headers=world.headers("hq_operator")).status_code == 403


def test_profile_custom_fields_timeline_and_consent(client: TestClient, world: World) -> None:
    owner = world.headers("owner")
    assert (
        client.post(
            "/api/v1/custom-fields",
            headers=owner,
            json={"key": "shoe_size", "label_zh": "鞋码", "label_en": "Shoe size", "type": "number"},
        ).status_code
        == 201
    )
    cid = batch(client, world, [{"identities": [{"type": "member_card", "value": "PROF0001"}]}]).json()[
        "results"
    ][0]["customer_id"]
    bad = client.patch(
        f"/api/v1/customers/{cid}", json={"custom_fields": {"shoe_size": "big"}}, headers=owner
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_custom_field"
    unknown = client.patch(f"/api/v1/customers/{cid}", json={"custom_fields": {"hat": 1}}, headers=owner)
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_custom_field"
    ok = client.patch(
        f"/api/v1/customers/{cid}",
        json={"custom_fields": {"shoe_size": 37}, "gender": "female", "birthday": "1990-05-01"},
        headers=owner,
    )
    assert ok.status_code == 200 and ok.json()["custom_fields"] == {"shoe_size": 37}
    consent = client.post(
        f"/api/v1/customers/{cid}/consents",
        headers=world.headers("integration"),
        json={"purpose": "marketing_wecom", "granted": True, "source": "wecom_add_friend"},
    )
    assert consent.status_code == 201
    withdrawn = client.post(
        f"/api/v1/customers/{cid}/consents",
        headers=world.headers("integration"),
        json={"purpose": "marketing_wecom", "granted": False, "source": "customer_request"},
    )
    assert withdrawn.status_code == 201
    state = client.get(f"/api/v1/customers/{cid}/consents", headers=owner).json()
    assert state["current"]["marketing_wecom"]["granted"] is False and len(state["history"]) == 2
    kinds = [
        e["kind"] for e in client.get(f"/api/v1/customers/{cid}/timeline", headers=owner).json()["items"]
    ]
    assert kinds == ["consent_withdrawn", "consent_granted", "profile_updated", "created"]


def test_identity_added_elsewhere_is_a_conflict(client: TestClient, world: World) -> None:
    ids = [
        r["customer_id"]
        for r in batch(
            client,
            world,
            [
                {"identities": [{"type": "member_card", "value": "CONF0001"}]},
                {"identities": [{"type": "member_card", "value": "CONF0002"}]},
            ],
        ).json()["results"]
    ]
    r = client.post(
        f"/api/v1/customers/{ids[0]}/identities",
        json={"type": "member_card", "value": "CONF0002"},
        headers=world.headers("owner"),
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "identity_conflict"
    merged = client.post(
        "/api/v1/customer-merges",
        json={"survivor_id": ids[0], "merged_id": ids[1]},
        headers=world.headers("owner"),
    )
    assert merged.status_code == 201 and merged.json()["moved"]["customer_identities.customer_id"] == 1
    undo = client.post(f"/api/v1/customer-merges/{merged.json()['id']}/undo", headers=world.headers("owner"))
    assert undo.status_code == 200 and undo.json()["undone_at"] is not None
    assert (
        client.get(
            "/api/v1/customers/lookup",
            params={"type": "member_card", "value": "CONF0002"},
            headers=world.headers("owner"),
        ).json()["id"]
        == ids[1]
    )


def test_export_masks_phones(client: TestClient, world: World) -> None:
    batch(
        client,
        world,
        [
            {
                "name": "导出",
                "phone": "13712345678",
                "identities": [{"type": "member_card", "value": "EXP00001"}],
            }
        ],
    )
    r = client.get("/api/v1/customers/export", params={"format": "xlsx"}, headers=world.headers("analyst"))
    assert r.status_code == 200
    sheet = load_workbook(io.BytesIO(r.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    header, first = rows[0], rows[1]
    assert first[header.index("phone")] == "137****5678"
    assert first[header.index("member_card")] == "EXP00001"
    assert client.get("/api/v1/customers/export", headers=world.headers("guide")).status_code == 403


def test_an_idempotent_replay_is_bound_to_the_principal_and_authorised_first(
    client: TestClient, world: World
) -> None:
    """Hardening 1: the owner's revealed phone is not replayed to anyone else sending the same key."""
    made = batch(client, world, [{"identities": [{"type": "phone", "value": "15300008916"}], "name": "甲"}])
    customer_id = made.json()["results"][0]["customer_id"]
    url = f"/api/v1/customers/{customer_id}/phone/reveal"
    first = client.post(url, headers={**world.headers("owner"), "Idempotency-Key": "reveal-1"})
    assert first.status_code == 200 and "15300008916" in first.text
    for role in ("guide", "store_manager", "analyst", "integration"):
        other = client.post(url, headers={**world.headers(role), "Idempotency-Key": "reveal-1"})
        assert other.status_code == 403, (role, other.status_code)
        assert "15300008916" not in other.text
        assert "Idempotent-Replayed" not in other.headers
    # A role without the permission is refused as such, before the key is even looked up.
    guide = client.post(url, headers={**world.headers("guide"), "Idempotency-Key": "reveal-1"})
    assert guide.status_code == 403 and guide.json()["error"]["code"] == "forbidden"
    # Another principal that may reveal phones gets no stored answer of the owner's: the same key is
    # theirs alone, so their reveal runs (and is audited) as their own.
    hq = client.post(url, headers={**world.headers("hq_operator"), "Idempotency-Key": "reveal-1"})
    assert hq.status_code == 200 and "Idempotent-Replayed" not in hq.headers
    # The owner's own replay is answered and audited.
    again = client.post(url, headers={**world.headers("owner"), "Idempotency-Key": "reveal-1"})
    assert again.status_code == 200 and again.headers["Idempotent-Replayed"] == "true"
    # Nobody can take a key someone else will use: the owner's "ORD-9" is not the till's "ORD-9".
    taken = client.post(
        f"/api/v1/customers/{customer_id}/consents",
        json={"purpose": "marketing_wecom", "granted": True, "source": "guide_chat"},
        headers={**world.headers("owner"), "Idempotency-Key": "ORD-9"},
    )
    assert taken.status_code in (200, 201), taken.text
    till = batch(
        client,
        world,
        [{"identities": [{"type": "member_card", "value": "ORD9"}]}],
        **{"Idempotency-Key": "ORD-9"},
    )
    assert till.status_code == 200 and "Idempotent-Replayed" not in till.headers
    audit = client.get("/api/v1/audit-log?action=idempotent_replay", headers=world.headers("owner"))
    assert audit.status_code == 200
    assert [e["data"]["path"] for e in audit.json()["items"]] == [url]


def test_a_masked_phone_cannot_be_confirmed_by_searching_for_it(client: TestClient, world: World) -> None:
    """Hardening 2: roles that may not reveal phones find phones only by their last four digits."""
    mine = batch(client, world, [{"phone": "15300008916", "store_id": world.store_ids[0], "name": "甲"}])
    customer_id = mine.json()["results"][0]["customer_id"]
    patch = client.patch(
        f"/api/v1/customers/{customer_id}",
        json={"guide_id": world.staff["guide"]},
        headers=world.headers("owner"),
    )
    assert patch.status_code == 200
    for role in ("guide", "store_manager", "analyst"):
        # The attacker's loop over the hidden digits finds nothing, the right number included.
        for guess in ("15300008916", "+8615300008916", "15300018916", "15399998916"):
            found = client.get("/api/v1/customers", params={"q": guess}, headers=world.headers(role))
            assert found.status_code == 200 and found.json()["items"] == [], (role, guess)
        lookup = client.get(
            "/api/v1/customers/lookup",
            params={"type": "phone", "value": "15300008916"},
            headers=world.headers(role),
        )
        assert lookup.status_code == 403 and lookup.json()["error"]["code"] == "forbidden"
        # The last four digits (what the masked phone shows) find the customer in the role's scope.
        tail = client.get("/api/v1/customers", params={"q": "8916"}, headers=world.headers(role))
        assert [c["id"] for c in tail.json()["items"]] == [customer_id], role
    # Outside the scope the tail finds nothing: the second guide is in the other store.
    other = client.get("/api/v1/customers", params={"q": "8916"}, headers=world.headers("guide2"))
    assert other.json()["items"] == []
    # Tail searches are rate-limited per person.
    answers = [
        client.get("/api/v1/customers", params={"q": "0000"}, headers=world.headers("guide2")).status_code
        for _ in range(40)
    ]
    assert answers.count(429) == 40 - 29  # 30 a minute, one spent above
    # The owner may search the whole number; that search is audited (with the phone masked).
    owner = client.get("/api/v1/customers", params={"q": "15300008916"}, headers=world.headers("owner"))
    assert [c["id"] for c in owner.json()["items"]] == [customer_id]
    log = client.get(
        "/api/v1/audit-log", params={"action": "customer.phone_search"}, headers=world.headers("owner")
    ).json()["items"]
    assert [(e["data"]["phone"], e["data"]["via"]) for e in log] == [("153****8916", "search")]


def test_scope_leaks_are_closed(client: TestClient, world: World) -> None:
    """Hardening 8: a conflict does not name a customer outside the scope, and a manager cannot hand a
    customer to another store's guide through PATCH."""
    made = batch(
        client,
        world,
        [
            {"phone": "13600000001", "store_id": world.store_ids[0], "name": "本店"},
            {"phone": "13600000002", "store_id": world.store_ids[1], "name": "他店"},
        ],
    ).json()["results"]
    mine, theirs = made[0]["customer_id"], made[1]["customer_id"]
    client.patch(
        f"/api/v1/customers/{mine}", json={"guide_id": world.staff["guide"]}, headers=world.headers("owner")
    ).raise_for_status()
    taken = client.post(
        f"/api/v1/customers/{mine}/identities",
        json={"type": "phone", "value": "13600000002"},
        headers=world.headers("guide"),
    )
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "identity_taken"
    assert taken.json()["error"]["details"] == {"customer_ids": [mine]}
    assert str(theirs) not in taken.text
    # HQ sees both records, so HQ is told which two to merge.
    both = client.post(
        f"/api/v1/customers/{mine}/identities",
        json={"type": "phone", "value": "13600000002"},
        headers=world.headers("owner"),
    )
    assert both.status_code == 409 and both.json()["error"]["details"] == {"customer_ids": [mine, theirs]}

    manager = world.headers("store_manager")
    handed = client.patch(
        f"/api/v1/customers/{mine}", json={"guide_id": world.staff["guide2"]}, headers=manager
    )
    assert handed.status_code == 422 and handed.json()["error"]["code"] == "use_binding_route"
    by_guide = client.patch(
        f"/api/v1/customers/{mine}", json={"guide_id": world.staff["guide2"]}, headers=world.headers("guide")
    )
    assert by_guide.status_code == 403
    after = client.get(f"/api/v1/customers/{mine}", headers=world.headers("owner")).json()
    assert after["guide_id"] == world.staff["guide"]
    # The binding route is the manager's way: it keeps the protection window, and refuses another
    # store's guide or store (also another brand's store).
    via = f"/api/v1/customers/{mine}/exclusive-guide"
    other_guide = client.post(via, json={"guide_id": world.staff["guide2"]}, headers=manager)
    assert other_guide.status_code == 404
    other_store = client.post(
        via, json={"guide_id": world.staff["guide"], "store_id": world.store_ids[1]}, headers=manager
    )
    assert other_store.status_code == 404 and other_store.json()["error"]["code"] == "not_found"
    nowhere = client.post(
        via, json={"guide_id": world.staff["guide"], "store_id": 2**40}, headers=world.headers("owner")
    )
    assert nowhere.status_code == 404
    own = client.post(
        via, json={"guide_id": world.staff["guide"], "store_id": world.store_ids[0]}, headers=manager
    )
    assert own.status_code == 200


def test_adding_phones_cannot_be_used_to_test_guesses_at_a_masked_number(
    client: TestClient, world: World
) -> None:
    """Review of hardening 2: 'free' or 'taken' from adding a phone is a guess test, so for those who
    may not see phones it names nobody (even in their scope) and is counted (20 an hour)."""
    made = batch(
        client,
        world,
        [
            {"phone": "15300008916", "store_id": world.store_ids[0], "name": "目标"},
            {
                "identities": [{"type": "member_card", "value": "GUESS-1"}],
                "store_id": world.store_ids[0],
                "name": "自己",
            },
        ],
    ).json()["results"]
    target, own = made[0]["customer_id"], made[1]["customer_id"]
    manager = world.headers("store_manager")
    url = f"/api/v1/customers/{own}/identities"
    taken = client.post(url, json={"type": "phone", "value": "15300008916"}, headers=manager)
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "identity_taken"
    assert taken.json()["error"]["details"] == {"customer_ids": [own]} and str(target) not in taken.text
    answers = [
        client.post(url, json={"type": "phone", "value": f"1530001{i:04d}"}, headers=manager).status_code
        for i in range(25)
    ]
    assert answers.count(429) == 25 - 19  # one add spent above
    # HQ (who may see phones) is told which two records to merge, and is not counted.
    hq = client.post(
        url, json={"type": "phone", "value": "15300008916"}, headers=world.headers("hq_operator")
    )
    assert hq.status_code == 409 and hq.json()["error"]["details"] == {"customer_ids": [own, target]}
