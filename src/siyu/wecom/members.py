"""The brand's WeCom member directory (通讯录) and the friends parked against members no staff
member carries yet.

WeCom names a guide by UserID. The directory is read from WeCom (`user/list_id`, and `user/get`
for a new member's name) by `sync_members` — on demand and once an hour by the server's WeCom
worker — and kept current by `change_contact` callbacks (create_user, update_user with a possible
NewUserID, delete_user). A member is mapped to the staff member carrying their UserID; one whose
username is the UserID is given it; otherwise, when the brand allows it (`create_staff_for_members`,
on by default), a guide is created for them. A friend add from a member no staff member carries is
not lost: the customer and the friend relation are created and parked against the UserID, and
attached — with the exclusive-guide offer and the `new_fan` event the add would have made — as soon
as a staff member carries it (a sync, a member callback, or an operator setting the UserID).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.inputs import ascii_digits
from siyu.customers import facade as customers
from siyu.db.session import unit_of_work
from siyu.guides.facade import BindingBook
from siyu.org import facade as org
from siyu.platform import audit
from siyu.wecom.client import WeComApiError, WeComClient
from siyu.wecom.models import WeComConfig, WeComFriend, WeComFriendEvent, WeComInbox, WeComMember

log = logging.getLogger("siyu.wecom")
MEMBER_CHANGES = ("create_user", "update_user", "delete_user")


@dataclass(frozen=True)
class MemberData:
    """What WeCom says about one member; None means 'not said' (the stored value stays)."""

    userid: str
    name: str | None = None
    department_ids: list[int] | None = None
    wecom_status: int | None = None


@dataclass
class SyncResult:
    """What a directory sync or a batch of member callbacks did."""

    members: int = 0  # members WeCom listed (a sync) or named (callbacks)
    new: int = 0  # not in the directory before
    left: int = 0  # marked left (absent from WeCom's list, or deleted)
    mapped: int = 0  # active members some staff member carries now
    created_staff: int = 0  # guides created for members no staff carried
    unmapped: int = 0  # active members still without a staff member
    attached: int = 0  # parked friends attached to their staff member

    def as_dict(self) -> dict[str, int]:
        """The counts by name."""
        return dict(self.__dict__)


def _record(
    session: Session, tenant_id: int, members: list[MemberData], at: dt.datetime, *, complete: bool
) -> tuple[dict[str, WeComMember], SyncResult]:
    """Insert or update directory rows; `complete` (a full list): members absent from it have left."""
    result = SyncResult(members=len(members))
    query = select(WeComMember).where(WeComMember.tenant_id == tenant_id)
    if not complete:
        query = query.where(WeComMember.userid.in_({m.userid for m in members}))
    rows = {row.userid: row for row in session.scalars(query)}
    for data in members:
        row = rows.get(data.userid)
        if row is None:
            row = WeComMember(
                tenant_id=tenant_id,
                userid=data.userid,
                department_ids=[],
                status="active",
                first_seen_at=at,
                updated_at=at,
            )
            session.add(row)
            rows[data.userid] = row
            result.new += 1
        if data.name is not None:
            row.name = data.name[:80] or None
        if data.department_ids is not None:
            row.department_ids = list(data.department_ids)
        if data.wecom_status is not None:
            row.wecom_status = data.wecom_status
        row.status, row.left_at, row.updated_at = "active", None, at
    if complete:
        listed = {m.userid for m in members}
        for row in rows.values():
            if row.userid not in listed and row.status == "active":
                row.status, row.left_at, row.updated_at = "left", at, at
                result.left += 1
    session.flush()
    return rows, result


def _create_staff(session: Session, tenant_id: int) -> bool:
    allowed = session.scalar(
        select(WeComConfig.create_staff_for_members).where(WeComConfig.tenant_id == tenant_id)
    )
    return True if allowed is None else bool(allowed)


def _map(session: Session, tenant_id: int, rows: list[WeComMember], result: SyncResult) -> None:
    """Map active members to staff (creating guides when the brand allows it) and attach their
    parked friends."""
    active = {row.userid: row.name for row in rows if row.status == "active"}
    # Staff created or given a UserID here attach their parked friends at once (the event's
    # policy, see wecom.subscribers); the rest are attached below. Both count as attached.
    parked_before = _parked(session, tenant_id, set(active))
    mapped, created = org.map_wecom_members(
        session, tenant_id=tenant_id, names=active, create=_create_staff(session, tenant_id)
    )
    result.mapped += len(mapped)
    result.created_staff += len(created)
    result.unmapped += len(set(active) - set(mapped))
    attach_parked(session, tenant_id=tenant_id, staff_by_userid=mapped)
    result.attached += parked_before - _parked(session, tenant_id, set(active))


def _parked(session: Session, tenant_id: int, userids: set[str]) -> int:
    """Friends parked against these UserIDs."""
    if not userids:
        return 0
    return int(
        session.scalar(
            select(func.count())
            .select_from(WeComFriend)
            .where(WeComFriend.tenant_id == tenant_id, WeComFriend.parked_userid.in_(sorted(userids)))
        )
        or 0
    )


def apply_directory(
    session: Session, *, tenant_id: int, members: list[MemberData], actor: Principal | None = None
) -> SyncResult:
    """Store WeCom's whole member list (absent members have left), map members to staff and attach
    their parked friends; audited."""
    rows, result = _record(session, tenant_id, members, utcnow(), complete=True)
    _map(session, tenant_id, list(rows.values()), result)
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="wecom.sync_members",
        object_type="wecom_config",
        object_id=None,
        data=result.as_dict(),
    )
    return result


def sync_members(
    engine: Engine, *, tenant_id: int, client: WeComClient, actor: Principal | None = None
) -> SyncResult:
    """Read the member directory from WeCom (ids and departments; a new member's name from
    `user/get`), then store and map it in one transaction."""
    listed = client.list_member_ids()
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        named = set(
            session.scalars(
                select(WeComMember.userid).where(
                    WeComMember.tenant_id == tenant_id, WeComMember.name.is_not(None)
                )
            )
        )
    members: list[MemberData] = []
    profiles = True  # until WeCom refuses one: then the app may not see profiles at all
    for userid, departments in sorted(listed.items()):
        name: str | None = None
        status: int | None = None
        if userid not in named and profiles:  # names change through update_user callbacks afterwards
            try:
                profile = client.get_member(userid)
                name = str(profile.get("name") or "") or None
                status = int(profile["status"]) if profile.get("status") is not None else None
            except WeComApiError as exc:  # the UserID is enough; no more profile calls this time
                log.warning("reading WeCom member %s failed, names skipped: %s", userid, exc)
                profiles = False
        members.append(MemberData(userid, name, departments, status))
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        return apply_directory(session, tenant_id=tenant_id, members=members, actor=actor)


def apply_member_events(
    session: Session, *, tenant_id: int, items: list[tuple[WeComInbox, dict[str, str]]]
) -> SyncResult:
    """Apply change_contact member callbacks in arrival order (other change_contact events, such as
    departments and tags, are stored and ignored)."""
    result = SyncResult()
    for row, fields in items:
        userid = fields.get("UserID", "")
        at = row.created_at_wecom or row.received_at
        if row.change_type not in MEMBER_CHANGES:
            row.outcome, row.error = "ignored", f"change type {row.change_type or '?'} not handled yet"
            continue
        if not userid:
            row.outcome, row.error = "failed", "UserID is required"
            continue
        result.members += 1
        if row.change_type == "delete_user":
            rows, _ = _record(session, tenant_id, [MemberData(userid)], at, complete=False)
            member = rows[userid]
            member.status, member.left_at = "left", at
            result.left += 1
        else:
            new_userid = fields.get("NewUserID") or userid
            if new_userid != userid:
                _rename(session, tenant_id, userid, new_userid, at)
            departments = None
            if "Department" in fields:
                departments = [int(d) for d in fields["Department"].split(",") if ascii_digits(d.strip())]
            status = int(fields["Status"]) if ascii_digits(fields.get("Status", "")) else None
            rows, recorded = _record(
                session,
                tenant_id,
                [MemberData(new_userid, fields.get("Name"), departments, status)],
                at,
                complete=False,
            )
            result.new += recorded.new
            _map(session, tenant_id, [rows[new_userid]], result)
        row.outcome, row.error = "applied", None
    session.flush()
    return result


def directory(session: Session, *, tenant_id: int) -> list[dict[str, Any]]:
    """The directory by UserID with the staff member each maps to and the friends parked against them."""
    rows = list(
        session.scalars(
            select(WeComMember).where(WeComMember.tenant_id == tenant_id).order_by(WeComMember.userid)
        )
    )
    staff = org.staff_by_wecom_userid(session, tenant_id=tenant_id, userids={r.userid for r in rows})
    parked = dict(
        session.execute(
            select(WeComFriend.parked_userid, func.count())
            .where(WeComFriend.tenant_id == tenant_id, WeComFriend.parked_userid.is_not(None))
            .group_by(WeComFriend.parked_userid)
        ).all()
    )
    return [
        {
            "userid": r.userid,
            "name": r.name,
            "department_ids": list(r.department_ids),
            "status": r.status,
            "staff_id": staff.get(r.userid),
            "parked_friends": int(parked.get(r.userid, 0)),
            "first_seen_at": r.first_seen_at,
            "left_at": r.left_at,
        }
        for r in rows
    ]


def note_parked(session: Session, *, tenant_id: int, userids: set[str]) -> None:
    """Members named by callbacks before the directory knew them join it (unmapped, unnamed), so
    operators see whom the parked friends wait for."""
    if not userids:
        return
    known = set(
        session.scalars(
            select(WeComMember.userid).where(
                WeComMember.tenant_id == tenant_id, WeComMember.userid.in_(userids)
            )
        )
    )
    now = utcnow()
    session.add_all(
        WeComMember(
            tenant_id=tenant_id,
            userid=userid,
            department_ids=[],
            status="active",
            first_seen_at=now,
            updated_at=now,
        )
        for userid in sorted(userids - known)
    )


def _rename(session: Session, tenant_id: int, old: str, new: str, at: dt.datetime) -> None:
    """WeCom changed a member's UserID: the directory row, the staff member carrying it and the
    friends parked against it follow."""
    rows = {
        r.userid: r
        for r in session.scalars(
            select(WeComMember).where(WeComMember.tenant_id == tenant_id, WeComMember.userid.in_([old, new]))
        )
    }
    if old in rows and new not in rows:
        rows[old].userid, rows[old].updated_at = new, at
    elif old in rows:
        session.delete(rows[old])
    org.rename_wecom_userid(session, tenant_id=tenant_id, old=old, new=new)
    parked = {
        (f.parked_userid, f.external_userid): f
        for f in session.scalars(
            select(WeComFriend).where(
                WeComFriend.tenant_id == tenant_id, WeComFriend.parked_userid.in_([old, new])
            )
        )
    }
    for (userid, external), friend in list(parked.items()):
        if userid != old:
            continue
        target = parked.get((new, external))
        if target is None:
            friend.parked_userid = new
        else:
            _merge(session, friend, target)
    session.flush()


def _merge(session: Session, source: WeComFriend, target: WeComFriend) -> None:
    """Fold one friend row into another (same member and customer): history moves, the newer
    state wins."""
    session.execute(
        update(WeComFriendEvent)
        .where(WeComFriendEvent.tenant_id == source.tenant_id, WeComFriendEvent.friend_id == source.id)
        .values(friend_id=target.id)
    )
    if source.last_event_at > target.last_event_at:
        target.deleted_at, target.deleted_by, target.state = (
            source.deleted_at,
            source.deleted_by,
            source.state,
        )
        target.last_event_at = source.last_event_at
    target.added_at = min(target.added_at, source.added_at)
    session.delete(source)


def attach_parked(session: Session, *, tenant_id: int, staff_by_userid: dict[str, int]) -> int:
    """Attach friends parked against these UserIDs to their staff members, doing what each add
    would have done for a mapped member: the exclusive guide offered (`friend_add`, at the add's
    time) and a `new_fan` event at the guide's first store. Answers how many were attached."""
    if not staff_by_userid:
        return 0
    parked = list(
        session.scalars(
            select(WeComFriend)
            .where(WeComFriend.tenant_id == tenant_id, WeComFriend.parked_userid.in_(list(staff_by_userid)))
            .order_by(WeComFriend.id)
        )
    )
    if not parked:
        return 0
    existing = {
        (f.staff_id, f.external_userid): f
        for f in session.scalars(
            select(WeComFriend).where(
                WeComFriend.tenant_id == tenant_id,
                WeComFriend.staff_id.in_(set(staff_by_userid.values())),
                WeComFriend.external_userid.in_({f.external_userid for f in parked}),
            )
        )
    }
    adds: list[tuple[dt.datetime, int, WeComFriend, int, str | None, int | None]] = []
    of_friend = {f.id: f for f in parked}
    for event in session.scalars(
        select(WeComFriendEvent)
        .where(
            WeComFriendEvent.tenant_id == tenant_id,
            WeComFriendEvent.friend_id.in_(list(of_friend)),
            WeComFriendEvent.kind == "added",
        )
        .order_by(WeComFriendEvent.id)
    ):
        friend = of_friend[event.friend_id]
        staff_id = staff_by_userid[friend.parked_userid or ""]
        adds.append((event.occurred_at, event.id, friend, staff_id, event.detail, event.inbox_id))
    infos = org.staff_by_id(session, tenant_id=tenant_id, ids=set(staff_by_userid.values()))
    book = BindingBook.load(
        session, tenant_id=tenant_id, customer_ids={f.customer_id for f in parked}, for_update=bool(adds)
    )
    fans: list[dict[str, Any]] = []
    for at, _, friend, staff_id, state, inbox_id in sorted(adds, key=lambda a: (a[0], a[1])):
        store_ids = infos[staff_id].store_ids
        store_id = store_ids[0] if store_ids else None
        book.offer(
            customer_id=friend.customer_id,
            guide_id=staff_id,
            store_id=store_id,
            source="friend_add",
            at=at,
            reference=f"wecom:{inbox_id}" if inbox_id is not None else None,
        )
        fans.append(
            {
                "tenant_id": tenant_id,
                "customer_id": friend.customer_id,
                "kind": "new_fan",
                "occurred_at": at,
                "actor_type": "system",
                "actor_id": None,
                "data": {"store_id": store_id, "guide_id": staff_id, "channel": "wecom", "state": state},
            }
        )
    for friend in parked:
        staff_id = staff_by_userid[friend.parked_userid or ""]
        target = existing.get((staff_id, friend.external_userid))
        if target is None:
            friend.staff_id, friend.parked_userid = staff_id, None
        else:
            _merge(session, friend, target)
    session.flush()
    book.flush(session)
    customers.append_timeline(session, fans)
    log.info("attached %d parked WeCom friends of tenant %s", len(parked), tenant_id)
    return len(parked)
