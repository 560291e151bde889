"""Batch upsert by identity: many records in one transaction, each matched by any of its identities."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, RowError
from siyu.customers import schemas as s
from siyu.customers.common import CUSTOMERS, IDENTITIES, MAX_BATCH, PROFILE_FIELDS, TENANTS, TIMELINE, _actor
from siyu.customers.fields import list_custom_fields, validate_custom_fields
from siyu.customers.identity import IdentityKey, normalise_identity
from siyu.customers.models import Customer as C  # noqa: N817 - read as 'C.column' in queries
from siyu.db.bulk import bulk_insert
from siyu.db.expressions import one_of
from siyu.org.facade import Staff, Store


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
