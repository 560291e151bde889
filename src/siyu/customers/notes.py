"""Notes a guide or an operator writes on a customer after contacting them ("called, comes Saturday
for the new coats"): timeline events of kind `note`. The latest note is the customer's last contact
in the console's lists."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.errors import DomainError
from siyu.core.inputs import control_character
from siyu.customers.common import get_customer, scope_filter
from siyu.customers.models import Customer, TimelineEvent
from siyu.customers.upsert import add_timeline_event

NOTE = "note"
MAX_NOTE = 500


def add_note(session: Session, *, tenant_id: int, customer_id: int, text: str, principal: Principal) -> None:
    """Write a note on a customer in the caller's scope (1–500 characters, one or more lines)."""
    get_customer(session, tenant_id=tenant_id, customer_id=customer_id, principal=principal)
    body = text.strip()
    if not body or len(body) > MAX_NOTE:
        raise DomainError(
            "validation_error", summary=f"备注须为 1–{MAX_NOTE} 个字 / a note has 1–{MAX_NOTE} characters"
        )
    if control_character(body) is not None:
        raise DomainError("validation_error", summary="备注含有控制字符 / the note holds a control character")
    add_timeline_event(
        session, tenant_id=tenant_id, customer_id=customer_id, kind=NOTE, data={"text": body}, actor=principal
    )


def notes_of(session: Session, *, tenant_id: int, customer_id: int, limit: int = 20) -> list[TimelineEvent]:
    """A customer's latest notes, newest first (the caller has checked the scope)."""
    return list(
        session.scalars(
            select(TimelineEvent)
            .where(
                TimelineEvent.tenant_id == tenant_id,
                TimelineEvent.customer_id == customer_id,
                TimelineEvent.kind == NOTE,
            )
            .order_by(TimelineEvent.id.desc())
            .limit(limit)
        )
    )


def last_contacts(session: Session, *, tenant_id: int, customer_ids: list[int]) -> dict[int, dt.datetime]:
    """When each customer was last noted as contacted (absent: never)."""
    if not customer_ids:
        return {}
    rows: Any = session.execute(
        select(TimelineEvent.customer_id, func.max(TimelineEvent.occurred_at))
        .where(
            TimelineEvent.tenant_id == tenant_id,
            TimelineEvent.customer_id.in_(sorted(set(customer_ids))),
            TimelineEvent.kind == NOTE,
        )
        .group_by(TimelineEvent.customer_id)
    )
    return {cid: at for cid, at in rows}


def birthdays_soon(
    session: Session, *, tenant_id: int, principal: Principal, today: dt.date, days: int = 7, limit: int = 50
) -> list[tuple[int, str | None, dt.date]]:
    """Customers in the caller's scope whose birthday falls in the next `days` days (today
    included): (id, name, this year's birthday), soonest first. 29 February counts on 28 February in
    other years."""
    stmt = select(Customer.id, Customer.name, Customer.birthday).where(
        Customer.tenant_id == tenant_id, Customer.status == "active", Customer.birthday.is_not(None)
    )
    if (cond := scope_filter(principal)) is not None:
        stmt = stmt.where(cond)
    found: list[tuple[int, str | None, dt.date]] = []
    for customer_id, name, birthday in session.execute(stmt):
        if birthday is None:
            continue
        for year in (today.year, today.year + 1):
            try:
                day = birthday.replace(year=year)
            except ValueError:  # 29 February in a common year
                day = dt.date(year, 2, 28)
            if 0 <= (day - today).days < days:
                found.append((customer_id, name, day))
                break
    return sorted(found, key=lambda f: (f[2], f[0]))[:limit]
