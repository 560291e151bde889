"""Administration in the console: brand settings, regions, stores (hours across midnight, holidays,
coordinates), staff (roles, stores, WeCom UserID, passwords, departure), roles, API keys and
products — each form refusing bad input next to the field, and each page closed to other roles."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.db.session import unit_of_work
from siyu.org.models import Staff, Store, Tenant
from siyu.platform.models import AuditEntry
from siyu.products.models import Product
from tests.console.support import as_role
from tests.factories import World


def _error(page: str, field: str) -> str | None:
    found = re.search(rf'id="e-{re.escape(field)}" role="alert">([^<]+)<', page)
    return found.group(1) if found else None


def _actions(w: World) -> list[str]:
    with unit_of_work(w.engine) as db:
        return list(db.scalars(select(AuditEntry.action).where(AuditEntry.tenant_id == w.tenant_id)))


def test_brand_settings(browser: TestClient, world: World) -> None:
    owner = as_role(browser, world, "owner")
    page = owner.get("/settings/brand").text
    assert "Asia/Shanghai" in page and "CNY" in page
    bad = owner.post("/settings/brand", data={"name": "新名字", "binding_protection_days": "400"})
    assert bad.status_code == 422 and _error(bad.text, "binding_protection_days") == "不能大于 365"
    assert 'value="新名字"' in bad.text  # the form comes back filled in
    ok = owner.post("/settings/brand", data={"name": "新名字", "binding_protection_days": "14"})
    assert ok.status_code == 303 and ok.headers["location"] == "/settings/brand"
    assert "已保存。" in owner.get("/settings/brand").text  # the toast, once
    assert "已保存。" not in owner.get("/settings/brand").text
    with unit_of_work(world.engine) as db:
        tenant = db.get(Tenant, world.tenant_id)
        assert tenant is not None and tenant.name == "新名字" and tenant.binding_protection_days == 14
    assert "tenant.update" in _actions(world)
    assert as_role(browser, world, "hq_operator").get("/settings/brand").status_code == 403


def test_regions_and_stores(browser: TestClient, world: World) -> None:
    hq = as_role(browser, world, "hq_operator")
    assert hq.post("/settings/regions", data={"code": "EAST", "name": "华东"}).status_code == 303
    again = hq.post("/settings/regions", data={"code": "EAST", "name": "华东二"})
    assert again.status_code == 422 and "已存在" in (_error(again.text, "code") or "")
    region_id = re.search(r'<option value="(\d+)">EAST 华东</option>', hq.get("/settings/stores/new").text)
    assert region_id is not None
    form = {
        "code": "S9",
        "name": "新天地店",
        "region_id": region_id.group(1),
        "city": "上海",
        "latitude": "31.2197",
        "longitude": "121.4751",
        "status": "active",
        # Monday 10:00–22:00; Friday 10:00–02:00 (past midnight); the rest closed.
        "h0_0_opens": "10:00",
        "h0_0_closes": "22:00",
        "h4_0_opens": "10:00",
        "h4_0_closes": "02:00",
        "holidays": "2026-10-01 休息 国庆\n2026-12-31 10:00-02:00 跨年",
    }
    for day in range(7):
        for slot in range(2):
            form.setdefault(f"h{day}_{slot}_opens", "")
            form.setdefault(f"h{day}_{slot}_closes", "")
    created = hq.post("/settings/stores/new", data=form)
    assert created.status_code == 303, created.text
    with unit_of_work(world.engine) as db:
        store = db.scalars(select(Store).where(Store.tenant_id == world.tenant_id, Store.code == "S9")).one()
        assert store.latitude == 31.2197 and store.region_id == int(region_id.group(1))
        assert sorted((h["weekday"], h["opens"], h["closes"]) for h in store.business_hours) == [
            (0, "10:00", "22:00"),
            (4, "10:00", "02:00"),
        ]
        assert store.holidays[0] == {
            "date": "2026-10-01",
            "closed": True,
            "opens": None,
            "closes": None,
            "name": "国庆",
        }
        assert store.holidays[1]["opens"] == "10:00" and store.holidays[1]["closes"] == "02:00"
        store_id = store.id
    listed = hq.get("/settings/stores").text
    assert "周一 10:00–22:00" in listed and "周五 10:00–次日 02:00" in listed
    # Refusals next to their fields; nothing written.
    bad = dict(form, code="S10", latitude="north", h2_0_opens="09:00", holidays="sometime")
    answer = hq.post("/settings/stores/new", data=bad)
    assert answer.status_code == 422
    assert _error(answer.text, "latitude") == "须为数字"
    assert "开门和关门时间都要填" in answer.text and "第 1 行" in answer.text
    dup = hq.post("/settings/stores/new", data=dict(form, name="另一家"))
    assert dup.status_code == 422 and "已存在" in (_error(dup.text, "code") or "")
    # Editing keeps the code; closing the store by its status.
    edited = hq.post(f"/settings/stores/{store_id}", data=dict(form, name="新天地旗舰店", status="closed"))
    assert edited.status_code == 303
    assert "已关店" in hq.get("/settings/stores?status=closed").text
    assert hq.get("/settings/stores/99999").status_code == 404
    assert as_role(browser, world, "analyst").get("/settings/stores").status_code == 403
    assert {"region.create", "store.create", "store.update"} <= set(_actions(world))


def test_staff_accounts(browser: TestClient, world: World) -> None:
    owner = as_role(browser, world, "owner")
    form = {
        "employee_no": "G200",
        "username": "lily",
        "name": "莉莉",
        "role": "guide",
        "phone": "13800005555",
        "wecom_userid": "lily.w",
        "password": "",
        "store_ids": [str(world.store_ids[0]), str(world.store_ids[1])],
    }
    created = owner.post("/settings/staff/new", data=form)
    assert created.status_code == 303, created.text
    staff_id = int(created.headers["location"].rsplit("/", 1)[1])
    dup = owner.post("/settings/staff/new", data=dict(form, employee_no="G201"))
    assert dup.status_code == 422 and "已存在" in (_error(dup.text, "username") or "")
    weak = owner.post(
        "/settings/staff/new",
        data=dict(form, employee_no="G202", username="amy", wecom_userid="", password="1111111111"),
    )
    assert weak.status_code == 422 and "密码太弱" in (_error(weak.text, "password") or "")
    listed = owner.get("/settings/staff?role=guide").text
    assert 'data-staff="lily"' in listed and "138****5555" in listed and "S1 门店1、S2 门店2" in listed
    # Promote to store manager of one store, with a password: saved; the password is never shown.
    saved = owner.post(
        f"/settings/staff/{staff_id}",
        data={
            "name": "莉莉",
            "role": "store_manager",
            "phone": "",
            "wecom_userid": "lily.w",
            "password": "correct-horse-battery",
            "store_ids": [str(world.store_ids[0])],
        },
    )
    assert saved.status_code == 303
    page = owner.get(f"/settings/staff/{staff_id}").text
    assert "correct-horse-battery" not in page and 'value="store_manager" selected' in page
    with unit_of_work(world.engine) as db:
        member = db.get(Staff, staff_id)
        assert member is not None and member.role == "store_manager" and member.password_hash
    # Departure asks first (data-confirm) and is refused for the last owner.
    assert "data-confirm=" in page
    assert owner.post(f"/settings/staff/{staff_id}/depart").status_code == 303
    assert "已离职" in owner.get(f"/settings/staff/{staff_id}").text
    last = owner.post(f"/settings/staff/{world.staff['owner']}/depart")
    assert last.status_code == 422 or "最后" in last.text
    assert as_role(browser, world, "hq_operator").get("/settings/staff").status_code == 403
    roles = as_role(browser, world, "hq_operator").get("/settings/roles").text
    assert "自己的客户" in roles and "查看完整手机号" in roles


def test_api_keys_are_shown_once_and_revocable(browser: TestClient, world: World) -> None:
    owner = as_role(browser, world, "owner")
    assert owner.post("/settings/api-keys", data={"name": ""}).status_code == 422
    created = owner.post("/settings/api-keys", data={"name": "收银系统"})
    key = re.search(r'<p class="secret" id="new-key">([^<]+)</p>', created.text)
    assert created.status_code == 200 and key is not None
    assert created.headers["cache-control"] == "no-store"
    assert (
        browser.get("/api/v1/tenant", headers={"Authorization": f"Bearer {key.group(1)}"}).status_code == 200
    )
    listing = owner.get("/settings/api-keys").text
    assert key.group(1) not in listing and "收银系统" in listing
    key_id = re.search(r'<tr data-key="(\d+)"><td>收银系统', listing)
    assert key_id is not None
    assert owner.post(f"/settings/api-keys/{key_id.group(1)}/revoke").status_code == 303
    assert (
        browser.get("/api/v1/tenant", headers={"Authorization": f"Bearer {key.group(1)}"}).status_code == 401
    )
    assert "已吊销" in owner.get("/settings/api-keys").text
    assert as_role(browser, world, "hq_operator").get("/settings/api-keys").status_code == 403


def test_products(browser: TestClient, world: World) -> None:
    hq = as_role(browser, world, "hq_operator")
    form = {
        "code": "SHIRT-1",
        "name": "牛津纺衬衫",
        "category": "服装 / 上衣 / 衬衫",
        "list_price": "¥1,299.50",
        "cost": "420",
        "status": "active",
        "floor_channel": ["mini_program", "livestream", ""],
        "floor_price": ["999", "899.9", ""],
    }
    created = hq.post("/settings/products/new", data=form)
    assert created.status_code == 303, created.text
    with unit_of_work(world.engine) as db:
        product = db.scalars(select(Product).where(Product.tenant_id == world.tenant_id)).one()
        assert product.list_price_fen == 129950 and product.cost_fen == 42000
        assert product.category_path == ["服装", "上衣", "衬衫"]
        assert product.floor_prices_fen == {"mini_program": 99900, "livestream": 89990}
        product_id = product.id
    bad = hq.post("/settings/products/new", data=dict(form, code="SHIRT-2", list_price="12.345"))
    assert bad.status_code == 422 and _error(bad.text, "list_price") == "须为金额，如 59.90（最多两位小数）"
    dup = hq.post("/settings/products/new", data=form)
    assert dup.status_code == 422 and "已存在" in (_error(dup.text, "code") or "")
    listed = hq.get("/settings/products?category=服装").text
    assert "¥1,299.50" in listed and "小程序 ¥999.00" in listed
    edited = hq.post(
        f"/settings/products/{product_id}", data=dict(form, list_price="1399", status="inactive")
    )
    assert edited.status_code == 303
    assert "已下架" in hq.get("/settings/products?status=inactive").text
    assert "product.save" in _actions(world)
    assert as_role(browser, world, "store_manager").get("/settings/products").status_code == 403
