"""Loyalty use cases on the ledger: points adjustments and earnings, stored-value top-ups and
spending, checkout holds. Each is one function in the caller's transaction, carries an idempotency
key, and changes balances only through `siyu.loyalty.ledger`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.customers.facade import real_name_on_file
from siyu.db.pagination import keyset_page
from siyu.db.session import lock_rows
from siyu.loyalty import ledger, lots, rules
from siyu.loyalty.ledger import Leg, Posted
from siyu.loyalty.models import LedgerAccount, LedgerHold, LedgerPosting, LedgerTransaction, LoyaltyProgram
from siyu.platform import audit

# China's prepaid-card rules: a registered (real-name) card holds at most ¥5,000, an anonymous one
# ¥1,000 (principal and bonus together).
REGISTERED_CAP_FEN = 500_000
ANONYMOUS_CAP_FEN = 100_000
HOLD_MINUTES = 30  # a checkout's hold lapses unless captured or released sooner
SpendOrder = Literal["principal_first", "bonus_first"]


@dataclass(frozen=True)
class Split:
    """How a stored-value amount divides between principal and bonus."""

    principal_fen: int
    bonus_fen: int


def _positive(value: int, field: str) -> None:
    if value <= 0:
        raise DomainError("validation_error", summary=f"{field} 须大于 0 / must be greater than 0")


def adjust_points(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    points: int,
    reason: str,
    key: str,
    actor: Principal | None,
) -> Posted:
    """Add (or, negative, take away) points by hand with a reason; audited. Taking away more than
    is available is refused."""
    if points == 0:
        raise DomainError("validation_error", summary="points 不能为 0 / must not be 0")
    account = ledger.customer_account(session, tenant_id=tenant_id, customer_id=customer_id, asset="points")
    counter = ledger.brand_account(session, tenant_id=tenant_id, name="points:adjusted")
    posted = ledger.post(
        session,
        tenant_id=tenant_id,
        kind="adjust",
        legs=[Leg(account.id, points), Leg(counter.id, -points)],
        key=key,
        request={"op": "adjust_points", "customer_id": customer_id, "points": points, "reason": reason},
        customer_id=customer_id,
        actor=actor,
        reason=reason,
    )
    if posted.created:
        audit.record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="loyalty.points.adjust",
            object_type="customer",
            object_id=customer_id,
            data={"points": points, "reason": reason, "transaction_id": posted.transaction.id},
        )
    return posted


def earn_points(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    points: int,
    key: str,
    order_ref: str | None = None,
    store_id: int | None = None,
    actor: Principal | None = None,
) -> Posted:
    """Give points (an order, an action): the brand's issued points to the customer. Refused for a
    customer denied earning points."""
    _positive(points, "points")
    rules.require_allowed(session, tenant_id=tenant_id, customer_id=customer_id, capability="earn_points")
    account = ledger.customer_account(session, tenant_id=tenant_id, customer_id=customer_id, asset="points")
    counter = ledger.brand_account(session, tenant_id=tenant_id, name="points:issued")
    return ledger.post(
        session,
        tenant_id=tenant_id,
        kind="earn",
        legs=[Leg(account.id, points), Leg(counter.id, -points)],
        key=key,
        request={"op": "earn", "customer_id": customer_id, "points": points, "order_ref": order_ref},
        customer_id=customer_id,
        actor=actor,
        order_ref=order_ref,
        store_id=store_id,
    )


def top_up(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    principal_fen: int,
    bonus_fen: int,
    key: str,
    store_id: int | None = None,
    registered: bool = True,
    actor: Principal | None = None,
) -> Posted:
    """Stored value paid in (principal) and given on top (bonus), booked apart; the card's total may
    not pass its cap (¥5,000 registered, ¥1,000 anonymous). Top-ups of one customer run one at a
    time, so two at once cannot both slip under the cap."""
    _positive(principal_fen, "principal_fen")
    if bonus_fen < 0:
        raise DomainError("validation_error", summary="bonus_fen 不能为负 / must not be negative")
    request = {
        "op": "top_up",
        "customer_id": customer_id,
        "principal_fen": principal_fen,
        "bonus_fen": bonus_fen,
        "store_id": store_id,
    }
    if (
        replayed := ledger.replay(session, tenant_id=tenant_id, key=key, request=request, actor=actor)
    ) is not None:
        return replayed
    lock_rows(session, "loyalty_customer", [customer_id])
    found = ledger.accounts(
        session,
        tenant_id=tenant_id,
        customer_id=customer_id,
        assets=("sv_principal", "sv_bonus"),
        brand=("sv:cash", "sv:bonus_expense"),
    )
    principal, bonus = found["sv_principal"], found["sv_bonus"]
    session.refresh(principal)
    session.refresh(bonus)
    cap = REGISTERED_CAP_FEN if registered else ANONYMOUS_CAP_FEN
    after = principal.balance + bonus.balance + principal_fen + bonus_fen
    if after > cap:
        raise DomainError(
            "stored_value_cap",
            cap=f"¥{cap // 100:,}",
            balance=f"¥{(principal.balance + bonus.balance) / 100:,.2f}",
        )
    legs = [
        Leg(principal.id, principal_fen),
        Leg(found["sv:cash"].id, -principal_fen),
    ]
    if bonus_fen:
        legs += [
            Leg(bonus.id, bonus_fen),
            Leg(found["sv:bonus_expense"].id, -bonus_fen),
        ]
    return ledger.post(
        session,
        tenant_id=tenant_id,
        kind="top_up",
        legs=legs,
        key=key,
        request=request,
        customer_id=customer_id,
        actor=actor,
        store_id=store_id,
        key_checked=True,
    )


def require_real_name(session: Session, *, tenant_id: int, customer_id: int, adding_fen: int) -> None:
    """A card that would hold more than an anonymous card may (¥1,000) must be registered: the
    customer's name and phone on file (the prepaid-card rules); refused otherwise."""
    have = ledger.balances(session, tenant_id=tenant_id, customer_id=customer_id)
    total = sum(have.get(asset, (0, 0))[0] for asset in ("sv_principal", "sv_bonus")) + adding_fen
    if total > ANONYMOUS_CAP_FEN and not real_name_on_file(
        session, tenant_id=tenant_id, customer_id=customer_id
    ):
        raise DomainError("real_name_required", cap=f"¥{ANONYMOUS_CAP_FEN // 100:,}")


def split_spend(available_principal: int, available_bonus: int, amount: int, order: SpendOrder) -> Split:
    """Which part of `amount` comes from principal and which from bonus, in the brand's order."""
    if amount > available_principal + available_bonus:
        raise DomainError("insufficient_balance")
    if order == "principal_first":
        principal = min(amount, available_principal)
        return Split(principal, amount - principal)
    bonus = min(amount, available_bonus)
    return Split(amount - bonus, bonus)


def spend_stored_value(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    amount_fen: int,
    key: str,
    order_ref: str | None = None,
    store_id: int | None = None,
    order: SpendOrder | None = None,
    actor: Principal | None = None,
) -> Posted:
    """Pay `amount_fen` from stored value at the accepting store (principal and bonus in the brand's
    order — the programme's `sv_spend_order`, principal first without one). The split is read first,
    then applied by conditional updates: if the balance moved in between, the spend is refused,
    never overdrawn."""
    _positive(amount_fen, "amount_fen")
    request = {"op": "spend_sv", "customer_id": customer_id, "amount_fen": amount_fen, "order_ref": order_ref}
    if (
        replayed := ledger.replay(session, tenant_id=tenant_id, key=key, request=request, actor=actor)
    ) is not None:
        return replayed
    found = ledger.accounts(
        session,
        tenant_id=tenant_id,
        customer_id=customer_id,
        assets=("sv_principal", "sv_bonus"),
        brand=("sv:redeemed",),
    )
    principal, bonus, redeemed = found["sv_principal"], found["sv_bonus"], found["sv:redeemed"]
    if order is None:
        program = membership_program(session, tenant_id)
        order = "bonus_first" if program and program.sv_spend_order == "bonus_first" else "principal_first"
    split = split_spend(principal.balance - principal.held, bonus.balance - bonus.held, amount_fen, order)
    legs = [
        Leg(principal.id, -split.principal_fen),
        Leg(bonus.id, -split.bonus_fen),
        Leg(redeemed.id, amount_fen),
    ]
    return ledger.post(
        session,
        tenant_id=tenant_id,
        kind="spend",
        legs=[leg for leg in legs if leg.amount],
        key=key,
        request=request,
        customer_id=customer_id,
        actor=actor,
        order_ref=order_ref,
        store_id=store_id,
        key_checked=True,
    )


def hold_for_checkout(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    asset: Literal["points", "sv_principal", "sv_bonus"],
    amount: int,
    key: str,
    order_ref: str | None = None,
    store_id: int | None = None,
    minutes: int = HOLD_MINUTES,
    now: datetime | None = None,
    actor: Principal | None = None,
    goods_fen: int | None = None,
    shipping_fen: int = 0,
) -> tuple[LedgerHold, bool]:
    """Freeze points or stored value for an order until it is paid (capture) or cancelled (release).
    Points: refused for a customer denied paying with points, and — when the order's amounts are
    given — outside the programme's caps (`rules.burn_limit`)."""
    _positive(amount, "amount")
    if asset == "points":
        rules.require_allowed(session, tenant_id=tenant_id, customer_id=customer_id, capability="use_points")
        if goods_fen is not None:
            have = ledger.balances(session, tenant_id=tenant_id, customer_id=customer_id).get(
                "points", (0, 0)
            )
            limit = rules.burn_limit(
                membership_program(session, tenant_id),
                goods_fen=goods_fen,
                shipping_fen=shipping_fen,
                available_points=have[0] - have[1],
            )
            if not limit.min_points <= amount <= limit.max_points:
                raise DomainError(
                    "points_burn_limit",
                    most=f"{limit.max_points:,}",
                    least=f"{limit.min_points:,}",
                    reason_zh=limit.reason_zh,
                    reason_en=limit.reason_en,
                )
    expires = (now or utcnow()) + timedelta(minutes=minutes)
    return ledger.hold(
        session,
        tenant_id=tenant_id,
        customer_id=customer_id,
        asset=asset,
        amount=amount,
        key=key,
        expires_at=expires,
        order_ref=order_ref,
        store_id=store_id,
        actor=actor,
    )


def membership_program(session: Session, tenant_id: int) -> LoyaltyProgram | None:
    """The brand's programme rules (None: none set up)."""
    return session.scalar(select(LoyaltyProgram).where(LoyaltyProgram.tenant_id == tenant_id))


CAPTURE_TO = {"points": "points:redeemed", "sv_principal": "sv:redeemed", "sv_bonus": "sv:redeemed"}


KIND_LABELS: dict[str, tuple[str, str]] = {
    "earn": ("获得积分", "Points earned"),
    "adjust": ("积分调整", "Points adjusted"),
    "top_up": ("储值充值", "Stored value topped up"),
    "spend": ("储值消费", "Paid with stored value"),
    "capture": ("下单扣减", "Used at checkout"),
    "release": ("取消冻结", "Hold released"),
    "expire_hold": ("冻结过期", "Hold expired"),
    "reversal": ("冲正", "Reversed"),
    "transfer": ("转赠", "Transferred"),
    "merge": ("合并客户转入", "Moved in by a customer merge"),
    "mature": ("积分解冻（退款期结束）", "Points released (refund window ended)"),
    "clawback": ("退款扣回积分", "Points taken back after a refund"),
    "expire": ("积分过期", "Points expired"),
    "sv_refund": ("储值退款", "Stored value refunded"),
    "action": ("行为奖励积分", "Points for an action"),
    "membership": ("购买付费会员", "Paid membership bought"),
    "membership_revenue": ("会员费确认收入", "Membership revenue recognised"),
    "membership_refund": ("付费会员退款", "Paid membership refunded"),
}


@dataclass(frozen=True)
class HistoryEntry:
    """One transaction of a customer with what it changed on each of their assets."""

    transaction: LedgerTransaction
    changes: dict[str, int]


def history(
    session: Session, *, tenant_id: int, customer_id: int, cursor: str | None, limit: int
) -> tuple[list[HistoryEntry], str | None]:
    """A customer's transactions, newest first, each with its change per asset (keyset pages)."""
    stmt = select(LedgerTransaction).where(
        LedgerTransaction.tenant_id == tenant_id, LedgerTransaction.customer_id == customer_id
    )
    rows, next_cursor = keyset_page(
        session, stmt, LedgerTransaction.id, cursor=cursor, limit=limit, newest_first=True
    )
    changes: dict[int, dict[str, int]] = {tx.id: {} for tx in rows}
    if rows:
        for tx_id, asset, amount in session.execute(
            select(LedgerPosting.transaction_id, LedgerAccount.asset, LedgerPosting.amount)
            .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
            .where(
                LedgerPosting.tenant_id == tenant_id,
                LedgerPosting.transaction_id.in_(list(changes)),
                LedgerAccount.customer_id == customer_id,
            )
        ):
            changes[tx_id][asset] = changes[tx_id].get(asset, 0) + int(amount)
    return [HistoryEntry(tx, changes[tx.id]) for tx in rows], next_cursor


def active_holds(session: Session, *, tenant_id: int, customer_id: int) -> list[LedgerHold]:
    """A customer's holds still open, oldest first."""
    return list(
        session.scalars(
            select(LedgerHold)
            .where(
                LedgerHold.tenant_id == tenant_id,
                LedgerHold.customer_id == customer_id,
                LedgerHold.status == "active",
            )
            .order_by(LedgerHold.id)
        )
    )


def expire_points(session: Session, *, tenant_id: int, now: datetime | None = None, limit: int = 500) -> int:
    """Book what is left of each lot past its date to `points:expired` (breakage); points frozen by
    an open checkout wait until it is settled. How many lots expired (wholly or in part)."""
    moment = now or utcnow()
    done = 0
    for lot in lots.due(session, tenant_id=tenant_id, now=moment, limit=limit):
        found = ledger.accounts(
            session,
            tenant_id=tenant_id,
            customer_id=lot.customer_id,
            assets=("points",),
            brand=("points:expired",),
        )
        account = found["points"]
        session.refresh(account)
        take = min(lot.remaining, account.balance - account.held)
        if take <= 0:
            continue
        posted = ledger.post(
            session,
            tenant_id=tenant_id,
            kind="expire",
            legs=[Leg(account.id, -take), Leg(found["points:expired"].id, take)],
            key=f"lot-expiry:{lot.id}:{lot.remaining}",
            request={"op": "expire", "lot": lot.id, "points": take},
            customer_id=lot.customer_id,
            track_lots=False,
            noted={"lot_id": lot.id, "expired_points": take},
        )
        if posted.created:
            lot.remaining -= take
            done += 1
    session.flush()
    return done


def earn_for_action(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    action: str,
    key: str,
    zone_name: str,
    actor: Principal | None = None,
) -> Posted | None:
    """Points (and growth value) for an action under the programme's `action_rules` — members
    only, once per key, at most `per_day` a day (the brand's day) or `once` ever. Refused with a
    reason: an action the brand does not reward, a customer without a card or denied points, a cap
    reached. None when the rule gives no points (growth only)."""
    from zoneinfo import ZoneInfo

    from siyu.loyalty import membership

    program = membership_program(session, tenant_id)
    rule = (program.action_rules or {}).get(action) if program else None
    if not rule:
        raise DomainError(
            "invalid_loyalty_rule",
            reason_zh=f"品牌没有为“{action}”设置积分",
            reason_en=f"the brand does not reward '{action}'",
        )
    card = membership.card_of(session, tenant_id=tenant_id, customer_id=customer_id)
    if card is None or card.status != "active":
        raise DomainError("not_found", object="member_card")
    request = {"op": "action", "customer_id": customer_id, "action": action}
    if (
        prior := ledger.replay(session, tenant_id=tenant_id, key=key, request=request, actor=actor)
    ) is not None:
        return prior
    rules.require_allowed(session, tenant_id=tenant_id, customer_id=customer_id, capability="earn_points")
    lock_rows(session, "loyalty_customer", [customer_id])
    since = None
    if rule.get("once"):
        since = datetime.min.replace(tzinfo=utcnow().tzinfo)
    elif rule.get("per_day"):
        local = utcnow().astimezone(ZoneInfo(zone_name))
        since = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if since is not None:
        done = session.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(
                LedgerTransaction.tenant_id == tenant_id,
                LedgerTransaction.customer_id == customer_id,
                LedgerTransaction.kind == "action",
                LedgerTransaction.reason == action,
                LedgerTransaction.created_at >= since,
            )
        )
        cap = 1 if rule.get("once") else int(rule["per_day"])
        if (done or 0) >= cap:
            raise DomainError(
                "conflict",
                reason_zh="该行为的积分已达上限（每天或仅一次）",
                reason_en="the points for this action reached their limit (per day, or once)",
            )
    points, growth = int(rule.get("points") or 0), int(rule.get("growth") or 0)
    posted = None
    if points > 0:
        found = ledger.accounts(
            session,
            tenant_id=tenant_id,
            customer_id=customer_id,
            assets=("points",),
            brand=("points:issued",),
        )
        posted = ledger.post(
            session,
            tenant_id=tenant_id,
            kind="action",
            legs=[Leg(found["points"].id, points), Leg(found["points:issued"].id, -points)],
            key=key,
            request=request,
            customer_id=customer_id,
            actor=actor,
            reason=action,
            key_checked=True,
        )
    if growth > 0:
        membership.add_growth(
            session, tenant_id=tenant_id, card_id=card.id, amount=growth, kind="action", key=f"action:{key}"
        )
    return posted
