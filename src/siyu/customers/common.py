"""What the customers use cases share: tables, scope, reading one customer, the acting principal."""

from __future__ import annotations

import logging
from collections import defaultdict

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from siyu.access import Principal
from siyu.core.errors import not_found
from siyu.customers import references
from siyu.customers.models import (
    ConsentRecord,
    CustomerIdentity,
    CustomerMerge,
    TimelineEvent,
)
from siyu.customers.models import Customer as C  # noqa: N817 - read as 'C.column' in queries
from siyu.db.base import table_of
from siyu.org.facade import Tenant

MAX_BATCH = 1000
log = logging.getLogger("siyu.customers")
PROFILE_FIELDS = ("name", "gender", "birthday", "city", "member_tier", "store_id", "guide_id")

references.register(table_of(CustomerIdentity))
references.register(table_of(TimelineEvent))
references.register(table_of(ConsentRecord))
references.exempt(
    table_of(C), "merged_into_id", "points from a merged record to its survivor; the merge sets it"
)
references.exempt(table_of(CustomerMerge), "survivor_id", "the merge record names both parties")
references.exempt(table_of(CustomerMerge), "merged_id", "the merge record names both parties")

CUSTOMERS = table_of(C)
IDENTITIES = table_of(CustomerIdentity)
TIMELINE = table_of(TimelineEvent)
TENANTS = table_of(Tenant)


def _actor(principal: Principal | None) -> tuple[str, int | None]:
    return (principal.actor_type, principal.actor_id) if principal else ("system", None)


# --- scope ------------------------------------------------------------------------------------
def scope_filter(principal: Principal | None) -> ColumnElement[bool] | None:
    """The row filter of a principal's data scope, or None for tenant-wide access."""
    if principal is None or principal.scope == "all":
        return None
    if principal.scope == "stores":
        return C.store_id.in_(sorted(principal.store_ids))
    return C.guide_id == principal.actor_id


def get_customer(session: Session, *, tenant_id: int, customer_id: int, principal: Principal | None) -> C:
    """A customer in the tenant and the principal's scope, or not found (never 'forbidden')."""
    stmt = select(C).where(C.tenant_id == tenant_id, C.id == customer_id)
    if (cond := scope_filter(principal)) is not None:
        stmt = stmt.where(cond)
    customer = session.scalar(stmt)
    if customer is None:
        raise not_found("customer")
    return customer


def identities_of(
    session: Session, *, tenant_id: int, customer_ids: list[int]
) -> dict[int, list[CustomerIdentity]]:
    """Identities per customer, oldest first."""
    out: dict[int, list[CustomerIdentity]] = defaultdict(list)
    rows = session.scalars(
        select(CustomerIdentity)
        .where(CustomerIdentity.tenant_id == tenant_id, CustomerIdentity.customer_id.in_(customer_ids))
        .order_by(CustomerIdentity.id)
    )
    for row in rows:
        out[row.customer_id].append(row)
    return out


def count_customers(session: Session, *, tenant_id: int) -> int:
    """Active customers of the tenant."""
    return int(
        session.scalar(
            select(func.count()).select_from(C).where(C.tenant_id == tenant_id, C.status == "active")
        )
        or 0
    )
