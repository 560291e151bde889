"""Background work of loyalty: holds nobody settled are released when they lapse, frozen points
become available when the refund window ends, tiers are reviewed under the downgrade rule."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from siyu import jobs
from siyu.core.clock import utcnow
from siyu.db.session import cross_tenant_access, unit_of_work
from siyu.loyalty import earning, ledger, membership, paid, service
from siyu.loyalty.models import LedgerHold, LoyaltyProgram, Membership, OrderEarning, PointsLot

EXPIRE_EVERY_S = 60
MATURE_EVERY_S = 600
REVIEW_EVERY_S = 6 * 3600
EXPIRE_POINTS_EVERY_S = 3600
MEMBERSHIPS_EVERY_S = 3600


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


def _each_brand(engine: Engine, model: Any, *where: Any) -> list[int]:
    with unit_of_work(engine) as session, cross_tenant_access(session):
        return list(session.scalars(select(model.tenant_id).distinct().where(*where)))


def mature_all(engine: Engine) -> int:
    """Move every brand's points whose refund window ended from frozen to available; how many earnings."""
    now = utcnow()
    moved = 0
    for tenant_id in _each_brand(
        engine, OrderEarning, OrderEarning.status == "pending", OrderEarning.available_at <= now
    ):
        while True:
            with unit_of_work(engine, tenant_id=tenant_id) as session:
                done = earning.mature_due(session, tenant_id=tenant_id, now=now)
            moved += done
            if done < 500:
                break
    return moved


def review_all(engine: Engine) -> int:
    """Apply every brand's downgrade rule to the members it is due for; how many moved."""
    moved = 0
    for tenant_id in _each_brand(engine, LoyaltyProgram, LoyaltyProgram.downgrade_rule != "none"):
        while True:
            with unit_of_work(engine, tenant_id=tenant_id) as session:
                done = membership.review(session, tenant_id=tenant_id)
            moved += done
            if done < 1000:
                break
    return moved


def expire_points_all(engine: Engine) -> int:
    """Expire every brand's lots past their date; how many lots."""
    now = utcnow()
    expired = 0
    for tenant_id in _each_brand(
        engine,
        PointsLot,
        PointsLot.remaining > 0,
        PointsLot.expires_at.is_not(None),
        PointsLot.expires_at <= now,
    ):
        while True:
            with unit_of_work(engine, tenant_id=tenant_id) as session:
                done = service.expire_points(session, tenant_id=tenant_id, now=now)
            expired += done
            if done < 500:
                break
    return expired


def memberships_all(engine: Engine) -> dict[str, int]:
    """Recognise membership revenue, expire ended terms and send renewal reminders, every brand."""
    totals = {"recognised_fen": 0, "expired": 0, "reminded": 0}
    for tenant_id in _each_brand(engine, Membership, Membership.status == "active"):
        after = 0
        while True:
            with unit_of_work(engine, tenant_id=tenant_id) as session:
                done = paid.run_terms(session, tenant_id=tenant_id, after_id=after)
            for name in totals:
                totals[name] += done[name]
            after = done["last_id"]
            if not after:
                break
    return totals


@jobs.handler(
    "loyalty.memberships", label_zh="付费会员收入确认与提醒", label_en="Membership revenue and reminders"
)
def memberships_job(engine: Engine, run: jobs.JobRun) -> None:
    memberships_all(engine)


@jobs.handler("loyalty.expire_points", label_zh="积分过期", label_en="Expire points")
def expire_points_job(engine: Engine, run: jobs.JobRun) -> None:
    expire_points_all(engine)


@jobs.handler("loyalty.mature_points", label_zh="积分解冻", label_en="Release frozen points")
def mature_points_job(engine: Engine, run: jobs.JobRun) -> None:
    mature_all(engine)


@jobs.handler("loyalty.review_tiers", label_zh="会员等级复核", label_en="Review member tiers")
def review_tiers_job(engine: Engine, run: jobs.JobRun) -> None:
    review_all(engine)


jobs.schedule("loyalty.mature_points", MATURE_EVERY_S)
jobs.schedule("loyalty.expire_points", EXPIRE_POINTS_EVERY_S)
jobs.schedule("loyalty.memberships", MEMBERSHIPS_EVERY_S)
jobs.schedule("loyalty.review_tiers", REVIEW_EVERY_S)
