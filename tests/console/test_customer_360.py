"""The customer 360: consent per purpose (recorded from the console, with who and when), merging two
records of one person after a preview of what moves — and undoing it — and the audiences the
customer is in."""

from __future__ import annotations

import json
import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.customers.models import Customer
from siyu.db.session import unit_of_work
from siyu.platform.models import AuditEntry
from tests.console.support import as_role
from tests.factories import World


def _two(client: TestClient, w: World) -> tuple[int, int, int]:
    records = [
        {"name": "林一", "phone": "13811112222", "store_id": w.store_ids[0]},
        {"name": None, "city": "杭州", "identities": [{"type": "member_card", "value": "MC-77"}]},
    ]
    answer = client.post(
        "/api/v1/customers/batch", headers=w.headers("integration"), json={"records": records}
    )
    ids = [r["customer_id"] for r in answer.json()["results"]]
    with unit_of_work(w.engine) as db:
        other_number = db.get(Customer, ids[1]).number  # type: ignore[union-attr]
    return ids[0], ids[1], other_number


def test_consent_is_recorded_per_purpose(browser: TestClient, world: World) -> None:
    a, _, _ = _two(browser, world)
    guide = as_role(browser, world, "owner")
    page = guide.get(f"/customers/{a}").text
    assert "短信营销" in page and "未征询" in page
    assert (
        guide.post(
            f"/customers/{a}/consents", data={"purpose": "marketing_sms", "granted": "yes"}
        ).status_code
        == 303
    )
    page = guide.get(f"/customers/{a}").text
    row = page[page.index('data-purpose="marketing_sms"') :]
    assert "已同意" in row[:600] and "控制台" in row[:600]
    # Withdrawing asks first (it stops messages); the history keeps both.
    assert "data-confirm=" in row[:1200]
    assert (
        guide.post(f"/customers/{a}/consents", data={"purpose": "marketing_sms", "granted": "no"}).status_code
        == 303
    )
    state = browser.get(f"/api/v1/customers/{a}/consents", headers=world.headers("owner")).json()
    assert [(r["purpose"], r["granted"]) for r in state["history"]][:2] == [
        ("marketing_sms", False),
        ("marketing_sms", True),
    ]
    assert (
        guide.post(f"/customers/{a}/consents", data={"purpose": "spam", "granted": "yes"}).status_code == 422
    )


def test_merge_preview_merge_and_undo(browser: TestClient, world: World) -> None:
    a, b, b_number = _two(browser, world)
    hq = as_role(browser, world, "hq_operator")
    preview = hq.get(f"/customers/{a}/merge", params={"other": f"#{b_number}"})
    assert preview.status_code == 200
    moves = dict(
        re.findall(
            r'<tr data-moves="([^"]+)"><th scope="row">[^<]+</th><td class="num" data-figure="moves">(\d+)<',
            preview.text,
        )
    )
    assert moves["customer_identities.customer_id"] == "1" and "身份标识" in preview.text
    assert "城市" in preview.text  # the survivor's empty city is filled from the other record
    with unit_of_work(world.engine) as db:  # a preview changes nothing
        assert db.get(Customer, b).status == "active"  # type: ignore[union-attr]
    assert hq.get(f"/customers/{a}/merge", params={"other": "#99999999"}).status_code == 422
    assert (
        hq.get(f"/customers/{a}/merge", params={"other": f"#{world_number(world, a)}"}).status_code == 422
    )  # itself
    merged = hq.post(f"/customers/{a}/merge", data={"merged_id": str(b)})
    assert merged.status_code == 303
    with unit_of_work(world.engine) as db:
        assert db.get(Customer, b).status == "merged" and db.get(Customer, a).city == "杭州"  # type: ignore[union-attr]
        actions = list(db.scalars(select(AuditEntry.action).where(AuditEntry.tenant_id == world.tenant_id)))
    assert "customer.merge" in actions
    page = hq.get(f"/customers/{a}").text
    merge_id = re.search(r'<tr data-merge="(\d+)">', page)
    assert merge_id is not None and "生效中" in page
    assert hq.post(f"/customers/merges/{merge_id.group(1)}/undo").status_code == 303
    with unit_of_work(world.engine) as db:
        assert db.get(Customer, b).status == "active" and db.get(Customer, a).city is None  # type: ignore[union-attr]
    # Only who may merge sees the section and its routes.
    guide = as_role(browser, world, "store_manager")
    assert 'id="merges"' not in guide.get(f"/customers/{a}").text
    assert guide.get(f"/customers/{a}/merge").status_code == 403


def world_number(w: World, customer_id: int) -> int:
    with unit_of_work(w.engine) as db:
        return db.get(Customer, customer_id).number  # type: ignore[union-attr]


def test_the_audiences_a_customer_is_in(browser: TestClient, world: World) -> None:
    a, _, _ = _two(browser, world)
    hq = as_role(browser, world, "hq_operator")
    city = {"type": "all", "of": [{"type": "city", "values": ["杭州"]}]}
    store = {"type": "all", "of": [{"type": "home_store", "store_codes": ["S1"]}]}
    hq.post("/audiences", data={"name": "杭州客户", "rule": json.dumps(city)})
    hq.post("/audiences", data={"name": "一店客户", "rule": json.dumps(store)})
    section = hq.get(f"/customers/{a}").text.split('id="audiences"')[1].split("</section>")[0]
    assert "一店客户" in section and "杭州客户" not in section
    assert 'id="audiences"' not in as_role(browser, world, "guide").get(f"/customers/{a}").text


def test_the_other_record_is_found_by_phone_only_from_a_posted_form(
    browser: TestClient, world: World
) -> None:
    """A full phone never travels in an address: the form posts it, the preview's address names the
    customer number; the preview address itself takes numbers only."""
    a, _, _ = _two(browser, world)
    answer = browser.post(
        "/api/v1/customers/batch",
        headers=world.headers("integration"),
        json={"records": [{"name": "林一（旧卡）", "phone": "13822223333"}]},
    )
    c = answer.json()["results"][0]["customer_id"]
    hq = as_role(browser, world, "hq_operator")
    assert f'action="/customers/{a}/merge/find"' in hq.get(f"/customers/{a}").text
    found = hq.post(f"/customers/{a}/merge/find", data={"other": "138 2222 3333"})
    assert found.status_code == 303
    location = found.headers["location"]
    assert "13822223333" not in location and location.endswith(f"?other=%23{world_number(world, c)}")
    assert "林一（旧卡）" in hq.get(location).text
    assert hq.get(f"/customers/{a}/merge", params={"other": "13822223333"}).status_code == 422
    missing = hq.post(f"/customers/{a}/merge/find", data={"other": "13899990000"})
    assert missing.status_code == 422 and "没有找到" in missing.text
    assert (
        as_role(browser, world, "store_manager")
        .post(f"/customers/{a}/merge/find", data={"other": "1"})
        .status_code
        == 403
    )


def test_the_guide_sees_tier_points_and_stored_value_on_their_customer(
    browser: TestClient, world: World
) -> None:
    h = world.headers("owner")
    browser.put(
        "/api/v1/loyalty/tiers",
        headers=h,
        json={
            "tiers": [
                {"code": "normal", "name_zh": "普卡", "name_en": "Classic", "threshold": 0},
                {"code": "gold", "name_zh": "金卡", "name_en": "Gold", "threshold": 5000},
            ]
        },
    )
    record = {
        "name": "周会员",
        "phone": "13811117777",
        "store_id": world.store_ids[0],
        "guide_id": world.staff["guide"],
    }
    c = browser.post(
        "/api/v1/customers/batch", headers=world.headers("integration"), json={"records": [record]}
    )
    cid = c.json()["results"][0]["customer_id"]
    guide = as_role(browser, world, "guide")
    before = guide.get(f"/customers/{cid}").text
    assert 'data-figure="tier">未开卡' in before
    browser.post(
        f"/api/v1/customers/{cid}/member-card",
        headers=h,
        json={"source": "store", "card_no": "VIP-7001", "initial_growth": 1234},
    )
    browser.post(
        f"/api/v1/customers/{cid}/stored-value/top-ups",
        headers=h,
        json={"principal_fen": 100_000, "bonus_fen": 10_000, "idempotency_key": "c360-topup-1"},
    )
    browser.post(
        f"/api/v1/customers/{cid}/points/adjustments",
        headers=h,
        json={"points": 2500, "reason": "迁移旧积分", "idempotency_key": "c360-points-1"},
    )
    page = guide.get(f"/customers/{cid}").text
    section = page[page.index('id="membership"') :]
    assert 'data-figure="tier">普卡' in section and "卡号 VIP-7001" in section
    assert 'data-figure="growth">1,234' in section and "再得 3,766 成长值升至金卡" in section
    assert 'data-figure="points">2,500' in section
    assert 'data-figure="stored_value">¥1,100.00' in section and "其中赠送 ¥100.00" in section
    # The analyst reads it too; English speaks English.
    english = as_role(browser, world, "analyst")
    english.cookies.set("siyu_lang", "en")
    assert "3,766 more to Gold" in english.get(f"/customers/{cid}").text


def test_hq_sees_members_balances_and_decides_refunds(browser: TestClient, world: World) -> None:
    h = world.headers("owner")
    record = {"name": "退款会员", "phone": "13811118888", "store_id": world.store_ids[0]}
    c = browser.post(
        "/api/v1/customers/batch", headers=world.headers("integration"), json={"records": [record]}
    )
    cid = c.json()["results"][0]["customer_id"]
    browser.post(
        f"/api/v1/customers/{cid}/stored-value/top-ups",
        headers=h,
        json={"principal_fen": 80_000, "bonus_fen": 8_000, "idempotency_key": "c-liab-top-1"},
    ).raise_for_status()
    asked = browser.post(
        f"/api/v1/customers/{cid}/stored-value/refund-requests",
        headers=world.headers("store_manager"),
        json={"principal_fen": 40_000, "reason": "顾客搬家", "idempotency_key": "c-liab-refund-1"},
    )
    assert asked.status_code == 200, asked.text
    # A store manager can also ask from the 360: all the unused principal, frozen until decided.
    manager_360 = as_role(browser, world, "store_manager").get(f"/customers/{cid}").text
    assert "申请退还储值" in manager_360
    key = re.search(r'name="key" value="([^"]+)"', manager_360)
    assert key is not None
    sent = as_role(browser, world, "store_manager").post(
        f"/customers/{cid}/stored-value/refund", data={"reason": "再退剩余部分", "key": key.group(1)}
    )
    assert sent.status_code == 303
    frozen = browser.get(f"/api/v1/customers/{cid}/loyalty", headers=h).json()["stored_value_principal_fen"]
    assert frozen == {"balance": 80_000, "held": 80_000, "available": 0}
    owner = as_role(browser, world, "owner")
    page = owner.get("/loyalty").text
    tiles = page[page.index('id="liability"') :]
    assert (
        'data-figure="sv_principal_fen">¥800.00' in tiles and 'data-figure="liability_fen">¥880.00' in tiles
    )
    assert "chart-liability" in page and "负债合计" in page and "2 笔退款申请待审批" in page
    inbox = owner.get("/loyalty/approvals").text
    row = inbox[inbox.index(f'data-request="{asked.json()["id"]}"') :]
    assert "顾客搬家" in row[:800] and "¥400.00" in row[:800] and "批准" in row[:2000]
    done = owner.post(f"/loyalty/approvals/{asked.json()['id']}", data={"decision": "approve"})
    assert done.status_code == 303
    view = browser.get(f"/api/v1/customers/{cid}/loyalty", headers=h).json()
    assert (
        view["stored_value_principal_fen"]["balance"] == 40_000
        and view["stored_value_bonus_fen"]["balance"] == 4_000
    )
    again = owner.post(f"/loyalty/approvals/{asked.json()['id']}", data={"decision": "reject"})
    assert again.status_code == 409 and "已处理" in again.text
    # Store managers ask; they do not see the brand's balances or decide.
    manager = as_role(browser, world, "store_manager")
    assert manager.get("/loyalty").status_code == 403 and manager.get("/loyalty/approvals").status_code == 403
    assert as_role(browser, world, "guide").get("/loyalty").status_code == 403


def test_a_guide_opens_a_card_and_hq_adjusts_points_from_the_360(browser: TestClient, world: World) -> None:
    record = {
        "name": "柜台会员",
        "phone": "13811119999",
        "store_id": world.store_ids[0],
        "guide_id": world.staff["guide"],
    }
    c = browser.post(
        "/api/v1/customers/batch", headers=world.headers("integration"), json={"records": [record]}
    )
    cid = c.json()["results"][0]["customer_id"]
    guide = as_role(browser, world, "guide")
    assert "开通会员卡" in guide.get(f"/customers/{cid}").text
    assert guide.post(f"/customers/{cid}/member-card").status_code == 303
    card = browser.get(f"/api/v1/customers/{cid}/loyalty", headers=world.headers("owner")).json()["card"]
    assert card["guide_id"] == world.staff["guide"] and card["store_id"] == world.store_ids[0]
    assert "调整积分" not in guide.get(f"/customers/{cid}").text  # guides do not adjust
    assert (
        guide.post(
            f"/customers/{cid}/points", data={"points": "10", "reason": "试试", "key": "k" * 12}
        ).status_code
        == 403
    )
    owner = as_role(browser, world, "owner")
    page = owner.get(f"/customers/{cid}").text
    key = re.search(r'name="key" value="([^"]+)"', page)
    assert key is not None
    form = {"points": "300", "reason": "门店活动补发", "key": key.group(1)}
    assert owner.post(f"/customers/{cid}/points", data=form).status_code == 303
    assert owner.post(f"/customers/{cid}/points", data=form).status_code == 303  # a double submit
    view = browser.get(f"/api/v1/customers/{cid}/loyalty", headers=world.headers("owner")).json()
    assert view["points"]["balance"] == 300
    history = owner.get(f"/customers/{cid}").text
    section = history[history.index('id="loyalty-history"') :]
    assert "积分调整" in section and "门店活动补发" in section and "+300" in section
    bad = owner.post(f"/customers/{cid}/points", data={"points": "0", "reason": "无", "key": "k" * 12})
    assert bad.status_code == 422 and "原因" in bad.text
    with unit_of_work(world.engine) as db:
        adjusted = db.scalars(
            select(AuditEntry.data).where(
                AuditEntry.tenant_id == world.tenant_id, AuditEntry.action == "loyalty.points.adjust"
            )
        ).all()
    assert [d["points"] for d in adjusted] == [300]


def test_hq_sets_rules_and_tiers_from_the_console(browser: TestClient, world: World) -> None:
    owner = as_role(browser, world, "owner")
    page = owner.get("/loyalty/rules").text
    assert "每实付 ¥1 得积分" in page and "会员等级" in page
    saved = owner.post(
        "/loyalty/rules/program",
        data={
            "points_per_yuan": "2",
            "growth_per_yuan": "1",
            "refund_window_days": "15",
            "points_expiry": "after_months",
            "points_expiry_months": "24",
            "points_per_yuan_burn": "100",
            "burn_max_share_pct": "50",
            "sv_spend_order": "principal_first",
            "downgrade_rule": "none",
        },
    )
    assert saved.status_code == 303
    program = browser.get("/api/v1/loyalty/program", headers=world.headers("owner")).json()
    assert (
        program["points_per_yuan"],
        program["refund_window_days"],
        program["points_expiry"],
        program["burn_max_share_pct"],
    ) == (2, 15, "after_months", 50)
    bad = owner.post("/loyalty/rules/program", data={"points_per_yuan": "-3", "refund_window_days": "abc"})
    assert bad.status_code == 422 and "不能小于 0" in bad.text
    tiers = {
        "t0_code": "normal", "t0_name_zh": "普卡", "t0_threshold": "0",
        "t1_code": "gold", "t1_name_zh": "金卡", "t1_name_en": "Gold", "t1_threshold": "5000", "t1_points_multiplier_pct": "150", "t1_discount_pct": "5", "t1_free_shipping": "yes",
    }  # fmt: skip
    assert owner.post("/loyalty/rules/tiers", data=tiers).status_code == 303
    ladder = browser.get("/api/v1/loyalty/tiers", headers=world.headers("owner")).json()
    assert [(t["code"], t["threshold"], t["benefits"]["free_shipping"]) for t in ladder] == [
        ("normal", 0, False),
        ("gold", 5000, True),
    ]
    clash = owner.post("/loyalty/rules/tiers", data={**tiers, "t1_threshold": "0"})
    assert clash.status_code == 422 and "门槛" in clash.text
    assert as_role(browser, world, "store_manager").get("/loyalty/rules").status_code == 403


def test_hq_sets_offers_and_plans_from_the_console(browser: TestClient, world: World) -> None:
    owner = as_role(browser, world, "owner")
    offers = {
        "o0_name": "充 ¥1,000 送 ¥100", "o0_min": "1,000", "o0_bonus": "100", "o0_active": "yes",
        "o1_name": "充 ¥500 送 ¥30", "o1_min": "500.00", "o1_bonus": "30", "o1_gift": "帆布袋", "o1_active": "yes",
    }  # fmt: skip
    assert owner.post("/loyalty/rules/offers", data=offers).status_code == 303
    saved = browser.get("/api/v1/loyalty/top-up-rules", headers=world.headers("owner")).json()
    assert [(o["min_principal_fen"], o["bonus_fen"], o["gift"]) for o in saved] == [
        (50_000, 3_000, "帆布袋"),
        (100_000, 10_000, None),
    ]
    bad = owner.post("/loyalty/rules/offers", data={**offers, "o0_min": "一千"})
    assert bad.status_code == 422 and "金额" in bad.text
    plans = {
        "p0_code": "plus",
        "p0_name_zh": "PLUS 会员",
        "p0_price": "299",
        "p0_term": "12",
        "p0_fee": "10",
        "p0_active": "yes",
    }
    assert owner.post("/loyalty/rules/plans", data=plans).status_code == 303
    got = browser.get("/api/v1/loyalty/membership-plans", headers=world.headers("owner")).json()
    assert [(p["code"], p["price_fen"], p["term_months"], p["refund_fee_pct"]) for p in got] == [
        ("plus", 29_900, 12, 10)
    ]
    unknown = owner.post("/loyalty/rules/plans", data={**plans, "p0_tier": "platinum"})
    assert unknown.status_code == 404
    page = owner.get("/loyalty/rules").text
    assert 'value="299.00"' in page and 'value="1000.00"' in page
    assert "<title>会员规则与等级 · " in page and page.count('action="/loyalty/rules/offers"') == 1
