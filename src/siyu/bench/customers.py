"""`siyu bench customers`: batch upsert throughput (3 identities per customer) and identity lookup
latency through the HTTP API of a real server process, with a row-by-row upsert as the peer
figure from the same run."""

from __future__ import annotations

import json
import random
import statistics
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import insert, select

from siyu.auth.service import create_api_key
from siyu.bench.common import percentile as _percentile
from siyu.customers.models import Customer, CustomerIdentity
from siyu.customers.service import allocate_numbers
from siyu.db.base import table_of
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, unit_of_work
from siyu.org.models import Tenant
from siyu.serving import serve as _serve
from siyu.settings import normalise_database_url

APP_ID = "wx0123456789abcdef"


def _records(n: int, offset: int, rng: random.Random) -> list[dict[str, Any]]:
    out = []
    for i in range(offset, offset + n):
        out.append(
            {
                "name": f"客户{i}",
                "gender": rng.choice(["male", "female"]),
                "identities": [
                    {"type": "wechat_unionid", "value": f"oU{i:026d}"},
                    {"type": "wechat_openid", "namespace": APP_ID, "value": f"oP{i:026d}"},
                    {"type": "phone", "value": f"+86139{i:08d}"},
                ],
            }
        )
    return out


def _naive_upsert(engine: Any, tenant_id: int, records: list[dict[str, Any]]) -> None:
    """The peer: one SELECT per identity and one INSERT per row, as a simple CRM does it."""
    from siyu.customers.identity import normalise_identity

    with unit_of_work(engine) as session:
        for rec in records:
            keys = [normalise_identity(i["type"], i["value"], i.get("namespace")) for i in rec["identities"]]
            owner = None
            for t, ns, v in keys:
                owner = (
                    session.scalar(
                        select(CustomerIdentity.customer_id).where(
                            CustomerIdentity.tenant_id == tenant_id,
                            CustomerIdentity.type == t,
                            CustomerIdentity.namespace == ns,
                            CustomerIdentity.value == v,
                        )
                    )
                    or owner
                )
            if owner is None:
                number = allocate_numbers(session, tenant_id=tenant_id, count=1)[0]
                owner = session.execute(
                    insert(table_of(Customer)).returning(table_of(Customer).c.id),
                    {
                        "tenant_id": tenant_id,
                        "number": number,
                        "name": rec["name"],
                        "gender": rec["gender"],
                        "custom_fields": {},
                        "status": "active",
                    },
                ).scalar_one()
            for t, ns, v in keys:
                session.execute(
                    insert(table_of(CustomerIdentity)),
                    {"tenant_id": tenant_id, "customer_id": owner, "type": t, "namespace": ns, "value": v},
                )


def run(database_url: str, *, customers: int, batch: int, lookups: int) -> dict[str, Any]:
    """Run the benchmark on one database and return the figures (client and server are separate
    processes on loopback, as in production)."""
    url = normalise_database_url(database_url)
    engine = make_engine(url)
    upgrade(engine)
    slug = f"bench-{uuid.uuid4().hex[:8]}"
    with unit_of_work(engine) as session:
        tenant = Tenant(slug=slug, name="bench", timezone="Asia/Shanghai", currency="CNY")
        peer_tenant = Tenant(slug=slug + "-peer", name="bench peer", timezone="Asia/Shanghai", currency="CNY")
        session.add_all([tenant, peer_tenant])
        session.flush()
        tenant_id, peer_tenant_id = tenant.id, peer_tenant.id
        _, key = create_api_key(session, tenant_id=tenant_id, name="bench", actor=None)
    rng = random.Random(7)
    # Bodies are encoded before the clock starts: encoding is the client's work, not the server's.
    bodies = [
        json.dumps(
            {"records": _records(min(batch, customers - offset), offset, rng), "source": "bench"}
        ).encode()
        for offset in range(0, customers, batch)
    ]
    headers = {"Authorization": f"Bearer {key}"}
    proc, base = _serve(url)
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            timings: dict[str, float] = {}
            for phase in ("create", "update"):  # new customers, then the same records again
                started = time.perf_counter()
                for body in bodies:
                    response = client.post(
                        "/api/v1/customers/batch", content=body, headers={"Content-Type": "application/json"}
                    )
                    if response.status_code != 200:
                        raise RuntimeError(response.text)
                timings[phase] = time.perf_counter() - started
            latencies = []
            for _ in range(lookups):
                i = rng.randrange(customers)
                kind = rng.choice(["wechat_unionid", "phone"])
                value = f"oU{i:026d}" if kind == "wechat_unionid" else f"139{i:08d}"
                started = time.perf_counter()
                response = client.get("/api/v1/customers/lookup", params={"type": kind, "value": value})
                latencies.append((time.perf_counter() - started) * 1000)
                if response.status_code != 200:
                    raise RuntimeError(response.text)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    # Peer: row-by-row upsert of a smaller slice (it is slow), straight on the database.
    peer_n = max(batch, customers // 10)
    started = time.perf_counter()
    for offset in range(0, peer_n, batch):
        _naive_upsert(engine, peer_tenant_id, _records(min(batch, peer_n - offset), offset, rng))
    peer_seconds = time.perf_counter() - started
    dialect = engine.dialect.name
    engine.dispose()
    create_rate = customers / timings["create"]
    peer_rate = peer_n / peer_seconds
    return {
        "benchmark": "customers",
        "engine": dialect,
        "workload": {
            "customers": customers,
            "identities_per_customer": 3,
            "batch": batch,
            "lookups": lookups,
        },
        "figure": "batch upsert through the HTTP API (uvicorn, loopback), new customers per second",
        "upsert_create_customers_per_s": round(create_rate),
        "upsert_update_customers_per_s": round(customers / timings["update"]),
        "peer": "row-by-row upsert (SELECT per identity, INSERT per row) on the same database, same run",
        "peer_customers_per_s": round(peer_rate),
        "ratio_vs_peer": round(create_rate / peer_rate, 2),
        "target_customers_per_s": 5000,
        "lookup_ms": {
            "p50": round(statistics.median(latencies), 3),
            "p99": round(_percentile(latencies, 99), 3),
            "mean": round(statistics.fmean(latencies), 3),
        },
    }
