"""The concurrent bank test on PostgreSQL: 16 workers move points between customers at random and
retry; some lose the reply after their commit (the connection dies before the answer arrives) and
some are killed before it. Each key has exactly one effect, nothing is created or lost, and
`siyu ledger check` finds no violation."""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from siyu.core.errors import DomainError
from siyu.db.session import unit_of_work
from siyu.loyalty import ledger, service
from siyu.loyalty.check import check
from siyu.loyalty.models import LedgerTransaction
from tests.factories import build_world
from tests.support import run_threads

WORKERS, OPERATIONS, CUSTOMERS, START = 16, 30, 8, 10_000


class LostReplyError(Exception):
    """The commit happened; the answer never reached the client."""


def _transfer(
    engine: Engine, tenant_id: int, key: str, source: int, target: int, points: int, fate: str
) -> int:
    """One attempt: the transaction's id, or an error. `fate`: ok, lost (reply lost after the
    commit) or killed (the server ends the connection before the commit)."""
    with unit_of_work(engine) as db:
        a = ledger.customer_account(db, tenant_id=tenant_id, customer_id=source, asset="points")
        b = ledger.customer_account(db, tenant_id=tenant_id, customer_id=target, asset="points")
        posted = ledger.post(
            db,
            tenant_id=tenant_id,
            kind="transfer",
            legs=[ledger.Leg(a.id, -points), ledger.Leg(b.id, points)],
            key=key,
            request={"from": source, "to": target, "points": points},
            customer_id=source,
        )
        answer = posted.transaction.id
        if fate == "killed":
            db.execute(text("SELECT pg_terminate_backend(pg_backend_pid())"))
    if fate == "lost":
        raise LostReplyError
    return answer


def test_sixteen_workers_with_retries_and_killed_connections(pg_engine: Engine) -> None:
    w = build_world(pg_engine)
    for customer in range(1, CUSTOMERS + 1):
        with unit_of_work(pg_engine) as db:
            service.earn_points(
                db, tenant_id=w.tenant_id, customer_id=customer, points=START, key=f"seed-{customer}"
            )

    def worker(i: int) -> dict[str, Any]:
        rng = random.Random(i)
        outcomes: dict[str, Any] = {}
        retries = {"lost": 0, "killed": 0}
        for n in range(OPERATIONS):
            source, target = rng.sample(range(1, CUSTOMERS + 1), 2)
            points = rng.randint(1, 3_000)
            key = f"w{i}-{n}"
            answers: set[int] = set()
            refused = False
            for attempt in range(6):
                fate = "ok" if attempt >= 3 else rng.choices(["ok", "lost", "killed"], [6, 2, 2])[0]
                try:
                    answers.add(_transfer(pg_engine, w.tenant_id, key, source, target, points, fate))
                    break
                except DomainError as exc:
                    assert exc.code == "insufficient_balance"
                    refused = True
                    break
                except (LostReplyError, DBAPIError):
                    retries[fate] += 1
                    continue  # the client does not know what happened: it retries with the same key
            outcomes[key] = {
                "from": source,
                "to": target,
                "points": points,
                "answers": answers,
                "refused": refused,
            }
        return {"outcomes": outcomes, "retries": retries}

    results: dict[str, Any] = {}
    retried = {"lost": 0, "killed": 0}
    for part in run_threads(WORKERS, worker):
        assert part is not None, "a worker did not finish"
        results.update(part["outcomes"])
        for fate, n in part["retries"].items():
            retried[fate] += n
    # Both failures happened, many times: replies lost after a commit, connections killed before one.
    assert retried["lost"] > 20 and retried["killed"] > 20, retried

    with unit_of_work(pg_engine) as db:
        made = dict(
            db.execute(
                select(LedgerTransaction.idempotency_key, func.count())
                .where(LedgerTransaction.tenant_id == w.tenant_id, LedgerTransaction.kind == "transfer")
                .group_by(LedgerTransaction.idempotency_key)
            ).all()
        )
        ids = dict(
            db.execute(
                select(LedgerTransaction.idempotency_key, LedgerTransaction.id).where(
                    LedgerTransaction.tenant_id == w.tenant_id, LedgerTransaction.kind == "transfer"
                )
            ).all()
        )
        balances = {
            c: ledger.balances(db, tenant_id=w.tenant_id, customer_id=c)["points"][0]
            for c in range(1, CUSTOMERS + 1)
        }
        report = check(db, tenant_id=w.tenant_id)

    expected = {c: START for c in range(1, CUSTOMERS + 1)}
    for key, outcome in results.items():
        if outcome["answers"]:
            # Every answer the client saw for the key is the one transaction the key made.
            assert made.get(key) == 1 and outcome["answers"] == {ids[key]}, key
            expected[outcome["from"]] -= outcome["points"]
            expected[outcome["to"]] += outcome["points"]
        elif key in made:
            # Only lost replies and no later answer: the commit still happened, once.
            assert made[key] == 1 and not outcome["refused"]
            expected[outcome["from"]] -= outcome["points"]
            expected[outcome["to"]] += outcome["points"]
    assert set(made.values()) <= {1}
    assert balances == expected and sum(balances.values()) == CUSTOMERS * START
    assert all(b >= 0 for b in balances.values())
    assert report["violations"] == 0, report
    assert len(made) > WORKERS * OPERATIONS // 3  # the test did move points, many times
