"""Tag use cases: the catalogue, assigning and removing (with history), rule tags, expiry.

Every write takes the tenant's tag lock first (see segments/index.py for why the bitmap engine
needs it) and writes the assignment rows and their history in the same transaction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Literal

from pyroaring import BitMap
from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session

from siyu.access import Perm, Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, RowError, not_found, rejected
from siyu.customers.facade import MergeParties, customers_by_number, customers_in_scope
from siyu.db.base import table_of
from siyu.db.bulk import bulk_insert
from siyu.db.expressions import one_of
from siyu.db.session import lock_tenant
from siyu.tags import schemas as s
from siyu.tags.models import Tag, TagAssignment, TagEvent, TagGroup
from siyu.tags.ports import rule_engine

ASSIGNMENTS = table_of(TagAssignment)
EVENTS = table_of(TagEvent)


def _is_guide(principal: Principal | None) -> bool:
    return principal is not None and principal.scope == "own"


def visible(group: TagGroup, principal: Principal | None) -> bool:
    """Guide-private groups are seen by their guide only; guides see groups open to them."""
    if group.kind == "guide_private":
        return (
            principal is not None
            and principal.actor_type == "staff"
            and group.owner_staff_id == principal.actor_id
        )
    if _is_guide(principal):
        return group.open_to_guides
    return True


def may_assign(group: TagGroup, principal: Principal | None) -> bool:
    """Who may put tags of a group on customers (rule tags are kept by their rule alone)."""
    if group.kind == "rule" or not visible(group, principal):
        return False
    if principal is None or group.kind == "guide_private" or principal.can(Perm.TAGS_MANAGE):
        return True
    return group.open_to_guides


# --- catalogue ---------------------------------------------------------------------------------
def list_groups(
    session: Session, *, tenant_id: int, principal: Principal | None
) -> list[tuple[TagGroup, list[Tag]]]:
    """Groups the principal can see, each with its tags."""
    groups = [
        g
        for g in session.scalars(
            select(TagGroup).where(TagGroup.tenant_id == tenant_id).order_by(TagGroup.id)
        )
        if visible(g, principal)
    ]
    tags: dict[int, list[Tag]] = defaultdict(list)
    if groups:
        for tag in session.scalars(
            select(Tag)
            .where(Tag.tenant_id == tenant_id, Tag.group_id.in_([g.id for g in groups]))
            .order_by(Tag.id)
        ):
            tags[tag.group_id].append(tag)
    return [(g, tags[g.id]) for g in groups]


def member_counts(session: Session, *, tenant_id: int) -> dict[int, int]:
    """Customers per tag now, from the segment engine's bitmaps (assignments past expiry not yet
    swept included)."""
    return rule_engine().member_counts(session, tenant_id=tenant_id)


def create_group(
    session: Session, *, tenant_id: int, data: s.TagGroupCreate, principal: Principal | None
) -> TagGroup:
    """A new group; guides create guide-private groups only, HQ every other kind."""
    owner: int | None = None
    if data.kind == "guide_private":
        if principal is None or principal.actor_type != "staff":
            raise DomainError(
                "invalid_tag",
                reason_zh="个人标签组只能由导购本人创建",
                reason_en="only a guide creates their private group",
            )
        owner = principal.actor_id
    elif principal is not None and not principal.can(Perm.TAGS_MANAGE):
        raise DomainError("forbidden", permission=Perm.TAGS_MANAGE.value)
    clash = session.scalar(
        select(TagGroup.id).where(
            TagGroup.tenant_id == tenant_id,
            TagGroup.name_zh == data.name_zh,
            TagGroup.owner_staff_id.is_(None) if owner is None else TagGroup.owner_staff_id == owner,
        )
    )
    if clash is not None:
        raise DomainError("duplicate", object="tag_group", value=data.name_zh)
    group = TagGroup(
        tenant_id=tenant_id,
        name_zh=data.name_zh,
        name_en=data.name_en,
        kind=data.kind,
        exclusive=data.exclusive,
        open_to_guides=data.open_to_guides and data.kind != "guide_private",
        owner_staff_id=owner,
        created_at=utcnow(),
    )
    session.add(group)
    session.flush()
    return group


def get_group(session: Session, *, tenant_id: int, group_id: int, principal: Principal | None) -> TagGroup:
    """A group the principal can see, or not found."""
    group = session.scalar(select(TagGroup).where(TagGroup.tenant_id == tenant_id, TagGroup.id == group_id))
    if group is None or not visible(group, principal):
        raise not_found("tag_group")
    return group


def create_tag(
    session: Session, *, tenant_id: int, group_id: int, data: s.TagCreate, principal: Principal | None
) -> Tag:
    """A new tag in a group; rule groups need a valid rule, other groups must not carry one."""
    group = get_group(session, tenant_id=tenant_id, group_id=group_id, principal=principal)
    if group.kind != "guide_private" and principal is not None and not principal.can(Perm.TAGS_MANAGE):
        raise DomainError("forbidden", permission=Perm.TAGS_MANAGE.value)
    rule: dict[str, Any] | None = None
    if group.kind == "rule":
        if data.rule is None:
            raise DomainError(
                "invalid_tag",
                reason_zh="规则标签组的标签需要规则",
                reason_en="tags of a rule group need a rule",
            )
        rule = rule_engine().check_rule(session, tenant_id=tenant_id, rule=data.rule)
    elif data.rule is not None:
        raise DomainError(
            "invalid_tag",
            reason_zh="只有规则标签组的标签可以带规则",
            reason_en="only tags of rule groups carry a rule",
        )
    if session.scalar(
        select(Tag.id).where(
            Tag.tenant_id == tenant_id, Tag.group_id == group.id, Tag.name_zh == data.name_zh
        )
    ):
        raise DomainError("duplicate", object="tag", value=data.name_zh)
    tag = Tag(
        tenant_id=tenant_id,
        group_id=group.id,
        name_zh=data.name_zh,
        name_en=data.name_en,
        expires_after_days=data.expires_after_days,
        rule=rule,
        created_at=utcnow(),
    )
    session.add(tag)
    session.flush()
    return tag


def get_tag(
    session: Session, *, tenant_id: int, tag_id: int, principal: Principal | None
) -> tuple[Tag, TagGroup]:
    """A tag the principal can see, with its group, or not found."""
    row = session.execute(
        select(Tag, TagGroup)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(Tag.tenant_id == tenant_id, Tag.id == tag_id)
    ).first()
    if row is None or not visible(row[1], principal):
        raise not_found("tag")
    return row[0], row[1]


# --- assigning ---------------------------------------------------------------------------------
@dataclass
class _Writes:
    inserts: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    deletes: list[int] = field(default_factory=list)
    renewals: list[dict[str, Any]] = field(default_factory=list)


def _event(
    tenant_id: int,
    tag_id: int,
    customer_id: int,
    number: int,
    action: str,
    source: tuple[str, int | None],
    at: dt.datetime,
    expires_at: dt.datetime | None,
) -> dict[str, Any]:
    return {
        "tenant_id": tenant_id,
        "tag_id": tag_id,
        "customer_id": customer_id,
        "customer_number": number,
        "action": action,
        "source_type": source[0],
        "source_id": source[1],
        "occurred_at": at,
        "expires_at": expires_at,
    }


def _flush(session: Session, writes: _Writes) -> None:
    conn = session.connection()
    for start in range(0, len(writes.deletes), 5000):
        conn.execute(
            delete(ASSIGNMENTS).where(one_of(session, ASSIGNMENTS.c.id, writes.deletes[start : start + 5000]))
        )
    if writes.renewals:
        conn.execute(
            update(ASSIGNMENTS)
            .where(ASSIGNMENTS.c.id == bindparam("a_id"))
            .values(
                expires_at=bindparam("a_expires"),
                source_type=bindparam("a_type"),
                source_id=bindparam("a_source"),
            ),
            writes.renewals,
        )
    bulk_insert(conn, ASSIGNMENTS, writes.inserts)
    bulk_insert(conn, EVENTS, writes.events)


def _load_tags(session: Session, tenant_id: int, tag_ids: list[int]) -> dict[int, tuple[Tag, TagGroup]]:
    return {
        tag.id: (tag, group)
        for tag, group in session.execute(
            select(Tag, TagGroup)
            .join(TagGroup, TagGroup.id == Tag.group_id)
            .where(Tag.tenant_id == tenant_id, Tag.id.in_(tag_ids))
        )
    }


def change_assignments(  # noqa: C901 - to split (docs/architecture.md)
    session: Session,
    *,
    tenant_id: int,
    batch: s.AssignmentBatch,
    principal: Principal | None,
    source: tuple[str, int | None] | None = None,
    now: dt.datetime | None = None,
) -> s.AssignmentResult:
    """Assign or remove tags for (customer, tag) pairs: every pair is checked first, all or none."""
    items = batch.items
    if len(items) > s.MAX_ASSIGNMENTS:
        raise DomainError("batch_too_large", limit=s.MAX_ASSIGNMENTS, count=len(items))
    now = now or utcnow()
    source = source or (
        ("staff", principal.actor_id)
        if principal and principal.actor_type == "staff"
        else ("api", principal.actor_id if principal else None)
    )
    tags = _load_tags(session, tenant_id, sorted({i.tag_id for i in items}))
    customers = customers_in_scope(
        session, tenant_id=tenant_id, ids=sorted({i.customer_id for i in items}), principal=principal
    )
    errors: list[RowError] = []
    forbidden: set[int] = set()
    exclusive_seen: dict[tuple[int, int], int] = {}
    for row, item in enumerate(items, start=1):
        found = tags.get(item.tag_id)
        if found is None or not visible(found[1], principal):
            errors.append(
                RowError(
                    row, "tag_id", "unknown_tag", f"标签 {item.tag_id} 不存在", f"unknown tag {item.tag_id}"
                )
            )
            continue
        tag, group = found
        if group.kind == "rule":
            errors.append(
                RowError(
                    row,
                    "tag_id",
                    "rule_tag",
                    f"标签“{tag.name_zh}”由规则维护，不能手工增删",
                    f"tag '{tag.name_en}' is kept by its rule",
                )
            )
            continue
        if not may_assign(group, principal):
            forbidden.add(tag.id)
            continue
        if item.customer_id not in customers:
            errors.append(
                RowError(
                    row,
                    "customer_id",
                    "unknown_customer",
                    f"客户 {item.customer_id} 不存在或不在您的范围内",
                    f"customer {item.customer_id} not found or not yours",
                )
            )
            continue
        if batch.action == "assign" and group.exclusive:
            key = (item.customer_id, group.id)
            other = exclusive_seen.setdefault(key, tag.id)
            if other != tag.id:
                errors.append(
                    RowError(
                        row,
                        "tag_id",
                        "exclusive",
                        f"标签组“{group.name_zh}”互斥：同一客户只能有一个标签",
                        f"group '{group.name_en}' is exclusive: one tag per customer",
                    )
                )
    if forbidden:
        names = ", ".join(tags[t][0].name_zh for t in sorted(forbidden))
        raise DomainError(
            "tag_not_allowed",
            reason_zh=f"您不能使用这些标签：{names}",
            reason_en=f"you may not use these tags: {names}",
        )
    if errors:
        raise rejected(errors)
    lock_tenant(session, "tags", tenant_id)
    group_tags: dict[int, list[int]] = defaultdict(list)
    exclusive_groups = {g.id for _, g in tags.values() if g.exclusive}
    if exclusive_groups and batch.action == "assign":
        for tag_id, group_id in session.execute(
            select(Tag.id, Tag.group_id).where(
                Tag.tenant_id == tenant_id, Tag.group_id.in_(sorted(exclusive_groups))
            )
        ):
            group_tags[group_id].append(tag_id)
    relevant = sorted({i.tag_id for i in items} | {t for ts in group_tags.values() for t in ts})
    existing: dict[tuple[int, int], tuple[int, dt.datetime | None]] = {}
    customer_ids = sorted({i.customer_id for i in items})
    for start in range(0, len(customer_ids), 5000):
        for a_id, tag_id, customer_id, expires_at in session.execute(
            select(
                ASSIGNMENTS.c.id, ASSIGNMENTS.c.tag_id, ASSIGNMENTS.c.customer_id, ASSIGNMENTS.c.expires_at
            ).where(
                ASSIGNMENTS.c.tenant_id == tenant_id,
                one_of(session, ASSIGNMENTS.c.customer_id, customer_ids[start : start + 5000]),
                ASSIGNMENTS.c.tag_id.in_(relevant),
            )
        ):
            existing[(customer_id, tag_id)] = (a_id, expires_at)
    result = s.AssignmentResult()
    writes = _Writes()
    for item in items:
        tag, group = tags[item.tag_id]
        number = customers[item.customer_id].number
        key = (item.customer_id, tag.id)
        if batch.action == "remove":
            if key in existing:
                writes.deletes.append(existing.pop(key)[0])
                writes.events.append(
                    _event(tenant_id, tag.id, item.customer_id, number, "removed", source, now, None)
                )
                result.removed += 1
            else:
                result.unchanged += 1
            continue
        expires_at = now + dt.timedelta(days=tag.expires_after_days) if tag.expires_after_days else None
        if key in existing:
            a_id, old_expiry = existing[key]
            if expires_at is None and old_expiry is None:
                result.unchanged += 1
                continue
            writes.renewals.append(
                {"a_id": a_id, "a_expires": expires_at, "a_type": source[0], "a_source": source[1]}
            )
            writes.events.append(
                _event(tenant_id, tag.id, item.customer_id, number, "renewed", source, now, expires_at)
            )
            existing[key] = (a_id, expires_at)
            result.renewed += 1
            continue
        for other in group_tags.get(group.id, []) if group.exclusive else []:
            if other != tag.id and (item.customer_id, other) in existing:
                writes.deletes.append(existing.pop((item.customer_id, other))[0])
                writes.events.append(
                    _event(tenant_id, other, item.customer_id, number, "replaced", source, now, None)
                )
                result.replaced += 1
        writes.inserts.append(
            {
                "tenant_id": tenant_id,
                "tag_id": tag.id,
                "customer_id": item.customer_id,
                "customer_number": number,
                "source_type": source[0],
                "source_id": source[1],
                "assigned_at": now,
                "expires_at": expires_at,
            }
        )
        writes.events.append(
            _event(tenant_id, tag.id, item.customer_id, number, "assigned", source, now, expires_at)
        )
        existing[key] = (0, expires_at)
        result.assigned += 1
    _flush(session, writes)
    return result


def change_one(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    tag_id: int,
    action: Literal["assign", "remove"],
    principal: Principal | None,
) -> s.AssignmentResult:
    """One tag on or off one customer; a customer outside the principal's scope is not found (404)."""
    customer_tags(session, tenant_id=tenant_id, customer_id=customer_id, principal=principal)
    batch = s.AssignmentBatch(action=action, items=[s.AssignmentItem(customer_id=customer_id, tag_id=tag_id)])
    return change_assignments(session, tenant_id=tenant_id, batch=batch, principal=principal)


def tags_of_kind(session: Session, *, tenant_id: int, tag_ids: list[int], kind: str) -> list[int]:
    """Which of these tags belong to groups of a kind (rule, guide_private …)."""
    if not tag_ids:
        return []
    return list(
        session.scalars(
            select(Tag.id)
            .join(TagGroup, TagGroup.id == Tag.group_id)
            .where(Tag.tenant_id == tenant_id, Tag.id.in_(tag_ids), TagGroup.kind == kind)
        )
    )


def customer_tags(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    principal: Principal | None,
    now: dt.datetime | None = None,
) -> list[tuple[TagAssignment, Tag, TagGroup]]:
    """Tags a customer holds now that the principal can see (lapsed ones are left out)."""
    if not customers_in_scope(session, tenant_id=tenant_id, ids=[customer_id], principal=principal):
        raise not_found("customer")
    now = now or utcnow()
    rows = session.execute(
        select(TagAssignment, Tag, TagGroup)
        .join(Tag, Tag.id == TagAssignment.tag_id)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(TagAssignment.tenant_id == tenant_id, TagAssignment.customer_id == customer_id)
        .order_by(TagGroup.id, Tag.id)
    )
    return [
        (a, t, g)
        for a, t, g in rows
        if visible(g, principal) and (a.expires_at is None or a.expires_at > now)
    ]


def tags_of_customers(
    session: Session,
    *,
    tenant_id: int,
    customer_ids: list[int],
    principal: Principal | None,
    per_customer: int = 3,
    now: dt.datetime | None = None,
) -> dict[int, list[tuple[Tag, TagGroup]]]:
    """The first few tags each customer holds now that the principal can see (groups in catalogue
    order), and how many in all — for lists (the caller has checked the customers' scope)."""
    if not customer_ids:
        return {}
    now = now or utcnow()
    rows = session.execute(
        select(TagAssignment.customer_id, TagAssignment.expires_at, Tag, TagGroup)
        .join(Tag, Tag.id == TagAssignment.tag_id)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(TagAssignment.tenant_id == tenant_id, TagAssignment.customer_id.in_(sorted(set(customer_ids))))
        .order_by(TagAssignment.customer_id, TagGroup.id, Tag.id)
    )
    out: dict[int, list[tuple[Tag, TagGroup]]] = {}
    for customer_id, expires_at, tag, group in rows:
        if visible(group, principal) and (expires_at is None or expires_at > now):
            out.setdefault(customer_id, []).append((tag, group))
    return out


def tag_history(
    session: Session, *, tenant_id: int, customer_id: int, principal: Principal | None, limit: int = 200
) -> list[tuple[TagEvent, Tag]]:
    """The customer's tag history, newest first (tags the principal can see)."""
    if not customers_in_scope(session, tenant_id=tenant_id, ids=[customer_id], principal=principal):
        raise not_found("customer")
    rows = session.execute(
        select(TagEvent, Tag, TagGroup)
        .join(Tag, Tag.id == TagEvent.tag_id)
        .join(TagGroup, TagGroup.id == Tag.group_id)
        .where(TagEvent.tenant_id == tenant_id, TagEvent.customer_id == customer_id)
        .order_by(TagEvent.id.desc())
        .limit(limit)
    )
    return [(e, t) for e, t, g in rows if visible(g, principal)]


# --- rule tags and expiry ----------------------------------------------------------------------
def set_rule_members(
    session: Session, *, tenant_id: int, tag_id: int, members: BitMap, now: dt.datetime
) -> s.RefreshResult:
    """Make a rule tag's members exactly `members` (customer numbers); adds and removals are
    history. The caller evaluated the rule before this takes the tag lock: the engine reads the
    log under that lock's shared form."""
    tag, group = get_tag(session, tenant_id=tenant_id, tag_id=tag_id, principal=None)
    if group.kind != "rule" or tag.rule is None:
        raise not_rule_tag()
    lock_tenant(session, "tags", tenant_id)
    current: dict[int, tuple[int, int]] = {
        number: (a_id, customer_id)
        for a_id, customer_id, number in session.execute(
            select(ASSIGNMENTS.c.id, ASSIGNMENTS.c.customer_id, ASSIGNMENTS.c.customer_number).where(
                ASSIGNMENTS.c.tenant_id == tenant_id, ASSIGNMENTS.c.tag_id == tag.id
            )
        )
    }
    held = BitMap(current.keys())
    adds, removals = members - held, held - members
    source = ("rule", tag.id)
    writes = _Writes()
    ids = customers_by_number(session, tenant_id=tenant_id, numbers=list(adds))
    for number in adds:
        writes.inserts.append(
            {
                "tenant_id": tenant_id,
                "tag_id": tag.id,
                "customer_id": ids[number],
                "customer_number": number,
                "source_type": "rule",
                "source_id": tag.id,
                "assigned_at": now,
                "expires_at": None,
            }
        )
        writes.events.append(_event(tenant_id, tag.id, ids[number], number, "assigned", source, now, None))
    for number in removals:
        a_id, customer_id = current[number]
        writes.deletes.append(a_id)
        writes.events.append(_event(tenant_id, tag.id, customer_id, number, "removed", source, now, None))
    _flush(session, writes)
    tag.refreshed_at = now
    return s.RefreshResult(tag_id=tag.id, members=len(members), added=len(adds), removed=len(removals))


def not_rule_tag() -> DomainError:
    """Refreshing a tag that has no rule."""
    return DomainError(
        "invalid_tag", reason_zh="只有规则标签可以刷新", reason_en="only rule tags are refreshed"
    )


def rule_tag_ids(session: Session, *, tenant_id: int) -> list[int]:
    """Every rule tag of a tenant, oldest first."""
    return list(
        session.scalars(
            select(Tag.id)
            .join(TagGroup, TagGroup.id == Tag.group_id)
            .where(Tag.tenant_id == tenant_id, TagGroup.kind == "rule")
            .order_by(Tag.id)
        )
    )


def sweep_expired(session: Session, *, tenant_id: int, now: dt.datetime | None = None) -> int:
    """Take off assignments past their expiry, each with an `expired` history entry."""
    now = now or utcnow()
    lock_tenant(session, "tags", tenant_id)
    lapsed = list(
        session.execute(
            select(
                ASSIGNMENTS.c.id,
                ASSIGNMENTS.c.tag_id,
                ASSIGNMENTS.c.customer_id,
                ASSIGNMENTS.c.customer_number,
            ).where(ASSIGNMENTS.c.tenant_id == tenant_id, ASSIGNMENTS.c.expires_at <= now)
        )
    )
    writes = _Writes(
        deletes=[row[0] for row in lapsed],
        events=[_event(tenant_id, t, c, n, "expired", ("system", None), now, None) for _, t, c, n in lapsed],
    )
    _flush(session, writes)
    return len(lapsed)


# --- merges ------------------------------------------------------------------------------------
def _later(a: dt.datetime | None, b: dt.datetime | None) -> bool:
    """Whether expiry a lapses after expiry b (None never lapses)."""
    return b is not None and (a is None or a > b)


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _at(value: Any) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if isinstance(value, str) else None


def _assignment_values(row: Any) -> dict[str, Any]:
    return {
        "tag_id": row.tag_id,
        "source_type": row.source_type,
        "source_id": row.source_id,
        "assigned_at": _iso(row.assigned_at),
        "expires_at": _iso(row.expires_at),
    }


def _holdings(
    session: Session, tenant_id: int, customer_ids: list[int], extra_tags: set[int]
) -> tuple[list[Any], dict[int, tuple[int, bool]]]:
    """The customers' assignments (oldest first) and (group, exclusive) of those and other tags."""
    rows = list(
        session.execute(
            select(
                ASSIGNMENTS.c.id,
                ASSIGNMENTS.c.tag_id,
                ASSIGNMENTS.c.customer_id,
                ASSIGNMENTS.c.source_type,
                ASSIGNMENTS.c.source_id,
                ASSIGNMENTS.c.assigned_at,
                ASSIGNMENTS.c.expires_at,
            )
            .where(ASSIGNMENTS.c.tenant_id == tenant_id, ASSIGNMENTS.c.customer_id.in_(customer_ids))
            .order_by(ASSIGNMENTS.c.id)
        )
    )
    tag_ids = sorted({r.tag_id for r in rows} | extra_tags)
    groups = {
        tag_id: (group_id, bool(exclusive))
        for tag_id, group_id, exclusive in session.execute(
            select(Tag.id, TagGroup.id, TagGroup.exclusive)
            .join(TagGroup, TagGroup.id == Tag.group_id)
            .where(Tag.tenant_id == tenant_id, Tag.id.in_(tag_ids))
        )
    }
    return rows, groups


def merge_customer_tags(session: Session, parties: MergeParties) -> dict[str, Any]:
    """The survivor gets the union of both records' tags, each move written to the history (and
    so to the bitmaps) with source `merge`: a tag only the merged record holds moves over; a tag
    both hold stays the survivor's, lapsing at the later of the two expiries; in an exclusive
    group the more recent assignment wins (the survivor's on a tie). The merged record keeps none."""
    tenant_id, survivor, merged = parties.tenant_id, parties.survivor_id, parties.merged_id
    s_number, m_number, now = parties.survivor_number, parties.merged_number, parties.at
    source = ("merge", parties.merge_id)
    lock_tenant(session, "tags", tenant_id)
    rows, groups = _holdings(session, tenant_id, [survivor, merged], set())
    by_tag = {r.tag_id: r for r in rows if r.customer_id == survivor}
    by_group = {groups[r.tag_id][0]: r for r in by_tag.values() if groups[r.tag_id][1]}
    writes = _Writes()
    moved: list[int] = []
    dropped: list[dict[str, Any]] = []
    replaced: list[dict[str, Any]] = []
    extended: list[dict[str, Any]] = []
    for row in (r for r in rows if r.customer_id == merged):
        group_id, exclusive = groups[row.tag_id]
        held = by_tag.get(row.tag_id)
        rival = by_group.get(group_id) if exclusive and held is None else None
        if held is not None and _later(row.expires_at, held.expires_at):
            extended.append({"id": held.id, **_assignment_values(held), "extended_to": _iso(row.expires_at)})
            writes.renewals.append(
                {"a_id": held.id, "a_expires": row.expires_at, "a_type": source[0], "a_source": source[1]}
            )
            writes.events.append(
                _event(tenant_id, row.tag_id, survivor, s_number, "renewed", source, now, row.expires_at)
            )
        if held is not None or (rival is not None and rival.assigned_at >= row.assigned_at):
            dropped.append(_assignment_values(row))
            writes.deletes.append(row.id)
            writes.events.append(
                _event(tenant_id, row.tag_id, merged, m_number, "removed", source, now, None)
            )
            continue
        if rival is not None:
            replaced.append(_assignment_values(rival))
            writes.deletes.append(rival.id)
            del by_tag[rival.tag_id]
            writes.events.append(
                _event(tenant_id, rival.tag_id, survivor, s_number, "replaced", source, now, None)
            )
        moved.append(row.id)
        by_tag[row.tag_id] = row
        if exclusive:
            by_group[group_id] = row
        writes.events.append(_event(tenant_id, row.tag_id, merged, m_number, "removed", source, now, None))
        writes.events.append(
            _event(tenant_id, row.tag_id, survivor, s_number, "assigned", source, now, row.expires_at)
        )
    _flush(session, writes)
    _move(session, tenant_id, moved, survivor, s_number)
    if not (moved or dropped or replaced or extended):
        return {}
    return {"moved": moved, "dropped": dropped, "replaced": replaced, "extended": extended}


def _move(session: Session, tenant_id: int, ids: list[int], customer_id: int, number: int) -> None:
    if ids:
        session.execute(
            update(ASSIGNMENTS)
            .where(ASSIGNMENTS.c.tenant_id == tenant_id, ASSIGNMENTS.c.id.in_(ids))
            .values(customer_id=customer_id, customer_number=number)
        )


def unmerge_customer_tags(session: Session, parties: MergeParties, snapshot: dict[str, Any]) -> int:
    """Undo `merge_customer_tags` as far as the tags have not changed since: moved assignments still
    on the survivor go back, the merged record's dropped ones and the survivor's replaced ones come
    back where no tag of theirs (or of their exclusive group) has taken the place, and extended
    expiries return to what they were. Every step is history with source `merge`."""
    tenant_id, survivor, merged = parties.tenant_id, parties.survivor_id, parties.merged_id
    numbers = {survivor: parties.survivor_number, merged: parties.merged_number}
    source, now = ("merge", parties.merge_id), parties.at
    lock_tenant(session, "tags", tenant_id)
    snapshot_tags = {v["tag_id"] for key in ("dropped", "replaced") for v in snapshot.get(key, [])}
    rows, groups = _holdings(session, tenant_id, [survivor, merged], snapshot_tags)
    by_id = {r.id: r for r in rows}
    held: dict[int, set[int]] = {survivor: set(), merged: set()}  # tags, and exclusive groups as -id

    def keys(tag_id: int) -> set[int]:
        group_id, exclusive = groups.get(tag_id, (0, False))
        return {tag_id, -group_id} if exclusive else {tag_id}

    for r in rows:
        held[r.customer_id] |= keys(r.tag_id)
    writes = _Writes()
    back: list[int] = []
    for a_id in snapshot.get("moved", []):
        row = by_id.get(a_id)
        if row is None or row.customer_id != survivor or keys(row.tag_id) & held[merged]:
            continue
        back.append(a_id)
        held[survivor] -= keys(row.tag_id)
        held[merged] |= keys(row.tag_id)
        writes.events.append(
            _event(tenant_id, row.tag_id, survivor, numbers[survivor], "removed", source, now, None)
        )
        writes.events.append(
            _event(tenant_id, row.tag_id, merged, numbers[merged], "assigned", source, now, row.expires_at)
        )
    for key, owner in (("dropped", merged), ("replaced", survivor)):
        for values in snapshot.get(key, []):
            tag_id = values["tag_id"]
            if tag_id not in groups or keys(tag_id) & held[owner]:
                continue
            held[owner] |= keys(tag_id)
            expires_at = _at(values["expires_at"])
            writes.inserts.append(
                {
                    "tenant_id": tenant_id,
                    "tag_id": tag_id,
                    "customer_id": owner,
                    "customer_number": numbers[owner],
                    "source_type": values["source_type"],
                    "source_id": values["source_id"],
                    "assigned_at": _at(values["assigned_at"]),
                    "expires_at": expires_at,
                }
            )
            writes.events.append(
                _event(tenant_id, tag_id, owner, numbers[owner], "assigned", source, now, expires_at)
            )
    for values in snapshot.get("extended", []):
        row = by_id.get(values["id"])
        if row is None or row.customer_id != survivor or _iso(row.expires_at) != values["extended_to"]:
            continue
        expires_at = _at(values["expires_at"])
        writes.renewals.append(
            {
                "a_id": row.id,
                "a_expires": expires_at,
                "a_type": values["source_type"],
                "a_source": values["source_id"],
            }
        )
        writes.events.append(
            _event(tenant_id, row.tag_id, survivor, numbers[survivor], "renewed", source, now, expires_at)
        )
    restored = len(back) + len(writes.inserts) + len(writes.renewals)
    _move(session, tenant_id, back, merged, numbers[merged])
    _flush(session, writes)
    return restored
