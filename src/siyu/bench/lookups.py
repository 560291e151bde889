"""`siyu bench lookups`: identity lookup latency through the API of a real server on a large demo
brand (1,000,000 customers by default).

Builds the demo brand first unless the database already holds one of that size (building
1,000,000 customers on SQLite takes about three minutes); then looks up random existing
identities of every type.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Any

import httpx
from sqlalchemy import func, select

from siyu.auth.service import create_api_key
from siyu.bench.common import percentile as _percentile
from siyu.customers.models import Customer, CustomerIdentity
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, unit_of_work
from siyu.demo.builder import build_demo
from siyu.org.models import Tenant
from siyu.serving import serve as _serve
from siyu.settings import normalise_database_url


def run(database_url: str, *, customers: int, lookups: int, stores: int, order_days: int) -> dict[str, Any]:
    """Build if needed, then time lookups."""
    url = normalise_database_url(database_url)
    engine = make_engine(url)
    upgrade(engine)
    with unit_of_work(engine) as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        size = (
            0
            if tenant_id is None
            else session.scalar(
                select(func.count()).select_from(Customer).where(Customer.tenant_id == tenant_id)
            )
        )
    build_seconds = None
    if size != customers:
        started = time.perf_counter()
        tenant_id = build_demo(engine, customers=customers, stores=stores, order_days=order_days).tenant_id
        build_seconds = round(time.perf_counter() - started, 1)
    assert tenant_id is not None
    rng = random.Random(11)
    with unit_of_work(engine) as session:
        _, key = create_api_key(session, tenant_id=tenant_id, name="bench-lookup", actor=None)
        low, high = session.execute(
            select(func.min(CustomerIdentity.id), func.max(CustomerIdentity.id)).where(
                CustomerIdentity.tenant_id == tenant_id
            )
        ).one()
        picks = [rng.randint(low, high) for _ in range(lookups * 2)]
        identities = session.execute(
            select(CustomerIdentity.type, CustomerIdentity.namespace, CustomerIdentity.value).where(
                CustomerIdentity.id.in_(picks)
            )
        ).all()[:lookups]
    proc, base = _serve(url)
    latencies = []
    try:
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
            for type_, namespace, value in identities:
                params = {"type": type_, "value": value, **({"namespace": namespace} if namespace else {})}
                started = time.perf_counter()
                response = client.get("/api/v1/customers/lookup", params=params)
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(response.text)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    return {
        "benchmark": "lookup_at_scale",
        "engine": engine.dialect.name,
        "workload": {"customers": customers, "lookups": len(latencies)},
        "demo_build_seconds": build_seconds,
        "lookup_ms": {
            "p50": round(statistics.median(latencies), 2),
            "p99": round(_percentile(latencies, 99), 2),
        },
    }
