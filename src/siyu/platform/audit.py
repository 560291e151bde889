"""Writing audit entries inside the use case's transaction."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.auth.permissions import Principal
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
) -> None:
    """Append an audit entry (commits with the use case)."""
    session.add(
        AuditEntry(
            tenant_id=tenant_id,
            actor_type=actor.actor_type if actor else "system",
            actor_id=actor.actor_id if actor else None,
            action=action,
            object_type=object_type,
            object_id=object_id,
            data=data or {},
        )
    )
