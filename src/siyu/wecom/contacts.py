"""Applying stored callbacks: friends added and deleted, codes counted, groups and the member
directory changed — each callback exactly once, in arrival order — and the WeCom calls they need
afterwards recorded as events."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from siyu import events
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.customers import facade as customers
from siyu.db.base import table_of
from siyu.db.session import unit_of_work
from siyu.guides.facade import BindingBook
from siyu.org import facade as org
from siyu.org.facade import Staff
from siyu.wecom import codes, externals, groups, members, transfers, xml
from siyu.wecom.models import WeComFriend, WeComFriendEvent, WeComInbox

log = logging.getLogger("siyu.wecom")
MALFORMED = {"too_large", "xml_dtd_or_entity", "bad_xml", "no_encrypt"}
INBOX = table_of(WeComInbox)


# --- processing -------------------------------------------------------------------------------
ADDS = ("add_external_contact", "add_half_external_contact")  # half: added without verification
HANDLED = (
    *ADDS,
    "edit_external_contact",
    "del_external_contact",
    "del_follow_user",
    "transfer_fail",
)
BATCH = 200


def process(engine: Engine, *, tenant_id: int, inbox_id: int) -> str | None:
    """Apply one stored callback, once; returns its outcome (None when already processed)."""
    outcomes = process_batch(engine, tenant_id=tenant_id, inbox_ids=[inbox_id])
    return outcomes.get(inbox_id)


def process_pending(engine: Engine, *, tenant_id: int, limit: int = 100_000) -> dict[str, int]:
    """Process every stored callback not processed yet, oldest first (retries, catch-up)."""
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        ids = list(
            session.scalars(
                select(WeComInbox.id)
                .where(WeComInbox.tenant_id == tenant_id, WeComInbox.processed_at.is_(None))
                .order_by(WeComInbox.id)
                .limit(limit)
            )
        )
    counts: dict[str, int] = {}
    for i in range(0, len(ids), BATCH):
        batch = ids[i : i + BATCH]
        for outcome in process_batch(engine, tenant_id=tenant_id, inbox_ids=batch).values():
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def process_batch(engine: Engine, *, tenant_id: int, inbox_ids: list[int]) -> dict[int, str]:
    """Apply stored callbacks in one transaction, in arrival order; each row exactly once.

    Rows are claimed with one conditional UPDATE (rows another worker claimed are skipped); what
    can fail (an unknown WeCom member, a malformed id) is decided before anything is written, so
    one bad row marks itself failed without undoing the others.
    """
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        claimed = set(
            session.scalars(
                update(INBOX)
                .where(
                    INBOX.c.id.in_(inbox_ids), INBOX.c.tenant_id == tenant_id, INBOX.c.processed_at.is_(None)
                )
                .values(processed_at=utcnow())
                .returning(INBOX.c.id)
            )
        )
        if not claimed:
            return {}
        rows = list(
            session.scalars(select(WeComInbox).where(WeComInbox.id.in_(claimed)).order_by(WeComInbox.id))
        )
        parsed = [(row, xml.parse(row.message)) for row in rows]
        chats = [(row, fields) for row, fields in parsed if row.event == "change_external_chat"]
        to_sync = groups.apply_chat_events(session, tenant_id, chats) if chats else []
        tag_changes = [row for row, _ in parsed if row.event == "change_external_tag"]
        for row in tag_changes:  # the corp tag list is read again after commit
            row.outcome, row.error = "applied", None
        directory = [(row, fields) for row, fields in parsed if row.event == "change_contact"]
        if directory:  # members first: an add in the same batch finds its staff member
            members.apply_member_events(session, tenant_id=tenant_id, items=directory)
        contacts = [
            item
            for item in parsed
            if item[0].event not in ("change_external_chat", "change_external_tag", "change_contact")
        ]
        follow_ups = _apply_batch(session, tenant_id, contacts)
        # What WeCom must be asked once this commits (welcome messages, re-pointed codes, the corp
        # tags and groups to read again) is recorded as events; wecom.subscribers turns them into jobs.
        changes = [
            events.Event(
                "wecom.friend_added_via_code",
                tenant_id,
                "channel_code",
                f.code_id,
                {"kind": f.kind, "code_id": f.code_id, "welcome_code": f.welcome_code, "text": f.text},
            )
            for f in follow_ups
        ]
        if tag_changes:
            changes.append(events.Event("wecom.corp_tags_changed", tenant_id, "wecom", None, {}))
        if to_sync:
            changes.append(
                events.Event("wecom.chats_changed", tenant_id, "wecom", None, {"chat_ids": to_sync})
            )
        events.record_many(session, changes)
        outcomes = {row.id: row.outcome or "applied" for row in rows}
    return outcomes


def _apply_batch(  # noqa: C901 - to split (docs/architecture.md)
    session: Session, tenant_id: int, items: list[tuple[WeComInbox, dict[str, str]]]
) -> list[codes.FollowUp]:
    def skip(row: WeComInbox, outcome: str, reason: str) -> None:
        row.outcome, row.error = outcome, reason

    work: list[tuple[WeComInbox, dict[str, str]]] = []
    for row, fields in items:
        if row.event != "change_external_contact":
            skip(row, "ignored", f"event {row.event or '?'} not handled yet")
        elif row.change_type not in HANDLED:
            skip(row, "ignored", f"change type {row.change_type or '?'} not handled yet")
        elif not fields.get("UserID") or not fields.get("ExternalUserID"):
            skip(row, "failed", "UserID and ExternalUserID are required")
        else:
            work.append((row, fields))
    staff_by_userid = {
        m.wecom_userid: m
        for m in session.scalars(
            select(Staff).where(
                Staff.tenant_id == tenant_id, Staff.wecom_userid.in_({f["UserID"] for _, f in work})
            )
        )
    }
    keys: dict[str, Any] = {}
    # A member no staff member carries yet: the friend is parked against their UserID (staff None).
    ready: list[tuple[WeComInbox, dict[str, str], Staff | None]] = []
    for row, fields in work:
        staff = staff_by_userid.get(fields["UserID"])
        try:
            keys[fields["ExternalUserID"]] = customers.normalise(
                "wecom_external_userid", fields["ExternalUserID"]
            )
        except DomainError as exc:
            skip(row, "failed", exc.message("en"))
            continue
        ready.append((row, fields, staff))
    if not ready:
        return []
    # Customers: known ones by identity, the others created in one write.
    customer_of = externals.customers_of(session, tenant_id=tenant_id, keys=keys, source="wecom")
    staff_ids = {staff.id for _, _, staff in ready if staff is not None}
    parked_userids = {fields["UserID"] for _, fields, staff in ready if staff is None}
    members.note_parked(session, tenant_id=tenant_id, userids=parked_userids)
    friends: dict[tuple[int | None, str | None, str], WeComFriend] = {
        (f.staff_id, f.parked_userid, f.external_userid): f
        for f in session.scalars(
            select(WeComFriend).where(
                WeComFriend.tenant_id == tenant_id,
                WeComFriend.external_userid.in_(list(keys)),
                WeComFriend.staff_id.in_(staff_ids) | WeComFriend.parked_userid.in_(parked_userids),
            )
        )
    }
    infos = org.staff_by_id(session, tenant_id=tenant_id, ids=staff_ids)
    adds = any(row.change_type in ADDS for row, _, staff in ready if staff is not None)
    book = BindingBook.load(
        session, tenant_id=tenant_id, customer_ids=set(customer_of.values()), for_update=adds
    )
    history: list[tuple[WeComFriend, str, dt.datetime, str | None, int]] = []
    fans: list[dict[str, Any]] = []
    code_adds: list[codes.CodeAdd] = []
    code_deletes: list[tuple[str, int, dt.datetime]] = []
    for row, fields, staff in ready:
        at = row.created_at_wecom or row.received_at
        external, change, state = fields["ExternalUserID"], row.change_type, fields.get("State") or None
        owner = (staff.id, None) if staff is not None else (None, fields["UserID"])
        friend = friends.get((*owner, external))
        late = friend is not None and at < friend.last_event_at
        became_friends = False
        if friend is None:
            friend = WeComFriend(
                tenant_id=tenant_id,
                staff_id=owner[0],
                parked_userid=owner[1],
                customer_id=customer_of[external],
                external_userid=external,
                state=state,
                added_at=at,
                last_event_at=at,
            )
            session.add(friend)
            friends[(*owner, external)] = friend
            became_friends = True
        if change in ADDS:
            if not late and friend.deleted_at is not None:
                friend.deleted_at, friend.deleted_by, friend.added_at, friend.state = None, None, at, state
                became_friends = True
            history.append((friend, "added" if not late else "added_late", at, state, row.id))
            if became_friends and not late and staff is not None:  # parked: done when attached
                store_ids = infos[staff.id].store_ids
                store_id = store_ids[0] if store_ids else None
                if state:
                    code_adds.append(
                        codes.CodeAdd(
                            state, staff.id, customer_of[external], at, fields.get("WelcomeCode") or None
                        )
                    )
                book.offer(
                    customer_id=customer_of[external],
                    guide_id=staff.id,
                    store_id=store_id,
                    source="friend_add",
                    at=at,
                    reference=f"wecom:{row.id}",
                )
                fans.append(
                    {
                        "tenant_id": tenant_id,
                        "customer_id": customer_of[external],
                        "kind": "new_fan",
                        "occurred_at": at,
                        "actor_type": "system",
                        "actor_id": None,
                        "data": {
                            "store_id": store_id,
                            "guide_id": staff.id,
                            "channel": "wecom",
                            "state": state,
                        },
                    }
                )
        elif change == "edit_external_contact":
            history.append((friend, "edited", at, None, row.id))
        elif change in ("del_external_contact", "del_follow_user"):
            by = "customer" if change == "del_follow_user" else "staff"
            if fields.get("Source") == "DELETE_BY_TRANSFER":
                by = "transfer"
            if not late:
                if friend.deleted_at is None and friend.state and staff is not None:
                    code_deletes.append((friend.state, staff.id, at))
                friend.deleted_at, friend.deleted_by = at, by
            history.append(
                (friend, f"deleted_by_{by}" if not late else "deleted_late", at, fields.get("Source"), row.id)
            )
        else:  # transfer_fail
            history.append((friend, "transfer_failed", at, fields.get("FailReason"), row.id))
            if staff is not None:
                transfers.mark_failed(
                    session,
                    tenant_id=tenant_id,
                    external_userid=external,
                    userid_staff_id=staff.id,
                    reason=fields.get("FailReason") or "transfer_fail",
                    at=at,
                )
        if not late:
            friend.last_event_at = at
        if staff is None:
            row.outcome = "parked"
            row.error = f"no staff member has WeCom UserID {fields['UserID']} yet: parked until one does"
        else:
            row.outcome, row.error = "applied", None
    session.flush()  # new friends get their ids
    session.add_all(
        WeComFriendEvent(
            tenant_id=tenant_id,
            friend_id=friend.id,
            kind=kind,
            occurred_at=at,
            detail=(detail or "")[:200] or None,
            inbox_id=inbox_id,
        )
        for friend, kind, at, detail, inbox_id in history
    )
    follow_ups, attributed = codes.apply_code_events(
        session, tenant_id=tenant_id, adds=code_adds, deletes=code_deletes
    )
    for fan in fans:  # a friend who came through a code carries its source label
        source = attributed.get(fan["customer_id"])
        if source is not None:
            fan["data"]["source"] = source[0]
    book.flush(session)
    customers.append_timeline(session, fans)
    return follow_ups
