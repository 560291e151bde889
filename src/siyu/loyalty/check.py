"""`siyu ledger check`: every invariant of the ledger, verified from the rows themselves.

1. `unbalanced`: a transaction whose postings do not sum to zero in some unit.
2. `balance_mismatch`: a customer account whose balance is not the sum of its postings.
3. `negative`: a customer account below zero, holding less than zero, or holding more than it has.
4. `held_mismatch`: an account whose `held` is not the sum of its active holds.
5. `hold_outcome`: a hold whose state disagrees with the transactions naming it (an active hold
   already settled, a closed hold without its settling transaction, or more than one).
6. `over_reversed`: an account to which a transaction's reversals gave back more than the
   transaction moved (or in the wrong direction).
7. `cross_brand`: a posting whose account or transaction belongs to another brand.
8. `pending_mismatch`: a customer's frozen points (`points_pending`) that are not what their orders
   earned and refunds left, over the earnings still in the refund window.
9. `growth_mismatch`: a member card whose growth value is not the sum of its growth entries.
10. `lots_mismatch`: a customer's points that are not what their open points lots hold.

Each check is one set-based query (group-bys over the postings), so it scales with the ledger, not
with round trips; `examples` holds up to five ids per invariant to start looking from.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Select, and_, case, func, or_, select
from sqlalchemy.orm import Session

from siyu.loyalty.models import (
    GrowthEntry,
    LedgerAccount,
    LedgerHold,
    LedgerPosting,
    LedgerTransaction,
    MemberCard,
    OrderEarning,
    PointsLot,
)

A, P, T, H = LedgerAccount, LedgerPosting, LedgerTransaction, LedgerHold
EXAMPLES = 5


def _scoped(stmt: Any, column: Any, tenant_id: int | None) -> Any:
    return stmt if tenant_id is None else stmt.where(column == tenant_id)


def _queries(tenant_id: int | None) -> dict[str, Select[Any]]:
    sums = _scoped(
        select(P.account_id.label("account_id"), func.sum(P.amount).label("total")).group_by(P.account_id),
        P.tenant_id,
        tenant_id,
    ).subquery()
    unbalanced = _scoped(
        select(P.transaction_id)
        .join(A, A.id == P.account_id)
        .group_by(P.transaction_id, A.unit)
        .having(func.sum(P.amount) != 0),
        P.tenant_id,
        tenant_id,
    )
    mismatch = _scoped(
        select(A.id)
        .outerjoin(sums, sums.c.account_id == A.id)
        .where(A.customer_id.is_not(None), A.balance != func.coalesce(sums.c.total, 0)),
        A.tenant_id,
        tenant_id,
    )
    negative = _scoped(
        select(A.id).where(A.customer_id.is_not(None), or_(A.balance < 0, A.held < 0, A.held > A.balance)),
        A.tenant_id,
        tenant_id,
    )
    active = _scoped(
        select(H.account_id.label("account_id"), func.sum(H.amount).label("held"))
        .where(H.status == "active")
        .group_by(H.account_id),
        H.tenant_id,
        tenant_id,
    ).subquery()
    held = _scoped(
        select(A.id)
        .outerjoin(active, active.c.account_id == A.id)
        .where(A.held != func.coalesce(active.c.held, 0)),
        A.tenant_id,
        tenant_id,
    )
    settling = _scoped(
        select(T.hold_id.label("hold_id"), func.count().label("n"))
        .where(T.hold_id.is_not(None))
        .group_by(T.hold_id),
        T.tenant_id,
        tenant_id,
    ).subquery()
    settled = func.coalesce(settling.c.n, 0)
    hold_outcome = _scoped(
        select(H.id)
        .outerjoin(settling, settling.c.hold_id == H.id)
        .where(or_(and_(H.status == "active", settled != 0), and_(H.status != "active", settled != 1))),
        H.tenant_id,
        tenant_id,
    )
    original = P.__table__.alias("original")
    reversal = P.__table__.alias("reversal")
    rtx = T.__table__.alias("rtx")
    back = (
        select(
            rtx.c.reverses_id.label("tx"),
            reversal.c.account_id.label("account_id"),
            func.sum(reversal.c.amount).label("back"),
        )
        .join(reversal, reversal.c.transaction_id == rtx.c.id)
        .where(rtx.c.reverses_id.is_not(None))
        .group_by(rtx.c.reverses_id, reversal.c.account_id)
    )
    if tenant_id is not None:
        back = back.where(rtx.c.tenant_id == tenant_id)
    backs = back.subquery()
    moving = select(
        original.c.transaction_id.label("tx"),
        original.c.account_id,
        func.sum(original.c.amount).label("moved"),
    ).group_by(original.c.transaction_id, original.c.account_id)
    if tenant_id is not None:
        moving = moving.where(original.c.tenant_id == tenant_id)
    moved = moving.subquery()
    over = (
        select(backs.c.tx)
        .outerjoin(moved, and_(moved.c.tx == backs.c.tx, moved.c.account_id == backs.c.account_id))
        .join(A, A.id == backs.c.account_id)
        .where(
            A.customer_id.is_not(None),
            or_(
                moved.c.moved.is_(None),
                func.abs(backs.c.back) > func.abs(moved.c.moved),
                case((moved.c.moved > 0, backs.c.back > 0), else_=backs.c.back < 0),
            ),
        )
    )
    cross = _scoped(
        select(P.id)
        .join(A, A.id == P.account_id)
        .join(T, T.id == P.transaction_id)
        .where(or_(A.tenant_id != P.tenant_id, T.tenant_id != P.tenant_id)),
        P.tenant_id,
        tenant_id,
    )
    earned = _scoped(
        select(
            OrderEarning.tenant_id.label("tenant_id"),
            OrderEarning.customer_id.label("customer_id"),
            func.sum(OrderEarning.points - OrderEarning.reversed_points).label("frozen"),
        )
        .where(OrderEarning.status == "pending")
        .group_by(OrderEarning.tenant_id, OrderEarning.customer_id),
        OrderEarning.tenant_id,
        tenant_id,
    ).subquery()
    pending = _scoped(
        select(A.id)
        .outerjoin(earned, and_(earned.c.tenant_id == A.tenant_id, earned.c.customer_id == A.customer_id))
        .where(A.asset == "points_pending", A.balance != func.coalesce(earned.c.frozen, 0)),
        A.tenant_id,
        tenant_id,
    )
    entries = _scoped(
        select(GrowthEntry.card_id.label("card_id"), func.sum(GrowthEntry.amount).label("total")).group_by(
            GrowthEntry.card_id
        ),
        GrowthEntry.tenant_id,
        tenant_id,
    ).subquery()
    growth = _scoped(
        select(MemberCard.id)
        .outerjoin(entries, entries.c.card_id == MemberCard.id)
        .where(MemberCard.growth != func.coalesce(entries.c.total, 0)),
        MemberCard.tenant_id,
        tenant_id,
    )
    open_lots = _scoped(
        select(
            PointsLot.tenant_id.label("tenant_id"),
            PointsLot.customer_id.label("customer_id"),
            func.sum(PointsLot.remaining).label("remaining"),
        ).group_by(PointsLot.tenant_id, PointsLot.customer_id),
        PointsLot.tenant_id,
        tenant_id,
    ).subquery()
    lots = _scoped(
        select(A.id)
        .outerjoin(
            open_lots, and_(open_lots.c.tenant_id == A.tenant_id, open_lots.c.customer_id == A.customer_id)
        )
        .where(
            A.asset == "points",
            A.customer_id.is_not(None),
            A.balance != func.coalesce(open_lots.c.remaining, 0),
        ),
        A.tenant_id,
        tenant_id,
    )
    return {
        "unbalanced": unbalanced,
        "balance_mismatch": mismatch,
        "negative": negative,
        "held_mismatch": held,
        "hold_outcome": hold_outcome,
        "over_reversed": over,
        "cross_brand": cross,
        "pending_mismatch": pending,
        "growth_mismatch": growth,
        "lots_mismatch": lots,
    }


def check(session: Session, *, tenant_id: int | None = None) -> dict[str, Any]:
    """Every invariant over one brand's ledger (or all of them): counts, examples, the sizes."""
    started = time.perf_counter()
    by_invariant: dict[str, int] = {}
    examples: dict[str, list[int]] = {}
    for name, stmt in _queries(tenant_id).items():
        found = stmt.subquery()
        count = int(session.scalar(select(func.count()).select_from(found)) or 0)
        by_invariant[name] = count
        if count:
            examples[name] = [int(x) for x in session.scalars(select(found.c[0]).limit(EXAMPLES))]
    sizes = {
        label: int(
            session.scalar(_scoped(select(func.count()).select_from(model), model.tenant_id, tenant_id)) or 0
        )
        for label, model in (("accounts", A), ("transactions", T), ("postings", P), ("holds", H))
    }
    return {
        "check": "ledger",
        **sizes,
        "violations": sum(by_invariant.values()),
        "by_invariant": by_invariant,
        "examples": examples,
        "seconds": round(time.perf_counter() - started, 3),
    }
