"""`siyu bench console`: server time of every console page on the demo brand, p50 and p95.

A real server process on loopback serves the database; each page is fetched repeatedly as the
role that uses it, and the server's own time (its Server-Timing header: endpoint, queries, render
and commit) is collected, with the round trip on loopback alongside.
"""

from __future__ import annotations

import datetime as dt
import random
import re
import statistics
import time
from typing import Any

import httpx
from sqlalchemy import select

from siyu.bench.common import percentile
from siyu.customers.models import Customer
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, unit_of_work
from siyu.demo.builder import DEMO_PASSWORD, DEMO_SLUG, build_demo
from siyu.orders.models import Order
from siyu.org.models import Staff, Store, Tenant
from siyu.serving import serve
from siyu.settings import normalise_database_url
from siyu.tags.models import Tag, TagGroup


def _signed_in(base: str, username: str) -> httpx.Client:
    """A client signed in through the form, as a browser is (the page gives the CSRF token)."""
    client = httpx.Client(base_url=base, timeout=60, follow_redirects=False)
    page = client.get("/signin").text
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    r = client.post(
        "/signin",
        data={
            "tenant": DEMO_SLUG,
            "username": username,
            "password": DEMO_PASSWORD,
            "csrf_token": token.group(1) if token else "",
        },
    )
    if r.status_code != 303:
        raise RuntimeError(f"sign-in as {username} failed: {r.status_code}")
    # Posts from pages (the builder's live count) carry the token of the signed-in session.
    meta = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/tags").text)
    if meta:
        client.headers["X-CSRF-Token"] = meta.group(1)
    return client


def run(database_url: str, *, rounds: int = 30, demo: dict[str, Any] | None = None) -> dict[str, Any]:
    """Time each page `rounds` times on the demo brand of this database.

    A fresh database is migrated and given a demo brand first (`demo`: build_demo's stores,
    customers, order_days; the full demo by default).
    """
    url = normalise_database_url(database_url)
    engine = make_engine(url)
    upgrade(engine)
    rng = random.Random(3)
    built_demo_s = None
    with unit_of_work(engine) as session:
        missing = session.scalar(select(Tenant.id).where(Tenant.slug == DEMO_SLUG)) is None
    if missing:
        started = time.perf_counter()
        build_demo(engine, **(demo or {}))
        built_demo_s = round(time.perf_counter() - started, 1)
    with unit_of_work(engine) as session:
        tenant = session.scalar(select(Tenant).where(Tenant.slug == DEMO_SLUG))
        assert tenant is not None
        stores = list(
            session.scalars(select(Store.code).where(Store.tenant_id == tenant.id).order_by(Store.code))
        )
        customer_ids = list(
            session.scalars(
                select(Customer.id).where(Customer.tenant_id == tenant.id).order_by(Customer.id).limit(500)
            )
        )
        manager = session.scalar(
            select(Staff.username)
            .where(Staff.tenant_id == tenant.id, Staff.role == "store_manager")
            .order_by(Staff.id)
        )
        tag_ids = list(
            session.scalars(
                select(Tag.id)
                .join(TagGroup, TagGroup.id == Tag.group_id)
                .where(Tag.tenant_id == tenant.id, TagGroup.kind == "manual")
            )
        )
        guide = session.scalar(
            select(Staff.username)
            .where(Staff.tenant_id == tenant.id, Staff.role == "guide")
            .order_by(Staff.id)
        )
        store_ids = list(session.scalars(select(Store.id).where(Store.tenant_id == tenant.id)))
        order_ids = list(
            session.scalars(
                select(Order.id).where(Order.tenant_id == tenant.id).order_by(Order.id.desc()).limit(500)
            )
        )
    engine.dispose()
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    pages: dict[str, tuple[str, Any]] = {
        "sign-in": ("owner", lambda: "/signin"),
        "hq": ("owner", lambda: f"/hq?date={yesterday - dt.timedelta(days=rng.randrange(300))}"),
        "store-daily (HQ)": (
            "owner",
            lambda: (
                f"/stores/{rng.choice(stores)}/daily?date={yesterday - dt.timedelta(days=rng.randrange(300))}"
            ),
        ),
        "store-daily (manager)": ("manager", lambda: f"/stores/{stores[0]}/daily"),
        "customers": ("owner", lambda: "/customers"),
        "customers search": ("owner", lambda: f"/customers?q=138{rng.randrange(10_000):04d}"),
        "customer 360": ("owner", lambda: f"/customers/{rng.choice(customer_ids)}"),
        "guide home": ("guide", lambda: "/me"),
        "guide customers": ("guide", lambda: "/customers"),
        "guide orders": ("guide", lambda: "/orders"),
        "orders (HQ)": ("owner", lambda: "/orders"),
        "tags": ("owner", lambda: "/tags"),
        "audiences (builder)": ("owner", lambda: "/audiences"),
        "guide tags": ("guide", lambda: "/tags"),
        "channel codes": ("owner", lambda: "/wecom/codes"),
        "customer groups": ("owner", lambda: "/wecom/groups"),
        "guide's WeCom friends": ("guide", lambda: "/wecom/friends"),
        "departures": ("owner", lambda: "/wecom/departures"),
        "customers by spend": ("owner", lambda: f"/customers?sort=-spend&page={1 + rng.randrange(50)}"),
        "customers dormant 90 days": ("owner", lambda: "/customers?last=-90&sort=-last"),
        "customers with a tag": ("owner", lambda: f"/customers?tag={rng.choice(tag_ids)}"),
        "orders filtered (HQ)": (
            "owner",
            lambda: (
                f"/orders?store={rng.choice(store_ids)}&from={yesterday - dt.timedelta(days=30)}&to={yesterday}"
            ),
        ),
        "orders by amount (HQ)": ("owner", lambda: "/orders?sort=-amount"),
        "order search by phone": ("owner", lambda: f"/orders?q=138{rng.randrange(10_000):04d}"),
        "order detail": ("owner", lambda: f"/orders/{rng.choice(order_ids)}"),
        "manager orders": ("manager", lambda: "/orders"),
        "audit log": ("owner", lambda: "/settings/audit"),
        "stores": ("owner", lambda: "/settings/stores"),
        "staff": ("owner", lambda: "/settings/staff"),
        "products": ("owner", lambda: "/settings/products"),
        "imports": ("owner", lambda: "/imports"),
        "new channel code": ("owner", lambda: "/wecom/codes/new"),
    }
    # The builder's live count: a mixed rule (attributes + tags + 90-day spend), random bounds.
    previews: dict[str, Any] = {
        "audience preview (mixed rule)": lambda: {
            "rule": {
                "type": "all",
                "of": [
                    {"type": "gender", "values": ["female"]},
                    {"type": "age", "min": 20 + rng.randrange(10), "max": 40 + rng.randrange(10)},
                    {"type": "tags", "match": "any", "tag_ids": rng.sample(tag_ids, 3)},
                    {
                        "type": "orders",
                        "window": {"last_days": 90},
                        "measure": "gmv_fen",
                        "op": ">=",
                        "value": 10_000 * rng.randrange(1, 20),
                    },
                ],
            }
        }
    }
    proc, base = serve(url)
    results: list[dict[str, Any]] = []
    assert manager is not None and guide is not None
    try:
        clients = {
            "owner": _signed_in(base, "owner"),
            "manager": _signed_in(base, manager),
            "guide": _signed_in(base, guide),
        }
        requests: list[tuple[str, str, Any, Any]] = [(n, role, p, None) for n, (role, p) in pages.items()]
        requests += [(n, "owner", lambda: "/audiences/preview", body) for n, body in previews.items()]
        for name, role, path, body in requests:
            server, wall = [], []
            for _ in range(rounds):
                started = time.perf_counter()
                r = clients[role].post(path(), json=body()) if body else clients[role].get(path())
                wall.append((time.perf_counter() - started) * 1000)
                if r.status_code != 200:
                    raise RuntimeError(f"{name}: {r.status_code}")
                timing = r.headers.get("server-timing", "")
                server.append(float(timing.split("dur=")[1]) if "dur=" in timing else wall[-1])
            results.append(
                {
                    "page": name,
                    "role": role,
                    "server_ms": {
                        "p50": round(statistics.median(server), 1),
                        "p95": round(percentile(server, 95), 1),
                    },
                    "loopback_ms": {
                        "p50": round(statistics.median(wall), 1),
                        "p95": round(percentile(wall, 95), 1),
                    },
                }
            )
        for client in clients.values():
            client.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    worst = max(r["server_ms"]["p95"] for r in results)
    return {
        "benchmark": "console",
        "engine": url.split(":", 1)[0],
        "workload": {
            "brand": DEMO_SLUG,
            "stores": len(stores),
            "rounds_per_page": rounds,
            "demo_built_s": built_demo_s,
        },
        "figure": "server time per console page (Server-Timing), ms",
        "pages": results,
        "worst_p95_ms": worst,
        "target_p95_ms": 300,
    }
