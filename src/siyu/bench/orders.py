"""`siyu bench orders`: order ingest throughput through the HTTP API of a real server, and store
daily report latency on a large synthetic history (1,000 stores, millions of orders).

Ingest: batches of 1,000 orders with 3 lines each (POS, mini-program, guide links, Tmall; repeat
and new buyers by phone), posted to a uvicorn process on loopback. Peer from the same run: the same
kind of orders sent one per request, as a simple integration does.

Reports: the history is written set-based (INSERT … SELECT over a generated series) — it is the
size that matters to the report's indexes, not how the rows arrived — then one store-day report
(with its four comparison days) is timed on random store-days, and the roll-up of every store.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import statistics
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import Engine, select, text

from siyu.auth.service import create_api_key
from siyu.bench.common import percentile
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, unit_of_work
from siyu.org.facade import stores_by_id
from siyu.org.models import Region, Staff, StaffStore, Store, Tenant
from siyu.products.models import Product
from siyu.reports import store_daily as report
from siyu.serving import serve
from siyu.settings import normalise_database_url

SKUS = [("BA-1", 12900), ("BA-2", 5900), ("BA-3", 29900)]
CHANNELS = [
    "pos",
    "pos",
    "pos",
    "pos",
    "pos",
    "mini_program",
    "mini_program",
    "guide_share",
    "guide_share",
    "platform:tmall",
]


def _tenant(engine: Engine, stores: int, guides: int = 3) -> tuple[int, str]:
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    with unit_of_work(engine) as session:
        tenant = Tenant(slug=slug, name="bench", timezone="Asia/Shanghai", currency="CNY")
        session.add(tenant)
        session.flush()
        region = Region(tenant_id=tenant.id, code="R1", name="全国")
        session.add(region)
        session.flush()
        hours = [{"weekday": d, "opens": "10:00", "closes": "22:00"} for d in range(7)]
        rows = [
            Store(
                tenant_id=tenant.id,
                region_id=region.id,
                code=f"B{i:04d}",
                name=f"门店{i}",
                business_hours=hours,
            )
            for i in range(stores)
        ]
        session.add_all(rows)
        staff = [
            Staff(
                tenant_id=tenant.id,
                employee_no=f"G{i:04d}{g}",
                username=f"g{i}-{g}",
                name=f"导购{i}-{g}",
                role="guide",
            )
            for i in range(stores)
            for g in range(guides)
        ]
        session.add_all(staff)
        session.flush()
        session.add_all(
            StaffStore(tenant_id=tenant.id, staff_id=staff[i * guides + g].id, store_id=rows[i].id)
            for i in range(stores)
            for g in range(guides)
        )
        session.add_all(
            Product(
                tenant_id=tenant.id, code=c, name=c, list_price_fen=p, category_path=[], floor_prices_fen={}
            )
            for c, p in SKUS
        )
        _, key = create_api_key(session, tenant_id=tenant.id, name="bench", actor=None)
        return tenant.id, key


def _order(i: int, rng: random.Random, stores: int, day: dt.date) -> dict[str, Any]:
    channel = rng.choice(CHANNELS)
    store = rng.randrange(stores)
    at = dt.datetime.combine(
        day, dt.time(10 + rng.randrange(12), rng.randrange(60)), tzinfo=dt.timezone(dt.timedelta(hours=8))
    )
    lines = [
        {
            "sku_code": code,
            "quantity": 1 + rng.randrange(2),
            "unit_price_fen": price,
            "discount_fen": rng.choice((0, 0, 500)),
        }
        for code, price in SKUS
    ]
    total = sum(int(x["quantity"]) * int(x["unit_price_fen"]) - int(x["discount_fen"]) for x in lines)
    body: dict[str, Any] = {
        "channel": channel,
        "external_id": f"BX{i:09d}",
        "status": "paid",
        "placed_at": at.isoformat(),
        "paid_at": at.isoformat(),
        "lines": lines,
        "payments": [{"method": "wechat_pay", "amount_fen": total}],
    }
    if rng.random() < 0.8:
        body["customer"] = {"phone": f"+86137{rng.randrange(40_000):08d}"}
    if channel == "pos":
        body.update(
            store_code=f"B{store:04d}",
            staff_employee_no=f"G{store:04d}{rng.randrange(3)}",
            fulfilment="in_store",
        )
    elif channel == "guide_share":
        body["staff_employee_no"] = f"G{store:04d}{rng.randrange(3)}"
    return body


def run_ingest(
    database_url: str, *, orders: int = 20_000, batch: int = 1000, peer_orders: int = 1000
) -> dict[str, Any]:
    """Orders per second through POST /api/v1/orders/batch, and the one-per-request peer."""
    url = normalise_database_url(database_url)
    engine = make_engine(url)
    upgrade(engine)
    _, key = _tenant(engine, stores=30)
    rng = random.Random(11)
    day = dt.date(2026, 11, 11)
    # Cold: most buyers are new to the brand (a first import). Known: the buyers already exist
    # (a brand's steady state, where most orders come from customers it knows).
    bodies = [
        json.dumps(
            {"orders": [_order(i, rng, 30, day) for i in range(start, min(orders, start + batch))]}
        ).encode()
        for start in range(0, orders, batch)
    ]
    seen = [o["customer"]["phone"] for b in bodies for o in json.loads(b)["orders"] if "customer" in o]
    known_orders = [_order(i, rng, 30, day) for i in range(orders, 2 * orders)]
    for o in known_orders:
        if "customer" in o:
            o["customer"] = {"phone": rng.choice(seen)}
    known = [
        json.dumps({"orders": known_orders[start : start + batch]}).encode()
        for start in range(0, orders, batch)
    ]
    singles = [
        json.dumps({"orders": [_order(3 * orders + i, rng, 30, day)]}).encode() for i in range(peer_orders)
    ]
    # A third set, sent by two clients at once (two POS feeds, say): the server overlaps one
    # batch's database work with the other's Python work.
    pair_orders = [_order(i, rng, 30, day) for i in range(2 * orders, 3 * orders)]
    for o in pair_orders:
        if "customer" in o:
            o["customer"] = {"phone": rng.choice(seen)}
    pair = [json.dumps({"orders": pair_orders[s : s + batch]}).encode() for s in range(0, orders, batch)]
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    proc, base = serve(url)

    def send_all(client: httpx.Client, chunk: list[bytes]) -> float:
        started = time.perf_counter()
        for body in chunk:
            r = client.post("/api/v1/orders/batch", content=body)
            if r.status_code != 200:
                raise RuntimeError(r.text[:2000])
        return time.perf_counter() - started

    try:
        with httpx.Client(base_url=base, headers=headers, timeout=300) as client:
            batch_seconds = send_all(client, bodies)
            known_seconds = send_all(client, known)
            replay_seconds = send_all(client, bodies[:3])  # the same orders again: all unchanged
            single_seconds = send_all(client, singles)
        with (
            httpx.Client(base_url=base, headers=headers, timeout=300) as one,
            httpx.Client(base_url=base, headers=headers, timeout=300) as two,
            ThreadPoolExecutor(2) as pool,
        ):
            started = time.perf_counter()
            futures = [pool.submit(send_all, one, pair[0::2]), pool.submit(send_all, two, pair[1::2])]
            for f in futures:
                f.result()
            pair_seconds = time.perf_counter() - started
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    dialect = engine.dialect.name
    engine.dispose()
    rate = orders / batch_seconds
    peer = peer_orders / single_seconds
    return {
        "benchmark": "orders.ingest",
        "engine": dialect,
        "workload": {
            "orders": orders,
            "lines_per_order": 3,
            "batch": batch,
            "cold": "80% of orders name a buyer by phone, drawn from 40,000 numbers: most buyers are new",
            "known": f"{orders} more orders whose buyers all bought in the cold phase",
        },
        "figure": "orders per second through POST /api/v1/orders/batch (uvicorn, loopback), cold buyers",
        "orders_per_s": round(rate),
        "known_buyers_orders_per_s": round(orders / known_seconds),
        "two_clients_known_buyers_orders_per_s": round(orders / pair_seconds),
        "replay_unchanged_orders_per_s": round(3 * batch / replay_seconds),
        "peer": "the same kind of order sent one per request, same server, same run",
        "peer_orders_per_s": round(peer),
        "ratio_vs_peer": round(rate / peer, 2),
        "target_orders_per_s": 5000,
    }


def _history_sql(dialect: str, offset: int) -> str:
    """INSERT … SELECT of n generated orders (n = 0..count-1, numbered from offset)."""
    if dialect == "postgresql":
        series = "SELECT generate_series(0, :count - 1)::bigint AS n"
        paid = "to_timestamp(:start_epoch + (n / :stores) * :step + (n % 7) * 60)"
    else:
        series = "WITH RECURSIVE s(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM s WHERE n + 1 < :count) SELECT n FROM s"
        paid = (
            "printf('%s.000000', datetime(:start_epoch + (n / :stores) * :step + (n % 7) * 60, 'unixepoch'))"
        )
    return f"""
    INSERT INTO orders (tenant_id, channel, external_id, customer_id, store_id, attribution_reason,
        placement, during_hours, fulfilment, status, currency, placed_at, paid_at, goods_fen, discount_fen,
        shipping_fen, total_fen, paid_fen, refunded_fen, revision, payload_hash, created_at, updated_at)
    SELECT :tenant_id,
        CASE n % 4 WHEN 0 THEN 'mini_program' WHEN 1 THEN 'livestream' ELSE 'pos' END,
        'H' || (n + {offset}),
        CASE WHEN n % 5 = 0 THEN NULL ELSE :first_customer + ((n + {offset}) * 7919) % :customers END,
        :first_store + n % :stores,
        CASE WHEN n % 4 < 2 THEN 'exclusive_guide' ELSE 'pos_till' END,
        CASE WHEN n % 4 < 2 THEN 'off_store' ELSE 'in_store' END,
        CASE WHEN n % 4 < 2 THEN (n % 3 = 0) ELSE NULL END,
        'in_store', 'completed', 'CNY', {paid}, {paid}, 19900, 0, 0, 19900, 19900, 0, 1, 'bench', {paid}, {paid}
    FROM ({series}) AS g
    """


def _fill_history(
    engine: Engine, tenant_id: int, count: int, stores: int, customers: int, days: int
) -> float:
    """Write `count` orders over `days` days up to yesterday, and 5% refunds; returns seconds."""
    dialect = engine.dialect.name
    started = time.perf_counter()
    end = dt.datetime.combine(dt.datetime.now(dt.UTC).date(), dt.time(0), tzinfo=dt.UTC)
    start_epoch = int((end - dt.timedelta(days=days)).timestamp())
    per_store = max(1, count // stores)
    step = max(1, days * 86400 // per_store)
    with unit_of_work(engine) as session:
        first_store = session.scalar(select(Store.id).where(Store.tenant_id == tenant_id).order_by(Store.id))
        number0 = 1
        if dialect == "postgresql":
            session.execute(
                text(
                    "INSERT INTO customers (tenant_id, number, gender, custom_fields, status, created_at, updated_at) "
                    "SELECT :t, g, 'unknown', '{}'::jsonb, 'active', now(), now() FROM generate_series(1, :c) g"
                ),
                {"t": tenant_id, "c": customers},
            )
        else:
            session.execute(
                text(
                    "INSERT INTO customers (tenant_id, number, gender, custom_fields, status, created_at, updated_at) "
                    "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :c) "
                    "SELECT :t, n, 'unknown', '{}', 'active', '2026-01-01 00:00:00.000000', '2026-01-01 00:00:00.000000' FROM s"
                ),
                {"t": tenant_id, "c": customers},
            )
        first_customer = session.scalar(
            text("SELECT min(id) FROM customers WHERE tenant_id = :t AND number = :n"),
            {"t": tenant_id, "n": number0},
        )
    chunk = 1_000_000
    for offset in range(0, count, chunk):
        n = min(chunk, count - offset)
        params = {
            "tenant_id": tenant_id,
            "count": n,
            "stores": stores,
            "first_store": first_store,
            "start_epoch": start_epoch + (offset // stores) * step,
            "step": step,
            "first_customer": first_customer,
            "customers": customers,
        }
        with unit_of_work(engine) as session:
            session.execute(text(_history_sql(dialect, offset)), params)
    with unit_of_work(engine) as session:
        session.execute(
            text(
                "INSERT INTO refunds (tenant_id, order_id, external_id, store_id, guide_id, channel, placement, "
                "during_hours, amount_fen, reason, refunded_at, created_at) "
                "SELECT tenant_id, id, 'R', store_id, guide_id, channel, placement, during_hours, 5000, 'bench', "
                "paid_at, paid_at FROM orders WHERE tenant_id = :t AND id % 20 = 0"
            ),
            {"t": tenant_id},
        )
    # A loaded table in production has been vacuumed by autovacuum (visibility map set, so
    # index-only scans work); do it now rather than wait for it.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE" if dialect == "postgresql" else "ANALYZE"))
    return time.perf_counter() - started


def run_reports(
    database_url: str,
    *,
    history: int = 10_000_000,
    stores: int = 1000,
    customers: int = 1_000_000,
    days: int = 365,
    samples: int = 60,
    progress: Any = None,
) -> dict[str, Any]:
    """Store-day report p50/p95 and the all-store roll-up on a `history`-order brand."""
    url = normalise_database_url(database_url)
    engine = make_engine(url)
    upgrade(engine)
    tenant_id, _ = _tenant(engine, stores=stores, guides=2)
    fill_seconds = _fill_history(engine, tenant_id, history, stores, customers, days)
    rng = random.Random(5)
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    with unit_of_work(engine) as session:
        store_ids = list(session.scalars(select(Store.id).where(Store.tenant_id == tenant_id)))
        infos = stores_by_id(session, tenant_id=tenant_id, ids=set(store_ids))
    timings = []
    gmv_seen = 0
    for _ in range(samples):
        store = infos[rng.choice(store_ids)]
        day = yesterday - dt.timedelta(days=rng.randrange(days - 1))
        with unit_of_work(engine, tenant_id=tenant_id) as session:
            started = time.perf_counter()
            data = report.store_daily(session, tenant_id=tenant_id, store=store, day=day)
            timings.append((time.perf_counter() - started) * 1000)
        gmv_seen += data["figures"]["orders"]["value"]
    rollups = []
    for _ in range(3):
        with unit_of_work(engine, tenant_id=tenant_id) as session:
            started = time.perf_counter()
            data = report.rollup(
                session,
                tenant_id=tenant_id,
                day=yesterday - dt.timedelta(days=rng.randrange(30)),
                store_ids=None,
            )
            rollups.append(time.perf_counter() - started)
    dialect = engine.dialect.name
    engine.dispose()
    return {
        "benchmark": "orders.reports",
        "engine": dialect,
        "workload": {
            "history_orders": history,
            "stores": stores,
            "customers": customers,
            "days": days,
            "refunds": history // 20,
            "samples": samples,
            "orders_per_store_day": round(history / stores / days, 1),
        },
        "history_write_s": round(fill_seconds, 1),
        "figure": "one store-day report with its 4 comparison days (5 days read), ms",
        "store_daily_ms": {
            "p50": round(statistics.median(timings), 2),
            "p95": round(percentile(timings, 95), 2),
        },
        "target_store_daily_p50_ms": 50,
        "rollup_all_stores_s": {
            "median": round(statistics.median(rollups), 3),
            "max": round(max(rollups), 3),
        },
        "target_rollup_s": 3,
        "orders_in_sampled_reports": gmv_seen,
        "stores_in_rollup": len(data["stores"]),
    }
