"""Audience use cases: live preview, saved packages, frozen snapshots, export, overlap."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

from pyroaring import BitMap
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.audiences import schemas as s
from siyu.audiences.models import Audience, AudienceSnapshot
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.core.phone import mask_phone
from siyu.customers.facade import Customer
from siyu.db.expressions import one_of
from siyu.org.facade import Staff, Store
from siyu.platform import audit
from siyu.segments import facade as segments
from siyu.tags import facade as tags

NO_TIER = "（无等级）"


def checked_rule(session: Session, *, tenant_id: int, rule: dict[str, Any]) -> Any:
    """Parse a rule and refuse guide-private tags (HQ rules never see a guide's own tags)."""
    node = segments.parse_rule(rule)
    private = tags.tags_of_kind(
        session, tenant_id=tenant_id, tag_ids=segments.tag_ids(node), kind="guide_private"
    )
    if private:
        raise DomainError("unknown_reference", object="tag", values=", ".join(map(str, private)))
    return node


def preview(
    session: Session, *, tenant_id: int, rule: dict[str, Any], now: dt.datetime | None = None
) -> s.Preview:
    """How many customers a rule selects now, by home store and by member tier."""
    started = time.perf_counter()
    node = checked_rule(session, tenant_id=tenant_id, rule=rule)
    result = segments.evaluate(session, tenant_id=tenant_id, rule=node, now=now)
    members, index = result.members, result.index
    with index.lock:
        by_store = {
            store_id: members.intersection_cardinality(bitmap)
            for store_id, bitmap in index.store.bitmaps.items()
        }
        tiers = {code: name for name, code in index.tiers.codes.items()}
        by_tier = {tiers[code]: members.intersection_cardinality(b) for code, b in index.tier.bitmaps.items()}
    store_names = {
        sid: (code, name)
        for sid, code, name in session.execute(
            select(Store.id, Store.code, Store.name).where(Store.tenant_id == tenant_id)
        )
    }
    stores = [
        s.Breakdown(key=store_names[sid][0], label=store_names[sid][1], count=n)
        for sid, n in sorted(by_store.items(), key=lambda kv: -kv[1])
        if n and sid in store_names
    ]
    without_store = len(members) - sum(b.count for b in stores)
    if without_store:
        stores.append(s.Breakdown(key="", label="（无门店）", count=without_store))
    tier_rows = [
        s.Breakdown(key=t, label=t, count=n) for t, n in sorted(by_tier.items(), key=lambda kv: -kv[1]) if n
    ]
    without_tier = len(members) - sum(b.count for b in tier_rows)
    if without_tier:
        tier_rows.append(s.Breakdown(key="", label=NO_TIER, count=without_tier))
    return s.Preview(
        count=len(members),
        by_store=stores,
        by_tier=tier_rows,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
        cached=result.cached,
    )


def _actor(principal: Principal | None) -> int | None:
    return principal.actor_id if principal and principal.actor_type == "staff" else None


def create_audience(
    session: Session, *, tenant_id: int, data: s.AudienceCreate, principal: Principal | None
) -> Audience:
    """Save a rule as a named audience package (the rule is checked first)."""
    node = checked_rule(session, tenant_id=tenant_id, rule=data.rule)
    segments.evaluate(session, tenant_id=tenant_id, rule=node)  # references resolve, or the save is refused
    if session.scalar(select(Audience.id).where(Audience.tenant_id == tenant_id, Audience.name == data.name)):
        raise DomainError("duplicate", object="audience", value=data.name)
    now = utcnow()
    audience = Audience(
        tenant_id=tenant_id,
        name=data.name,
        description=data.description,
        rule=segments.dump_rule(node),
        created_by=_actor(principal),
        created_at=now,
        updated_at=now,
    )
    session.add(audience)
    session.flush()
    return audience


def get_audience(session: Session, *, tenant_id: int, audience_id: int) -> Audience:
    """An audience of the tenant, or not found."""
    found = session.scalar(
        select(Audience).where(Audience.tenant_id == tenant_id, Audience.id == audience_id)
    )
    if found is None:
        raise not_found("audience")
    return found


def update_audience(
    session: Session, *, tenant_id: int, audience_id: int, data: s.AudienceUpdate
) -> Audience:
    """Rename, describe or change the rule (snapshots already taken keep the rule they used)."""
    audience = get_audience(session, tenant_id=tenant_id, audience_id=audience_id)
    if data.rule is not None:
        node = checked_rule(session, tenant_id=tenant_id, rule=data.rule)
        segments.evaluate(session, tenant_id=tenant_id, rule=node)
        audience.rule = segments.dump_rule(node)
    if data.name is not None and data.name != audience.name:
        if session.scalar(
            select(Audience.id).where(Audience.tenant_id == tenant_id, Audience.name == data.name)
        ):
            raise DomainError("duplicate", object="audience", value=data.name)
        audience.name = data.name
    if data.description is not None:
        audience.description = data.description
    audience.updated_at = utcnow()
    return audience


def delete_audience(
    session: Session, *, tenant_id: int, audience_id: int, principal: Principal | None
) -> None:
    """Delete an audience and its frozen versions (audited with its name and rule)."""
    audience = get_audience(session, tenant_id=tenant_id, audience_id=audience_id)
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="audience.delete",
        object_type="audience",
        object_id=audience.id,
        data={"name": audience.name, "rule": audience.rule},
    )
    session.delete(audience)
    session.flush()


def copy_name(session: Session, *, tenant_id: int, name: str, suffix: str) -> str:
    """A free name for a copy: "name suffix", "name suffix 2" …"""
    taken = set(session.scalars(select(Audience.name).where(Audience.tenant_id == tenant_id)))
    base = f"{name} {suffix}"[:76]
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base} {n}", n + 1
    return candidate


def live_sizes(session: Session, *, tenant_id: int, audiences: list[Audience]) -> dict[int, int | None]:
    """How many customers each audience holds now (None: its rule no longer resolves, e.g. a tag
    it names was deleted)."""
    sizes: dict[int, int | None] = {}
    for audience in audiences:
        try:
            sizes[audience.id] = len(
                segments.evaluate(session, tenant_id=tenant_id, rule=audience.rule).members
            )
        except DomainError:
            sizes[audience.id] = None
    return sizes


def audiences_of(session: Session, *, tenant_id: int, customer_number: int) -> list[Audience]:
    """The saved audiences a customer belongs to now (by their dense number in the bitmaps)."""
    found = []
    for audience in session.scalars(
        select(Audience).where(Audience.tenant_id == tenant_id).order_by(Audience.name)
    ):
        try:
            members = segments.evaluate(session, tenant_id=tenant_id, rule=audience.rule).members
        except DomainError:
            continue
        if customer_number in members:
            found.append(audience)
    return found


def list_audiences(session: Session, *, tenant_id: int) -> list[tuple[Audience, AudienceSnapshot | None]]:
    """Every audience with its newest snapshot."""
    audiences = list(
        session.scalars(select(Audience).where(Audience.tenant_id == tenant_id).order_by(Audience.id.desc()))
    )
    latest = {a.id: latest_snapshot(session, tenant_id=tenant_id, audience_id=a.id) for a in audiences}
    return [(a, latest[a.id]) for a in audiences]


def latest_snapshot(session: Session, *, tenant_id: int, audience_id: int) -> AudienceSnapshot | None:
    """The newest frozen version of an audience."""
    return session.scalar(
        select(AudienceSnapshot)
        .where(AudienceSnapshot.tenant_id == tenant_id, AudienceSnapshot.audience_id == audience_id)
        .order_by(AudienceSnapshot.version.desc())
        .limit(1)
    )


def snapshot(
    session: Session,
    *,
    tenant_id: int,
    audience_id: int,
    principal: Principal | None,
    now: dt.datetime | None = None,
) -> AudienceSnapshot:
    """Freeze who is in the audience now as the next version (campaigns keep the version they used)."""
    audience = get_audience(session, tenant_id=tenant_id, audience_id=audience_id)
    members = segments.evaluate(session, tenant_id=tenant_id, rule=audience.rule, now=now).members
    members.run_optimize()
    version = (
        session.scalar(
            select(func.max(AudienceSnapshot.version)).where(
                AudienceSnapshot.tenant_id == tenant_id, AudienceSnapshot.audience_id == audience.id
            )
        )
        or 0
    ) + 1
    row = AudienceSnapshot(
        tenant_id=tenant_id,
        audience_id=audience.id,
        version=version,
        size=len(members),
        rule=audience.rule,
        members=members.serialize(),
        created_by=_actor(principal),
        created_at=now or utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def get_snapshot(session: Session, *, tenant_id: int, audience_id: int, version: int) -> AudienceSnapshot:
    """One frozen version, or not found."""
    found = session.scalar(
        select(AudienceSnapshot).where(
            AudienceSnapshot.tenant_id == tenant_id,
            AudienceSnapshot.audience_id == audience_id,
            AudienceSnapshot.version == version,
        )
    )
    if found is None:
        raise not_found("snapshot")
    return found


def list_snapshots(session: Session, *, tenant_id: int, audience_id: int) -> list[AudienceSnapshot]:
    """Every frozen version of an audience, newest first."""
    get_audience(session, tenant_id=tenant_id, audience_id=audience_id)
    return list(
        session.scalars(
            select(AudienceSnapshot)
            .where(AudienceSnapshot.tenant_id == tenant_id, AudienceSnapshot.audience_id == audience_id)
            .order_by(AudienceSnapshot.version.desc())
        )
    )


def members_of(session: Session, *, tenant_id: int, operand: s.Operand) -> BitMap:
    """Members of one side of an overlap."""
    if operand.audience_id is not None and operand.version is not None:
        found = get_snapshot(
            session, tenant_id=tenant_id, audience_id=operand.audience_id, version=operand.version
        )
        return BitMap.deserialize(found.members)
    if operand.audience_id is not None:
        rule = get_audience(session, tenant_id=tenant_id, audience_id=operand.audience_id).rule
    else:
        assert operand.rule is not None
        rule = operand.rule
    node = checked_rule(session, tenant_id=tenant_id, rule=rule)
    return segments.evaluate(session, tenant_id=tenant_id, rule=node).members


def overlap(session: Session, *, tenant_id: int, body: s.OverlapBody) -> s.Overlap:
    """How two audiences overlap."""
    a = members_of(session, tenant_id=tenant_id, operand=body.a)
    b = members_of(session, tenant_id=tenant_id, operand=body.b)
    both = a.intersection_cardinality(b)
    either = len(a) + len(b) - both
    return s.Overlap(
        a=len(a),
        b=len(b),
        both=both,
        only_a=len(a) - both,
        only_b=len(b) - both,
        either=either,
        jaccard=round(both / either, 6) if either else 0.0,
    )


EXPORT_HEADERS = [
    "客户编号 number",
    "姓名 name",
    "手机 phone",
    "门店 store",
    "导购 guide",
    "会员等级 tier",
    "城市 city",
]


def export_rows(session: Session, *, tenant_id: int, members: BitMap) -> Iterator[list[Any]]:
    """Rows of a snapshot's members for CSV/Excel; phones are always masked."""
    stores = {
        store_id: f"{code} {name}"
        for store_id, code, name in session.execute(
            select(Store.id, Store.code, Store.name).where(Store.tenant_id == tenant_id)
        )
    }
    # People by their names (a username such as guide-S010-2 is a login, not a name).
    staff = dict(session.execute(select(Staff.id, Staff.name).where(Staff.tenant_id == tenant_id)).all())
    numbers = list(members)
    for start in range(0, len(numbers), 5000):
        chunk = numbers[start : start + 5000]
        rows = session.execute(
            select(
                Customer.number,
                Customer.name,
                Customer.phone_e164,
                Customer.store_id,
                Customer.guide_id,
                Customer.member_tier,
                Customer.city,
            )
            .where(Customer.tenant_id == tenant_id, one_of(session, Customer.number, chunk))
            .order_by(Customer.number)
        )
        for number, name, phone, store_id, guide_id, tier, city in rows:
            yield [
                number,
                name or "",
                mask_phone(phone) or "",
                stores.get(store_id, "") if store_id else "",
                staff.get(guide_id, "") if guide_id else "",
                tier or "",
                city or "",
            ]
