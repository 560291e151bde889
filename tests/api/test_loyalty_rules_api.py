"""The deny list and the caps on paying with points, over HTTP: a checkout asks how many points an
order may take and is held to it; a customer denied paying with points cannot, until it is lifted;
every decision is audited with its reason."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.db.session import unit_of_work
from siyu.platform.models import AuditEntry
from tests.factories import World


def _customer_with_points(client: TestClient, w: World, points: int) -> int:
    answer = client.post(
        "/api/v1/customers/batch",
        headers=w.headers("integration"),
        json={"records": [{"name": "积分客户", "phone": "13955550001", "store_id": w.store_ids[0]}]},
    )
    c = int(answer.json()["results"][0]["customer_id"])
    added = client.post(
        f"/api/v1/customers/{c}/points/adjustments",
        headers=w.headers("owner"),
        json={"points": points, "reason": "迁移旧积分", "idempotency_key": f"seed-points-{c}"},
    )
    assert added.status_code == 200, added.text
    return c


def _quote(client: TestClient, w: World, c: int, goods: int, shipping: int = 0) -> dict[str, Any]:
    answer = client.post(
        f"/api/v1/customers/{c}/points/burn-quote",
        headers=w.headers("integration"),
        json={"goods_fen": goods, "shipping_fen": shipping},
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_an_order_takes_points_within_the_caps(client: TestClient, world: World) -> None:
    client.put(
        "/api/v1/loyalty/program",
        headers=world.headers("owner"),
        json={
            "points_per_yuan_burn": 100,
            "burn_min_points": 100,
            "burn_max_points": 5000,
            "burn_max_share_pct": 50,
            "burn_covers_shipping": False,
        },
    ).raise_for_status()
    c = _customer_with_points(client, world, 10_000)
    big = _quote(client, world, c, 20_000, 1_000)  # half of ¥200 = 10,000 points; the most an order: 5,000
    assert (big["max_points"], big["max_value_fen"], big["min_points"]) == (5000, 5000, 100)
    assert "每单最多 5,000 积分" in big["reason_zh"]
    small = _quote(client, world, c, 6_000, 5_000)  # postage does not count: half of ¥60
    assert (small["max_points"], small["max_value_fen"]) == (3000, 3000) and "50%" in small["reason_zh"]
    tiny = _quote(client, world, c, 100)
    assert tiny["max_points"] == 0 and "最少" in tiny["reason_zh"]
    hold = {
        "customer_id": c,
        "asset": "points",
        "goods_fen": 20_000,
        "shipping_fen": 1_000,
        "idempotency_key": "burn-hold-1",
    }
    h = world.headers("integration")
    over = client.post("/api/v1/loyalty/holds", headers=h, json={**hold, "amount": 6000})
    assert over.status_code == 422 and over.json()["error"]["code"] == "points_burn_limit"
    assert "5,000" in over.json()["error"]["message"]
    under = client.post(
        "/api/v1/loyalty/holds", headers=h, json={**hold, "amount": 50, "idempotency_key": "burn-hold-2"}
    )
    assert under.status_code == 422
    ok = client.post(
        "/api/v1/loyalty/holds", headers=h, json={**hold, "amount": 5000, "idempotency_key": "burn-hold-3"}
    )
    assert ok.status_code == 200, ok.text
    view = client.get(f"/api/v1/customers/{c}/loyalty", headers=h).json()
    assert view["points"] == {"balance": 10_000, "held": 5000, "available": 5000}


def test_a_denied_customer_cannot_pay_with_points_until_lifted(client: TestClient, world: World) -> None:
    c = _customer_with_points(client, world, 2_000)
    owner, till = world.headers("owner"), world.headers("integration")
    url = f"/api/v1/customers/{c}/loyalty/denials"
    denied = client.post(
        url, headers=owner, json={"capability": "use_points", "denied": True, "reason": "批量刷单"}
    )
    assert denied.status_code == 200 and denied.json()["denied"] == ["use_points"]
    hold = {"customer_id": c, "asset": "points", "amount": 100, "idempotency_key": "deny-hold-1"}
    refused = client.post("/api/v1/loyalty/holds", headers=till, json=hold)
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "capability_denied"
    assert "使用积分" in refused.json()["error"]["message"]
    assert _quote(client, world, c, 10_000)["max_points"] == 0
    # Only HQ decides; a store manager or the till may not.
    for role in ("store_manager", "integration"):
        assert (
            client.post(
                url,
                headers=world.headers(role),
                json={"capability": "use_points", "denied": False, "reason": "解除"},
            ).status_code
            == 403
        )
    lifted = client.post(
        url, headers=owner, json={"capability": "use_points", "denied": False, "reason": "核实无误"}
    )
    assert lifted.json()["denied"] == []
    assert (
        client.post(
            "/api/v1/loyalty/holds", headers=till, json={**hold, "idempotency_key": "deny-hold-2"}
        ).status_code
        == 200
    )
    earn = client.post(
        url, headers=owner, json={"capability": "earn_points", "denied": True, "reason": "异常退货"}
    )
    assert earn.json()["denied"] == ["earn_points"]
    bad = client.post(
        url, headers=owner, json={"capability": "everything", "denied": True, "reason": "x" * 3}
    )
    assert bad.status_code == 422
    with unit_of_work(world.engine) as db:
        actions = list(
            db.scalars(
                select(AuditEntry.action)
                .where(
                    AuditEntry.tenant_id == world.tenant_id,
                    AuditEntry.action.in_(("loyalty.deny", "loyalty.allow")),
                )
                .order_by(AuditEntry.id)
            )
        )
    assert actions == ["loyalty.deny", "loyalty.allow", "loyalty.deny"]


def test_the_liability_report_and_its_sheet_are_for_hq(client: TestClient, world: World) -> None:
    import io

    from openpyxl import load_workbook

    c = _customer_with_points(client, world, 3_000)
    client.post(
        f"/api/v1/customers/{c}/stored-value/top-ups",
        headers=world.headers("integration"),
        json={"principal_fen": 20_000, "bonus_fen": 2_000, "idempotency_key": "liab-topup-1"},
    ).raise_for_status()
    import datetime as dt

    today = dt.datetime.now(dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date().isoformat()
    report = client.get(
        "/api/v1/loyalty/liability", params={"date": today, "by": "brand"}, headers=world.headers("analyst")
    )
    assert report.status_code == 200, report.text
    figures = report.json()["days"][0]["groups"][0]["figures"]
    assert (figures["points"], figures["sv_principal_fen"], figures["sv_bonus_fen"]) == (3_000, 20_000, 2_000)
    assert "储值本金" in report.json()["definitions"]["sv_principal_fen"]["zh"]
    sheet = client.get(
        "/api/v1/loyalty/liability.xlsx", params={"date": today, "days": 3}, headers=world.headers("owner")
    )
    assert sheet.status_code == 200 and sheet.content[:2] == b"PK"
    rows = list(load_workbook(io.BytesIO(sheet.content)).active.iter_rows(values_only=True))
    assert rows[0][0] == "日期 Date" and any(r[0] == today and r[1] and "门店" in str(r[1]) for r in rows[1:])
    for role in ("store_manager", "guide"):
        assert client.get("/api/v1/loyalty/liability", headers=world.headers(role)).status_code == 403
    assert (
        client.get(
            "/api/v1/loyalty/liability", params={"days": 93}, headers=world.headers("owner")
        ).status_code
        == 422
    )
