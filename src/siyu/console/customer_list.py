"""The console's customer list: who, with what they bought (from the orders' per-customer figures),
filtered by store, guide, tier, tag, city and last purchase, sorted by any figure, with the count."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, select
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.customers import service as customer_service
from siyu.customers.models import Customer
from siyu.customers.schemas import CustomerSearch
from siyu.db.pagination import offset_page
from siyu.orders.facade import CustomerOrderStats
from siyu.tags.facade import TagAssignment

SORTS: dict[str, Any] = {
    "spend": CustomerOrderStats.net_fen,
    "orders": CustomerOrderStats.paid_orders,
    "last": CustomerOrderStats.last_paid_at,
    "created": Customer.id,
}
# The last-purchase filter: bought within N days, not for N days (but before), or never.
WINDOWS = ("30", "90", "180", "365", "-90", "-180", "-365", "never")


@dataclass(frozen=True)
class CustomerListQuery:
    """What the list shows: the search, and the filters on figures and tags."""

    search: CustomerSearch
    tag_id: int | None = None
    window: str | None = None


def list_statement(
    session: Session,
    principal: Principal,
    query: CustomerListQuery,
    *,
    sort: str,
    now: dt.datetime | None = None,
) -> Select[Any]:
    """The customers a list shows, joined to their order figures when a sort or filter needs them.
    Built once per request: the search behind it may be rate-limited (phone endings), so counting
    and paging reuse the statement rather than searching again."""
    stmt = customer_service.customers_query(
        session, tenant_id=principal.tenant_id, principal=principal, filters=query.search
    )
    joined = sort in ("spend", "orders", "last") or query.window is not None
    if joined:
        stmt = stmt.outerjoin(
            CustomerOrderStats,
            and_(
                CustomerOrderStats.customer_id == Customer.id,
                CustomerOrderStats.tenant_id == principal.tenant_id,
            ),
        )
    if query.tag_id is not None:
        holders = select(TagAssignment.customer_id).where(
            TagAssignment.tenant_id == principal.tenant_id, TagAssignment.tag_id == query.tag_id
        )
        stmt = stmt.where(Customer.id.in_(holders))
    if query.window is not None:
        stmt = stmt.where(_window(query.window, now or utcnow()))
    return stmt


def list_page(
    session: Session,
    principal: Principal,
    stmt: Select[Any],
    *,
    sort: str,
    desc: bool,
    offset: int,
    limit: int,
    counted: tuple[int, int] | None = None,
) -> tuple[list[tuple[Customer, CustomerOrderStats | None]], int]:
    """A numbered page of the statement's customers with their order figures, and how many match
    (`counted`: from `count_rows`, when the caller counted first to choose the page)."""
    rows, total = offset_page(
        session, stmt, SORTS[sort], Customer.id, desc=desc, offset=offset, limit=limit, counted=counted
    )
    figures = customer_figures(session, principal.tenant_id, [c.id for c in rows])
    return [(c, figures.get(c.id)) for c in rows], total


def _window(window: str, now: dt.datetime) -> Any:
    if window == "never":
        return CustomerOrderStats.customer_id.is_(None)
    days = int(window)
    edge = now - dt.timedelta(days=abs(days))
    return CustomerOrderStats.last_paid_at >= edge if days > 0 else CustomerOrderStats.last_paid_at < edge


def customer_figures(session: Session, tenant_id: int, ids: list[int]) -> dict[int, CustomerOrderStats]:
    """Paid orders, net spend and last purchase of some customers (absent: never bought)."""
    if not ids:
        return {}
    rows = session.scalars(
        select(CustomerOrderStats).where(
            CustomerOrderStats.tenant_id == tenant_id, CustomerOrderStats.customer_id.in_(sorted(ids))
        )
    )
    return {r.customer_id: r for r in rows}
