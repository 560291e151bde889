"""Background work of payments: orders whose notification never came are looked up."""

from __future__ import annotations

from sqlalchemy import Engine, select

from siyu import jobs
from siyu.core.clock import utcnow
from siyu.db.session import cross_tenant_access, unit_of_work
from siyu.payments import service
from siyu.payments.models import PaymentIntent

RECONCILE_EVERY_S = 120


def reconcile_all(engine: Engine) -> dict[str, int]:
    """Reconcile every brand's open intents (each brand in its own transaction)."""
    with unit_of_work(engine) as session, cross_tenant_access(session):
        tenant_ids = list(
            session.scalars(
                select(PaymentIntent.tenant_id)
                .distinct()
                .where(
                    PaymentIntent.status == "created",
                    PaymentIntent.created_at <= utcnow() - service.RECONCILE_AFTER,
                )
            )
        )
    totals = {"applied": 0, "closed": 0, "waiting": 0}
    for tenant_id in tenant_ids:
        with unit_of_work(engine, tenant_id=tenant_id) as session:
            for name, n in service.reconcile(session, tenant_id=tenant_id).items():
                totals[name] += n
    return totals


@jobs.handler("payments.reconcile", label_zh="支付对账（查单）", label_en="Reconcile payments (query)")
def reconcile_job(engine: Engine, run: jobs.JobRun) -> None:
    reconcile_all(engine)


jobs.schedule("payments.reconcile", RECONCILE_EVERY_S)
