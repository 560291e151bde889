"""Background work of the ledger: holds nobody settled are released when they lapse."""

from __future__ import annotations

from sqlalchemy import Engine, select

from siyu import jobs
from siyu.core.clock import utcnow
from siyu.db.session import cross_tenant_access, unit_of_work
from siyu.loyalty import ledger
from siyu.loyalty.models import LedgerHold

EXPIRE_EVERY_S = 60


def expire_all(engine: Engine) -> int:
    """Release every lapsed hold of every brand (each brand in its own transactions); how many."""
    with unit_of_work(engine) as session, cross_tenant_access(session):
        tenant_ids = list(
            session.scalars(
                select(LedgerHold.tenant_id)
                .distinct()
                .where(LedgerHold.status == "active", LedgerHold.expires_at <= utcnow())
            )
        )
    released = 0
    for tenant_id in tenant_ids:
        while True:
            with unit_of_work(engine, tenant_id=tenant_id) as session:
                done = ledger.expire_holds(session, tenant_id=tenant_id)
            released += done
            if done < 500:
                break
    return released


@jobs.handler("loyalty.expire_holds", label_zh="释放过期冻结", label_en="Release lapsed holds")
def expire_holds_job(engine: Engine, run: jobs.JobRun) -> None:
    expire_all(engine)


jobs.schedule("loyalty.expire_holds", EXPIRE_EVERY_S)
