"""What segments does when orders, refunds or customers change: bring the brand's rule-tag refresh
forward (replaces the old in-memory notice, which fired before the commit and leaned on a pause)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.orm import Session

from siyu import events, jobs
from siyu.core.clock import utcnow

# Gather a burst of changes (order batches arrive back to back) into one refresh.
DEBOUNCE_S = 2.0
CHANGES = ("orders.ingested", "refunds.recorded", "customer.merged", "customer.unmerged")


@events.subscriber(*CHANGES)
def refresh_soon(session: Session, event: events.Event) -> None:
    """Queue the brand's refresh (once: a refresh already queued for it covers this change too)."""
    jobs.enqueue(
        session,
        "segments.refresh_tenant",
        tenant_id=event.tenant_id,
        key=f"segments.refresh:{event.tenant_id}",
        run_at=utcnow() + timedelta(seconds=DEBOUNCE_S),
    )
