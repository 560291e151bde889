"""What other packages may use of loyalty — customers' balances (the 360, the guide's card) — and
what loyalty declares to them: a customer merge moves the merged record's balances to the survivor
by a ledger transaction of its own, and an unmerge reverses it."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.core.errors import DomainError
from siyu.customers.facade import (
    MergeHandler,
    MergeParties,
    exempt_customer_reference,
    register_customer_reference,
)
from siyu.db.base import table_of
from siyu.loyalty import ledger, liability
from siyu.loyalty.ledger import Leg, balances
from siyu.loyalty.lots import expiring
from siyu.loyalty.membership import Standing, cards_opened, standing
from siyu.loyalty.models import (
    Denial,
    LedgerAccount,
    LedgerHold,
    LedgerTransaction,
    MemberCard,
    Membership,
    OrderEarning,
    PointsLot,
    StoredValueRefund,
)
from siyu.loyalty.service import KIND_LABELS, active_holds, history
from siyu.payments.facade import PaymentIntent


def _merge_balances(session: Session, parties: MergeParties) -> dict[str, Any]:
    """The merged record's balances to the survivor, in one transaction (refused while it holds
    units for an open checkout)."""
    tenant_id = parties.tenant_id
    accounts = list(
        session.scalars(
            select(LedgerAccount)
            .where(LedgerAccount.tenant_id == tenant_id, LedgerAccount.customer_id == parties.merged_id)
            .order_by(LedgerAccount.id)
        )
    )
    if any(a.held for a in accounts):
        raise DomainError(
            "conflict",
            reason_zh="被合并的客户有未结算的积分/储值冻结，请先结算或取消订单",
            reason_en="the record being merged has open holds of points or stored value; settle or cancel them first",
        )
    # The merged record's points lots (with their dates) go to the survivor as they are; the
    # transaction below moves the balances and leaves the lots to this.
    session.execute(
        update(table_of(PointsLot))
        .where(
            table_of(PointsLot).c.tenant_id == tenant_id,
            table_of(PointsLot).c.customer_id == parties.merged_id,
        )
        .values(customer_id=parties.survivor_id)
    )
    legs: list[Leg] = []
    for account in accounts:
        if account.balance:
            target = ledger.customer_account(
                session, tenant_id=tenant_id, customer_id=parties.survivor_id, asset=account.asset
            )
            legs += [Leg(account.id, -account.balance), Leg(target.id, account.balance)]
    if not legs:
        return {}
    posted = ledger.post(
        session,
        tenant_id=tenant_id,
        kind="merge",
        legs=legs,
        key=f"customer-merge:{parties.merge_id}",
        request={"merge": parties.merge_id, "from": parties.merged_id, "to": parties.survivor_id},
        customer_id=parties.survivor_id,
        track_lots=False,
    )
    return {"transaction_id": posted.transaction.id}


def _unmerge_balances(session: Session, parties: MergeParties, snapshot: dict[str, Any]) -> int:
    """Give the merged record back what the merge moved (points the survivor spent since are the
    brand's loss; stored value must still be there, or the unmerge is refused)."""
    tx_id = snapshot.get("transaction_id")
    if not tx_id:
        return 0
    ledger.reverse(
        session,
        tenant_id=parties.tenant_id,
        transaction_id=int(tx_id),
        share=Fraction(1),
        key=f"customer-unmerge:{parties.merge_id}",
        shortfall_to="points:unrecovered",
    )
    return 1


register_customer_reference(
    table_of(LedgerAccount), handler=MergeHandler(merge=_merge_balances, unmerge=_unmerge_balances)
)
exempt_customer_reference(
    table_of(LedgerTransaction),
    "customer_id",
    "history stays with the record it happened to; a merge moves the balances by a transaction of its own",
)
exempt_customer_reference(
    table_of(LedgerHold),
    "customer_id",
    "a merge is refused while the merged record holds units; closed holds are history",
)


def _merge_card(session: Session, parties: MergeParties) -> dict[str, Any]:
    """A survivor without a card takes the merged record's card (tier, growth, number); a survivor
    with one keeps its own, and the merged record's card stays with it (closed records keep their
    history)."""
    tenant_id = parties.tenant_id
    survivor = session.scalar(
        select(MemberCard.id).where(
            MemberCard.tenant_id == tenant_id, MemberCard.customer_id == parties.survivor_id
        )
    )
    merged = session.scalar(
        select(MemberCard).where(
            MemberCard.tenant_id == tenant_id, MemberCard.customer_id == parties.merged_id
        )
    )
    if survivor is not None or merged is None:
        return {}
    merged.customer_id = parties.survivor_id
    session.flush()
    return {"card_id": merged.id}


def _unmerge_card(session: Session, parties: MergeParties, snapshot: dict[str, Any]) -> int:
    card_id = snapshot.get("card_id")
    if not card_id:
        return 0
    card = session.get(MemberCard, int(card_id))
    if card is None or card.tenant_id != parties.tenant_id:
        return 0
    card.customer_id = parties.merged_id
    session.flush()
    return 1


register_customer_reference(
    table_of(MemberCard), handler=MergeHandler(merge=_merge_card, unmerge=_unmerge_card)
)
exempt_customer_reference(
    table_of(PointsLot),
    "customer_id",
    "the balances' merge handler moves the lots with the points (an unmerge gives points back as a new lot)",
)
# A merged record's top-up payments follow its balances to the survivor (refunds are made there),
# and so do the capabilities it was denied (anti-abuse does not end with a merge).
register_customer_reference(table_of(PaymentIntent))
register_customer_reference(table_of(Denial))
# Paid terms and stored-value refund requests follow the balances they were booked on.
register_customer_reference(table_of(Membership))
register_customer_reference(table_of(StoredValueRefund))
# What an order earned follows the order's buyer (the merge moves their balances the same way).
register_customer_reference(table_of(OrderEarning))

LIABILITY_FIGURES = liability.FIGURES
LIABILITY_DEFINITIONS = liability.DEFINITIONS

__all__ = [
    "KIND_LABELS",
    "LIABILITY_DEFINITIONS",
    "LIABILITY_FIGURES",
    "MemberCard",
    "Standing",
    "active_holds",
    "balances",
    "cards_opened",
    "expiring",
    "history",
    "liability",
    "standing",
]
