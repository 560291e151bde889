"""Merging two records of one person and undoing it, with every referencing row moved by the registry."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from siyu import events
from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.customers import references
from siyu.customers.common import PROFILE_FIELDS, _actor, get_customer
from siyu.customers.models import Customer as C  # noqa: N817 - read as 'C.column' in queries
from siyu.customers.models import (
    CustomerMerge,
)
from siyu.customers.upsert import add_timeline_event
from siyu.db.session import LOCK_NAMESPACES, lock_tenant
from siyu.platform import audit


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


def merge_preview(
    session: Session, *, tenant_id: int, survivor_id: int, merged_id: int, principal: Principal | None
) -> dict[str, Any]:
    """What a merge would do, without doing it: rows that point at the merged customer per
    `table.column` (they move to the survivor; tables with a handler decide row by row, so their
    count is an upper bound), and the survivor's empty fields the merged customer would fill."""
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
    moves: dict[str, int] = {}
    for ref in _complete_references():
        table, column = ref.table, ref.col
        count = session.scalar(
            select(func.count()).select_from(table).where(table.c.tenant_id == tenant_id, column == merged.id)
        )
        if count:
            moves[ref.name] = int(count)
    fills = {
        name: _jsonable(getattr(merged, name))
        for name in (*PROFILE_FIELDS, "phone_e164")
        if getattr(survivor, name) in (None, "", "unknown")
        and getattr(merged, name) not in (None, "", "unknown")
    }
    return {"survivor": survivor, "merged": merged, "moves": moves, "fills": fills}


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
