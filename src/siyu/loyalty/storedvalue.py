"""Stored-value rules: top-up offers (充 ¥1,000 送 ¥100, a gift) and refunds of unused principal
through approval.

A refund request freezes the principal it asks for (a hold, so it cannot be spent meanwhile); it is
approved by someone other than the requester — the principal leaves the card, the brand keeps the fee
(`sv:fees`), the rest is paid back (`sv:cash`), and the bonus given with the refunded principal is
forfeited in proportion (`sv:forfeited`, rounded up) — or rejected, and the hold is released.
Registered cards do not expire, so nothing else takes stored value away.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.db.base import table_of
from siyu.loyalty import ledger
from siyu.loyalty.ledger import Leg
from siyu.loyalty.models import LedgerHold, LoyaltyProgram, StoredValueRefund, TopUpRule
from siyu.platform import audit

REFUNDS = table_of(StoredValueRefund)
REFUND_HOLD_DAYS = 30  # a request nobody decides lapses with its hold


# --- top-up offers -----------------------------------------------------------------------------------


def rules(session: Session, *, tenant_id: int) -> list[TopUpRule]:
    """The brand's top-up offers, by threshold."""
    return list(
        session.scalars(
            select(TopUpRule)
            .where(TopUpRule.tenant_id == tenant_id)
            .order_by(TopUpRule.min_principal_fen, TopUpRule.id)
        )
    )


def save_rules(
    session: Session, *, tenant_id: int, wanted: list[dict[str, object]], actor: Principal | None
) -> list[TopUpRule]:
    """Replace the top-up offers (audited). Refused: two active offers with one threshold and
    overlapping windows (which one applies would be a guess)."""
    for i, a in enumerate(wanted):
        for b in wanted[i + 1 :]:
            same = a["min_principal_fen"] == b["min_principal_fen"]
            if same and a.get("active", True) and b.get("active", True) and _overlap(a, b):
                threshold = int(str(a["min_principal_fen"]))
                raise DomainError(
                    "invalid_loyalty_rule",
                    reason_zh=f"两条充值优惠的门槛相同（¥{threshold / 100:,.2f}）且时间重叠",
                    reason_en=f"two offers at ¥{threshold / 100:,.2f} overlap in time",
                )
    for row in rules(session, tenant_id=tenant_id):
        session.delete(row)
    session.flush()
    now = utcnow()
    made = [TopUpRule(tenant_id=tenant_id, created_at=now, **spec) for spec in wanted]
    session.add_all(made)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="loyalty.topup_rules.save",
        object_type="loyalty_program",
        object_id=None,
        data={"rules": [{k: str(v) for k, v in spec.items()} for spec in wanted]},
    )
    return made


def _overlap(a: dict[str, object], b: dict[str, object]) -> bool:
    far_past, far_future = (
        datetime.min.replace(tzinfo=utcnow().tzinfo),
        datetime.max.replace(tzinfo=utcnow().tzinfo),
    )
    a0, a1 = a.get("starts_at") or far_past, a.get("ends_at") or far_future
    b0, b1 = b.get("starts_at") or far_past, b.get("ends_at") or far_future
    return bool(a0 < b1 and b0 < a1)  # type: ignore[operator]


def offer_for(
    session: Session, *, tenant_id: int, principal_fen: int, at: datetime | None = None
) -> TopUpRule | None:
    """The offer a top-up of `principal_fen` reaches now: the active one with the highest threshold."""
    moment = at or utcnow()
    return session.scalar(
        select(TopUpRule)
        .where(
            TopUpRule.tenant_id == tenant_id,
            TopUpRule.active.is_(True),
            TopUpRule.min_principal_fen <= principal_fen,
            or_(TopUpRule.starts_at.is_(None), TopUpRule.starts_at <= moment),
            or_(TopUpRule.ends_at.is_(None), TopUpRule.ends_at > moment),
        )
        .order_by(TopUpRule.min_principal_fen.desc(), TopUpRule.id)
        .limit(1)
    )


# --- refunds of unused principal ---------------------------------------------------------------------


def request_refund(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    principal_fen: int | None,
    reason: str,
    key: str,
    store_id: int | None = None,
    actor: Principal | None = None,
) -> tuple[StoredValueRefund, bool]:
    """Ask to pay back unused principal (all of it when `principal_fen` is None): the principal is
    frozen until the request is decided. Once per key. Refused: nothing to refund, more than is
    available."""
    prior = session.scalar(
        select(StoredValueRefund).where(
            StoredValueRefund.tenant_id == tenant_id, StoredValueRefund.idempotency_key == key
        )
    )
    if prior is not None:
        if prior.customer_id != customer_id or (
            principal_fen is not None and prior.principal_fen != principal_fen
        ):
            raise DomainError("ledger_key_reused", what_zh="退款申请", what_en="refund request")
        return prior, False
    balance, held = ledger.balances(session, tenant_id=tenant_id, customer_id=customer_id).get(
        "sv_principal", (0, 0)
    )
    amount = principal_fen if principal_fen is not None else balance - held
    if amount <= 0:
        raise DomainError("insufficient_balance")
    program = session.scalar(select(LoyaltyProgram).where(LoyaltyProgram.tenant_id == tenant_id))
    fee = amount * (program.sv_refund_fee_pct if program else 0) // 100
    hold, _ = ledger.hold(
        session,
        tenant_id=tenant_id,
        customer_id=customer_id,
        asset="sv_principal",
        amount=amount,
        key=f"sv-refund:{key}",
        expires_at=utcnow() + timedelta(days=REFUND_HOLD_DAYS),
        order_ref=f"sv-refund:{key}"[:120],
        store_id=store_id,
        actor=actor,
    )
    row = StoredValueRefund(
        tenant_id=tenant_id,
        customer_id=customer_id,
        principal_fen=amount,
        fee_fen=fee,
        bonus_forfeited_fen=0,
        status="pending",
        reason=reason,
        hold_id=hold.id,
        store_id=store_id,
        requested_by=actor.actor_id if actor and actor.actor_type == "staff" else None,
        idempotency_key=key,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="loyalty.sv_refund.request",
        object_type="customer",
        object_id=customer_id,
        data={"principal_fen": amount, "fee_fen": fee, "reason": reason},
    )
    return row, True


def _pending(session: Session, tenant_id: int, refund_id: int) -> StoredValueRefund:
    row = session.scalar(
        select(StoredValueRefund)
        .where(StoredValueRefund.tenant_id == tenant_id, StoredValueRefund.id == refund_id)
        .with_for_update()
    )
    if row is None:
        raise not_found("refund_request")
    if row.status != "pending":
        raise DomainError(
            "conflict", reason_zh="这笔退款申请已处理", reason_en="This refund request was already decided"
        )
    return row


def decide_refund(
    session: Session,
    *,
    tenant_id: int,
    refund_id: int,
    approve: bool,
    comment: str | None,
    fee_fen: int | None = None,
    actor: Principal,
) -> StoredValueRefund:
    """Approve (the principal leaves the card, the fee — which the approver may lower — is kept, the
    matching share of the bonus is forfeited) or reject (the principal is free again). The requester
    may not decide their own request."""
    row = _pending(session, tenant_id, refund_id)
    if actor.actor_type == "staff" and row.requested_by == actor.actor_id:
        raise DomainError(
            "conflict",
            reason_zh="退款申请须由申请人以外的人审批",
            reason_en="A refund request is decided by someone other than the requester",
        )
    now = utcnow()
    hold = session.get(LedgerHold, row.hold_id)
    if not approve:
        if hold is not None and hold.status == "active":
            ledger.release(
                session,
                tenant_id=tenant_id,
                hold_id=row.hold_id,
                key=f"sv-refund-reject:{row.id}",
                actor=actor,
            )
        _close(session, row, "rejected", actor, comment, now)
        return row
    if fee_fen is not None:
        if not 0 <= fee_fen <= row.fee_fen:
            raise DomainError(
                "validation_error", summary=f"fee_fen 须在 0–{row.fee_fen} 之间 / must be 0–{row.fee_fen}"
            )
        row.fee_fen = fee_fen
    found = ledger.accounts(
        session,
        tenant_id=tenant_id,
        customer_id=row.customer_id,
        assets=("sv_principal", "sv_bonus"),
        brand=("sv:cash", "sv:fees", "sv:forfeited"),
    )
    principal, bonus = found["sv_principal"], found["sv_bonus"]
    session.refresh(principal)
    session.refresh(bonus)
    # The bonus given with the principal goes with it, in proportion, rounded up (the brand's way).
    available_bonus = bonus.balance - bonus.held
    forfeit = min(available_bonus, -(-available_bonus * row.principal_fen // max(principal.balance, 1)))
    legs = [
        Leg(principal.id, -row.principal_fen, release_held=row.principal_fen),
        Leg(found["sv:cash"].id, row.principal_fen - row.fee_fen),
    ]
    if row.fee_fen:
        legs.append(Leg(found["sv:fees"].id, row.fee_fen))
    if forfeit > 0:
        legs += [Leg(bonus.id, -forfeit), Leg(found["sv:forfeited"].id, forfeit)]

    def close_hold() -> None:
        ledger._close_hold(session, tenant_id, row.hold_id, "captured", live_only=True)

    posted = ledger.post(
        session,
        tenant_id=tenant_id,
        kind="sv_refund",
        legs=legs,
        key=f"sv-refund-approve:{row.id}",
        request={"op": "sv_refund", "refund": row.id, "fee": row.fee_fen},
        customer_id=row.customer_id,
        actor=actor,
        hold_id=row.hold_id,
        store_id=row.store_id,
        reason=row.reason,
        prepare=close_hold,
        noted={
            "paid_back_fen": row.principal_fen - row.fee_fen,
            "fee_fen": row.fee_fen,
            "bonus_forfeited_fen": forfeit,
        },
    )
    row.transaction_id = posted.transaction.id
    row.bonus_forfeited_fen = forfeit
    _close(session, row, "approved", actor, comment, now)
    return row


def _close(
    session: Session,
    row: StoredValueRefund,
    status: str,
    actor: Principal,
    comment: str | None,
    now: datetime,
) -> None:
    session.execute(
        update(REFUNDS)
        .where(REFUNDS.c.id == row.id, REFUNDS.c.status == "pending")
        .values(status=status, decided_by=actor.actor_id, comment=comment, decided_at=now)
    )
    session.refresh(row)
    audit.record(
        session,
        tenant_id=row.tenant_id,
        actor=actor,
        action=f"loyalty.sv_refund.{'approve' if status == 'approved' else 'reject'}",
        object_type="customer",
        object_id=row.customer_id,
        data={
            "refund_id": row.id,
            "principal_fen": row.principal_fen,
            "fee_fen": row.fee_fen,
            "bonus_forfeited_fen": row.bonus_forfeited_fen,
            "comment": comment,
        },
    )
