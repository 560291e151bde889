"""Refunds against order lines, and hourly footfall counts.

Refunded amounts move by conditional UPDATEs (`… WHERE refunded_fen + :x <= amount_fen`), so two
concurrent refunds can never give back more than was paid; a replay of the same refund id answers
the first refund.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu import events
from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, RowError, rejected
from siyu.core.money import format_fen
from siyu.db.base import table_of
from siyu.orders import schemas as s
from siyu.orders import stats
from siyu.orders.models import Footfall, Order, OrderLine, Refund, RefundLine
from siyu.orders.service import unknown_reference
from siyu.org import facade as org
from siyu.org.facade import Tenant

MAX_BATCH = 1000
ORDERS = table_of(Order)
LINES = table_of(OrderLine)


def _line_share(line: OrderLine, quantity: int) -> int:
    """The amount `quantity` units of a line give back: the last units take the remainder."""
    remaining_qty = line.quantity - line.refunded_quantity
    remaining_fen = line.amount_fen - line.refunded_fen
    if quantity >= remaining_qty:
        return remaining_fen
    return line.amount_fen * quantity // line.quantity


def refund_orders(
    session: Session, *, tenant_id: int, refunds: list[s.RefundIn], actor: Principal | None
) -> s.RefundBatchResult:
    """Record up to 1,000 refunds; all or nothing."""
    if len(refunds) > MAX_BATCH:
        raise DomainError("batch_too_large", limit=MAX_BATCH, count=len(refunds))
    now = utcnow()
    results = []
    errors: list[RowError] = []
    for row, data in enumerate(refunds, start=1):
        try:
            results.append(_refund_one(session, tenant_id, row, data, now))
        except DomainError as exc:
            errors.append(RowError(row, None, exc.code, exc.message(), exc.message("en")))
    if errors:
        raise rejected(errors)
    recorded = [r.refund_id for r in results if not r.replayed]
    if recorded:
        buyers = session.scalars(
            select(Order.customer_id).where(
                Order.tenant_id == tenant_id,
                Order.id.in_(sorted({r.order_id for r in results if not r.replayed})),
            )
        )
        stats.refresh(session, tenant_id=tenant_id, customer_ids=buyers)
        events.record(
            session,
            "refunds.recorded",
            tenant_id=tenant_id,
            aggregate="refunds",
            data={"refund_ids": recorded},
        )
    return s.RefundBatchResult(results=results)


def _refund_one(
    session: Session, tenant_id: int, row: int, data: s.RefundIn, now: dt.datetime
) -> s.RefundResult:
    # Lock the order row first: concurrent copies of one refund queue here, and on PostgreSQL each
    # later statement reads what the one before it committed — so a copy finds the first refund
    # below and replays its answer instead of being told the units are gone.
    order = session.scalar(
        select(Order)
        .where(
            Order.tenant_id == tenant_id,
            Order.channel == data.channel,
            Order.external_id == data.order_external_id,
        )
        .with_for_update()
    )
    if order is None:
        raise DomainError("not_found", object="order")
    if order.paid_at is None:
        raise DomainError("order_not_refundable")
    previous = session.scalar(
        select(Refund).where(
            Refund.tenant_id == tenant_id, Refund.order_id == order.id, Refund.external_id == data.external_id
        )
    )
    if previous is not None:
        return _replay(session, previous, data, row)
    lines = {
        x.line_no: x
        for x in session.scalars(select(OrderLine).where(OrderLine.order_id == order.id).with_for_update())
    }
    wanted: list[tuple[OrderLine, int, int]] = []
    seen: set[int] = set()
    for item in data.lines:
        line = lines.get(item.line_no)
        if line is None or item.line_no in seen:
            raise DomainError("not_found", object="order_line")
        seen.add(item.line_no)
        if item.quantity > line.quantity - line.refunded_quantity:
            raise DomainError(
                "refund_exceeds_paid",
                detail_zh=f"第 {item.line_no} 行最多可退 {line.quantity - line.refunded_quantity} 件",
                detail_en=f"line {item.line_no} has {line.quantity - line.refunded_quantity} units left",
            )
        amount = item.amount_fen if item.amount_fen is not None else _line_share(line, item.quantity)
        left = line.amount_fen - line.refunded_fen
        if amount > left:
            raise DomainError(
                "refund_exceeds_paid",
                detail_zh=f"第 {item.line_no} 行可退 {format_fen(left)}，申请 {format_fen(amount)}",
                detail_en=f"line {item.line_no} has {format_fen(left)} left, asked {format_fen(amount)}",
            )
        wanted.append((line, item.quantity, amount))
    total = sum(a for _, _, a in wanted)
    if total <= 0:
        raise DomainError(
            "refund_exceeds_paid", detail_zh="退款金额须大于 0", detail_en="a refund must be more than zero"
        )
    # Conditional updates: never more than paid, even when two refunds race.
    moved = session.execute(
        update(ORDERS)
        .where(ORDERS.c.id == order.id, ORDERS.c.refunded_fen + total <= ORDERS.c.paid_fen)
        .values(refunded_fen=ORDERS.c.refunded_fen + total, updated_at=now)
        .returning(ORDERS.c.id)
    ).first()
    if moved is None:
        raise DomainError(
            "refund_exceeds_paid",
            detail_zh=f"订单已付 {format_fen(order.paid_fen)}，已退 {format_fen(order.refunded_fen)}",
            detail_en=f"the order paid {format_fen(order.paid_fen)} and refunded {format_fen(order.refunded_fen)}",
        )
    for line, quantity, amount in wanted:
        done = session.execute(
            update(LINES)
            .where(
                LINES.c.id == line.id,
                LINES.c.refunded_fen + amount <= LINES.c.amount_fen,
                LINES.c.refunded_quantity + quantity <= LINES.c.quantity,
            )
            .values(
                refunded_fen=LINES.c.refunded_fen + amount,
                refunded_quantity=LINES.c.refunded_quantity + quantity,
            )
            .returning(LINES.c.id)
        ).first()
        if done is None:
            raise DomainError(
                "refund_exceeds_paid", detail_zh=f"第 {line.line_no} 行", detail_en=f"line {line.line_no}"
            )
    refund = Refund(
        tenant_id=tenant_id,
        order_id=order.id,
        external_id=data.external_id,
        store_id=order.store_id,
        guide_id=order.guide_id,
        channel=order.channel,
        placement=order.placement,
        during_hours=order.during_hours,
        amount_fen=total,
        reason=data.reason,
        refunded_at=data.refunded_at,
        created_at=now,
    )
    session.add(refund)
    session.flush()
    session.add_all(
        RefundLine(tenant_id=tenant_id, refund_id=refund.id, order_line_id=line.id, quantity=q, amount_fen=a)
        for line, q, a in wanted
    )
    session.flush()
    session.expire(order)
    return s.RefundResult(row=row, refund_id=refund.id, order_id=order.id, amount_fen=total, replayed=False)


def _replay(session: Session, previous: Refund, data: s.RefundIn, row: int) -> s.RefundResult:
    """The same refund id again: the first answer if it is the same refund, else a conflict."""
    stored = {
        (rl.order_line_id, rl.quantity)
        for rl in session.scalars(select(RefundLine).where(RefundLine.refund_id == previous.id))
    }
    line_ids = dict(
        session.execute(
            select(OrderLine.line_no, OrderLine.id).where(OrderLine.order_id == previous.order_id)
        ).all()
    )
    sent = {(line_ids.get(item.line_no), item.quantity) for item in data.lines}
    if sent != stored or previous.refunded_at != data.refunded_at:
        raise DomainError("refund_conflict", external_id=data.external_id)
    return s.RefundResult(
        row=row,
        refund_id=previous.id,
        order_id=previous.order_id,
        amount_fen=previous.amount_fen,
        replayed=True,
    )


def record_footfall(session: Session, *, tenant_id: int, counts: list[s.FootfallIn]) -> int:
    """Upsert hourly visitor counts (a resend corrects the count); all or nothing."""
    if not counts:
        return 0
    tz = ZoneInfo(session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id)) or "Asia/Shanghai")
    stores = org.stores_by_code(session, tenant_id=tenant_id, codes={c.store_code for c in counts})
    errors: list[RowError] = []
    seen: dict[tuple[str, dt.datetime], int] = {}
    for row, c in enumerate(counts, start=1):
        local = c.hour_start.astimezone(tz)
        if c.store_code not in stores:
            errors.append(
                unknown_reference(row, "store_code", "unknown_store", "门店", "store", c.store_code)
            )
        if (local.minute, local.second, local.microsecond) != (0, 0, 0):
            errors.append(
                RowError(
                    row,
                    "hour_start",
                    "not_an_hour",
                    "须为整点（品牌时区）",
                    "must start a whole hour (tenant zone)",
                )
            )
        key = (c.store_code, c.hour_start)
        if key in seen:
            errors.append(
                RowError(
                    row,
                    "hour_start",
                    "duplicate_in_batch",
                    f"与第 {seen[key]} 条重复",
                    f"repeats row {seen[key]}",
                )
            )
        seen.setdefault(key, row)
    if errors:
        raise rejected(errors)
    now = utcnow()
    existing = {
        (f.store_id, f.hour_start): f
        for f in session.scalars(
            select(Footfall).where(
                Footfall.tenant_id == tenant_id,
                Footfall.store_id.in_({stores[c.store_code].id for c in counts}),
                Footfall.hour_start.in_({c.hour_start.astimezone(dt.UTC) for c in counts}),
            )
        )
    }
    for c in counts:
        store_id = stores[c.store_code].id
        hour = c.hour_start.astimezone(dt.UTC)
        row_ = existing.get((store_id, hour))
        if row_ is None:
            session.add(
                Footfall(
                    tenant_id=tenant_id,
                    store_id=store_id,
                    hour_start=hour,
                    visitors=c.visitors,
                    updated_at=now,
                )
            )
        else:
            row_.visitors, row_.updated_at = c.visitors, now
    session.flush()
    return len(counts)
