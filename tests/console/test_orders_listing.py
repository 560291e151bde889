"""Orders are listed newest paid first with stable pages (console and API); the customer 360's
totals count every order of the customer, not the latest twenty."""

from __future__ import annotations

import datetime as dt
import re

from fastapi.testclient import TestClient

from tests.console.support import as_role
from tests.factories import World

BASE = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)


def _order(i: int, paid_at: dt.datetime | None, phone: str = "13700001111") -> dict[str, object]:
    placed = (paid_at or BASE + dt.timedelta(days=30)).isoformat()
    return {
        "channel": "pos",
        "external_id": f"ORD-{i}",
        "store_code": "S1",
        "staff_employee_no": "GUIDE",
        "customer": {"phone": phone},
        "status": "paid" if paid_at else "created",
        "placed_at": placed,
        "paid_at": paid_at.isoformat() if paid_at else None,
        "lines": [{"sku_code": "L-1", "quantity": 1, "unit_price_fen": 1000 + i}],
        "payments": [{"method": "cash", "amount_fen": 1000 + i}] if paid_at else [],
    }


def _ingest(client: TestClient, w: World, orders: list[dict[str, object]]) -> None:
    h = w.headers("integration")
    client.post(
        "/api/v1/products/batch",
        headers=h,
        json={"products": [{"code": "L-1", "name": "袜子", "list_price_fen": 1000}]},
    ).raise_for_status()
    client.post("/api/v1/orders/batch", headers=h, json={"orders": orders}).raise_for_status()


def test_orders_newest_paid_first_with_stable_pages(browser: TestClient, world: World) -> None:
    # Ingested out of time order: ids do not follow payment times; one order is not paid yet.
    hours = [5, 1, 9, 3, 7, 2, 8]
    orders = [_order(i, BASE + dt.timedelta(hours=h)) for i, h in enumerate(hours)]
    orders.append(_order(99, None))
    _ingest(browser, world, orders)
    expected = [f"ORD-{i}" for i, _ in sorted(enumerate(hours), key=lambda p: -p[1])] + ["ORD-99"]
    h = world.headers("owner")
    seen: list[str] = []
    cursor = None
    for _ in range(10):
        params: dict[str, str | int] = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = browser.get("/api/v1/orders", params=params, headers=h).json()
        seen += [o["external_id"] for o in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
        # An order paid later arriving between pages neither repeats nor hides one already listed.
        if len(seen) == 3:
            _ingest(browser, world, [_order(50, BASE + dt.timedelta(hours=20))])
    assert seen == expected
    bad = browser.get("/api/v1/orders", params={"cursor": "WyJ4IiwxXQ"}, headers=h)
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_cursor"
    # The console lists the same way: /orders and the guide's latest orders on /me.
    as_role(browser, world, "owner")
    listed = browser.get("/orders").text
    numbers = re.findall(r'<tr data-order="\d+">\s*<td class="long"><a href="/orders/\d+">([^<]+)<', listed)
    assert numbers == ["ORD-50", *expected]  # the unpaid order last
    amounts = re.findall(r'<td class="num">¥([\d,.]+)</td>\s*<td class="num">—</td>', listed)
    assert amounts[:3] == ["10.50", "10.02", "10.06"]
    guide = as_role(browser, world, "guide").get("/me").text
    assert re.findall(r'<td class="num">¥([\d,.]+)</td>', guide)[:3] == ["10.50", "10.02", "10.06"]


def test_customer_360_totals_cover_every_order(browser: TestClient, world: World) -> None:
    orders = [_order(i, BASE + dt.timedelta(hours=i)) for i in range(25)]
    _ingest(browser, world, orders)
    as_role(browser, world, "owner")
    hit = browser.get("/customers?q=13700001111").text
    customer_id = int(hit.split('href="/customers/')[1].split('"')[0])
    page = browser.get(f"/customers/{customer_id}").text
    assert '<div class="big" data-figure="orders">25</div>' in page
    total = sum(1000 + i for i in range(25))  # fen: ¥253.00
    assert f"¥{total / 100:,.2f}" in page
