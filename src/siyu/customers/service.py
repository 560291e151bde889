"""Use cases of customers: batch upsert by identity, lookup, profile, consent, merge and unmerge."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, and_, func, insert, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from siyu import events
from siyu.access import Perm, Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, RowError, not_found
from siyu.customers import references
from siyu.customers import schemas as s
from siyu.customers.identity import IdentityKey, normalise_identity
from siyu.customers.models import (
    ConsentRecord,
    CustomerIdentity,
    CustomerMerge,
    CustomFieldDefinition,
    TimelineEvent,
)
from siyu.customers.models import Customer as C  # noqa: N817 - read as 'C.column' in queries
from siyu.db.base import table_of
from siyu.db.bulk import bulk_insert
from siyu.db.expressions import one_of
from siyu.db.pagination import keyset_page
from siyu.db.session import LOCK_NAMESPACES, lock_tenant, unit_of_work
from siyu.org.facade import Staff, Store, Tenant
from siyu.platform import audit

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


# --- custom fields ----------------------------------------------------------------------------
def list_custom_fields(session: Session, *, tenant_id: int) -> list[CustomFieldDefinition]:
    """Definitions of the tenant's custom fields."""
    return list(
        session.scalars(
            select(CustomFieldDefinition)
            .where(CustomFieldDefinition.tenant_id == tenant_id)
            .order_by(CustomFieldDefinition.key)
        )
    )


def create_custom_field(
    session: Session, *, tenant_id: int, data: s.CustomFieldCreate, actor: Principal | None
) -> CustomFieldDefinition:
    """Define a custom profile field."""
    if data.type == "choice" and not data.choices:
        raise DomainError(
            "validation_error", summary="choice 类型需要 choices / a choice field needs choices"
        )
    exists = session.scalar(
        select(CustomFieldDefinition.id).where(
            CustomFieldDefinition.tenant_id == tenant_id, CustomFieldDefinition.key == data.key
        )
    )
    if exists:
        raise DomainError("duplicate", object="custom_field", value=data.key)
    row = CustomFieldDefinition(tenant_id=tenant_id, **data.model_dump())
    session.add(row)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="custom_field.create",
        object_type="custom_field",
        object_id=row.id,
        data={"key": data.key},
    )
    return row


def _check_custom_value(definition: CustomFieldDefinition, value: Any) -> Any:
    expected = {
        "text": "文本/text",
        "number": "数字/number",
        "date": "日期 YYYY-MM-DD/date",
        "boolean": "true/false",
        "choice": "/".join(definition.choices),
    }[definition.type]
    ok = False
    if definition.type == "text":
        ok = isinstance(value, str) and len(value) <= 500
    elif definition.type == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif definition.type == "boolean":
        ok = isinstance(value, bool)
    elif definition.type == "choice":
        ok = value in definition.choices
    elif definition.type == "date" and isinstance(value, str):
        try:
            dt.date.fromisoformat(value)
            ok = True
        except ValueError:
            ok = False
    if not ok:
        raise DomainError("invalid_custom_field", key=definition.key, expected=expected)
    return value


def validate_custom_fields(
    definitions: dict[str, CustomFieldDefinition], values: dict[str, Any], *, allow_null: bool
) -> dict[str, Any]:
    """Check values against definitions; null means 'remove' when allow_null."""
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            raise DomainError("unknown_custom_field", key=key)
        if value is None and allow_null:
            continue
        _check_custom_value(definition, value)
    return values


# --- batch upsert -----------------------------------------------------------------------------
@dataclass
class _Prepared:
    row: int
    record: s.CustomerUpsert | None
    keys: list[IdentityKey]
    profile: dict[str, Any]
    customer_id: int | None = None
    number: int | None = None
    created: bool = False
    new_keys: list[IdentityKey] = field(default_factory=list)


def _prepare(  # noqa: C901 - to split (docs/architecture.md)
    session: Session, tenant_id: int, records: list[s.CustomerUpsert]
) -> tuple[list[_Prepared], list[RowError]]:
    errors: list[RowError] = []
    prepared: list[_Prepared] = []
    first_row_of: dict[IdentityKey, int] = {}
    definitions = {d.key: d for d in list_custom_fields(session, tenant_id=tenant_id)}
    store_ids = {r.store_id for r in records if r.store_id is not None}
    guide_ids = {r.guide_id for r in records if r.guide_id is not None}
    known_stores = (
        set(session.scalars(select(Store.id).where(Store.tenant_id == tenant_id, Store.id.in_(store_ids))))
        if store_ids
        else set()
    )
    known_staff = (
        set(session.scalars(select(Staff.id).where(Staff.tenant_id == tenant_id, Staff.id.in_(guide_ids))))
        if guide_ids
        else set()
    )
    for index, record in enumerate(records):
        row = index + 1
        raw = list(record.identities)
        if record.phone:
            raw.append(s.IdentityIn(type="phone", value=record.phone))
        if not raw:
            errors.append(
                RowError(row, "identities", "no_identity", "至少需要一个身份标识", "at least one identity")
            )
            continue
        keys: list[IdentityKey] = []
        row_ok = True
        for j, ident in enumerate(raw):
            column = f"identities[{j}]" if j < len(record.identities) else "phone"
            try:
                key = normalise_identity(ident.type, ident.value, ident.namespace)
            except DomainError as exc:
                errors.append(RowError(row, column, exc.code, exc.message(), exc.message("en")))
                row_ok = False
                continue
            if key in keys:
                continue  # the same identity twice in one record is the same fact
            if key in first_row_of:
                errors.append(
                    RowError(
                        row,
                        column,
                        "duplicate_in_batch",
                        f"身份标识 {key[0]}:{key[2]} 与第 {first_row_of[key]} 条重复",
                        f"identity {key[0]}:{key[2]} repeats row {first_row_of[key]}",
                    )
                )
                row_ok = False
                continue
            first_row_of[key] = row
            keys.append(key)
        profile = record.model_dump(include=set(PROFILE_FIELDS) | {"custom_fields"}, exclude_unset=True)
        if record.custom_fields:
            try:
                validate_custom_fields(definitions, record.custom_fields, allow_null=False)
            except DomainError as exc:
                errors.append(RowError(row, "custom_fields", exc.code, exc.message(), exc.message("en")))
                row_ok = False
        if record.store_id is not None and record.store_id not in known_stores:
            errors.append(RowError(row, "store_id", "not_found", "门店不存在", "store not found"))
            row_ok = False
        if record.guide_id is not None and record.guide_id not in known_staff:
            errors.append(RowError(row, "guide_id", "not_found", "导购不存在", "guide not found"))
            row_ok = False
        if row_ok:
            prepared.append(_Prepared(row=row, record=record, keys=keys, profile=profile))
    return prepared, errors


def _existing_owners(session: Session, tenant_id: int, keys: list[IdentityKey]) -> dict[IdentityKey, int]:
    """Which customer owns each identity that already exists (one indexed query per type)."""
    by_type: dict[tuple[str, str], list[str]] = defaultdict(list)
    for type_, ns, value in keys:
        by_type[(type_, ns)].append(value)
    owners: dict[IdentityKey, int] = {}
    conditions = [
        and_(
            IDENTITIES.c.type == t, IDENTITIES.c.namespace == ns, one_of(session, IDENTITIES.c.value, values)
        )
        for (t, ns), values in by_type.items()
    ]
    chunk = 20
    for i in range(0, len(conditions), chunk):
        rows = session.execute(
            select(
                IDENTITIES.c.type, IDENTITIES.c.namespace, IDENTITIES.c.value, IDENTITIES.c.customer_id
            ).where(IDENTITIES.c.tenant_id == tenant_id, or_(*conditions[i : i + chunk]))
        )
        for t, ns, v, cid in rows:
            owners[(t, ns, v)] = cid
    return owners


def allocate_numbers(session: Session, *, tenant_id: int, count: int) -> range:
    """Reserve `count` dense customer numbers with one conditional UPDATE … RETURNING."""
    if count <= 0:
        return range(0)
    last = session.execute(
        update(TENANTS)
        .where(TENANTS.c.id == tenant_id)
        .values(customer_seq=TENANTS.c.customer_seq + count)
        .returning(TENANTS.c.customer_seq)
    ).scalar_one()
    return range(last - count + 1, last + 1)


def upsert_customers(
    session: Session,
    *,
    tenant_id: int,
    records: list[s.CustomerUpsert],
    source: str,
    actor: Principal | None,
) -> s.BatchResult:
    """Create or update customers by any identity; all-or-nothing with a row-level error report."""
    if len(records) > MAX_BATCH:
        raise DomainError("batch_too_large", limit=MAX_BATCH, count=len(records))
    if not records:
        return s.BatchResult(created_count=0, updated_count=0, results=[])
    prepared, errors = _prepare(session, tenant_id, records)
    owners = _existing_owners(session, tenant_id, [k for p in prepared for k in p.keys]) if prepared else {}
    for p in prepared:
        found = {owners[k] for k in p.keys if k in owners}
        if len(found) > 1:
            errors.append(
                RowError(
                    p.row,
                    "identities",
                    "identity_conflict",
                    f"身份标识分属不同客户 {sorted(found)}，请先合并",
                    f"identities belong to different customers {sorted(found)}; merge them first",
                )
            )
        p.customer_id = found.pop() if len(found) == 1 else None
        p.new_keys = [k for k in p.keys if k not in owners]
    if errors:
        errors.sort(key=lambda e: (e["row"], e["column"] or ""))
        raise DomainError("batch_rejected", error_count=len(errors), details={"errors": errors})
    return _write(session, tenant_id, prepared, source=source, actor=actor)


def attach_identities(
    session: Session,
    *,
    tenant_id: int,
    groups: list[tuple[list[IdentityKey], int | None, int | None]],
    known: set[IdentityKey],
    source: str,
    actor: Principal | None,
) -> list[int]:
    """For callers that already normalised identities and looked up their owners (order ingest):
    each group (keys, owner or None, home store) gets a new customer, or the owner gets the keys
    that are not `known` yet. Returns the customer id of each group, in order."""
    prepared = [
        _Prepared(
            row=i,
            record=None,
            keys=keys,
            profile={"store_id": home} if owner is None and home is not None else {},
            customer_id=owner,
            new_keys=[k for k in keys if k not in known],
        )
        for i, (keys, owner, home) in enumerate(groups, start=1)
    ]
    result = _write(session, tenant_id, prepared, source=source, actor=actor)
    return [r.customer_id for r in result.results]


def _write(  # noqa: C901 - to split (docs/architecture.md)
    session: Session, tenant_id: int, prepared: list[_Prepared], *, source: str, actor: Principal | None
) -> s.BatchResult:
    """Write checked records: new customers, profile changes, new identities, timeline events."""
    now = utcnow()
    actor_type, actor_id = _actor(actor)
    # New customers: numbers in one UPDATE, rows in one executemany with ordered RETURNING.
    new = [p for p in prepared if p.customer_id is None]
    numbers = allocate_numbers(session, tenant_id=tenant_id, count=len(new))
    if new:
        rows = []
        for p, number in zip(new, numbers, strict=True):
            phone = next((k[2] for k in p.keys if k[0] == "phone"), None)
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "number": number,
                    "name": p.profile.get("name"),
                    "gender": p.profile.get("gender") or "unknown",
                    "birthday": p.profile.get("birthday"),
                    "city": p.profile.get("city"),
                    "member_tier": p.profile.get("member_tier"),
                    "phone_e164": phone,
                    "custom_fields": p.profile.get("custom_fields") or {},
                    "store_id": p.profile.get("store_id"),
                    "guide_id": p.profile.get("guide_id"),
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                }
            )
        # Plain executemany, then read the ids back by the (unique) numbers just reserved: SQLite
        # cannot return ordered ids from a multi-row insert and would fall back to one row at a time.
        returned = bulk_insert(session.connection(), CUSTOMERS, rows, returning=("number", "id"))
        if returned is None:
            returned = [
                (number, customer_id)
                for number, customer_id in session.execute(
                    select(CUSTOMERS.c.number, CUSTOMERS.c.id).where(
                        CUSTOMERS.c.tenant_id == tenant_id,
                        CUSTOMERS.c.number.between(numbers.start, numbers.stop - 1),
                    )
                )
            ]
        ids = dict(returned)
        for p, number in zip(new, numbers, strict=True):
            p.customer_id, p.number, p.created = ids[number], number, True

    # Existing customers: apply the profile fields that were sent.
    existing = [p for p in prepared if not p.created]
    timeline: list[dict[str, Any]] = []
    if existing:
        by_id = {
            c.id: c
            for c in session.scalars(
                select(C).where(C.tenant_id == tenant_id, C.id.in_({p.customer_id for p in existing}))
            )
        }
        for p in existing:
            assert p.customer_id is not None
            customer = by_id[p.customer_id]
            p.number = customer.number
            changed = _apply_profile(customer, p.profile)
            if customer.phone_e164 is None:
                customer.phone_e164 = next((k[2] for k in p.new_keys if k[0] == "phone"), None)
            if changed:
                customer.updated_at = now
                timeline.append(
                    _event(
                        tenant_id,
                        customer.id,
                        "profile_updated",
                        now,
                        actor_type,
                        actor_id,
                        {"fields": changed, "source": source},
                    )
                )
    identity_rows = [
        {
            "tenant_id": tenant_id,
            "customer_id": p.customer_id,
            "type": t,
            "namespace": ns,
            "value": v,
            "source": source,
            "created_at": now,
        }
        for p in prepared
        for (t, ns, v) in p.new_keys
    ]
    if identity_rows:
        bulk_insert(session.connection(), IDENTITIES, identity_rows)
    for p in prepared:
        assert p.customer_id is not None
        if p.created:
            timeline.append(
                _event(
                    tenant_id,
                    p.customer_id,
                    "created",
                    now,
                    actor_type,
                    actor_id,
                    {
                        "source": source,
                        "identities": [f"{t}:{v}" for t, _, v in p.keys if t != "phone"]
                        + [f"phone:{_mask_key(v)}" for t, _, v in p.keys if t == "phone"],
                    },
                )
            )
        else:
            for t, _ns, v in p.new_keys:
                timeline.append(
                    _event(
                        tenant_id,
                        p.customer_id,
                        "identity_added",
                        now,
                        actor_type,
                        actor_id,
                        {"type": t, "value": _mask_key(v) if t == "phone" else v, "source": source},
                    )
                )
    if timeline:
        bulk_insert(session.connection(), TIMELINE, timeline)
    session.flush()
    return s.BatchResult(
        created_count=len(new),
        updated_count=len(existing),
        results=[
            s.UpsertResult(row=p.row, customer_id=p.customer_id or 0, number=p.number or 0, created=p.created)
            for p in sorted(prepared, key=lambda p: p.row)
        ],
    )


def _mask_key(phone: str) -> str:
    from siyu.core.phone import mask_phone

    return mask_phone(phone) or ""


def _event(
    tenant_id: int,
    customer_id: int,
    kind: str,
    at: dt.datetime,
    actor_type: str,
    actor_id: int | None,
    data: dict[str, Any],
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "customer_id": customer_id,
        "kind": kind,
        "occurred_at": at,
        "actor_type": actor_type,
        "actor_id": actor_id,
        "data": data,
    }


def _apply_profile(customer: C, profile: dict[str, Any]) -> list[str]:
    """Set sent fields; returns the names of fields whose value changed."""
    changed = []
    for name in PROFILE_FIELDS:
        if name in profile and profile[name] is not None and getattr(customer, name) != profile[name]:
            setattr(customer, name, profile[name])
            changed.append(name)
    if profile.get("custom_fields"):
        merged = dict(customer.custom_fields or {})
        for key, value in profile["custom_fields"].items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        if merged != customer.custom_fields:
            customer.custom_fields = merged
            changed.append("custom_fields")
    return changed


def add_timeline_event(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    kind: str,
    data: dict[str, Any],
    actor: Principal | None = None,
    occurred_at: dt.datetime | None = None,
) -> None:
    """Append one event to a customer's timeline (other capabilities call this through the facade)."""
    actor_type, actor_id = _actor(actor)
    session.execute(
        insert(TIMELINE),
        [_event(tenant_id, customer_id, kind, occurred_at or utcnow(), actor_type, actor_id, data)],
    )


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
    if q.startswith("#") and q[1:].isdigit() and len(q) <= MAX_CUSTOMER_NUMBER_DIGITS + 1:
        return [C.number == int(q[1:])]  # "#6344": exactly the customer number 6344
    if q.isdigit() and len(q) == PHONE_TAIL_DIGITS:
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
    if q.isdigit() and len(q) <= MAX_CUSTOMER_NUMBER_DIGITS:
        matches.append(C.number == int(q))
    return matches


def list_customers(
    session: Session,
    *,
    tenant_id: int,
    principal: Principal | None,
    cursor: str | None,
    limit: int,
    filters: s.CustomerFilter | None = None,
) -> tuple[list[C], str | None]:
    """Customers newest first, keyset-paginated; q matches a name, a phone (see above) or any identity;
    phone_ending (digits) matches the end of the phone — four digits for those who may not see phones."""
    f = filters or s.CustomerFilter()
    q, city, gender, store_id, guide_id = f.q, f.city, f.gender, f.store_id, f.guide_id
    status, created_from, created_to, phone_ending = f.status, f.created_from, f.created_to, f.phone_ending
    stmt = select(C).where(C.tenant_id == tenant_id, C.status == status)
    if (cond := scope_filter(principal)) is not None:
        stmt = stmt.where(cond)
    if phone_ending:
        if not phone_ending.isdigit() or len(phone_ending) > 15:
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
    for column, value in ((C.city, city), (C.gender, gender), (C.store_id, store_id), (C.guide_id, guide_id)):
        if value is not None:
            stmt = stmt.where(column == value)
    if created_from is not None:
        stmt = stmt.where(C.created_at >= created_from)
    if created_to is not None:
        stmt = stmt.where(C.created_at < created_to)
    return keyset_page(session, stmt, C.id, cursor=cursor, limit=limit, newest_first=True)


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


# --- consent ----------------------------------------------------------------------------------
def record_consent(
    session: Session, *, tenant_id: int, customer_id: int, data: s.ConsentCreate, principal: Principal | None
) -> ConsentRecord:
    """Grant or withdraw consent for one purpose (append-only; the latest is in force)."""
    customer = get_customer(session, tenant_id=tenant_id, customer_id=customer_id, principal=principal)
    actor_type, actor_id = _actor(principal)
    row = ConsentRecord(
        tenant_id=tenant_id,
        customer_id=customer.id,
        purpose=data.purpose,
        granted=data.granted,
        source=data.source,
        recorded_at=utcnow(),
        actor_type=actor_type,
        actor_id=actor_id,
    )
    session.add(row)
    session.flush()
    add_timeline_event(
        session,
        tenant_id=tenant_id,
        customer_id=customer.id,
        kind="consent_granted" if data.granted else "consent_withdrawn",
        data={"purpose": data.purpose, "source": data.source},
        actor=principal,
    )
    return row


def consent_state(
    session: Session, *, tenant_id: int, customer_id: int, principal: Principal | None
) -> tuple[dict[str, ConsentRecord], list[ConsentRecord]]:
    """The consent in force per purpose (the latest recorded; ties by id), and the full history
    (newest first)."""
    get_customer(session, tenant_id=tenant_id, customer_id=customer_id, principal=principal)
    history = list(
        session.scalars(
            select(ConsentRecord)
            .where(ConsentRecord.tenant_id == tenant_id, ConsentRecord.customer_id == customer_id)
            .order_by(ConsentRecord.recorded_at.desc(), ConsentRecord.id.desc())
        )
    )
    current: dict[str, ConsentRecord] = {}
    for row in history:
        current.setdefault(row.purpose, row)
    return current, history


# --- merge / unmerge --------------------------------------------------------------------------
def merge(
    session: Session, *, tenant_id: int, survivor_id: int, merged_id: int, principal: Principal | None
) -> CustomerMerge:
    """Merge `merged_id` into `survivor_id`: every reference moves, empty survivor fields are filled."""
    if survivor_id == merged_id:
        raise DomainError(
            "merge_invalid", reason_zh="不能与自身合并", reason_en="cannot merge a customer into itself"
        )
    survivor = get_customer(session, tenant_id=tenant_id, customer_id=survivor_id, principal=principal)
    merged = get_customer(session, tenant_id=tenant_id, customer_id=merged_id, principal=principal)
    if survivor.status != "active" or merged.status != "active":
        raise DomainError(
            "merge_invalid", reason_zh="只能合并未被合并的客户", reason_en="both customers must be active"
        )
    now = utcnow()
    refs = _complete_references()
    _take_locks(session, tenant_id, refs)
    actor_type, actor_id = _actor(principal)
    record = CustomerMerge(
        tenant_id=tenant_id,
        survivor_id=survivor.id,
        merged_id=merged.id,
        snapshot={},
        actor_type=actor_type,
        actor_id=actor_id,
        created_at=now,
    )
    session.add(record)
    session.flush()
    parties = references.MergeParties(
        tenant_id, record.id, survivor.id, survivor.number, merged.id, merged.number, now
    )
    moved: dict[str, list[int]] = {}
    for ref in refs:
        if ref.handler is not None:
            continue
        table, column = ref.table, ref.col
        ids = list(
            session.scalars(select(table.c.id).where(table.c.tenant_id == tenant_id, column == merged.id))
        )
        if ids:
            session.execute(
                update(table)
                .where(table.c.tenant_id == tenant_id, table.c.id.in_(ids))
                .values({column.key: survivor.id})
            )
        moved[ref.name] = ids
    # Tables with unique keys: their handlers decide row by row (after the plain moves, so rows they
    # write for the merged record stay with it).
    handled = {ref.name: ref.handler.merge(session, parties) for ref in refs if ref.handler is not None}
    # Survivor rules: the survivor's values win; its empty fields take the merged customer's values.
    filled: dict[str, Any] = {}
    for name in (*PROFILE_FIELDS, "phone_e164"):
        if getattr(survivor, name) in (None, "", "unknown") and getattr(merged, name) not in (
            None,
            "",
            "unknown",
        ):
            filled[name] = _jsonable(getattr(merged, name))
            setattr(survivor, name, getattr(merged, name))
    added_custom = {
        k: v for k, v in (merged.custom_fields or {}).items() if k not in (survivor.custom_fields or {})
    }
    if added_custom:
        survivor.custom_fields = {**(survivor.custom_fields or {}), **added_custom}
    survivor.updated_at = now
    merged.status, merged.merged_into_id, merged.updated_at = "merged", survivor.id, now
    record.snapshot = {
        "moved": moved,
        "handled": handled,
        "filled": filled,
        "added_custom_fields": added_custom,
    }
    add_timeline_event(
        session,
        tenant_id=tenant_id,
        customer_id=survivor.id,
        kind="merged",
        data={"merge_id": record.id, "merged_id": merged.id, "merged_number": merged.number},
        actor=principal,
    )
    add_timeline_event(
        session,
        tenant_id=tenant_id,
        customer_id=merged.id,
        kind="merged_into",
        data={"merge_id": record.id, "survivor_id": survivor.id},
        actor=principal,
    )
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="customer.merge",
        object_type="customer",
        object_id=survivor.id,
        data={"merge_id": record.id, "merged_id": merged.id, "moved": merge_counts(record)},
    )
    events.record(
        session,
        "customer.merged",
        tenant_id=tenant_id,
        aggregate="customer",
        aggregate_id=survivor.id,
        data={"merge_id": record.id, "merged_id": merged.id},
    )
    return record


def merge_counts(record: CustomerMerge) -> dict[str, int]:
    """Rows moved to the survivor per `table.column` (for a handled table: the rows it moved)."""
    counts = {name: len(ids) for name, ids in (record.snapshot.get("moved") or {}).items()}
    for name, snapshot in (record.snapshot.get("handled") or {}).items():
        moved = (snapshot or {}).get("moved")
        counts[name] = len(moved) if isinstance(moved, list) else int(moved is not None)
    return counts


def _complete_references() -> list[references.Reference]:
    """The registered columns; refuses to merge while a customer column has no decision."""
    missing = references.unaccounted(C.metadata)
    if missing:
        raise RuntimeError(f"customer columns neither moved nor exempt on merges: {missing}")
    return references.all_references()


def _take_locks(session: Session, tenant_id: int, refs: list[references.Reference]) -> None:
    """The tenant locks the handlers need, all up front in the one documented order."""
    names = {name for ref in refs if ref.handler is not None for name in ref.handler.locks}
    for name in sorted(names, key=lambda n: LOCK_NAMESPACES[n]):
        lock_tenant(session, name, tenant_id)


def _jsonable(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.date) else value


def unmerge(session: Session, *, tenant_id: int, merge_id: int, principal: Principal | None) -> CustomerMerge:  # noqa: C901 - to split (docs/architecture.md)
    """Undo a merge: moved rows go back, handlers undo what they did, filled fields are cleared if
    unchanged since."""
    record = session.scalar(
        select(CustomerMerge).where(CustomerMerge.tenant_id == tenant_id, CustomerMerge.id == merge_id)
    )
    if record is None:
        raise not_found("merge")
    if record.undone_at is not None:
        raise DomainError(
            "unmerge_invalid", reason_zh="该合并已撤销", reason_en="this merge was already undone"
        )
    survivor = get_customer(session, tenant_id=tenant_id, customer_id=record.survivor_id, principal=principal)
    merged = get_customer(session, tenant_id=tenant_id, customer_id=record.merged_id, principal=principal)
    if survivor.status != "active":
        raise DomainError(
            "unmerge_invalid",
            reason_zh="存续客户之后又被合并，请先撤销后来的合并",
            reason_en="the survivor was merged again later; undo that merge first",
        )
    now = utcnow()
    refs = _complete_references()
    parties = references.MergeParties(
        tenant_id, record.id, survivor.id, survivor.number, merged.id, merged.number, now
    )
    _take_locks(session, tenant_id, refs)
    by_name = {ref.name: ref for ref in refs}
    moved_back: dict[str, int] = {}
    for name, ids in record.snapshot.get("moved", {}).items():
        ref = by_name.get(name)
        if not ids or ref is None:
            continue
        table, column = ref.table, ref.col
        result = session.execute(
            update(table)
            .where(table.c.tenant_id == tenant_id, table.c.id.in_(ids), column == survivor.id)
            .values({column.key: merged.id})
        )
        moved_back[name] = int(result.rowcount)  # type: ignore[attr-defined]
    for name, snapshot in record.snapshot.get("handled", {}).items():
        ref = by_name.get(name)
        if ref is not None and ref.handler is not None and snapshot:
            moved_back[name] = ref.handler.unmerge(session, parties, snapshot)
    for name, value in record.snapshot.get("filled", {}).items():
        if _jsonable(getattr(survivor, name)) == value:
            setattr(survivor, name, "unknown" if name == "gender" else None)
    custom = dict(survivor.custom_fields or {})
    for key, value in record.snapshot.get("added_custom_fields", {}).items():
        if custom.get(key) == value:
            custom.pop(key)
    survivor.custom_fields = custom
    survivor.updated_at = merged.updated_at = now
    merged.status, merged.merged_into_id = "active", None
    record.undone_at = now
    for cid, other in ((survivor.id, merged.id), (merged.id, survivor.id)):
        add_timeline_event(
            session,
            tenant_id=tenant_id,
            customer_id=cid,
            kind="unmerged",
            data={"merge_id": record.id, "other_id": other},
            actor=principal,
        )
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="customer.unmerge",
        object_type="customer",
        object_id=survivor.id,
        data={"merge_id": record.id, "moved_back": moved_back},
    )
    events.record(
        session,
        "customer.unmerged",
        tenant_id=tenant_id,
        aggregate="customer",
        aggregate_id=survivor.id,
        data={"merge_id": record.id},
    )
    return record


def list_merges(session: Session, *, tenant_id: int, customer_id: int | None) -> list[CustomerMerge]:
    """Merges of the tenant, or of one customer, newest first."""
    stmt = select(CustomerMerge).where(CustomerMerge.tenant_id == tenant_id)
    if customer_id is not None:
        stmt = stmt.where(
            or_(CustomerMerge.survivor_id == customer_id, CustomerMerge.merged_id == customer_id)
        )
    return list(session.scalars(stmt.order_by(CustomerMerge.id.desc()).limit(200)))


def count_customers(session: Session, *, tenant_id: int) -> int:
    """Active customers of the tenant."""
    return int(
        session.scalar(
            select(func.count()).select_from(C).where(C.tenant_id == tenant_id, C.status == "active")
        )
        or 0
    )
