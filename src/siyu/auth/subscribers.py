"""What auth does when other domains' events happen."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu import events
from siyu.auth.service import revoke_staff_tokens


@events.policy("staff.password_changed", "staff.departed")
def revoke_sign_ins(session: Session, event: events.Event) -> None:
    """A new password, or a departure, ends every sign-in issued before it — in the same
    transaction, so no request after the commit is served on an old token."""
    assert event.aggregate_id is not None
    revoke_staff_tokens(session, tenant_id=event.tenant_id, staff_id=event.aggregate_id)
