"""The orders list (filters, search, sort, pages, export) and the order detail page, per role."""

from __future__ import annotations

import datetime as dt
import io
import re

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from siyu.db.session import unit_of_work
from siyu.platform.models import AuditEntry
from tests.console.support import as_role
from tests.factories import World

# 2026-03-01 10:00 in Shanghai is 02:00 UTC.
BASE = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
ROW = re.compile(r'<tr data-order="(\d+)">\s*<td class="long"><a href="/orders/\d+">([^<]+)<')


def _order(
    number: str,
    paid_at: dt.datetime | None,
    *,
    channel: str = "pos",
    store: str = "S1",
    staff: str = "GUIDE",
    phone: str = "13700001111",
    price: int = 1000,
    in_store: bool | None = None,
) -> dict[str, object]:
    placed = (paid_at or BASE).isoformat()
    order: dict[str, object] = {
        "channel": channel,
        "external_id": number,
        "store_code": store,
        "staff_employee_no": staff,
        "customer": {"phone": phone},
        "status": "paid" if paid_at else "created",
        "placed_at": placed,
        "paid_at": paid_at.isoformat() if paid_at else None,
        "lines": [{"sku_code": "L-1", "quantity": 2, "unit_price_fen": price}],
        "payments": [{"method": "wechat_pay", "amount_fen": 2 * price}] if paid_at else [],
    }
    if in_store is not None:
        order["in_store"] = in_store
    return order


def _seed(client: TestClient, w: World) -> None:
    h = w.headers("integration")
    client.post(
        "/api/v1/products/batch",
        headers=h,
        json={"products": [{"code": "L-1", "name": "羊毛袜", "list_price_fen": 5000}]},
    ).raise_for_status()
    orders = [
        _order("POS-1", BASE, price=1000),
        _order("POS-2", BASE + dt.timedelta(days=1), price=3000, phone="13700002222"),
        _order("MP-1", BASE + dt.timedelta(days=2), channel="mini_program", price=2000, in_store=False),
        _order("S2-1", BASE + dt.timedelta(days=2, hours=1), store="S2", staff="GUIDE2", price=500),
        _order("UNPAID", None, price=700),
    ]
    client.post("/api/v1/orders/batch", headers=h, json={"orders": orders}).raise_for_status()
    pos1 = client.get("/api/v1/orders?limit=50", headers=w.headers("owner")).json()["items"]
    order_id = next(o["id"] for o in pos1 if o["external_id"] == "POS-2")
    client.post(
        "/api/v1/refunds",
        headers=h,
        json={
            "refunds": [
                {
                    "channel": "pos",
                    "order_external_id": "POS-2",
                    "external_id": "R-1",
                    "refunded_at": (BASE + dt.timedelta(days=3)).isoformat(),
                    "lines": [{"line_no": 1, "quantity": 1}],
                }
            ]
        },
    ).raise_for_status()
    assert order_id


def _numbers(page: str) -> list[str]:
    return [n for _, n in ROW.findall(page)]


def test_filters_search_sort_and_pages(browser: TestClient, world: World) -> None:
    _seed(browser, world)
    owner = as_role(browser, world, "owner")
    assert _numbers(owner.get("/orders").text) == ["S2-1", "MP-1", "POS-2", "POS-1", "UNPAID"]
    store1 = world.store_ids[0]
    # The mini-program order names no guide's link and no bound customer: attributed to no store.
    assert _numbers(owner.get(f"/orders?store={store1}").text) == ["POS-2", "POS-1", "UNPAID"]
    assert _numbers(owner.get("/orders?channel=mini_program").text) == ["MP-1"]
    assert _numbers(owner.get("/orders?placement=off_store").text) == ["MP-1"]
    assert _numbers(owner.get("/orders?status=created").text) == ["UNPAID"]
    # Dates are the brand's days: 2026-03-02 (Shanghai) holds POS-2 only.
    assert _numbers(owner.get("/orders?from=2026-03-02&to=2026-03-02").text) == ["POS-2"]
    # Search: the channel's order number, Siyu's #id, a customer's phone ending.
    assert _numbers(owner.get("/orders?q=MP-1").text) == ["MP-1"]
    listed = dict((n, i) for i, n in ROW.findall(owner.get("/orders").text))
    assert _numbers(owner.get(f"/orders?q=%23{listed['POS-1']}").text) == ["POS-1"]
    assert _numbers(owner.get("/orders?q=2222").text) == ["POS-2"]
    assert _numbers(owner.get("/orders?q=nobody-at-all").text) == []
    # Sorted by amount, largest first, then smallest first; unpaid (¥0.00) last either way.
    assert _numbers(owner.get("/orders?sort=-amount").text) == ["POS-2", "MP-1", "POS-1", "S2-1", "UNPAID"]
    assert _numbers(owner.get("/orders?sort=amount").text)[:2] == ["UNPAID", "S2-1"]
    # A page size not offered (3) is the default (20); the count is shown either way.
    page = owner.get("/orders?size=3").text
    assert 'data-total="5"' in page and "共 5 条" in page
    # Filters the person may not use are no filter: a manager asking for the other store.
    manager = as_role(browser, world, "store_manager")
    assert _numbers(manager.get(f"/orders?store={world.store_ids[1]}").text) == ["POS-2", "POS-1", "UNPAID"]
    guide = as_role(browser, world, "guide")
    mine = guide.get("/orders").text
    assert "S2-1" not in _numbers(mine) and 'id="store"' not in mine and 'id="guide"' not in mine


def test_export_is_masked_filtered_and_audited(browser: TestClient, world: World) -> None:
    _seed(browser, world)
    owner = as_role(browser, world, "owner")
    answer = owner.get("/orders.xlsx?channel=pos&sort=-amount")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    sheet = load_workbook(io.BytesIO(answer.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("订单号", "系统编号", "渠道")
    assert [r[0] for r in rows[1:]] == ["POS-2", "POS-1", "S2-1", "UNPAID"]
    pos2 = rows[1]
    assert pos2[10] == "137****2222" and pos2[12] == 60 and pos2[13] == 30 and pos2[2] == "门店收银"
    with unit_of_work(world.engine) as db:
        entry = db.scalars(
            select(AuditEntry).where(
                AuditEntry.tenant_id == world.tenant_id, AuditEntry.action == "order.export"
            )
        ).one()
        assert entry.data["rows"] == 4 and entry.data["filters"] == {"channel": "pos"}
    # A guide reads their orders but exports nothing.
    assert as_role(browser, world, "guide").get("/orders.xlsx").status_code == 403


def test_order_detail(browser: TestClient, world: World) -> None:
    _seed(browser, world)
    owner = as_role(browser, world, "owner")
    ids = {n: i for i, n in ROW.findall(owner.get("/orders").text)}
    page = owner.get(f"/orders/{ids['POS-2']}").text
    assert "羊毛袜" in page and "微信支付" in page and "R-1" in page
    assert re.search(r'data-field="paid">¥60.00<', page) and re.search(r'data-field="refunded">¥30.00<', page)
    assert re.search(r'data-field="net">¥30.00<', page)
    assert "门店收银台下单" in page and "guide" in page  # the reason in words, the guide by name
    assert "第 1 行 × 1" in page and "已退 1 件" in page
    # Scope: the other store's order is a 404 for the manager and the guide, so is a malformed id.
    for role in ("store_manager", "guide"):
        assert as_role(browser, world, role).get(f"/orders/{ids['S2-1']}").status_code == 404
    assert owner.get("/orders/99999999999999999999").status_code == 404
    assert as_role(browser, world, "guide").get(f"/orders/{ids['POS-1']}").status_code == 200


def test_a_customer_search_finds_the_orders_of_every_customer_it_matches(
    browser: TestClient, world: World
) -> None:
    """A name shared by more customers than a page holds still finds each one's orders: the
    customers are a subquery, not the first few hundred ids."""
    h = world.headers("integration")
    browser.post(
        "/api/v1/products/batch",
        headers=h,
        json={"products": [{"code": "L-1", "name": "羊毛袜", "list_price_fen": 5000}]},
    ).raise_for_status()
    records = [
        {"name": "同名顾客", "phone": f"1360000{i:04d}", "store_id": world.store_ids[0]} for i in range(620)
    ]
    browser.post("/api/v1/customers/batch", headers=h, json={"records": records}).raise_for_status()
    # The oldest and the newest of them buy (the oldest was past an old cap of 500 newest).
    orders = [
        _order("FIRST-1", BASE, phone="13600000000"),
        _order("LAST-1", BASE + dt.timedelta(hours=1), phone="13600000619"),
    ]
    browser.post("/api/v1/orders/batch", headers=h, json={"orders": orders}).raise_for_status()
    owner = as_role(browser, world, "owner")
    assert sorted(_numbers(owner.get("/orders?q=同名顾客").text)) == ["FIRST-1", "LAST-1"]
