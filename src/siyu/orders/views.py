"""HTTP routes of orders: batch ingest, reading, revisions, refunds, footfall, exclusive guide."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from siyu.access import Perm, Principal
from siyu.api.deps import DB, Limit, PathId, allow
from siyu.api.platform import add_import_route
from siyu.api.routing import TransactionalRoute
from siyu.orders import refunds, service
from siyu.orders import schemas as s
from siyu.orders.attribution import REASONS_EXPLAINED
from siyu.orders.imports import ORDER_OPTIONAL, ORDER_REQUIRED, import_orders
from siyu.orders.models import Order

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute, tags=["orders 订单"])


def summary(o: Order) -> s.OrderSummary:
    """An order as lists show it, with its attribution explained."""
    zh, en = REASONS_EXPLAINED[o.attribution_reason]
    return s.OrderSummary(
        id=o.id,
        channel=o.channel,
        external_id=o.external_id,
        customer_id=o.customer_id,
        store_id=o.store_id,
        guide_id=o.guide_id,
        attribution_reason=o.attribution_reason,
        attribution_explained=f"{zh} / {en}",
        placement=o.placement,
        during_hours=o.during_hours,
        fulfilment=o.fulfilment,
        status=o.status,
        currency=o.currency,
        placed_at=o.placed_at,
        paid_at=o.paid_at,
        goods_fen=o.goods_fen,
        discount_fen=o.discount_fen,
        shipping_fen=o.shipping_fen,
        total_fen=o.total_fen,
        paid_fen=o.paid_fen,
        refunded_fen=o.refunded_fen,
        revision=o.revision,
    )


@router.post("/orders/batch", response_model=s.OrderBatchResult, summary="Ingest orders 批量写入订单")
def ingest(body: s.OrderBatch, db: DB, principal: Principal = allow(Perm.ORDERS_WRITE)) -> Response:
    """Create or update up to 1,000 orders by channel + external id; all or nothing."""
    result = service.ingest_orders(
        db, tenant_id=principal.tenant_id, orders=body.orders, source=body.source, actor=principal
    )
    # Serialised once by its own schema, not validated again field by field (1,000 results).
    return Response(result.model_dump_json(), media_type="application/json")


@router.get("/orders", response_model=s.OrderPage, summary="List orders 订单列表")
def list_orders(
    db: DB,
    limit: Limit,
    filters: Annotated[s.OrderFilter, Query()],
    cursor: str | None = None,
    principal: Principal = allow(Perm.ORDERS_READ),
) -> s.OrderPage:
    """Orders in the caller's scope (a manager's stores, a guide's own), newest paid first (unpaid
    last); `next_cursor` pages on stably."""
    rows, next_cursor = service.list_orders(
        db, tenant_id=principal.tenant_id, principal=principal, cursor=cursor, limit=limit, filters=filters
    )
    return s.OrderPage(items=[summary(o) for o in rows], next_cursor=next_cursor)


@router.get("/orders/{order_id}", response_model=s.OrderRead, summary="One order 订单详情")
def get_order(order_id: PathId, db: DB, principal: Principal = allow(Perm.ORDERS_READ)) -> s.OrderRead:
    """An order with its lines, payments and refunds."""
    o = service.get_order(db, tenant_id=principal.tenant_id, order_id=order_id, principal=principal)
    lines, payments, refund_rows = service.order_parts(db, order_id=o.id)
    return s.OrderRead(
        **summary(o).model_dump(),
        fulfilled_at=o.fulfilled_at,
        completed_at=o.completed_at,
        cancelled_at=o.cancelled_at,
        source_store_id=o.source_store_id,
        source_staff_id=o.source_staff_id,
        lines=[s.LineRead.model_validate(x) for x in lines],
        payments=[s.PaymentRead.model_validate(p) for p in payments],
        refunds=[
            s.RefundRead(
                id=r.id,
                order_id=r.order_id,
                external_id=r.external_id,
                amount_fen=r.amount_fen,
                reason=r.reason,
                refunded_at=r.refunded_at,
                lines=[s.RefundLineRead.model_validate(x) for x in rl],
            )
            for r, rl in refund_rows
        ],
    )


@router.get(
    "/orders/{order_id}/revisions", response_model=list[s.RevisionRead], summary="Order history 订单变更历史"
)
def order_revisions(
    order_id: PathId, db: DB, principal: Principal = allow(Perm.ORDERS_READ)
) -> list[s.RevisionRead]:
    """Earlier versions of the order, as its channel sent them, oldest first."""
    o = service.get_order(db, tenant_id=principal.tenant_id, order_id=order_id, principal=principal)
    return [s.RevisionRead.model_validate(r) for r in service.revisions(db, order_id=o.id)]


@router.post("/refunds", response_model=s.RefundBatchResult, summary="Record refunds 退款")
def record_refunds(
    body: s.RefundBatch, db: DB, principal: Principal = allow(Perm.ORDERS_WRITE)
) -> s.RefundBatchResult:
    """Refunds against order lines (partial or full); never more than was paid; replays are harmless."""
    result = refunds.refund_orders(db, tenant_id=principal.tenant_id, refunds=body.refunds, actor=principal)
    return result


@router.post("/footfall", response_model=s.FootfallResult, summary="Hourly footfall 客流")
def record_footfall(
    body: s.FootfallBatch, db: DB, principal: Principal = allow(Perm.ORDERS_WRITE)
) -> s.FootfallResult:
    """Visitor counts per store and hour (a resend replaces the count)."""
    return s.FootfallResult(
        written=refunds.record_footfall(db, tenant_id=principal.tenant_id, counts=body.counts)
    )


add_import_route(
    router, "orders", import_orders, Perm.ORDERS_WRITE, required=ORDER_REQUIRED, optional=ORDER_OPTIONAL
)
