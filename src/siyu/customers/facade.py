"""What other packages may use of customers: ids and DTOs, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.customers import references, service
from siyu.customers import schemas as s
from siyu.customers.identity import IdentityKey, normalise_identity
from siyu.customers.models import ConsentRecord, Customer, CustomerIdentity, TimelineEvent
from siyu.customers.references import MergeHandler as MergeHandler  # handler rules of one table
from siyu.customers.references import MergeParties as MergeParties  # what a handler is told
from siyu.customers.schemas import PURPOSE as PURPOSE  # consent purposes, as a type
from siyu.customers.schemas import IdentityIn
from siyu.customers.service import add_timeline_event, get_customer
from siyu.db.base import table_of
from siyu.db.bulk import bulk_insert
from siyu.db.expressions import one_of


@dataclass(frozen=True)
class CustomerRef:
    """A customer as another capability sees it."""

    id: int
    number: int
    store_id: int | None
    guide_id: int | None
    created: bool = False


def resolve_customers(
    session: Session, *, tenant_id: int, records: list[s.CustomerUpsert], source: str, actor: Principal | None
) -> list[CustomerRef]:
    """The customer behind each record's identities, created when new (same rules as the batch API).

    Raises the batch API's errors (batch_rejected with a row report, batch_too_large).
    """
    result = service.upsert_customers(
        session, tenant_id=tenant_id, records=records, source=source, actor=actor
    )
    by_id = {
        row.id: row
        for row in session.execute(
            select(Customer.id, Customer.store_id, Customer.guide_id).where(
                Customer.tenant_id == tenant_id,
                one_of(session, Customer.id, [r.customer_id for r in result.results]),
            )
        )
    }
    return [
        CustomerRef(
            id=r.customer_id,
            number=r.number,
            store_id=by_id[r.customer_id].store_id,
            guide_id=by_id[r.customer_id].guide_id,
            created=r.created,
        )
        for r in result.results
    ]


def register_customer_reference(
    table: Table, column: str = "customer_id", *, handler: MergeHandler | None = None
) -> None:
    """Declare a column holding customer ids so merges move it and unmerges move it back; a table
    whose unique keys forbid a plain move passes a handler that decides row by row. The module
    that calls this must be listed in `siyu.customers.references.HOLDERS`."""
    references.register(table, column, handler=handler)


def exempt_customer_reference(table: Table, column: str, reason: str) -> None:
    """Declare a column holding customers that a merge must leave where it is, and why."""
    references.exempt(table, column, reason)


def identity_owners(session: Session, *, tenant_id: int, keys: list[IdentityKey]) -> dict[IdentityKey, int]:
    """Which customer owns each of these normalised identities (absent ones are missing)."""
    return service._existing_owners(session, tenant_id, keys) if keys else {}


def normalise(type_: str, value: str, namespace: str | None = None) -> IdentityKey:
    """An identity's normal (type, namespace, value), or a DomainError saying what is wrong."""
    return normalise_identity(type_, value, namespace)


def attach_identities(
    session: Session,
    *,
    tenant_id: int,
    groups: list[tuple[list[IdentityKey], int | None, int | None]],
    known: set[IdentityKey],
    source: str,
    actor: Principal | None,
) -> list[int]:
    """Create customers for identity sets nobody owns, or add the new identities to their owner.

    For callers that normalised the identities (`normalise`) and looked up their owners
    (`identity_owners`) in the same transaction, and refused conflicts: each group is
    (keys, owner id or None, home store id or None); `known` are the keys that already exist.
    """
    return service.attach_identities(
        session, tenant_id=tenant_id, groups=groups, known=known, source=source, actor=actor
    )


def append_timeline(session: Session, events: list[dict[str, Any]]) -> None:
    """Append many timeline events at once (dicts with tenant_id, customer_id, kind, occurred_at,
    actor_type, actor_id, data)."""
    bulk_insert(session.connection(), table_of(TimelineEvent), events)


def customers_in_scope(
    session: Session, *, tenant_id: int, ids: list[int], principal: Principal | None
) -> dict[int, CustomerRef]:
    """Active customers among `ids` that the principal may see (others are simply absent)."""
    found: dict[int, CustomerRef] = {}
    for start in range(0, len(ids), 5000):
        stmt = select(Customer.id, Customer.number, Customer.store_id, Customer.guide_id).where(
            Customer.tenant_id == tenant_id,
            Customer.status == "active",
            one_of(session, Customer.id, ids[start : start + 5000]),
        )
        if (cond := service.scope_filter(principal)) is not None:
            stmt = stmt.where(cond)
        for row in session.execute(stmt):
            found[row.id] = CustomerRef(row.id, row.number, row.store_id, row.guide_id)
    return found


def real_name_on_file(session: Session, *, tenant_id: int, customer_id: int) -> bool:
    """Whether the customer has a name and a phone number on file (a registered, real-name card)."""
    row = session.execute(
        select(Customer.name, Customer.phone_e164).where(
            Customer.tenant_id == tenant_id, Customer.id == customer_id
        )
    ).first()
    return bool(row and (row.name or "").strip() and row.phone_e164)


def set_member_tiers(session: Session, *, tenant_id: int, tiers: dict[int, str | None]) -> None:
    """Write the member tier (a tier's name, as segments and the 360 show it) of these customers;
    loyalty owns the tier and calls this when it changes."""
    if not tiers:
        return
    table = table_of(Customer)
    session.execute(
        update(table)
        .where(table.c.tenant_id == tenant_id, table.c.id == bindparam("c_id"))
        .values(member_tier=bindparam("c_tier")),
        [{"c_id": cid, "c_tier": tier} for cid, tier in tiers.items()],
    )


def customers_by_number(session: Session, *, tenant_id: int, numbers: list[int]) -> dict[int, int]:
    """Customer id per dense number (numbers of absent customers are simply missing)."""
    found: dict[int, int] = {}
    for start in range(0, len(numbers), 5000):
        rows = session.execute(
            select(Customer.number, Customer.id).where(
                Customer.tenant_id == tenant_id,
                one_of(session, Customer.number, numbers[start : start + 5000]),
            )
        )
        found.update((number, customer_id) for number, customer_id in rows)
    return found


__all__ = [
    "PURPOSE",
    "ConsentRecord",
    "Customer",
    "CustomerIdentity",
    "CustomerRef",
    "IdentityIn",
    "IdentityKey",
    "MergeHandler",
    "MergeParties",
    "TimelineEvent",
    "add_timeline_event",
    "append_timeline",
    "attach_identities",
    "customers_by_number",
    "customers_in_scope",
    "exempt_customer_reference",
    "get_customer",
    "identity_owners",
    "normalise",
    "register_customer_reference",
    "resolve_customers",
]
