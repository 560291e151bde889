"""`siyu bench ledger`: the loyalty ledger's speed and exactness.

1. **HTTP**: ledger operations per second through the API of a real server process, `clients`
   concurrent clients (stored-value spends and top-ups, points adjustments, 1 in 10 a replay of an
   earlier key), on a fresh brand.
2. **Exactness under concurrency, with the peer**: the same random transfers between customers, done
   by `workers` threads, each operation sent twice at once (a client's retry), once through the
   ledger (conditional updates, unique keys) and once the way the open-source anchors do it (read
   the balances, check, write the new balances; the key looked up before the insert). Each run
   reports operations per second, `siyu ledger check`'s violations and the keys with more than one
   effect.
3. **The check at scale**: `siyu ledger check` over a synthetic brand of `postings` postings
   (generated in the database by one INSERT … SELECT each).
"""

from __future__ import annotations

import os
import random
import threading
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import Engine, func, insert, select, text, update

from siyu.auth.service import create_api_key
from siyu.bench.common import percentile
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.customers.models import Customer
from siyu.customers.service import allocate_numbers
from siyu.db.base import table_of
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, unit_of_work
from siyu.loyalty import ledger, service
from siyu.loyalty.check import check
from siyu.loyalty.models import LedgerAccount, LedgerPosting, LedgerTransaction
from siyu.org.models import Tenant
from siyu.serving import serve
from siyu.settings import normalise_database_url

START_POINTS = 10_000


def _brand(engine: Engine, customers: int) -> tuple[int, list[int]]:
    slug = f"ledger-{uuid.uuid4().hex[:8]}"
    with unit_of_work(engine) as session:
        tenant = Tenant(slug=slug, name="ledger bench", timezone="Asia/Shanghai", currency="CNY")
        session.add(tenant)
        session.flush()
        numbers = allocate_numbers(session, tenant_id=tenant.id, count=customers)
        ids = list(
            session.execute(
                insert(table_of(Customer)).returning(table_of(Customer).c.id),
                [
                    {
                        "tenant_id": tenant.id,
                        "number": n,
                        "name": f"会员{n}",
                        "phone_e164": f"+86139{n:08d}",  # a real-name card: it may hold up to ¥5,000
                        "custom_fields": {},
                        "status": "active",
                    }
                    for n in numbers
                ],
            ).scalars()
        )
        return tenant.id, ids


def _seed_points(engine: Engine, tenant_id: int, customers: list[int]) -> None:
    with unit_of_work(engine) as session:
        for c in customers:
            service.earn_points(
                session, tenant_id=tenant_id, customer_id=c, points=START_POINTS, key=f"seed-{c}"
            )


# --- 1. HTTP ---------------------------------------------------------------------------------------


def run_http(url: str, *, clients: int, operations: int, customers: int) -> dict[str, Any]:
    """Ledger operations per second over HTTP with concurrent clients."""
    engine = make_engine(url)
    tenant_id, ids = _brand(engine, customers)
    with unit_of_work(engine) as session:
        _, key = create_api_key(session, tenant_id=tenant_id, name="bench", actor=None)
        for c in ids:
            service.top_up(
                session, tenant_id=tenant_id, customer_id=c, principal_fen=400_000, bonus_fen=0, key=f"t-{c}"
            )
    workers = os.cpu_count() or 1
    proc, base = serve(url, workers=workers)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client(i: int) -> None:
        rng = random.Random(i)
        sent: list[tuple[str, dict[str, Any]]] = []
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=60) as http:
            for n in range(operations):
                c = rng.choice(ids)
                if sent and rng.random() < 0.1:
                    path, body = rng.choice(sent)  # a client's retry of an earlier request
                elif rng.random() < 0.7:
                    path = f"/api/v1/customers/{c}/stored-value/spends"
                    body = {"amount_fen": rng.randint(1, 500), "idempotency_key": f"c{i}-op{n}-spend"}
                else:
                    path = f"/api/v1/customers/{c}/stored-value/top-ups"
                    body = {"principal_fen": rng.randint(1, 500), "idempotency_key": f"c{i}-op{n}-top"}
                started = time.perf_counter()
                answer = http.post(path, json=body)
                elapsed = time.perf_counter() - started
                sent.append((path, body))
                with lock:
                    latencies.append(elapsed * 1000)
                    statuses[answer.status_code] = statuses.get(answer.status_code, 0) + 1

    def ceiling(i: int) -> None:
        with httpx.Client(base_url=base, timeout=60) as http:
            for _ in range(operations):
                http.get("/health")

    try:
        seconds = _timed(client, clients)
        health_seconds = _timed(ceiling, clients)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with unit_of_work(engine) as session:
        report = check(session, tenant_id=tenant_id)
    return {
        "benchmark": "ledger.http",
        "engine": engine.dialect.name,
        "workload": {
            "clients": clients,
            "operations_per_client": operations,
            "mix": "70% stored-value spends, 30% top-ups; 1 in 10 a replay of an earlier request",
        },
        "server_processes": workers,
        "target_operations_per_s": 2000,
        "operations_per_s": round(clients * operations / seconds, 1),
        # The same clients asking GET /health (one SELECT 1) of the same server: what this machine's
        # HTTP stack allows at all, the ceiling the ledger figure is to be read against.
        "health_requests_per_s": round(clients * operations / health_seconds, 1),
        "ratio_to_health": round(health_seconds / seconds, 3),
        "p50_ms": round(percentile(latencies, 50), 2),
        "p95_ms": round(percentile(latencies, 95), 2),
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "violations_after": report["violations"],
    }


def _timed(work: Any, clients: int) -> float:
    threads = [threading.Thread(target=work, args=(i,)) for i in range(clients)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


# --- 2. exactness under concurrency, with the peer -------------------------------------------------


def _ledger_transfer(engine: Engine, tenant_id: int, key: str, a: int, b: int, points: int) -> None:
    with unit_of_work(engine) as session:
        source = ledger.customer_account(session, tenant_id=tenant_id, customer_id=a, asset="points")
        target = ledger.customer_account(session, tenant_id=tenant_id, customer_id=b, asset="points")
        ledger.post(
            session,
            tenant_id=tenant_id,
            kind="transfer",
            legs=[ledger.Leg(source.id, -points), ledger.Leg(target.id, points)],
            key=key,
            request={"from": a, "to": b, "points": points},
            customer_id=a,
        )


def _peer_transfer(engine: Engine, tenant_id: int, key: str, a: int, b: int, points: int) -> None:
    """The anchors' way: is the key there? read both balances, check, write the new ones."""
    accounts = table_of(LedgerAccount)
    with unit_of_work(engine) as session:
        seen = session.scalar(
            select(LedgerTransaction.id).where(
                LedgerTransaction.tenant_id == tenant_id, LedgerTransaction.reason == key
            )
        )
        if seen is not None:
            return
        source = ledger.customer_account(session, tenant_id=tenant_id, customer_id=a, asset="points")
        target = ledger.customer_account(session, tenant_id=tenant_id, customer_id=b, asset="points")
        have = session.scalar(select(accounts.c.balance).where(accounts.c.id == source.id)) or 0
        got = session.scalar(select(accounts.c.balance).where(accounts.c.id == target.id)) or 0
        if have < points:
            raise DomainError("insufficient_balance")
        session.execute(update(accounts).where(accounts.c.id == source.id).values(balance=have - points))
        session.execute(update(accounts).where(accounts.c.id == target.id).values(balance=got + points))
        tx = LedgerTransaction(
            tenant_id=tenant_id,
            kind="transfer",
            customer_id=a,
            idempotency_key=None,
            request_sha256="",
            reason=key,  # the peer's key: looked up first, no unique constraint behind it
            actor_type="system",
            result={},
            created_at=utcnow(),
        )
        session.add(tx)
        session.flush()
        session.execute(
            insert(table_of(LedgerPosting)),
            [
                {"tenant_id": tenant_id, "transaction_id": tx.id, "account_id": source.id, "amount": -points},
                {"tenant_id": tenant_id, "transaction_id": tx.id, "account_id": target.id, "amount": points},
            ],
        )


def _contend(
    engine: Engine, transfer: Any, *, workers: int, operations: int, customers: int
) -> dict[str, Any]:
    tenant_id, ids = _brand(engine, customers)
    _seed_points(engine, tenant_id, ids)
    plan = []
    rng = random.Random(11)
    for n in range(workers * operations // 2):
        a, b = rng.sample(ids, 2)
        plan.append((f"op-{n}", a, b, rng.randint(1, 3_000)))
    # Every operation is sent twice, by two workers at about the same time (a retry racing the first).
    queues: list[list[tuple[str, int, int, int]]] = [[] for _ in range(workers)]
    for n, op in enumerate(plan):
        queues[(2 * n) % workers].append(op)
        queues[(2 * n + 1) % workers].append(op)
    errors = {"refused": 0, "failed": 0}
    lock = threading.Lock()

    def work(i: int) -> None:
        for key, a, b, points in queues[i]:
            try:
                transfer(engine, tenant_id, key, a, b, points)
            except DomainError:
                with lock:
                    errors["refused"] += 1
            except Exception:
                with lock:
                    errors["failed"] += 1

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - started
    with unit_of_work(engine) as session:
        report = check(session, tenant_id=tenant_id)
        keys = func.coalesce(LedgerTransaction.idempotency_key, LedgerTransaction.reason)
        twice = session.scalar(
            select(func.count()).select_from(
                select(keys)
                .where(LedgerTransaction.tenant_id == tenant_id, LedgerTransaction.kind == "transfer")
                .group_by(keys)
                .having(func.count() > 1)
                .subquery()
            )
        )
        total = session.scalar(
            select(func.sum(LedgerAccount.balance)).where(
                LedgerAccount.tenant_id == tenant_id, LedgerAccount.customer_id.is_not(None)
            )
        )
    # Points lots are the ledger's own bookkeeping, which the peer does not keep: the comparison
    # counts the invariants both approaches answer for.
    shared = {k: v for k, v in report["by_invariant"].items() if v and k != "lots_mismatch"}
    return {
        "operations_per_s": round(len(plan) * 2 / seconds, 1),
        "violations": sum(shared.values()),
        "by_invariant": shared,
        "keys_with_two_effects": int(twice or 0),
        "points_created_or_lost": int(total or 0) - customers * START_POINTS,
        "refused": errors["refused"],
        "failed": errors["failed"],
    }


def run_contention(url: str, *, workers: int, operations: int, customers: int) -> dict[str, Any]:
    """The ledger and the read-check-write peer under the same concurrent transfers and retries."""
    engine = make_engine(url)
    ours = _contend(engine, _ledger_transfer, workers=workers, operations=operations, customers=customers)
    peer = _contend(engine, _peer_transfer, workers=workers, operations=operations, customers=customers)
    return {
        "benchmark": "ledger.contention",
        "engine": engine.dialect.name,
        "workload": {
            "workers": workers,
            "transfers": workers * operations // 2,
            "customers": customers,
            "each_sent": "twice at once (a retry racing the first)",
        },
        "ledger": ours,
        "peer_read_check_write": peer,
        "ratio_ops": round(ours["operations_per_s"] / peer["operations_per_s"], 2)
        if peer["operations_per_s"]
        else None,
    }


# --- 3. the check at scale -------------------------------------------------------------------------


def run_check(url: str, *, postings: int) -> dict[str, Any]:
    """`siyu ledger check` over a brand with `postings` postings (two per transaction, 1,000
    customers), generated inside the database."""
    engine = make_engine(url)
    tenant_id, ids = _brand(engine, 1_000)
    with unit_of_work(engine) as session:
        brand = ledger.brand_account(session, tenant_id=tenant_id, name="points:issued").id
        accounts = [
            ledger.customer_account(session, tenant_id=tenant_id, customer_id=c, asset="points").id
            for c in ids
        ]
    first_account, n_tx = min(accounts), postings // 2
    series = (
        "generate_series(1, :n) AS s(i)"
        if engine.dialect.name == "postgresql"
        else "(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < :n) SELECT i FROM s) AS s"
    )
    started = time.perf_counter()
    with engine.begin() as conn:
        base = conn.scalar(text("SELECT COALESCE(MAX(id), 0) FROM loyalty_transactions")) or 0
        conn.execute(
            text(
                "INSERT INTO loyalty_transactions (tenant_id, id, kind, request_sha256, actor_type, result, created_at) "
                f"SELECT :t, :base + i, 'earn', '', 'system', '{{}}', CURRENT_TIMESTAMP FROM {series}"
            ),
            {"t": tenant_id, "base": base, "n": n_tx},
        )
        conn.execute(
            text(
                "INSERT INTO loyalty_postings (tenant_id, transaction_id, account_id, amount) "
                f"SELECT :t, :base + i, :first + (i % 1000), 1 + (i % 50) FROM {series}"
            ),
            {"t": tenant_id, "base": base, "n": n_tx, "first": first_account},
        )
        conn.execute(
            text(
                "INSERT INTO loyalty_postings (tenant_id, transaction_id, account_id, amount) "
                f"SELECT :t, :base + i, :brand, -(1 + (i % 50)) FROM {series}"
            ),
            {"t": tenant_id, "base": base, "n": n_tx, "brand": brand},
        )
        conn.execute(
            text(
                "UPDATE loyalty_accounts SET balance = (SELECT COALESCE(SUM(amount), 0) FROM loyalty_postings p "
                "WHERE p.account_id = loyalty_accounts.id) WHERE tenant_id = :t AND customer_id IS NOT NULL"
            ),
            {"t": tenant_id},
        )
        conn.execute(  # each account's points as one lot (the ledger keeps lots with the balance)
            text(
                "INSERT INTO loyalty_points_lots (tenant_id, customer_id, transaction_id, points, remaining, "
                "expires_at, created_at) SELECT tenant_id, customer_id, NULL, balance, balance, NULL, :now "
                "FROM loyalty_accounts WHERE tenant_id = :t AND customer_id IS NOT NULL AND asset = 'points' "
                "AND balance > 0"
            ),
            {"t": tenant_id, "now": utcnow()},
        )
        if engine.dialect.name == "postgresql":
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('loyalty_transactions', 'id'), "
                    "(SELECT MAX(id) FROM loyalty_transactions))"
                )
            )
            conn.execute(text("ANALYZE loyalty_postings"))
    generated = time.perf_counter() - started
    with unit_of_work(engine) as session:
        report = check(session, tenant_id=tenant_id)
    return {
        "benchmark": "ledger.check",
        "engine": engine.dialect.name,
        "workload": {"postings": report["postings"], "transactions": report["transactions"]},
        "target_s": 60,
        "generated_s": round(generated, 1),
        "check_s": report["seconds"],
        "violations": report["violations"],
    }


def run(url: str, *, clients: int, operations: int, workers: int, postings: int) -> list[dict[str, Any]]:
    """Every part on one database (migrated first)."""
    url = normalise_database_url(url)
    upgrade(make_engine(url))
    return [
        run_http(url, clients=clients, operations=operations, customers=200),
        run_contention(url, workers=workers, operations=operations, customers=20),
        run_check(url, postings=postings),
    ]
