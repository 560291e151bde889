"""Writing audit entries inside the use case's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.db.pagination import keyset_page
from siyu.platform.models import AuditEntry


def record(
    session: Session,
    *,
    tenant_id: int,
    actor: Principal | None,
    action: str,
    object_type: str,
    object_id: int | None,
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Append an audit entry (commits with the use case; flush to read its id)."""
    entry = AuditEntry(
        tenant_id=tenant_id,
        actor_type=actor.actor_type if actor else "system",
        actor_id=actor.actor_id if actor else None,
        action=action,
        object_type=object_type,
        object_id=object_id,
        data=data or {},
    )
    session.add(entry)
    return entry


def list_entries(
    session: Session,
    *,
    tenant_id: int,
    cursor: str | None,
    limit: int,
    object_type: str | None = None,
    object_id: int | None = None,
    action: str | None = None,
) -> tuple[list[AuditEntry], str | None]:
    """Audit entries newest first, keyset-paginated, with filters."""
    stmt = select(AuditEntry).where(AuditEntry.tenant_id == tenant_id)
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if object_id is not None:
        stmt = stmt.where(AuditEntry.object_id == object_id)
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    return keyset_page(session, stmt, AuditEntry.id, cursor=cursor, limit=limit, newest_first=True)
