"""What other packages may use of WeCom: ids and counts, never ORM rows."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.org.models import Staff
from siyu.wecom import members


def attach_parked_friends(session: Session, *, tenant_id: int, staff_id: int) -> int:
    """A staff member now carries a WeCom UserID: attach the friends parked against it (with the
    binding offers and new-fan events their adds would have made); answers how many."""
    userid = session.scalar(
        select(Staff.wecom_userid).where(Staff.tenant_id == tenant_id, Staff.id == staff_id)
    )
    if not userid:
        return 0
    return members.attach_parked(session, tenant_id=tenant_id, staff_by_userid={userid: staff_id})
