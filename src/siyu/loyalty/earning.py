"""What a paid order earns a member, and what a refund takes back (the order hooks).

Points and growth value are earned on the **cash actually paid** — payments other than stored value
and points — for the lines the programme does not exclude (SKUs, categories): the eligible share of
the cash is cash × eligible lines' amount / all lines' amount. Per whole ¥ of it: `points_per_yuan`
× the member's tier multiplier points, and `growth_per_yuan` growth value. Only card holders earn,
once per order, when the order is first seen paid — orders paid before the card was opened or
before the programme took effect earn nothing; a customer on the deny list for earning points earns
growth value but no points.

Points are frozen (`points_pending`) for the refund window and moved to `points` by the job
`loyalty.mature_points` when it ends; growth value counts at once (an upgrade is immediate).

A refund takes back the share of the order's paid amount refunded so far (refunded / paid, rounded
down, so a series of partial refunds ends exactly at the whole): from the frozen points while they
are frozen, else from the available points — and what the member already spent is the brand's loss
(`points:unrecovered`), the clawback rule of docs/loyalty.md. Each step is keyed by the order and
its refunded total, so a replayed event changes nothing.

Locks, in this order: the earning row (`FOR UPDATE`), then the accounts (the ledger's order).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.loyalty import ledger, membership, rules, service
from siyu.loyalty.ledger import Leg
from siyu.loyalty.models import LedgerHold, LoyaltyProgram, LoyaltyTier, MemberCard, OrderEarning
from siyu.orders.facade import Order, OrderLine, OrderPayment, Refund
from siyu.products.facade import category_paths

NOT_CASH = ("stored_value", "points")
log = logging.getLogger(__name__)


def _eligible_share(
    lines: Sequence[tuple[int, str, int]], paths: dict[int, list[str]], settings: LoyaltyProgram
) -> tuple[int, int]:
    """(eligible amount, all lines' amount) of an order's lines (product id, SKU code, amount)."""
    excluded_skus = set(settings.excluded_sku_codes or ())
    excluded_categories = set(settings.excluded_categories or ())
    total = eligible = 0
    for product_id, sku, amount in lines:
        total += amount
        if sku in excluded_skus or excluded_categories.intersection(paths.get(product_id, ())):
            continue
        eligible += amount
    return eligible, total


HOLD_REF = "hold:"  # a payment by points or stored value names the checkout's hold: "hold:123"


def campaign_pct(settings: LoyaltyProgram, at: datetime | None, store_id: int | None) -> int:
    """The multiplier (per cent) of the best campaign running at `at` for the store; 100 without one."""
    best = 100
    for c in settings.campaigns or ():
        starts, ends = c.get("starts_at"), c.get("ends_at")
        if at is None or not starts or not ends:
            continue
        if not (datetime.fromisoformat(str(starts)) <= at < datetime.fromisoformat(str(ends))):
            continue
        stores = c.get("store_ids") or []
        if stores and store_id not in stores:
            continue
        best = max(best, int(c.get("multiplier_pct") or 100))
    return best


def settle_holds_for_orders(session: Session, *, tenant_id: int, order_ids: Sequence[int]) -> dict[str, int]:
    """Settle the checkout holds of these orders, once each (keyed): a paid order's payments by
    points or stored value name their hold (`transaction_id` "hold:<id>") and it is captured for
    what the payment used (the rest released); a cancelled order's active holds (the hold's
    `order_ref` is "<channel>:<order number>") are released. A hold of another customer or asset, or
    one that lapsed or was settled already, is left alone and logged."""
    counts = {"captured": 0, "released": 0, "skipped": 0}
    if not order_ids:
        return counts
    ids = sorted(set(order_ids))
    for order_id, customer_id, channel, external_id in session.execute(
        select(Order.id, Order.customer_id, Order.channel, Order.external_id).where(
            Order.tenant_id == tenant_id, Order.id.in_(ids), Order.status == "cancelled"
        )
    ):
        for held in session.scalars(
            select(LedgerHold).where(
                LedgerHold.tenant_id == tenant_id,
                LedgerHold.order_ref == f"{channel}:{external_id}",
                LedgerHold.status == "active",
            )
        ):
            if held.customer_id != customer_id:
                counts["skipped"] += 1
                log.warning("cancelled order %s: hold %s is another customer's", order_id, held.id)
                continue
            try:
                with session.begin_nested():
                    released = ledger.release(
                        session,
                        tenant_id=tenant_id,
                        hold_id=held.id,
                        key=f"order-release:{order_id}:{held.id}",
                    )
                counts["released"] += 1 if released.created else 0
            except DomainError:
                counts["skipped"] += 1
    rows = session.execute(
        select(
            Order.id,
            Order.customer_id,
            OrderPayment.method,
            OrderPayment.amount_fen,
            OrderPayment.transaction_id,
        )
        .join(OrderPayment, OrderPayment.order_id == Order.id)
        .where(
            Order.tenant_id == tenant_id,
            Order.id.in_(ids),
            Order.paid_at.is_not(None),
            OrderPayment.method.in_(NOT_CASH),
            OrderPayment.transaction_id.like(f"{HOLD_REF}%"),
        )
        .order_by(Order.id, OrderPayment.id)
    ).all()
    if not rows:
        return counts
    program = membership.program(session, tenant_id=tenant_id)
    per_yuan = program.points_per_yuan_burn if program else 100
    for order_id, customer_id, method, amount_fen, ref in rows:
        try:
            hold_id = int(str(ref)[len(HOLD_REF) :])
            held = ledger.get_hold(session, tenant_id=tenant_id, hold_id=hold_id)
        except (ValueError, DomainError):
            counts["skipped"] += 1
            log.warning("order %s names hold %r, which this brand does not have", order_id, ref)
            continue
        if held.customer_id != customer_id or (method == "points") != (held.asset == "points"):
            counts["skipped"] += 1
            log.warning("order %s names hold %s of another customer or asset", order_id, hold_id)
            continue
        used = amount_fen * per_yuan // 100 if held.asset == "points" else amount_fen
        try:
            with session.begin_nested():
                captured = ledger.capture(
                    session,
                    tenant_id=tenant_id,
                    hold_id=hold_id,
                    amount=min(used, held.amount),
                    to_account=service.CAPTURE_TO[held.asset],
                    key=f"order-capture:{order_id}:{hold_id}",
                )
            counts["captured"] += 1 if captured.created else 0
        except DomainError as exc:
            counts["skipped"] += 1
            log.warning("order %s could not settle hold %s: %s", order_id, hold_id, exc.code)
    return counts


def earn_for_orders(
    session: Session, *, tenant_id: int, order_ids: Sequence[int], now: datetime | None = None
) -> int:
    """Earn points and growth for the paid orders among `order_ids` whose buyer holds an active
    card and that have not earned yet; then take back what refunds already recorded. How many
    orders earned."""
    settings = membership.program(session, tenant_id=tenant_id)
    if settings is None or not order_ids:
        return 0
    now = now or utcnow()
    ids = sorted(set(order_ids))
    done = set(
        session.scalars(
            select(OrderEarning.order_id).where(
                OrderEarning.tenant_id == tenant_id, OrderEarning.order_id.in_(ids)
            )
        )
    )
    orders = [
        o
        for o in session.scalars(
            select(Order)
            .where(
                Order.tenant_id == tenant_id,
                Order.id.in_(ids),
                Order.paid_at.is_not(None),
                Order.customer_id.is_not(None),
                Order.paid_fen > 0,
                Order.paid_at >= settings.effective_from,
                Order.status != "cancelled",
            )
            .order_by(Order.id)
        )
        if o.id not in done
    ]
    if not orders:
        return 0
    cards = {
        c.customer_id: c
        for c in session.scalars(
            select(MemberCard).where(
                MemberCard.tenant_id == tenant_id,
                MemberCard.customer_id.in_({o.customer_id for o in orders}),
                MemberCard.status == "active",
            )
        )
    }
    # Only members earn: orders paid before the card was opened do not.
    barred = rules.denied(
        session,
        tenant_id=tenant_id,
        customer_ids=[o.customer_id or 0 for o in orders],
        capability="earn_points",
    )
    orders = [
        o
        for o in orders
        if (o.customer_id or 0) in cards
        and o.paid_at is not None
        and o.paid_at >= cards[o.customer_id or 0].opened_at
    ]
    if not orders:
        return 0
    wanted = [o.id for o in orders]
    cash: dict[int, int] = defaultdict(int)
    for order_id, amount in session.execute(
        select(OrderPayment.order_id, func.sum(OrderPayment.amount_fen))
        .where(
            OrderPayment.tenant_id == tenant_id,
            OrderPayment.order_id.in_(wanted),
            OrderPayment.method.not_in(NOT_CASH),
        )
        .group_by(OrderPayment.order_id)
    ):
        cash[order_id] = int(amount or 0)
    lines: dict[int, list[tuple[int, str, int]]] = defaultdict(list)
    for order_id, product_id, sku, amount in session.execute(
        select(OrderLine.order_id, OrderLine.product_id, OrderLine.sku_code, OrderLine.amount_fen).where(
            OrderLine.tenant_id == tenant_id, OrderLine.order_id.in_(wanted)
        )
    ):
        lines[order_id].append((product_id, sku, int(amount)))
    paths = (
        category_paths(session, tenant_id=tenant_id, ids={p for ls in lines.values() for p, _, _ in ls})
        if settings.excluded_categories
        else {}
    )
    ladder = {t.id: t for t in membership.tiers(session, tenant_id=tenant_id)}
    earned = 0
    for order in orders:
        card = cards[order.customer_id or 0]
        if _earn_one(
            session,
            settings,
            ladder,
            card,
            order,
            cash[order.id],
            lines[order.id],
            paths,
            now,
            order.customer_id in barred,
        ):
            earned += 1
    reverse_for_orders(session, tenant_id=tenant_id, order_ids=wanted, now=now)
    return earned


def _earn_one(
    session: Session,
    settings: LoyaltyProgram,
    ladder: dict[int, LoyaltyTier],
    card: MemberCard,
    order: Order,
    cash_fen: int,
    lines: list[tuple[int, str, int]],
    paths: dict[int, list[str]],
    now: datetime,
    no_points: bool = False,
) -> bool:
    tenant_id = order.tenant_id
    cash_fen = min(cash_fen, order.paid_fen)
    eligible, total = _eligible_share(lines, paths, settings)
    base = cash_fen * eligible // total if total > 0 else cash_fen
    yuan = base // 100
    tier = ladder.get(card.tier_id) if card.tier_id else None
    multiplier = (
        (tier.points_multiplier_pct if tier else 100)
        * campaign_pct(settings, order.paid_at, order.store_id)
        // 100
    )
    points = 0 if no_points else yuan * settings.points_per_yuan * multiplier // 100
    growth = yuan * settings.growth_per_yuan
    transaction_id = None
    assert order.paid_at is not None and order.customer_id is not None
    if points > 0:
        pending = ledger.accounts(
            session,
            tenant_id=tenant_id,
            customer_id=order.customer_id,
            assets=("points_pending",),
            brand=("points:issued",),
        )
        posted = ledger.post(
            session,
            tenant_id=tenant_id,
            kind="earn",
            legs=[Leg(pending["points_pending"].id, points), Leg(pending["points:issued"].id, -points)],
            key=f"order-earn:{order.id}",
            request={"op": "order_earn", "order_id": order.id, "points": points},
            customer_id=order.customer_id,
            store_id=order.store_id,
            order_ref=f"{order.channel}:{order.external_id}",
            noted={"points_pending": points, "order_id": order.id},
        )
        if not posted.created:
            return False
        transaction_id = posted.transaction.id
    session.add(
        OrderEarning(
            tenant_id=tenant_id,
            customer_id=order.customer_id,
            card_id=card.id,
            order_id=order.id,
            store_id=order.store_id,
            transaction_id=transaction_id,
            paid_fen=order.paid_fen,
            cash_fen=base,
            points=points,
            growth=growth,
            reversed_points=0,
            reversed_growth=0,
            status="pending" if points > 0 else "available",
            available_at=order.paid_at + timedelta(days=settings.refund_window_days),
            created_at=now,
        )
    )
    session.flush()
    if growth > 0:
        membership.add_growth(
            session,
            tenant_id=tenant_id,
            card_id=card.id,
            amount=growth,
            kind="order",
            key=f"order-growth:{order.id}",
            order_ref=f"{order.channel}:{order.external_id}",
            now=now,
        )
    return True


def reverse_for_orders(
    session: Session, *, tenant_id: int, order_ids: Sequence[int], now: datetime | None = None
) -> int:
    """Take back, for each of these orders that earned, the refunded share not taken back yet; how
    many orders changed."""
    if not order_ids:
        return 0
    now = now or utcnow()
    earnings = list(
        session.scalars(
            select(OrderEarning)
            .where(OrderEarning.tenant_id == tenant_id, OrderEarning.order_id.in_(sorted(set(order_ids))))
            .order_by(OrderEarning.id)
            .with_for_update()
        )
    )
    if not earnings:
        return 0
    refunded = {
        int(order_id): int(amount or 0)
        for order_id, amount in session.execute(
            select(Order.id, Order.refunded_fen).where(
                Order.tenant_id == tenant_id, Order.id.in_([e.order_id for e in earnings])
            )
        )
    }
    changed = 0
    for earning in earnings:
        total = min(int(refunded.get(earning.order_id) or 0), earning.paid_fen)
        if total <= 0:
            continue
        points_target = earning.points * total // earning.paid_fen
        growth_target = earning.growth * total // earning.paid_fen
        take = points_target - earning.reversed_points
        if take > 0:
            _take_back_points(session, earning, take, total)
            earning.reversed_points = points_target
        lose = growth_target - earning.reversed_growth
        if lose > 0:
            membership.add_growth(
                session,
                tenant_id=tenant_id,
                card_id=earning.card_id,
                amount=-lose,
                kind="refund",
                key=f"order-refund-growth:{earning.order_id}:{total}",
                now=now,
            )
            earning.reversed_growth = growth_target
        if take > 0 or lose > 0:
            changed += 1
    session.flush()
    return changed


def _take_back_points(session: Session, earning: OrderEarning, take: int, refunded_total: int) -> None:
    tenant_id = earning.tenant_id
    frozen = earning.status == "pending"
    asset = "points_pending" if frozen else "points"
    found = ledger.accounts(
        session,
        tenant_id=tenant_id,
        customer_id=earning.customer_id,
        assets=(asset,),
        brand=("points:issued", "points:unrecovered"),
    )
    account = found[asset]
    legs = [Leg(found["points:issued"].id, take)]
    if frozen:
        legs.append(Leg(account.id, -take))
    else:
        # The clawback rule: take what the member still has available; the rest is the brand's loss.
        session.refresh(account)
        recoverable = min(take, account.balance - account.held)
        if recoverable > 0:
            legs.append(Leg(account.id, -recoverable))
        if take - recoverable > 0:
            legs.append(Leg(found["points:unrecovered"].id, -(take - recoverable)))
    # While frozen, the refund reverses (part of) the earning itself; once available, the points
    # moved on (matured, maybe spent), so it is a clawback that names the earning it follows.
    ledger.post(
        session,
        tenant_id=tenant_id,
        kind="reversal" if frozen else "clawback",
        legs=legs,
        key=f"order-refund:{earning.order_id}:{refunded_total}",
        request={
            "op": "order_refund",
            "order_id": earning.order_id,
            "refunded": refunded_total,
            "points": take,
        },
        customer_id=earning.customer_id,
        reverses_id=earning.transaction_id if frozen else None,
        store_id=earning.store_id,
        reason="refund",
        noted={"points_taken_back": take, "from": asset, "earning_transaction_id": earning.transaction_id},
    )


def mature_due(session: Session, *, tenant_id: int, now: datetime | None = None, limit: int = 500) -> int:
    """Move the points of earnings whose refund window has ended from frozen to available; how many."""
    now = now or utcnow()
    due = list(
        session.scalars(
            select(OrderEarning)
            .where(
                OrderEarning.tenant_id == tenant_id,
                OrderEarning.status == "pending",
                OrderEarning.available_at <= now,
            )
            .order_by(OrderEarning.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    for earning in due:
        rest = earning.points - earning.reversed_points
        earning.status = "available"
        if rest <= 0:
            continue
        found = ledger.accounts(
            session,
            tenant_id=tenant_id,
            customer_id=earning.customer_id,
            assets=("points_pending", "points"),
        )
        ledger.post(
            session,
            tenant_id=tenant_id,
            kind="mature",
            legs=[Leg(found["points_pending"].id, -rest), Leg(found["points"].id, rest)],
            key=f"mature:{earning.id}",
            request={"op": "mature", "earning": earning.id, "points": rest},
            customer_id=earning.customer_id,
            store_id=earning.store_id,
        )
    session.flush()
    return len(due)


def orders_of_refunds(session: Session, *, tenant_id: int, refund_ids: Sequence[int]) -> list[int]:
    """The orders these refunds belong to."""
    return list(
        session.scalars(
            select(Refund.order_id)
            .distinct()
            .where(Refund.tenant_id == tenant_id, Refund.id.in_(list(refund_ids)))
        )
    )


__all__ = ["earn_for_orders", "mature_due", "orders_of_refunds", "reverse_for_orders"]
