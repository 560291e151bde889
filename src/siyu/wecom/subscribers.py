"""What WeCom does when other domains' events happen (and after its own callbacks commit)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu import events, jobs
from siyu.wecom.facade import attach_parked_friends


@events.policy("staff.wecom_userid_set")
def attach_parked(session: Session, event: events.Event) -> None:
    """A staff member now carries a WeCom UserID: the friends parked against it are theirs."""
    assert event.aggregate_id is not None
    attach_parked_friends(session, tenant_id=event.tenant_id, staff_id=event.aggregate_id)


@events.subscriber("wecom.friend_added_via_code", "wecom.corp_tags_changed", "wecom.chats_changed")
def call_wecom_back(session: Session, event: events.Event) -> None:
    """WeCom calls a callback asked for (a welcome message, re-pointing a code, reading the corp
    tags or groups again) run as a job, outside any transaction; the job is queued with the event's
    dispatch, so it exists exactly once."""
    jobs.enqueue(
        session,
        "wecom.follow_up",
        tenant_id=event.tenant_id,
        payload={"event": event.name, "event_id": event.id, "data": event.data},
    )
