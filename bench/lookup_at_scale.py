"""Identity lookup latency through the API of a real server on a large demo brand; prints JSON.

    .venv/bin/python bench/lookup_at_scale.py --database-url sqlite:///var/bench-1m.db --customers 1000000

Builds the demo brand first unless the database already holds one of that size (building
1,000,000 customers on SQLite takes about three minutes); then looks up random existing
identities of every type.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time

import httpx
from sqlalchemy import func, select

from siyu.auth.service import create_api_key
from siyu.benchmarks.customers import _percentile, _serve
from siyu.customers.models import Customer, CustomerIdentity
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, unit_of_work
from siyu.demo.builder import build_demo
from siyu.org.models import Tenant
from siyu.settings import normalise_database_url


def main() -> None:
    """Build if needed, then time lookups."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--lookups", type=int, default=2_000)
    parser.add_argument("--stores", type=int, default=30, help="stores of the demo brand it builds")
    parser.add_argument("--order-days", type=int, default=365, help="days of orders of the demo brand")
    args = parser.parse_args()
    url = normalise_database_url(args.database_url)
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
    if size != args.customers:
        started = time.perf_counter()
        tenant_id = build_demo(
            engine, customers=args.customers, stores=args.stores, order_days=args.order_days
        ).tenant_id
        build_seconds = round(time.perf_counter() - started, 1)
    rng = random.Random(11)
    with unit_of_work(engine) as session:
        _, key = create_api_key(session, tenant_id=tenant_id, name="bench-lookup", actor=None)
        low, high = session.execute(
            select(func.min(CustomerIdentity.id), func.max(CustomerIdentity.id)).where(
                CustomerIdentity.tenant_id == tenant_id
            )
        ).one()
        picks = [rng.randint(low, high) for _ in range(args.lookups * 2)]
        identities = session.execute(
            select(CustomerIdentity.type, CustomerIdentity.namespace, CustomerIdentity.value).where(
                CustomerIdentity.id.in_(picks)
            )
        ).all()[: args.lookups]
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
    print(
        json.dumps(
            {
                "benchmark": "lookup_at_scale",
                "engine": engine.dialect.name,
                "workload": {"customers": args.customers, "lookups": len(latencies)},
                "demo_build_seconds": build_seconds,
                "lookup_ms": {
                    "p50": round(statistics.median(latencies), 2),
                    "p99": round(_percentile(latencies, 99), 2),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
