"""Finding customers: lookup by identity, the list with its search (phones kept masked), the timeline."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, Select, or_, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from siyu.access import Perm, Principal
from siyu.core.errors import DomainError, not_found
from siyu.core.inputs import ascii_digits
from siyu.customers import schemas as s
from siyu.customers.common import get_customer, log, scope_filter
from siyu.customers.identity import normalise_identity
from siyu.customers.models import Customer as C  # noqa: N817 - read as 'C.column' in queries
from siyu.customers.models import (
    CustomerIdentity,
    TimelineEvent,
)
from siyu.customers.upsert import _mask_key
from siyu.db.pagination import keyset_page
from siyu.db.session import unit_of_work
from siyu.platform import audit

# --- reading ----------------------------------------------------------------------------------
# --- phone privacy in search -------------------------------------------------------------------
# A masked phone (153****8916) must not be confirmable by searching for it. Full-phone search and
# lookup are for principals that may see phones anyway: roles holding the reveal permission (each
# such search of a staff member is audited) and integrations that write customers by phone (a POS
# finds its customer by phone; its upserts would answer the same question). Everyone else searches
# phones by their last four digits only — which their masked lists already show — within their own
# scope, and at most PHONE_TAIL_SEARCHES_PER_MINUTE times a minute.
PHONE_TAIL_SEARCHES_PER_MINUTE = 30
PHONE_ADDS_PER_HOUR = 20  # a guide records a few phones a day; guessing a hidden number needs thousands


def may_search_full_phone(principal: Principal | None) -> bool:
    """Whether the caller may find a customer by a whole phone number."""
    return principal is None or principal.can(Perm.PHONE_REVEAL) or principal.can(Perm.CUSTOMERS_UPSERT)


def _audit_phone_search(session: Session, principal: Principal | None, phone: str, how: str) -> None:
    """Audit a whole-phone search by a staff member. A page that only reads (a plain BEGIN, which
    SQLite cannot always turn into a write) writes the entry in a short transaction of its own."""
    if principal is None or principal.actor_type != "staff":
        return
    entry: dict[str, Any] = {
        "tenant_id": principal.tenant_id,
        "actor": principal,
        "action": "customer.phone_search",
        "object_type": "customer",
        "object_id": None,
        "data": {"phone": _mask_key(phone), "via": how},
    }
    bind = session.get_bind()
    if bind.get_execution_options().get("siyu_read_only"):
        engine = bind if isinstance(bind, Engine) else bind.engine
        with unit_of_work(
            engine.execution_options(siyu_read_only=False), tenant_id=principal.tenant_id
        ) as own:
            audit.record(own, **entry)
    else:
        audit.record(session, **entry)


def _log_phone_conflict(principal: Principal, phone: str) -> None:
    """A refused phone add by someone who may not see phones: a structured event (the refused
    transaction writes nothing, so the audit table cannot hold it)."""
    log.warning(
        json.dumps(
            {
                "event": "phone_identity_conflict",
                "tenant_id": principal.tenant_id,
                "actor": f"{principal.actor_type}:{principal.actor_id}",
                "phone": _mask_key(phone),
            }
        )
    )


def _limit_phone_tail_search(principal: Principal | None) -> None:
    if principal is None:
        return
    _limit(principal, "phone-tail", PHONE_TAIL_SEARCHES_PER_MINUTE, 60)


def _limit(principal: Principal, what: str, most: int, window_s: int) -> None:
    """Count one `what` for this person; 429 past `most` a window (`platform.limits.spend`)."""
    from siyu.platform.limits import get_limiter, spend
    from siyu.settings import get_settings

    key = f"{what}:{principal.tenant_id}:{principal.actor_type}:{principal.actor_id}"
    spend(get_limiter(get_settings().redis_url), key, most=most, window_s=window_s)


def lookup(
    session: Session,
    *,
    tenant_id: int,
    type_: str,
    value: str,
    namespace: str | None,
    principal: Principal | None,
) -> C:
    """The customer owning an identity, or not found (by phone only for those who may see phones)."""
    t, ns, v = normalise_identity(type_, value, namespace)
    if t == "phone":
        if not may_search_full_phone(principal):
            raise DomainError("forbidden", permission=Perm.PHONE_REVEAL.value)
        _audit_phone_search(session, principal, v, "lookup")
    customer_id = session.scalar(
        select(CustomerIdentity.customer_id).where(
            CustomerIdentity.tenant_id == tenant_id,
            CustomerIdentity.type == t,
            CustomerIdentity.namespace == ns,
            CustomerIdentity.value == v,
        )
    )
    if customer_id is None:
        raise not_found("customer")
    return get_customer(session, tenant_id=tenant_id, customer_id=customer_id, principal=principal)


PHONE_TAIL_DIGITS = 4
MAX_CUSTOMER_NUMBER_DIGITS = 18  # customer numbers are BIGINT; longer digit strings are not numbers


def _search_conditions(
    session: Session, tenant_id: int, q: str, principal: Principal | None
) -> list[ColumnElement[bool]]:
    """What a search text q matches, by the caller's right to see phones."""
    full_phone = may_search_full_phone(principal)
    if q.startswith("#") and ascii_digits(q[1:]) and len(q) <= MAX_CUSTOMER_NUMBER_DIGITS + 1:
        return [C.number == int(q[1:])]  # "#6344": exactly the customer number 6344
    if ascii_digits(q) and len(q) == PHONE_TAIL_DIGITS:
        # Four digits are the end of a phone (what a masked phone shows), never a customer number.
        if not full_phone:
            _limit_phone_tail_search(principal)
        return [C.phone_e164.endswith(q, autoescape=True)]
    matches: list[ColumnElement[bool]] = [C.name.contains(q, autoescape=True)]
    ident = select(CustomerIdentity.customer_id).where(
        CustomerIdentity.tenant_id == tenant_id, CustomerIdentity.value == q
    )
    if not full_phone:
        ident = ident.where(CustomerIdentity.type != "phone")
    matches.append(C.id.in_(ident))
    try:
        _, _, phone = normalise_identity("phone", q)
    except DomainError:
        phone = None
    if phone is not None and full_phone:
        _audit_phone_search(session, principal, phone, "search")
        matches.append(C.phone_e164 == phone)
    if ascii_digits(q, max_len=MAX_CUSTOMER_NUMBER_DIGITS):
        matches.append(C.number == int(q))
    return matches


def customers_query(
    session: Session, *, tenant_id: int, principal: Principal | None, filters: s.CustomerFilter | None = None
) -> Select[Any]:
    """The customers a list shows (in the caller's scope, filtered), unordered — `list_customers`
    pages it newest first; the console's list joins figures to sort by."""
    f = filters or s.CustomerFilter()
    q, city, gender, store_id, guide_id = f.q, f.city, f.gender, f.store_id, f.guide_id
    status, created_from, created_to = f.status, f.created_from, f.created_to
    phone_ending = f.phone_ending if isinstance(f, s.CustomerSearch) else None
    stmt = select(C).where(C.tenant_id == tenant_id, C.status == status)
    if (cond := scope_filter(principal)) is not None:
        stmt = stmt.where(cond)
    if phone_ending:
        if not ascii_digits(phone_ending, max_len=15):
            raise DomainError("validation_error", summary="phone_ending 须为数字 / must be digits")
        if not may_search_full_phone(principal):
            if len(phone_ending) != PHONE_TAIL_DIGITS:
                raise DomainError(
                    "validation_error",
                    summary="手机号只能按后 4 位查找 / phones are searched by their last four digits",
                )
            _limit_phone_tail_search(principal)
        stmt = stmt.where(C.phone_e164.endswith(phone_ending, autoescape=True))
    if q and q.strip():
        stmt = stmt.where(or_(*_search_conditions(session, tenant_id, q.strip(), principal)))
    for column, value in (
        (C.city, city),
        (C.gender, gender),
        (C.store_id, store_id),
        (C.guide_id, guide_id),
        (C.member_tier, f.member_tier),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if created_from is not None:
        stmt = stmt.where(C.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(C.created_at < created_to)
    return stmt


def list_customers(
    session: Session,
    *,
    tenant_id: int,
    principal: Principal | None,
    cursor: str | None,
    limit: int,
    filters: s.CustomerFilter | None = None,  # a CustomerSearch from the console
) -> tuple[list[C], str | None]:
    """Customers newest first, keyset-paginated; q matches a name, a phone (see above) or any identity;
    phone_ending (digits) matches the end of the phone — four digits for those who may not see phones."""
    stmt = customers_query(session, tenant_id=tenant_id, principal=principal, filters=filters)
    return keyset_page(session, stmt, C.id, cursor=cursor, limit=limit, newest_first=True)


def member_tiers(session: Session, *, tenant_id: int) -> list[str]:
    """The tiers the brand's customers hold (for a filter)."""
    rows = session.scalars(
        select(C.member_tier)
        .where(C.tenant_id == tenant_id, C.member_tier.is_not(None))
        .distinct()
        .order_by(C.member_tier)
    )
    return [t for t in rows if t]


def customers_by_id(session: Session, *, tenant_id: int, ids: set[int]) -> dict[int, C]:
    """Customers of the tenant by id (any status) — for naming them in lists the caller may see."""
    if not ids:
        return {}
    return {
        c.id: c for c in session.scalars(select(C).where(C.tenant_id == tenant_id, C.id.in_(sorted(ids))))
    }


def timeline(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    principal: Principal | None,
    cursor: str | None,
    limit: int,
) -> tuple[list[TimelineEvent], str | None]:
    """A customer's timeline, newest first."""
    get_customer(session, tenant_id=tenant_id, customer_id=customer_id, principal=principal)
    stmt = select(TimelineEvent).where(
        TimelineEvent.tenant_id == tenant_id, TimelineEvent.customer_id == customer_id
    )
    return keyset_page(session, stmt, TimelineEvent.id, cursor=cursor, limit=limit, newest_first=True)
