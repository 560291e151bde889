"""Paid membership: plans (a price for a term, the privileges of a tier and its own), purchase and
renewal, revenue recognised over the term, cancellation with a pro-rata refund, renewal reminders
and the renewal rate by cohort.

The ledger: a purchase books the price to the customer's `membership_deferred` account against
`membership:cash`; the job `loyalty.memberships` moves the share of the term that has passed from
deferred to `membership:revenue` (straight-line by the second, the whole price by the end); a
cancellation refunds what is not yet recognised, less the plan's fee, which is revenue.
A renewal is a new term that starts when the current one ends (`renewal_of_id`), so the cohort of
terms that ended in a month, and how many of them were renewed, is the renewal rate.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, aliased

from siyu import events
from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.loyalty import ledger
from siyu.loyalty.ledger import Leg
from siyu.loyalty.lots import add_months
from siyu.loyalty.models import Membership, MembershipPlan
from siyu.org.facade import tenant_zone
from siyu.platform import audit

REMIND_BEFORE = timedelta(days=7)


def plans(session: Session, *, tenant_id: int) -> list[MembershipPlan]:
    """The brand's plans, by price."""
    return list(
        session.scalars(
            select(MembershipPlan)
            .where(MembershipPlan.tenant_id == tenant_id)
            .order_by(MembershipPlan.price_fen)
        )
    )


def save_plans(
    session: Session, *, tenant_id: int, wanted: list[dict[str, Any]], actor: Principal | None
) -> list[MembershipPlan]:
    """Create or change plans by code (audited). A plan left out is retired (`active` false), never
    deleted: its members keep their terms. Price and term changes apply to new purchases."""
    current = {p.code: p for p in plans(session, tenant_id=tenant_id)}
    now = utcnow()
    for spec in wanted:
        row = current.get(spec["code"])
        if row is None:
            session.add(MembershipPlan(tenant_id=tenant_id, created_at=now, **spec))
        else:
            for name, value in spec.items():
                setattr(row, name, value)
    for code, row in current.items():
        if code not in {spec["code"] for spec in wanted}:
            row.active = False
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="loyalty.plans.save",
        object_type="loyalty_program",
        object_id=None,
        data={"plans": wanted},
    )
    return plans(session, tenant_id=tenant_id)


def current_term(
    session: Session, *, tenant_id: int, customer_id: int, at: datetime | None = None
) -> Membership | None:
    """The customer's term in force now (or the latest one not yet ended)."""
    moment = at or utcnow()
    return session.scalar(
        select(Membership)
        .where(
            Membership.tenant_id == tenant_id,
            Membership.customer_id == customer_id,
            Membership.status == "active",
            Membership.ends_at > moment,
        )
        .order_by(Membership.starts_at)
        .limit(1)
    )


def purchase(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    plan_code: str,
    key: str,
    auto_renew: bool = False,
    store_id: int | None = None,
    actor: Principal | None = None,
) -> tuple[Membership, bool]:
    """Buy (or renew) a plan, once per key: a renewal starts when the customer's last term of the
    plan ends. Refused: an unknown or retired plan, a term of another plan still running."""
    prior = session.scalar(
        select(Membership).where(Membership.tenant_id == tenant_id, Membership.idempotency_key == key)
    )
    if prior is not None:
        return prior, False
    plan = session.scalar(
        select(MembershipPlan).where(MembershipPlan.tenant_id == tenant_id, MembershipPlan.code == plan_code)
    )
    if plan is None or not plan.active:
        raise not_found("membership_plan")
    now = utcnow()
    last = session.scalar(
        select(Membership)
        .where(
            Membership.tenant_id == tenant_id,
            Membership.customer_id == customer_id,
            Membership.status == "active",
            Membership.ends_at > now,
        )
        .order_by(Membership.ends_at.desc())
        .limit(1)
        .with_for_update()
    )
    if last is not None and last.plan_id != plan.id:
        raise DomainError(
            "conflict",
            reason_zh="该客户的另一种付费会员尚未到期，请到期后再购买或先取消",
            reason_en="The customer's term of another plan is still running; buy after it ends or cancel it first",
        )
    starts = last.ends_at if last is not None else now
    found = ledger.accounts(
        session,
        tenant_id=tenant_id,
        customer_id=customer_id,
        assets=("membership_deferred",),
        brand=("membership:cash",),
    )
    posted = ledger.post(
        session,
        tenant_id=tenant_id,
        kind="membership",
        legs=[
            Leg(found["membership_deferred"].id, plan.price_fen),
            Leg(found["membership:cash"].id, -plan.price_fen),
        ],
        key=f"membership:{key}",
        request={"op": "membership", "customer_id": customer_id, "plan": plan.code, "price": plan.price_fen},
        customer_id=customer_id,
        actor=actor,
        store_id=store_id,
        reason=plan.name_zh,
    )
    term = Membership(
        tenant_id=tenant_id,
        customer_id=customer_id,
        plan_id=plan.id,
        price_fen=plan.price_fen,
        starts_at=starts,
        ends_at=add_months(starts, plan.term_months),
        status="active",
        auto_renew=auto_renew,
        renewal_of_id=last.id if last is not None else None,
        transaction_id=posted.transaction.id,
        recognised_fen=0,
        refunded_fen=0,
        store_id=store_id,
        idempotency_key=key,
        created_at=now,
    )
    session.add(term)
    session.flush()
    events.record(
        session,
        "loyalty.membership_bought",
        tenant_id=tenant_id,
        aggregate="membership",
        aggregate_id=term.id,
        data={"customer_id": customer_id, "plan": plan.code, "renewal": last is not None},
    )
    return term, True


def _earned(term: Membership, at: datetime) -> int:
    """How much of the term's price is revenue at `at` (straight-line; all of it at the end)."""
    if at <= term.starts_at:
        return 0
    if at >= term.ends_at:
        return term.price_fen
    whole = (term.ends_at - term.starts_at).total_seconds()
    return int(term.price_fen * (at - term.starts_at).total_seconds() // whole)


def _recognise(session: Session, term: Membership, at: datetime) -> int:
    target = _earned(term, at)
    due = target - term.recognised_fen
    if due <= 0:
        return 0
    found = ledger.accounts(
        session,
        tenant_id=term.tenant_id,
        customer_id=term.customer_id,
        assets=("membership_deferred",),
        brand=("membership:revenue",),
    )
    ledger.post(
        session,
        tenant_id=term.tenant_id,
        kind="membership_revenue",
        legs=[Leg(found["membership_deferred"].id, -due), Leg(found["membership:revenue"].id, due)],
        key=f"membership-revenue:{term.id}:{target}",
        request={"op": "membership_revenue", "term": term.id, "to": target},
        customer_id=term.customer_id,
        store_id=term.store_id,
    )
    term.recognised_fen = target
    return due


def run_terms(
    session: Session, *, tenant_id: int, now: datetime | None = None, after_id: int = 0, limit: int = 500
) -> dict[str, int]:
    """The hourly work on active terms (a page of them, by id after `after_id`): recognise revenue
    up to now, expire terms that ended, remind auto-renewing members a week before the end (the
    event `loyalty.membership_renewal_due`). `last_id` is where the next page starts (0: done)."""
    moment = now or utcnow()
    counts = {"recognised_fen": 0, "expired": 0, "reminded": 0, "last_id": 0}
    terms = list(
        session.scalars(
            select(Membership)
            .where(
                Membership.tenant_id == tenant_id,
                Membership.status == "active",
                Membership.starts_at < moment,
                Membership.id > after_id,
            )
            .order_by(Membership.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for term in terms:
        counts["recognised_fen"] += _recognise(session, term, moment)
        if term.ends_at <= moment:
            term.status = "expired"
            counts["expired"] += 1
        elif term.auto_renew and term.reminded_at is None and term.ends_at - moment <= REMIND_BEFORE:
            term.reminded_at = moment
            counts["reminded"] += 1
            events.record(
                session,
                "loyalty.membership_renewal_due",
                tenant_id=tenant_id,
                aggregate="membership",
                aggregate_id=term.id,
                data={"customer_id": term.customer_id, "ends_at": term.ends_at.isoformat()},
            )
    session.flush()
    counts["last_id"] = terms[-1].id if len(terms) == limit else 0
    return counts


def cancel(
    session: Session, *, tenant_id: int, membership_id: int, reason: str, actor: Principal | None
) -> Membership:
    """Cancel a term: revenue is recognised up to now, what is left is refunded less the plan's fee
    (which becomes revenue). Audited. Refused: a term that is not active."""
    term = session.scalar(
        select(Membership)
        .where(Membership.tenant_id == tenant_id, Membership.id == membership_id)
        .with_for_update()
    )
    if term is None:
        raise not_found("membership")
    if term.status != "active":
        raise DomainError(
            "conflict",
            reason_zh="该付费会员已结束或已取消",
            reason_en="This membership already ended or was cancelled",
        )
    now = utcnow()
    _recognise(session, term, now)
    plan = session.get(MembershipPlan, term.plan_id)
    left = term.price_fen - term.recognised_fen
    fee = left * (plan.refund_fee_pct if plan else 0) // 100
    refund = left - fee
    if left > 0:
        found = ledger.accounts(
            session,
            tenant_id=tenant_id,
            customer_id=term.customer_id,
            assets=("membership_deferred",),
            brand=("membership:cash", "membership:revenue"),
        )
        legs = [Leg(found["membership_deferred"].id, -left)]
        if refund:
            legs.append(Leg(found["membership:cash"].id, refund))
        if fee:
            legs.append(Leg(found["membership:revenue"].id, fee))
        ledger.post(
            session,
            tenant_id=tenant_id,
            kind="membership_refund",
            legs=legs,
            key=f"membership-cancel:{term.id}",
            request={"op": "membership_cancel", "term": term.id},
            customer_id=term.customer_id,
            actor=actor,
            store_id=term.store_id,
            reason=reason,
            noted={"refund_fen": refund, "fee_fen": fee},
        )
        term.recognised_fen += fee
    term.refunded_fen = refund
    term.status = "cancelled"
    term.cancelled_at = now
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="loyalty.membership.cancel",
        object_type="customer",
        object_id=term.customer_id,
        data={"membership_id": term.id, "refund_fen": refund, "fee_fen": fee, "reason": reason},
    )
    return term


@dataclass(frozen=True)
class Cohort:
    """Terms that ended in one month (the brand's time zone) and how many were renewed."""

    month: str
    ended: int
    renewed: int

    @property
    def rate(self) -> float | None:
        return self.renewed / self.ended if self.ended else None


def renewal_rates(session: Session, *, tenant_id: int, now: datetime | None = None) -> list[Cohort]:
    """By the month terms ended (cancelled ones are not counted): how many, and how many renewed."""
    moment = now or utcnow()
    zone = tenant_zone(session, tenant_id=tenant_id)
    follow = aliased(Membership)
    rows = session.execute(
        select(Membership.ends_at, func.count(follow.id))
        .outerjoin(follow, follow.renewal_of_id == Membership.id)
        .where(
            Membership.tenant_id == tenant_id,
            Membership.ends_at <= moment,
            Membership.status != "cancelled",
        )
        .group_by(Membership.id, Membership.ends_at)
    ).all()
    by_month: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for ended_at, renewals in rows:
        month = ended_at.astimezone(zone).strftime("%Y-%m")
        by_month[month][0] += 1
        by_month[month][1] += 1 if renewals else 0
    return [Cohort(m, n, r) for m, (n, r) in sorted(by_month.items())]
