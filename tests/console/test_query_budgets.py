"""Query-count budgets for the hot routes and the console pages: a change that adds a query per row
(an N+1) or a handful per request fails here, long before a benchmark would show it.

Each budget is the count measured when it was set plus a small margin; batch routes are measured at
two sizes and must not grow with the batch. The app under measure has an engine of its own and runs
no job threads, so only the request's own statements are counted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from siyu.app import create_app
from siyu.db.session import make_engine
from tests.console.support import as_role
from tests.factories import World


@contextmanager
def counted(engine: Engine) -> Iterator[list[str]]:
    """The SQL statements the engine runs inside the block."""
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", count)


def orders(n: int, start: int, day: dt.datetime) -> list[dict[str, Any]]:
    at = day.isoformat()
    return [
        {
            "channel": "pos",
            "external_id": f"QB-{start + i}",
            "store_code": "S1",
            "staff_employee_no": "GUIDE",
            "customer": {"phone": f"1380013{start + i:04d}"},
            "status": "paid",
            "placed_at": at,
            "paid_at": at,
            "lines": [{"sku_code": "QB", "quantity": 1, "unit_price_fen": 10000}],
            "payments": [{"method": "cash", "amount_fen": 10000}],
        }
        for i in range(n)
    ]


@pytest.fixture
def measured(world: World) -> Iterator[tuple[TestClient, Engine]]:
    """The app on an engine of its own (the shared app's job threads use another), no lifespan."""
    engine = make_engine(world.engine.url.render_as_string(hide_password=False))
    app = TestClient(create_app(engine=engine), follow_redirects=False)
    yield app, engine
    engine.dispose()


@pytest.fixture
def sales(measured: tuple[TestClient, Engine], world: World) -> dt.date:
    client, _ = measured
    h = world.headers("integration")
    client.post(
        "/api/v1/products/batch",
        headers=h,
        json={"products": [{"code": "QB", "name": "外套", "list_price_fen": 10000}]},
    ).raise_for_status()
    day = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(days=1)
    client.post("/api/v1/orders/batch", headers=h, json={"orders": orders(20, 0, day)}).raise_for_status()
    return (day + dt.timedelta(hours=8)).date()


def test_batch_routes_cost_the_same_queries_for_5_or_50_rows(
    measured: tuple[TestClient, Engine], world: World, sales: dt.date
) -> None:
    client, engine = measured
    h = world.headers("integration")
    day = dt.datetime.now(dt.UTC).replace(microsecond=0)
    costs = {}
    for n, start in ((5, 100), (50, 200)):
        with counted(engine) as statements:
            client.post(
                "/api/v1/orders/batch", headers=h, json={"orders": orders(n, start, day)}
            ).raise_for_status()
        costs[n] = len(statements)
    assert costs[50] == costs[5] and costs[5] <= 27, costs
    for n, start in ((5, 300), (50, 400)):
        records = [{"identities": [{"type": "member_card", "value": f"QB{start + i}"}]} for i in range(n)]
        with counted(engine) as statements:
            client.post("/api/v1/customers/batch", headers=h, json={"records": records}).raise_for_status()
        costs[-n] = len(statements)
    assert costs[-50] == costs[-5] and costs[-5] <= 25, costs


API_BUDGETS = {
    "/api/v1/customers?limit=50": 6,
    "/api/v1/orders?limit=50": 7,
    "/api/v1/reports/store-daily?store_id={store}&date={day}": 55,
    "/api/v1/tag-groups": 12,
}


def test_hot_api_routes_stay_within_their_query_budget(
    measured: tuple[TestClient, Engine], world: World, sales: dt.date
) -> None:
    client, engine = measured
    for template, budget in API_BUDGETS.items():
        url = template.format(store=world.store_ids[0], day=sales.isoformat())
        with counted(engine) as statements:
            client.get(url, headers=world.headers("owner")).raise_for_status()
        assert len(statements) <= budget, (url, len(statements), statements)


PAGE_BUDGETS = {
    ("owner", "/hq?date={day}"): 58,
    ("store_manager", "/stores/S1/daily?date={day}"): 58,
    # filters (stores, guides, tiers, tag catalogue), count, page, figures, names and tags of the page
    ("owner", "/customers"): 16,
    ("owner", "/customers?sort=-spend&last=90&page=2"): 16,
    # + notes, order figures, consent, merges and the saved audiences (none here; each saved audience is
    # evaluated on the in-memory index), balances and the member card (a member's history, holds and
    # expiring points only when they hold something)
    ("owner", "/customers/{customer}"): 26,
    # the filters' stores and guides, the count, the page, and the names of its stores, guides, customers
    ("owner", "/orders"): 14,
    ("owner", "/orders?q=13800000000&sort=-amount&page=2"): 16,
    ("owner", "/tags"): 14,
    ("guide", "/me"): 11,
}


def test_console_pages_stay_within_their_query_budget(
    measured: tuple[TestClient, Engine], world: World, sales: dt.date
) -> None:
    client, engine = measured
    customer = client.get("/api/v1/customers?limit=1", headers=world.headers("owner")).json()["items"][0][
        "id"
    ]
    for (role, template), budget in PAGE_BUDGETS.items():
        url = template.format(day=sales.isoformat(), customer=customer)
        page = as_role(client, world, role)
        with counted(engine) as statements:
            answer = page.get(url)
        assert answer.status_code == 200, (url, answer.status_code)
        assert len(statements) <= budget, (role, url, len(statements), statements)
