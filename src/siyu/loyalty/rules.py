"""Loyalty rules a checkout asks about: the deny list (an operator's anti-abuse decision that a
customer may not earn points, use points, use coupons or buy) and the caps on paying with points
(`burn_limit`, a pure function of the programme and the order)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.db.base import table_of
from siyu.loyalty.models import DENIABLE, Denial, LoyaltyProgram
from siyu.platform import audit

DENIALS = table_of(Denial)
CAPABILITY_LABELS = {
    "earn_points": ("获得积分", "earning points"),
    "use_points": ("使用积分", "paying with points"),
    "use_coupons": ("使用优惠券", "using coupons"),
    "buy": ("下单购买", "buying"),
}


# --- the deny list ---------------------------------------------------------------------------------


def denied(session: Session, *, tenant_id: int, customer_ids: Iterable[int], capability: str) -> set[int]:
    """Which of these customers are denied `capability` now."""
    ids = sorted(set(customer_ids))
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Denial.customer_id).where(
                Denial.tenant_id == tenant_id,
                Denial.customer_id.in_(ids),
                Denial.capability == capability,
                Denial.lifted_at.is_(None),
            )
        )
    )


def denials_of(session: Session, *, tenant_id: int, customer_id: int) -> list[Denial]:
    """The customer's denials in force, oldest first."""
    return list(
        session.scalars(
            select(Denial)
            .where(
                Denial.tenant_id == tenant_id, Denial.customer_id == customer_id, Denial.lifted_at.is_(None)
            )
            .order_by(Denial.id)
        )
    )


def require_allowed(session: Session, *, tenant_id: int, customer_id: int, capability: str) -> None:
    """Refuse (409 capability_denied) when the customer is denied `capability`."""
    if denied(session, tenant_id=tenant_id, customer_ids=[customer_id], capability=capability):
        zh, en = CAPABILITY_LABELS[capability]
        raise DomainError("capability_denied", what_zh=zh, what_en=en)


def set_denial(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    capability: str,
    deny: bool,
    reason: str,
    actor: Principal | None,
) -> bool:
    """Deny a capability (or lift the denial); audited with the reason. Whether anything changed."""
    if capability not in DENIABLE:
        raise ValueError(capability)
    now = utcnow()
    if deny:
        if denied(session, tenant_id=tenant_id, customer_ids=[customer_id], capability=capability):
            return False
        session.add(
            Denial(
                tenant_id=tenant_id,
                customer_id=customer_id,
                capability=capability,
                reason=reason,
                actor_type=actor.actor_type if actor else "system",
                actor_id=actor.actor_id if actor else None,
                created_at=now,
            )
        )
        session.flush()
    else:
        lifted = session.execute(
            update(DENIALS)
            .where(
                DENIALS.c.tenant_id == tenant_id,
                DENIALS.c.customer_id == customer_id,
                DENIALS.c.capability == capability,
                DENIALS.c.lifted_at.is_(None),
            )
            .values(lifted_at=now)
        ).rowcount  # type: ignore[attr-defined]
        if not lifted:
            return False
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="loyalty.deny" if deny else "loyalty.allow",
        object_type="customer",
        object_id=customer_id,
        data={"capability": capability, "reason": reason},
    )
    return True


# --- paying with points ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BurnLimit:
    """How many points an order may take: at least `min_points` (or none), at most `max_points`,
    worth `max_value_fen`; `points_per_yuan` points make ¥1. `reason_*` says what limits it."""

    min_points: int
    max_points: int
    max_value_fen: int
    points_per_yuan: int
    reason_zh: str
    reason_en: str


def burn_limit(
    program: LoyaltyProgram | None, *, goods_fen: int, shipping_fen: int, available_points: int
) -> BurnLimit:
    """The caps on paying an order with points (pure): the points the customer has, the share of
    the order points may pay (the goods, and the postage if the programme allows), the most per
    order; whole fen only (points beyond a whole fen are not taken). Below the least per order,
    none may be used."""
    per_yuan = program.points_per_yuan_burn if program else 100
    payable = goods_fen + (shipping_fen if program and program.burn_covers_shipping else 0)
    share = program.burn_max_share_pct if program else 100
    cap_fen = payable * share // 100
    limits = [
        (available_points, "可用积分", "the points available"),
        (cap_fen * per_yuan // 100, f"订单金额的 {share}%", f"{share}% of the order"),
    ]
    if program and program.burn_max_points is not None:
        limits.append(
            (
                program.burn_max_points,
                f"每单最多 {program.burn_max_points:,} 积分",
                f"at most {program.burn_max_points:,} points an order",
            )
        )
    most, zh, en = min(limits, key=lambda x: x[0])
    most -= most % max(per_yuan // 100, 1) if per_yuan >= 100 else 0  # whole fen
    least = program.burn_min_points if program else 0
    if most < least:
        return BurnLimit(
            least,
            0,
            0,
            per_yuan,
            f"不足每单最少使用的 {least:,} 积分",
            f"below the least of {least:,} points an order",
        )
    return BurnLimit(
        least, max(most, 0), max(most, 0) * 100 // per_yuan, per_yuan, f"受限于{zh}", f"limited by {en}"
    )
