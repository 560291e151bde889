"""Consent per purpose: recorded with its source, the latest by recorded time wins."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.customers import schemas as s
from siyu.customers.common import _actor, get_customer
from siyu.customers.models import (
    ConsentRecord,
)
from siyu.customers.upsert import add_timeline_event


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
