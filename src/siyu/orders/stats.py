"""Each customer's paid orders, net spend and last purchase (`customer_order_stats`), rewritten from
the orders table for exactly the customers a change touched, in the same transaction.

Recomputing (rather than adding and subtracting) keeps the figures exact whatever changed — an
order's customer, status, amounts or a refund — at the cost of one grouped read of the touched
customers' orders on `ix_orders_customer_paid`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from siyu.db.base import table_of
from siyu.db.session import lock_rows
from siyu.orders.models import CustomerOrderStats, Order

STATS = table_of(CustomerOrderStats)
ORDERS = table_of(Order)
CHUNK = 500
COLUMNS = ["tenant_id", "customer_id", "paid_orders", "net_fen", "first_paid_at", "last_paid_at"]


def _aggregate(tenant_id: int) -> Any:
    o = ORDERS.c
    return (
        select(
            o.tenant_id,
            o.customer_id,
            func.count(),
            func.sum(o.paid_fen - o.refunded_fen),
            func.min(o.paid_at),
            func.max(o.paid_at),
        )
        .where(o.tenant_id == tenant_id, o.customer_id.is_not(None), o.paid_at.is_not(None))
        .group_by(o.tenant_id, o.customer_id)
    )


def refresh(session: Session, *, tenant_id: int, customer_ids: Iterable[int | None]) -> None:
    """Rewrite the figures of these customers from their orders (a customer without paid orders has
    no row)."""
    ids = sorted({i for i in customer_ids if i is not None})
    if not ids:
        return
    session.flush()
    # Two transactions touching one customer recount one after the other: the second reads the
    # orders the first committed (PostgreSQL; on SQLite writers are serial anyway).
    lock_rows(session, "customer_stats", ids)
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        session.execute(delete(STATS).where(STATS.c.tenant_id == tenant_id, STATS.c.customer_id.in_(chunk)))
        session.execute(
            insert(STATS).from_select(COLUMNS, _aggregate(tenant_id).where(ORDERS.c.customer_id.in_(chunk)))
        )


def rebuild(session: Session, *, tenant_id: int) -> int:
    """Rewrite every customer's figures of a brand (after a bulk load, or a migration, while nothing
    else writes orders); returns the rows written."""
    session.flush()
    session.execute(delete(STATS).where(STATS.c.tenant_id == tenant_id))
    session.execute(insert(STATS).from_select(COLUMNS, _aggregate(tenant_id)))
    return int(
        session.scalar(select(func.count()).select_from(STATS).where(STATS.c.tenant_id == tenant_id)) or 0
    )


def stats_of(
    session: Session, *, tenant_id: int, customer_ids: Iterable[int]
) -> dict[int, CustomerOrderStats]:
    """The figures of some customers (absent: no paid order)."""
    ids = sorted(set(customer_ids))
    if not ids:
        return {}
    rows = session.scalars(
        select(CustomerOrderStats).where(
            CustomerOrderStats.tenant_id == tenant_id, CustomerOrderStats.customer_id.in_(ids)
        )
    )
    return {r.customer_id: r for r in rows}
