"""The loyalty ledger over HTTP: balances and history a customer may see, top-ups within the cap,
spending, the till's hold → capture / release, reversals; keys that act once and are bound to the
caller; precise 4xx for bad input, changing nothing; roles and brands kept apart."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.db.session import unit_of_work
from siyu.platform.models import AuditEntry
from tests.factories import World


def _customer(client: TestClient, w: World, phone: str = "13900001111") -> int:
    answer = client.post(
        "/api/v1/customers/batch",
        headers=w.headers("integration"),
        json={"records": [{"name": "储值客户", "phone": phone, "store_id": w.store_ids[0]}]},
    )
    return int(answer.json()["results"][0]["customer_id"])


def _loyalty(client: TestClient, w: World, customer: int, role: str = "owner") -> dict[str, Any]:
    answer = client.get(f"/api/v1/customers/{customer}/loyalty", headers=w.headers(role))
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_top_up_spend_and_the_customers_view(client: TestClient, world: World) -> None:
    c = _customer(client, world)
    h = world.headers("integration")
    body = {
        "principal_fen": 100_000,
        "bonus_fen": 10_000,
        "store_id": world.store_ids[0],
        "idempotency_key": "topup-0001",
    }
    first = client.post(f"/api/v1/customers/{c}/stored-value/top-ups", headers=h, json=body)
    assert first.status_code == 200 and first.json()["balances"] == {
        "sv_principal": 100_000,
        "sv_bonus": 10_000,
    }
    again = client.post(f"/api/v1/customers/{c}/stored-value/top-ups", headers=h, json=body)
    assert again.json() == first.json() and again.headers.get("Idempotent-Replayed") == "true"
    other = client.post(
        f"/api/v1/customers/{c}/stored-value/top-ups", headers=h, json={**body, "bonus_fen": 20_000}
    )
    assert other.status_code == 409 and other.json()["error"]["code"] == "ledger_key_reused"
    spent = client.post(
        f"/api/v1/customers/{c}/stored-value/spends",
        headers=h,
        json={
            "amount_fen": 105_000,
            "order_ref": "POS-77",
            "store_id": world.store_ids[1],
            "idempotency_key": "spend-0001",
        },
    )
    assert spent.status_code == 200 and spent.json()["balances"] == {"sv_principal": 0, "sv_bonus": 5_000}
    view = _loyalty(client, world, c)
    assert view["stored_value_fen"] == {"balance": 5_000, "held": 0, "available": 5_000}
    assert view["stored_value_principal_fen"]["balance"] == 0
    assert [(line["kind"], line["label_zh"], line["changes"]) for line in view["history"]] == [
        ("spend", "储值消费", {"sv_principal": -100_000, "sv_bonus": -5_000}),
        ("top_up", "储值充值", {"sv_principal": 100_000, "sv_bonus": 10_000}),
    ]
    # The accepting store differs from the issuing one: both are recorded for settlement.
    assert (
        view["history"][0]["store_id"] == world.store_ids[1]
        and view["history"][1]["store_id"] == world.store_ids[0]
    )


def test_a_key_is_bound_to_its_caller(client: TestClient, world: World) -> None:
    c = _customer(client, world)
    body = {"points": 50, "reason": "补录积分", "idempotency_key": "adjust-0001"}
    assert (
        client.post(
            f"/api/v1/customers/{c}/points/adjustments", headers=world.headers("owner"), json=body
        ).status_code
        == 200
    )
    stolen = client.post(
        f"/api/v1/customers/{c}/points/adjustments", headers=world.headers("hq_operator"), json=body
    )
    assert stolen.status_code == 409 and stolen.json()["error"]["code"] == "ledger_key_reused"
    assert _loyalty(client, world, c)["points"]["balance"] == 50


def test_bad_input_is_refused_precisely_and_changes_nothing(
    client: TestClient, world: World, make_world: Any
) -> None:
    c = _customer(client, world)
    h = world.headers("integration")
    url = f"/api/v1/customers/{c}/stored-value/top-ups"
    cases = [
        ({"principal_fen": 0, "idempotency_key": "topup-bad1"}, 422, "validation_error"),
        ({"principal_fen": -5, "idempotency_key": "topup-bad2"}, 422, "validation_error"),
        ({"principal_fen": 500_001, "idempotency_key": "topup-bad3"}, 422, "stored_value_cap"),
        ({"principal_fen": 100, "idempotency_key": "short"}, 422, "validation_error"),
        ({"principal_fen": 100, "store_id": 99_999_999, "idempotency_key": "topup-bad4"}, 404, "not_found"),
    ]
    for body, status, code in cases:
        answer = client.post(url, headers=h, json=body)
        assert (answer.status_code, answer.json()["error"]["code"]) == (status, code), body
    capped = client.post(
        url,
        headers={**h, "Accept-Language": "en"},
        json={"principal_fen": 500_001, "idempotency_key": "topup-bad5"},
    )
    assert "at most ¥5,000" in capped.json()["error"]["message"]
    over = client.post(
        f"/api/v1/customers/{c}/stored-value/spends",
        headers=h,
        json={"amount_fen": 1, "idempotency_key": "spend-bad1"},
    )
    assert over.status_code == 409 and over.json()["error"]["code"] == "insufficient_balance"
    assert (
        client.post(
            "/api/v1/customers/99999999/stored-value/top-ups",
            headers=h,
            json={"principal_fen": 1, "idempotency_key": "topup-bad6"},
        ).status_code
        == 404
    )
    # Another brand's customer is absent, exactly like one that does not exist.
    other = make_world(world.engine)
    theirs = _customer(client, other, phone="13900002222")
    foreign = client.post(
        f"/api/v1/customers/{theirs}/stored-value/top-ups",
        headers=h,
        json={"principal_fen": 1, "idempotency_key": "topup-bad7"},
    )
    assert foreign.status_code == 404
    view = _loyalty(client, world, c)
    assert view["history"] == [] and view["stored_value_fen"]["balance"] == 0


def test_the_tills_hold_capture_and_release(client: TestClient, world: World, make_world: Any) -> None:
    c = _customer(client, world)
    h = world.headers("integration")
    client.post(
        f"/api/v1/customers/{c}/points/adjustments",
        headers=world.headers("owner"),
        json={"points": 1_000, "reason": "开卡礼", "idempotency_key": "gift-0001"},
    )
    held = client.post(
        "/api/v1/loyalty/holds",
        headers=h,
        json={
            "customer_id": c,
            "asset": "points",
            "amount": 800,
            "order_ref": "SO-9",
            "idempotency_key": "hold-0001",
        },
    )
    assert held.status_code == 200 and held.json()["status"] == "active"
    hold_id = held.json()["id"]
    view = _loyalty(client, world, c)
    assert view["points"] == {"balance": 1_000, "held": 800, "available": 200}
    assert [x["order_ref"] for x in view["active_holds"]] == ["SO-9"]
    too_much = client.post(
        f"/api/v1/loyalty/holds/{hold_id}/capture",
        headers=h,
        json={"amount": 801, "idempotency_key": "cap-0001"},
    )
    assert too_much.status_code == 422
    captured = client.post(
        f"/api/v1/loyalty/holds/{hold_id}/capture",
        headers=h,
        json={"amount": 500, "idempotency_key": "cap-0002"},
    )
    assert captured.status_code == 200 and captured.json()["balances"] == {"points": 500}
    late = client.post(
        f"/api/v1/loyalty/holds/{hold_id}/release", headers=h, json={"idempotency_key": "rel-0001"}
    )
    assert late.status_code == 409 and late.json()["error"]["code"] == "hold_not_active"
    # Another brand cannot see or settle the hold.
    other = make_world(world.engine)
    assert (
        client.post(
            f"/api/v1/loyalty/holds/{hold_id}/release",
            headers=other.headers("integration"),
            json={"idempotency_key": "rel-0002"},
        ).status_code
        == 404
    )
    assert _loyalty(client, world, c)["points"] == {"balance": 500, "held": 0, "available": 500}


def test_a_reversal_is_audited_and_roles_are_kept(client: TestClient, world: World) -> None:
    c = _customer(client, world)
    gift = client.post(
        f"/api/v1/customers/{c}/points/adjustments",
        headers=world.headers("owner"),
        json={"points": 900, "reason": "活动奖励", "idempotency_key": "gift-0002"},
    ).json()
    undo = client.post(
        f"/api/v1/loyalty/transactions/{gift['id']}/reversals",
        headers=world.headers("hq_operator"),
        json={"numerator": 1, "denominator": 3, "reason": "活动作废", "idempotency_key": "rev-00001"},
    )
    assert (
        undo.status_code == 200
        and undo.json()["balances"] == {"points": 600}
        and undo.json()["reverses_id"] == gift["id"]
    )
    with unit_of_work(world.engine) as db:
        actions = set(db.scalars(select(AuditEntry.action).where(AuditEntry.tenant_id == world.tenant_id)))
    assert {"loyalty.reverse", "loyalty.points.adjust"} <= actions
    # A guide and an analyst see balances; neither may change them; a manager tops up but not adjusts.
    assert _loyalty(client, world, c, "analyst")["points"]["balance"] == 600
    for role, path, body in (
        (
            "analyst",
            f"/api/v1/customers/{c}/stored-value/top-ups",
            {"principal_fen": 1, "idempotency_key": "role-0001"},
        ),
        (
            "guide",
            f"/api/v1/customers/{c}/stored-value/top-ups",
            {"principal_fen": 1, "idempotency_key": "role-0002"},
        ),
        (
            "store_manager",
            f"/api/v1/customers/{c}/points/adjustments",
            {"points": 1, "reason": "试试看", "idempotency_key": "role-0003"},
        ),
        (
            "integration",
            f"/api/v1/customers/{c}/points/adjustments",
            {"points": 1, "reason": "试试看", "idempotency_key": "role-0004"},
        ),
    ):
        assert client.post(path, headers=world.headers(role), json=body).status_code == 403, role
    manager = client.post(
        f"/api/v1/customers/{c}/stored-value/top-ups",
        headers=world.headers("store_manager"),
        json={"principal_fen": 100, "store_id": world.store_ids[0], "idempotency_key": "role-0005"},
    )
    assert manager.status_code == 200


def test_a_card_above_the_anonymous_cap_must_be_registered(client: TestClient, world: World) -> None:
    answer = client.post(
        "/api/v1/customers/batch",
        headers=world.headers("integration"),
        json={"records": [{"identities": [{"type": "member_card", "value": "ANON-0001"}]}]},
    )
    c = int(answer.json()["results"][0]["customer_id"])
    h = world.headers("integration")
    url = f"/api/v1/customers/{c}/stored-value/top-ups"
    small = client.post(
        url, headers=h, json={"principal_fen": 80_000, "bonus_fen": 0, "idempotency_key": "anon-top-1"}
    )
    assert small.status_code == 200, small.text
    over = client.post(
        url, headers=h, json={"principal_fen": 30_000, "bonus_fen": 0, "idempotency_key": "anon-top-2"}
    )
    assert over.status_code == 422 and over.json()["error"]["code"] == "real_name_required"
    assert "姓名和手机号" in over.json()["error"]["message"]
    anonymous = client.post(
        url,
        headers=h,
        json={"principal_fen": 30_000, "bonus_fen": 0, "registered": False, "idempotency_key": "anon-top-3"},
    )
    assert anonymous.status_code == 422 and anonymous.json()["error"]["code"] == "stored_value_cap"
    client.patch(
        f"/api/v1/customers/{c}", headers=world.headers("owner"), json={"name": "实名登记"}
    ).raise_for_status()
    client.post(
        "/api/v1/customers/batch",
        headers=h,
        json={
            "records": [
                {"identities": [{"type": "member_card", "value": "ANON-0001"}], "phone": "13900007777"}
            ]
        },
    ).raise_for_status()
    registered = client.post(
        url, headers=h, json={"principal_fen": 30_000, "bonus_fen": 0, "idempotency_key": "anon-top-4"}
    )
    assert registered.status_code == 200, registered.text
    assert _loyalty(client, world, c)["stored_value_fen"]["balance"] == 110_000
