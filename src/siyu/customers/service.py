"""Use cases of customers: one customer changed (profile, identities, phone reveal); the other
subjects live in their modules (upsert, search, consent, merges, fields) and are re-exported here,
so `customers.service` stays the one surface the views and the facade use."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access import Perm, Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.customers import schemas as s
from siyu.customers.common import (
    CUSTOMERS,
    IDENTITIES,
    MAX_BATCH,
    PROFILE_FIELDS,
    TENANTS,
    TIMELINE,
    count_customers,
    get_customer,
    identities_of,
    scope_filter,
)
from siyu.customers.consent import consent_state, record_consent
from siyu.customers.fields import create_custom_field, list_custom_fields, validate_custom_fields
from siyu.customers.identity import normalise_identity
from siyu.customers.merges import list_merges, merge, merge_counts, merge_preview, unmerge
from siyu.customers.models import Customer as C  # noqa: N817 - read as 'C.column' in queries
from siyu.customers.models import (
    CustomerIdentity,
)
from siyu.customers.notes import add_note, birthdays_soon, last_contacts, notes_of
from siyu.customers.search import (
    MAX_CUSTOMER_NUMBER_DIGITS,
    PHONE_ADDS_PER_HOUR,
    PHONE_TAIL_DIGITS,
    PHONE_TAIL_SEARCHES_PER_MINUTE,
    _limit,
    _log_phone_conflict,
    customers_by_id,
    customers_query,
    list_customers,
    lookup,
    may_search_full_phone,
    member_tiers,
    timeline,
)
from siyu.customers.upsert import (
    _apply_profile,
    _existing_owners,
    _mask_key,
    add_timeline_event,
    allocate_numbers,
    attach_identities,
    upsert_customers,
)
from siyu.org.facade import Staff, Store
from siyu.platform import audit


# --- changing one customer --------------------------------------------------------------------
def update_customer(
    session: Session, *, tenant_id: int, customer_id: int, data: s.CustomerUpdate, principal: Principal | None
) -> C:
    """Change profile fields; custom fields with null are removed."""
    customer = get_customer(session, tenant_id=tenant_id, customer_id=customer_id, principal=principal)
    if customer.status != "active":
        raise DomainError(
            "conflict",
            reason_zh="客户已被合并，请修改存续客户",
            reason_en="customer was merged; edit the survivor",
        )
    profile = data.model_dump(exclude_unset=True)
    if data.custom_fields:
        definitions = {d.key: d for d in list_custom_fields(session, tenant_id=tenant_id)}
        validate_custom_fields(definitions, data.custom_fields, allow_null=True)
    scoped = principal is not None and principal.scope != "all"
    if data.store_id is not None:
        if scoped and principal is not None and data.store_id not in principal.store_ids:
            raise not_found("store")
        _ensure_exists(session, Store, tenant_id, data.store_id, "store")
    if "guide_id" in data.model_fields_set and data.guide_id != customer.guide_id:
        # The same rule as binding an exclusive guide: only those who may bind guides change the
        # guide, and a store manager only to a guide of their own stores — else a customer could be
        # handed into another store's scope.
        if principal is not None and not principal.can(Perm.BINDINGS_WRITE):
            raise DomainError("forbidden", permission=Perm.BINDINGS_WRITE.value)
        if scoped:
            # A store's people change the guide through the binding route, which keeps the exclusive
            # guide's protection window; only HQ sets the guide field directly (an override).
            raise DomainError("use_binding_route")
        if data.guide_id is not None:
            _ensure_exists(session, Staff, tenant_id, data.guide_id, "staff")
    changed = _apply_profile(customer, profile)
    if changed:
        customer.updated_at = utcnow()
        add_timeline_event(
            session,
            tenant_id=tenant_id,
            customer_id=customer.id,
            kind="profile_updated",
            data={"fields": changed},
            actor=principal,
        )
    return customer


def _ensure_exists(session: Session, model: Any, tenant_id: int, object_id: int, name: str) -> None:
    if session.scalar(select(model.id).where(model.tenant_id == tenant_id, model.id == object_id)) is None:
        raise not_found(name)


def add_identity(
    session: Session, *, tenant_id: int, customer_id: int, data: s.IdentityIn, principal: Principal | None
) -> CustomerIdentity:
    """Attach an identity; one that belongs to another customer is a conflict (merge instead)."""
    customer = get_customer(session, tenant_id=tenant_id, customer_id=customer_id, principal=principal)
    t, ns, v = normalise_identity(data.type, data.value, data.namespace)
    owner = session.scalar(
        select(CustomerIdentity).where(
            CustomerIdentity.tenant_id == tenant_id,
            CustomerIdentity.type == t,
            CustomerIdentity.namespace == ns,
            CustomerIdentity.value == v,
        )
    )
    guarded_phone = t == "phone" and principal is not None and not may_search_full_phone(principal)
    if guarded_phone and principal is not None:
        # Adding a phone answers "free" or "taken": for those who may not see phones that is a way to
        # test guesses at a masked number, so it is counted like a phone-ending search (and a
        # conflict is audited, and never says who holds the number).
        _limit(principal, "phone-add", PHONE_ADDS_PER_HOUR, 3600)
    if owner is not None:
        if owner.customer_id == customer.id:
            return owner
        if guarded_phone and principal is not None:
            _log_phone_conflict(principal, v)
            raise DomainError("identity_taken", details={"customer_ids": [customer.id]})
        try:
            get_customer(session, tenant_id=tenant_id, customer_id=owner.customer_id, principal=principal)
        except DomainError:
            # The holder is outside the caller's scope: say the identity is taken, never by whom.
            raise DomainError("identity_taken", details={"customer_ids": [customer.id]}) from None
        raise DomainError("identity_conflict", details={"customer_ids": [customer.id, owner.customer_id]})
    row = CustomerIdentity(
        tenant_id=tenant_id,
        customer_id=customer.id,
        type=t,
        namespace=ns,
        value=v,
        source="manual",
        created_at=utcnow(),
    )
    session.add(row)
    if t == "phone" and customer.phone_e164 is None:
        customer.phone_e164 = v
    session.flush()
    add_timeline_event(
        session,
        tenant_id=tenant_id,
        customer_id=customer.id,
        kind="identity_added",
        data={"type": t, "value": _mask_key(v) if t == "phone" else v, "source": "manual"},
        actor=principal,
    )
    return row


def remove_identity(
    session: Session, *, tenant_id: int, customer_id: int, identity_id: int, principal: Principal | None
) -> None:
    """Detach an identity (the last one cannot go: a customer must stay recognisable)."""
    customer = get_customer(session, tenant_id=tenant_id, customer_id=customer_id, principal=principal)
    rows = identities_of(session, tenant_id=tenant_id, customer_ids=[customer.id])[customer.id]
    target = next((r for r in rows if r.id == identity_id), None)
    if target is None:
        raise not_found("identity")
    if len(rows) == 1:
        raise DomainError(
            "conflict",
            reason_zh="客户至少保留一个身份标识",
            reason_en="a customer keeps at least one identity",
        )
    session.delete(target)
    if target.type == "phone" and customer.phone_e164 == target.value:
        customer.phone_e164 = next((r.value for r in rows if r.type == "phone" and r.id != target.id), None)
    add_timeline_event(
        session,
        tenant_id=tenant_id,
        customer_id=customer.id,
        kind="identity_removed",
        data={
            "type": target.type,
            "value": _mask_key(target.value) if target.type == "phone" else target.value,
        },
        actor=principal,
    )


def reveal_phone(session: Session, *, tenant_id: int, customer_id: int, principal: Principal) -> C:
    """Return the unmasked phone; every reveal is audited."""
    customer = get_customer(session, tenant_id=tenant_id, customer_id=customer_id, principal=principal)
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="customer.phone_reveal",
        object_type="customer",
        object_id=customer.id,
    )
    return customer


__all__ = [
    "CUSTOMERS",
    "IDENTITIES",
    "MAX_BATCH",
    "MAX_CUSTOMER_NUMBER_DIGITS",
    "PHONE_ADDS_PER_HOUR",
    "PHONE_TAIL_DIGITS",
    "PHONE_TAIL_SEARCHES_PER_MINUTE",
    "PROFILE_FIELDS",
    "TENANTS",
    "TIMELINE",
    "_existing_owners",
    "add_identity",
    "add_note",
    "add_timeline_event",
    "allocate_numbers",
    "attach_identities",
    "birthdays_soon",
    "consent_state",
    "count_customers",
    "create_custom_field",
    "customers_by_id",
    "customers_query",
    "get_customer",
    "identities_of",
    "last_contacts",
    "list_custom_fields",
    "list_customers",
    "list_merges",
    "lookup",
    "may_search_full_phone",
    "member_tiers",
    "merge",
    "merge_counts",
    "merge_preview",
    "notes_of",
    "record_consent",
    "remove_identity",
    "reveal_phone",
    "scope_filter",
    "timeline",
    "unmerge",
    "update_customer",
    "upsert_customers",
    "validate_custom_fields",
]
