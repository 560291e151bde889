"""Customer groups (客户群 / 社群): the registry kept from `change_external_chat` callbacks, members
with how they joined and left, daily joins / quits / messages, and the dead-group flag.

Member changes carry WeCom's member-list versions: a change whose `LastMemVer` is not the version
Siyu holds means a callback was missed, and so do creations and owner / name / notice changes (the
callback does not say the new value) — those groups are marked `needs_sync` and, after the
transaction commits, read again from WeCom (`groupchat/get`) and their member list replaced.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.core.inputs import ascii_digits
from siyu.customers import facade as customers
from siyu.customers.facade import IdentityKey
from siyu.db.base import table_of
from siyu.db.session import unit_of_work
from siyu.org import facade as org
from siyu.org.facade import Staff
from siyu.wecom.client import WeComClient
from siyu.wecom.externals import customers_of
from siyu.wecom.models import CustomerGroup, CustomerGroupDay, CustomerGroupMember, WeComInbox

log = logging.getLogger("siyu.wecom")
DAYS = table_of(CustomerGroupDay)
# A group is dead when no day of the last DEAD_DAYS reached MIN_MESSAGES messages (both adjustable
# per request).
DEAD_DAYS = 14
MIN_MESSAGES = 3


def is_customer(member_key: str) -> bool:
    """External user ids (customers) start with wm/wo; staff are named by their UserID."""
    return member_key.startswith(("wm", "wo"))


def _bump(session: Session, tenant_id: int, group_id: int, day: dt.date, **counts: int) -> None:
    changed = session.execute(
        update(DAYS)
        .where(DAYS.c.group_id == group_id, DAYS.c.day == day)
        .values({k: DAYS.c[k] + v for k, v in counts.items()})
    )
    if changed.rowcount == 0:  # type: ignore[attr-defined]
        values = {"joins": 0, "quits": 0, "messages": 0, **counts}
        session.execute(DAYS.insert().values(tenant_id=tenant_id, group_id=group_id, day=day, **values))


def _customer_ids(session: Session, tenant_id: int, externals: list[str]) -> dict[str, int]:
    """Customers behind external user ids, created when new (as a friend add would)."""
    keys: dict[str, IdentityKey] = {}
    for ext in externals:
        try:
            keys[ext] = customers.normalise("wecom_external_userid", ext)
        except DomainError:
            continue
    return customers_of(session, tenant_id=tenant_id, keys=keys, source="wecom_group")


def apply_chat_events(
    session: Session, tenant_id: int, items: list[tuple[WeComInbox, dict[str, str]]]
) -> list[str]:
    """Apply change_external_chat callbacks in order; answers the chat ids to read again from WeCom."""
    zone = org.tenant_zone(session, tenant_id=tenant_id)
    chat_ids = {f.get("ChatId", "") for _, f in items} - {""}
    groups = {
        g.chat_id: g
        for g in session.scalars(
            select(CustomerGroup).where(
                CustomerGroup.tenant_id == tenant_id, CustomerGroup.chat_id.in_(chat_ids)
            )
        )
    }
    externals = [m for _, f in items for m in f.get("MemChangeList", "").split("\n") if m and is_customer(m)]
    customer_of = _customer_ids(session, tenant_id, externals) if externals else {}
    to_sync: list[str] = []
    for row, fields in items:
        chat_id = fields.get("ChatId", "")
        if not chat_id:
            row.outcome, row.error = "failed", "ChatId is required"
            continue
        at = row.created_at_wecom or row.received_at
        group = groups.get(chat_id)
        if group is None:
            group = CustomerGroup(
                tenant_id=tenant_id,
                chat_id=chat_id,
                status="active",
                needs_sync=True,
                created_at=at,
                last_event_at=at,
            )
            session.add(group)
            session.flush()
            groups[chat_id] = group
        change, detail = row.change_type, fields.get("UpdateDetail", "")
        if change == "dismiss":
            group.status, group.dismissed_at = "dismissed", at
        elif change == "update" and detail in ("add_member", "del_member"):
            last, current = fields.get("LastMemVer") or None, fields.get("CurMemVer") or None
            if group.member_version is not None and last is not None and last != group.member_version:
                group.needs_sync = True  # a member change between the two was not received
            members = [m for m in fields.get("MemChangeList", "").split("\n") if m]
            changed = _members(session, tenant_id, group, members, detail, at, fields, customer_of)
            day = at.astimezone(zone).date()
            if changed:
                _bump(
                    session,
                    tenant_id,
                    group.id,
                    day,
                    **({"joins": changed} if detail == "add_member" else {"quits": changed}),
                )
            if current is not None:
                group.member_version = current
        elif change in ("create", "update"):
            group.needs_sync = True  # a new group, owner, name or notice: the callback does not say which
        else:
            row.outcome, row.error = "ignored", f"change type {change or '?'} not handled"
            continue
        group.last_event_at = max(group.last_event_at, at)
        row.outcome, row.error = "applied", None
        if group.needs_sync and group.status == "active" and chat_id not in to_sync:
            to_sync.append(chat_id)
    return to_sync


def _members(
    session: Session,
    tenant_id: int,
    group: CustomerGroup,
    keys: list[str],
    detail: str,
    at: dt.datetime,
    fields: dict[str, str],
    customer_of: dict[str, int],
) -> int:
    """Add or remove members; answers how many actually changed (redeliveries change nothing)."""
    existing = {
        m.member_key: m
        for m in session.scalars(
            select(CustomerGroupMember).where(
                CustomerGroupMember.group_id == group.id, CustomerGroupMember.member_key.in_(keys)
            )
        )
    }
    changed = 0
    for key in keys:
        member = existing.get(key)
        if detail == "add_member":
            if member is not None and member.left_at is None:
                continue
            scene = int(fields["JoinScene"]) if ascii_digits(fields.get("JoinScene", "")) else None
            if member is None:
                member = CustomerGroupMember(
                    tenant_id=tenant_id,
                    group_id=group.id,
                    member_key=key,
                    kind="customer" if is_customer(key) else "staff",
                    customer_id=customer_of.get(key),
                    joined_at=at,
                    join_scene=scene,
                )
                session.add(member)
                existing[key] = member
            else:
                member.joined_at, member.join_scene, member.left_at, member.quit_scene = at, scene, None, None
            changed += 1
        elif member is not None and member.left_at is None:
            member.left_at = at
            member.quit_scene = (
                int(fields["QuitScene"]) if ascii_digits(fields.get("QuitScene", "")) else None
            )
            changed += 1
    session.flush()
    return changed


def sync_groups(engine: Engine, *, tenant_id: int, chat_ids: list[str], client: WeComClient) -> int:
    """Read groups again from WeCom and replace their owner, name, notice and member list."""
    synced = 0
    for chat_id in chat_ids:
        data = client.get_group_chat(chat_id)
        with unit_of_work(engine, tenant_id=tenant_id) as session:
            group = session.scalar(
                select(CustomerGroup).where(
                    CustomerGroup.tenant_id == tenant_id, CustomerGroup.chat_id == chat_id
                )
            )
            if group is None:
                continue
            owner = session.scalar(
                select(Staff).where(Staff.tenant_id == tenant_id, Staff.wecom_userid == data.get("owner"))
            )
            group.name, group.notice = data.get("name") or None, data.get("notice") or None
            if owner is not None:
                group.owner_staff_id = owner.id
                stores = org.staff_by_id(session, tenant_id=tenant_id, ids={owner.id})[owner.id].store_ids
                group.store_id = stores[0] if stores else None
            now = utcnow()
            listed = {str(m["userid"]): m for m in data.get("member_list", [])}
            customer_of = _customer_ids(session, tenant_id, [k for k in listed if is_customer(k)])
            held = {
                m.member_key: m
                for m in session.scalars(
                    select(CustomerGroupMember).where(CustomerGroupMember.group_id == group.id)
                )
            }
            for key, info in listed.items():
                joined = dt.datetime.fromtimestamp(int(info.get("join_time") or now.timestamp()), tz=dt.UTC)
                member = held.get(key)
                if member is None:
                    session.add(
                        CustomerGroupMember(
                            tenant_id=tenant_id,
                            group_id=group.id,
                            member_key=key,
                            kind="customer" if is_customer(key) else "staff",
                            customer_id=customer_of.get(key),
                            joined_at=joined,
                            join_scene=info.get("join_scene"),
                        )
                    )
                elif member.left_at is not None:
                    member.left_at, member.joined_at = None, joined
            for key, member in held.items():
                if key not in listed and member.left_at is None:
                    member.left_at = now
            group.needs_sync = False
            synced += 1
    return synced


# --- reading -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class GroupSummary:
    """A group with its members now, its last 30 days and whether it is dead."""

    group: CustomerGroup
    members: int
    customers: int
    joins_30d: int
    quits_30d: int
    messages_30d: int
    dead: bool


def record_messages(session: Session, *, tenant_id: int, days: list[tuple[str, dt.date, int]]) -> int:
    """Message counts per group and local day (from the session archive or WeCom's statistics);
    a resent day replaces the count. Unknown chat ids are refused, nothing written."""
    chat_ids = {c for c, _, _ in days}
    groups = dict(
        session.execute(
            select(CustomerGroup.chat_id, CustomerGroup.id).where(
                CustomerGroup.tenant_id == tenant_id, CustomerGroup.chat_id.in_(chat_ids)
            )
        ).all()
    )
    missing = sorted(chat_ids - set(groups))
    if missing:
        raise DomainError("unknown_reference", object="group", values=", ".join(missing[:20]))
    for chat_id, day, messages in days:
        group_id = groups[chat_id]
        changed = session.execute(
            update(DAYS).where(DAYS.c.group_id == group_id, DAYS.c.day == day).values(messages=messages)
        )
        if changed.rowcount == 0:  # type: ignore[attr-defined]
            session.execute(
                DAYS.insert().values(
                    tenant_id=tenant_id, group_id=group_id, day=day, joins=0, quits=0, messages=messages
                )
            )
    return len(days)


def summaries(
    session: Session,
    *,
    tenant_id: int,
    today: dt.date,
    store_ids: set[int] | None = None,
    dead_days: int = DEAD_DAYS,
    min_messages: int = MIN_MESSAGES,
) -> list[GroupSummary]:
    """Every group (of some stores) with members, 30-day figures and the dead flag."""
    query = select(CustomerGroup).where(CustomerGroup.tenant_id == tenant_id)
    if store_ids is not None:
        query = query.where(CustomerGroup.store_id.in_(store_ids))
    groups = list(session.scalars(query.order_by(CustomerGroup.id)))
    if not groups:
        return []
    ids = [g.id for g in groups]
    counts: dict[int, tuple[int, int]] = {}
    for group_id, kind, n in session.execute(
        select(CustomerGroupMember.group_id, CustomerGroupMember.kind, func.count())
        .where(CustomerGroupMember.group_id.in_(ids), CustomerGroupMember.left_at.is_(None))
        .group_by(CustomerGroupMember.group_id, CustomerGroupMember.kind)
    ).all():
        total, customers_n = counts.get(group_id, (0, 0))
        counts[group_id] = (total + n, customers_n + (n if kind == "customer" else 0))
    since = today - dt.timedelta(days=29)
    dead_since = today - dt.timedelta(days=dead_days - 1)
    window: dict[int, list[int]] = {}
    busy: set[int] = set()
    for group_id, day, joins, quits, messages in session.execute(
        select(DAYS.c.group_id, DAYS.c.day, DAYS.c.joins, DAYS.c.quits, DAYS.c.messages).where(
            DAYS.c.group_id.in_(ids), DAYS.c.day >= min(since, dead_since), DAYS.c.day <= today
        )
    ).all():
        if day >= since:
            sums = window.setdefault(group_id, [0, 0, 0])
            sums[0], sums[1], sums[2] = sums[0] + joins, sums[1] + quits, sums[2] + messages
        if day >= dead_since and messages >= min_messages:
            busy.add(group_id)
    out = []
    for g in groups:
        joins, quits, messages = window.get(g.id, [0, 0, 0])
        total, customers_n = counts.get(g.id, (0, 0))
        old_enough = g.created_at.date() <= dead_since
        out.append(
            GroupSummary(
                g,
                total,
                customers_n,
                joins,
                quits,
                messages,
                g.status == "active" and old_enough and g.id not in busy,
            )
        )
    return out


def trend(
    session: Session, *, tenant_id: int, group_id: int, today: dt.date, days: int = 30
) -> list[dict[str, Any]]:
    """The group's last `days` days: joins, quits, messages (zeros included)."""
    group = session.scalar(
        select(CustomerGroup).where(CustomerGroup.tenant_id == tenant_id, CustomerGroup.id == group_id)
    )
    if group is None:
        raise not_found("group")
    start = today - dt.timedelta(days=days - 1)
    rows = {
        day: (joins, quits, messages)
        for day, joins, quits, messages in session.execute(
            select(DAYS.c.day, DAYS.c.joins, DAYS.c.quits, DAYS.c.messages).where(
                DAYS.c.group_id == group_id, DAYS.c.day >= start, DAYS.c.day <= today
            )
        ).all()
    }
    return [
        {
            "day": start + dt.timedelta(days=i),
            **dict(
                zip(
                    ("joins", "quits", "messages"),
                    rows.get(start + dt.timedelta(days=i), (0, 0, 0)),
                    strict=True,
                )
            ),
        }
        for i in range(days)
    ]
