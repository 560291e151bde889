"""Membership over HTTP: HQ sets the rules and tiers, a guide opens a card for their own customer,
the customer's view shows card, tier and the gap to the next; bad input is a precise 4xx and
changes nothing; roles keep to what they may do."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.factories import World

TIERS = {
    "tiers": [
        {"code": "normal", "name_zh": "普卡", "name_en": "Classic", "threshold": 0},
        {
            "code": "gold",
            "name_zh": "金卡",
            "name_en": "Gold",
            "threshold": 5000,
            "points_multiplier_pct": 200,
            "benefits": {"discount_pct": 5, "free_shipping": True, "birthday_gift": "生日礼盒"},
        },
    ]
}


def _customer(client: TestClient, w: World, phone: str, guide: str | None = None) -> int:
    record: dict[str, Any] = {"name": "会员", "phone": phone, "store_id": w.store_ids[0]}
    if guide:
        record["guide_id"] = w.staff[guide]
    answer = client.post(
        "/api/v1/customers/batch", headers=w.headers("integration"), json={"records": [record]}
    )
    assert answer.status_code == 200, answer.text
    return int(answer.json()["results"][0]["customer_id"])


def test_hq_sets_rules_and_tiers_and_only_hq_may(client: TestClient, world: World) -> None:
    h = world.headers("owner")
    assert client.get("/api/v1/loyalty/program", headers=h).json() is None
    saved = client.put(
        "/api/v1/loyalty/program",
        headers=h,
        json={"points_per_yuan": 2, "refund_window_days": 15, "excluded_categories": ["烟酒"]},
    )
    assert saved.status_code == 200, saved.text
    body = saved.json()
    assert (body["points_per_yuan"], body["refund_window_days"], body["downgrade_rule"]) == (2, 15, "none")
    tiers = client.put("/api/v1/loyalty/tiers", headers=h, json=TIERS)
    assert tiers.status_code == 200 and [t["rank"] for t in tiers.json()] == [0, 1]
    assert tiers.json()[1]["benefits"] == {
        "discount_pct": 5,
        "free_shipping": True,
        "birthday_gift": "生日礼盒",
    }
    for role in ("store_manager", "guide", "analyst"):
        refused = client.put("/api/v1/loyalty/tiers", headers=world.headers(role), json=TIERS)
        assert refused.status_code == 403 and "loyalty:configure" in refused.json()["error"]["message"]
    bad = client.put(
        "/api/v1/loyalty/tiers",
        headers=h,
        json={"tiers": [{**TIERS["tiers"][0], "threshold": 100}, TIERS["tiers"][1]]},
    )
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_loyalty_rule"
    assert "门槛必须为 0" in bad.json()["error"]["message"]
    negative = client.put("/api/v1/loyalty/program", headers=h, json={"points_per_yuan": -1})
    assert negative.status_code == 422
    assert client.get("/api/v1/loyalty/program", headers=h).json()["points_per_yuan"] == 2
    assert [t["code"] for t in client.get("/api/v1/loyalty/tiers", headers=h).json()] == ["normal", "gold"]


def test_a_guide_opens_a_card_for_their_customer_who_then_sees_it(client: TestClient, world: World) -> None:
    client.put("/api/v1/loyalty/tiers", headers=world.headers("owner"), json=TIERS)
    mine = _customer(client, world, "13911110001", guide="guide")
    theirs = _customer(client, world, "13911110002", guide="guide2")
    g = world.headers("guide")
    url = f"/api/v1/customers/{mine}/member-card"
    opened = client.post(url, headers=g, json={"source": "guide", "store_id": world.store_ids[0]})
    assert opened.status_code == 201, opened.text
    card = opened.json()
    assert card["guide_id"] == world.staff["guide"] and card["tier_code"] == "normal"
    assert (card["growth"], card["next_tier_code"], card["gap_to_next_tier"]) == (0, "gold", 5000)
    again = client.post(url, headers=g, json={"source": "store"})
    assert again.status_code == 200 and again.json()["card_no"] == card["card_no"]
    # Another guide's customer is not theirs to see, nor to open a card for.
    other = client.post(f"/api/v1/customers/{theirs}/member-card", headers=g, json={"source": "guide"})
    assert other.status_code == 404
    view = client.get(f"/api/v1/customers/{mine}/loyalty", headers=g).json()
    assert view["card"]["card_no"] == card["card_no"] and view["points_pending"] == 0
    none = client.get(f"/api/v1/customers/{theirs}/loyalty", headers=world.headers("owner")).json()
    assert none["card"] is None


def test_bad_card_requests_are_refused_and_open_nothing(client: TestClient, world: World) -> None:
    client.put("/api/v1/loyalty/tiers", headers=world.headers("owner"), json=TIERS)
    c = _customer(client, world, "13911110011")
    h = world.headers("integration")
    url = f"/api/v1/customers/{c}/member-card"
    cases: list[tuple[dict[str, Any], int, str]] = [
        ({"source": "import", "initial_tier": "platinum"}, 404, "not_found"),
        ({"source": "import", "card_no": "有中文"}, 422, "validation_error"),
        ({"source": "channel_code", "channel_code_id": 987654321}, 404, "not_found"),
        ({"source": "store", "store_id": 987654321}, 404, "not_found"),
        ({"source": "guide", "guide_id": 987654321}, 404, "not_found"),
        ({"source": "somewhere"}, 422, "validation_error"),
        ({"source": "import", "initial_growth": -5}, 422, "validation_error"),
    ]
    for body, status, code in cases:
        answer = client.post(url, headers=h, json=body)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), (body, answer.text)
    assert client.get(f"/api/v1/customers/{c}/loyalty", headers=h).json()["card"] is None
    # Someone else's number.
    first = _customer(client, world, "13911110012")
    taken = client.post(
        f"/api/v1/customers/{first}/member-card", headers=h, json={"source": "import", "card_no": "VIP-0001"}
    )
    assert taken.status_code == 201
    clash = client.post(url, headers=h, json={"source": "import", "card_no": "VIP-0001"})
    assert clash.status_code == 409 and "VIP-0001" in clash.json()["error"]["message"]
    assert client.get(f"/api/v1/customers/{c}/loyalty", headers=h).json()["card"] is None
    analyst = client.post(url, headers=world.headers("analyst"), json={"source": "store"})
    assert analyst.status_code == 403


def test_actions_earn_within_their_caps_and_campaigns_are_checked(client: TestClient, world: World) -> None:
    h = world.headers("owner")
    saved = client.put(
        "/api/v1/loyalty/program",
        headers=h,
        json={
            "action_rules": {
                "sign_in": {"points": 5, "per_day": 1},
                "profile_completed": {"points": 100, "growth": 10, "once": True},
            },
            "campaigns": [
                {
                    "name": "双十一积分翻倍",
                    "starts_at": "2026-11-10T16:00:00Z",
                    "ends_at": "2026-11-11T16:00:00Z",
                    "multiplier_pct": 200,
                    "store_ids": [world.store_ids[0]],
                }
            ],
        },
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["campaigns"][0]["multiplier_pct"] == 200
    backwards = client.put(
        "/api/v1/loyalty/program",
        headers=h,
        json={
            "campaigns": [
                {"name": "倒序", "starts_at": "2026-11-12T00:00:00Z", "ends_at": "2026-11-11T00:00:00Z"}
            ]
        },
    )
    assert backwards.status_code == 422
    c = _customer(client, world, "13911110021")
    till = world.headers("integration")
    url = f"/api/v1/customers/{c}/points/actions"
    no_card = client.post(url, headers=till, json={"action": "sign_in", "idempotency_key": "act-0000-a"})
    assert no_card.status_code == 404
    client.post(
        f"/api/v1/customers/{c}/member-card", headers=till, json={"source": "store"}
    ).raise_for_status()
    first = client.post(url, headers=till, json={"action": "sign_in", "idempotency_key": "act-0001-a"})
    assert first.status_code == 200 and first.json()["balances"]["points"] == 5
    again = client.post(url, headers=till, json={"action": "sign_in", "idempotency_key": "act-0001-a"})
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    second = client.post(url, headers=till, json={"action": "sign_in", "idempotency_key": "act-0001-b"})
    assert second.status_code == 409 and "上限" in second.json()["error"]["message"]
    profile = client.post(
        url, headers=till, json={"action": "profile_completed", "idempotency_key": "act-0002-a"}
    )
    assert profile.json()["balances"]["points"] == 105
    unknown = client.post(url, headers=till, json={"action": "dancing", "idempotency_key": "act-0003-a"})
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "invalid_loyalty_rule"
    view = client.get(f"/api/v1/customers/{c}/loyalty", headers=till).json()
    assert view["points"]["balance"] == 105 and view["card"]["growth"] == 10
