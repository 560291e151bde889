"""The demo brand's WeCom side: guides' WeCom UserIDs, a friend relation for every customer a guide
added (at the time of their `new_fan` event), two channel codes per store that brought most of
them, their daily statistics, and customer groups whose activity decays as real ones do — some
already dead. The demo has no real WeCom behind it: codes carry no QR image.
"""

from __future__ import annotations

import datetime as dt
import math
import random
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select, update

from siyu.customers.models import Customer, CustomerIdentity, TimelineEvent
from siyu.db.base import table_of
from siyu.db.bulk import bulk_insert
from siyu.db.session import unit_of_work
from siyu.org.models import Staff, StaffStore, Store, Tenant
from siyu.tags.models import Tag
from siyu.wecom.models import (
    ChannelCode,
    ChannelCodeDay,
    CustomerGroup,
    CustomerGroupDay,
    CustomerGroupMember,
    WeComFriend,
    WeComFriendEvent,
)

CODES = (("poster", "门店海报", "门口海报"), ("till", "收银台", "收银台桌牌"))
GROUPS = ("会员福利群", "新品尝鲜群")
WELCOME = "您好，我是{store}的专属导购，欢迎添加！新人券已放入您的卡包，到店出示可用。"


def build_wecom(  # noqa: C901 - to split (docs/architecture.md)
    engine: Engine, tenant_id: int, *, seed: int, now: dt.datetime | None = None
) -> dict[str, int]:
    """Write the demo's WeCom data; returns counts."""
    rng = random.Random(seed + 11)
    now = now or dt.datetime.now(dt.UTC)
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        tz = ZoneInfo(
            session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id)) or "Asia/Shanghai"
        )
        staff = list(
            session.scalars(
                select(Staff).where(Staff.tenant_id == tenant_id, Staff.role.in_(("guide", "store_manager")))
            )
        )
        for member in staff:
            member.wecom_userid = member.username
        guides_by_store: dict[int, list[int]] = defaultdict(list)
        for staff_id, store_id in session.execute(
            select(StaffStore.staff_id, StaffStore.store_id)
            .join(Staff, Staff.id == StaffStore.staff_id)
            .where(StaffStore.tenant_id == tenant_id, Staff.role == "guide")
        ).all():
            guides_by_store[store_id].append(staff_id)
        stores = {s.id: s for s in session.scalars(select(Store).where(Store.tenant_id == tenant_id))}
        scan_tag = session.scalar(select(Tag.id).where(Tag.tenant_id == tenant_id, Tag.name_zh == "门店扫码"))
        codes: dict[int, list[ChannelCode]] = {}
        for store_id, store in stores.items():
            guides = sorted(guides_by_store.get(store_id, []))
            if not guides:
                continue
            codes[store_id] = []
            for key, label, name in CODES:
                code = ChannelCode(
                    tenant_id=tenant_id,
                    name=f"{store.name}{name}",
                    state=f"{store.code}-{key}",
                    source_label=label,
                    store_id=store_id,
                    mode="round_robin",
                    guide_ids=guides,
                    schedule=[],
                    backup_guide_id=guides[0],
                    daily_cap=30,
                    tag_ids=[scan_tag] if scan_tag else [],
                    welcome_text=WELCOME.format(store=store.name),
                    config_id=None,
                    qr_code=None,
                    current_guide_id=guides[0],
                    rotation=0,
                    active=True,
                    created_at=now - dt.timedelta(days=400),
                    updated_at=now,
                )
                session.add(code)
                codes[store_id].append(code)
        session.flush()
        fans = session.execute(
            select(TimelineEvent.customer_id, TimelineEvent.occurred_at, Customer.guide_id, Customer.store_id)
            .join(Customer, Customer.id == TimelineEvent.customer_id)
            .where(
                TimelineEvent.tenant_id == tenant_id,
                TimelineEvent.kind == "new_fan",
                Customer.guide_id.is_not(None),
            )
        ).all()
        externals = dict(
            session.execute(
                select(CustomerIdentity.customer_id, CustomerIdentity.value).where(
                    CustomerIdentity.tenant_id == tenant_id, CustomerIdentity.type == "wecom_external_userid"
                )
            ).all()
        )
        new_identities: list[dict[str, Any]] = []
        friends: list[dict[str, Any]] = []
        stats: dict[tuple[int, dt.date, int], list[int]] = defaultdict(lambda: [0, 0])
        friends_by_guide: dict[int, list[tuple[int, str, dt.datetime]]] = defaultdict(list)
        for customer_id, at, guide, home_store in fans:
            assert guide is not None
            guide_id = int(guide)
            external = externals.get(customer_id)
            if external is None:
                external = "wm" + "".join(
                    rng.choices("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", k=30)
                )
                new_identities.append(
                    {
                        "tenant_id": tenant_id,
                        "customer_id": customer_id,
                        "type": "wecom_external_userid",
                        "namespace": "",
                        "value": external,
                        "source": "wecom",
                        "created_at": at,
                    }
                )
            store_codes = codes.get(home_store or 0, [])
            via = rng.choice(store_codes) if store_codes and rng.random() < 0.7 else None
            deleted_at, deleted_by = None, None
            if rng.random() < 0.08:
                deleted_at = min(now, at + dt.timedelta(days=rng.randint(1, 120)))
                deleted_by = "customer" if rng.random() < 0.7 else "staff"
            friends.append(
                {
                    "tenant_id": tenant_id,
                    "staff_id": guide_id,
                    "customer_id": customer_id,
                    "external_userid": external,
                    "state": via.state if via else None,
                    "added_at": at,
                    "deleted_at": deleted_at,
                    "deleted_by": deleted_by,
                    "last_event_at": deleted_at or at,
                }
            )
            if deleted_at is None:
                friends_by_guide[guide_id].append((customer_id, external, at))
            if via is not None:
                stats[(via.id, at.astimezone(tz).date(), guide_id)][0] += 1
                if deleted_at is not None:
                    stats[(via.id, deleted_at.astimezone(tz).date(), guide_id)][1] += 1
        conn = session.connection()
        bulk_insert(conn, table_of(CustomerIdentity), new_identities)
        returned = bulk_insert(conn, table_of(WeComFriend), friends, returning=("customer_id", "id"))
        friend_ids = (
            dict(returned)
            if returned is not None
            else dict(
                session.execute(
                    select(WeComFriend.customer_id, WeComFriend.id).where(WeComFriend.tenant_id == tenant_id)
                ).all()
            )
        )
        events: list[dict[str, Any]] = []
        for f in friends:
            fid = friend_ids[f["customer_id"]]
            events.append(
                {
                    "tenant_id": tenant_id,
                    "friend_id": fid,
                    "kind": "added",
                    "occurred_at": f["added_at"],
                    "detail": f["state"],
                    "inbox_id": None,
                }
            )
            if f["deleted_at"] is not None:
                events.append(
                    {
                        "tenant_id": tenant_id,
                        "friend_id": fid,
                        "kind": f"deleted_by_{f['deleted_by']}",
                        "occurred_at": f["deleted_at"],
                        "detail": None,
                        "inbox_id": None,
                    }
                )
        bulk_insert(conn, table_of(WeComFriendEvent), events)
        bulk_insert(
            conn,
            table_of(ChannelCodeDay),
            [
                {
                    "tenant_id": tenant_id,
                    "code_id": code_id,
                    "day": day,
                    "staff_id": staff_id,
                    "adds": adds,
                    "deletes": deletes,
                }
                for (code_id, day, staff_id), (adds, deletes) in stats.items()
            ],
        )
        groups = _groups(conn, tenant_id, stores, guides_by_store, friends_by_guide, rng, now, tz)
        session.execute(
            update(Staff)
            .where(Staff.tenant_id == tenant_id, Staff.role == "owner")
            .values(wecom_userid="owner")
        )
    return {"friends": len(friends), "codes": sum(len(c) for c in codes.values()), "groups": groups}


def _groups(
    conn: Any,
    tenant_id: int,
    stores: dict[int, Store],
    guides_by_store: dict[int, list[int]],
    friends_by_guide: dict[int, list[tuple[int, str, dt.datetime]]],
    rng: random.Random,
    now: dt.datetime,
    tz: ZoneInfo,
) -> int:
    """Two groups per store: a burst of joins in their first weeks, then messages decaying with a
    half-life of 3 weeks to 4 months (weekends livelier) — the oldest quick-decaying ones are dead."""
    made = 0
    today = now.astimezone(tz).date()
    for store_id, store in stores.items():
        guides = guides_by_store.get(store_id, [])
        if not guides:
            continue
        for name in GROUPS:
            owner = rng.choice(guides)
            pool = friends_by_guide.get(owner, [])
            age_days = rng.randint(30, 300)
            created = now - dt.timedelta(days=age_days)
            group_id = conn.execute(
                table_of(CustomerGroup).insert().returning(table_of(CustomerGroup).c.id),
                {
                    "tenant_id": tenant_id,
                    "chat_id": f"wr{store.code}{name.encode().hex()[:10]}",
                    "name": f"{store.name}{name}",
                    "notice": "每周五上新，群内专享价",
                    "owner_staff_id": owner,
                    "store_id": store_id,
                    "member_version": "demo",
                    "needs_sync": False,
                    "status": "active",
                    "created_at": created,
                    "dismissed_at": None,
                    "last_event_at": now,
                },
            ).scalar_one()
            members = rng.sample(pool, min(len(pool), rng.randint(30, 120)))
            rows: list[dict[str, Any]] = []
            joins: dict[dt.date, int] = defaultdict(int)
            quits: dict[dt.date, int] = defaultdict(int)
            rows.append(
                {
                    "tenant_id": tenant_id,
                    "group_id": group_id,
                    "member_key": f"staff-{owner}",
                    "kind": "staff",
                    "customer_id": None,
                    "joined_at": created,
                    "join_scene": 1,
                    "left_at": None,
                    "quit_scene": None,
                }
            )
            for customer_id, external, _ in members:
                joined = created + dt.timedelta(
                    days=min(age_days - 1, int(rng.expovariate(1 / 7))), hours=rng.randint(10, 21)
                )
                left = joined + dt.timedelta(days=rng.randint(3, age_days)) if rng.random() < 0.12 else None
                if left is not None and left > now:
                    left = None
                rows.append(
                    {
                        "tenant_id": tenant_id,
                        "group_id": group_id,
                        "member_key": external,
                        "kind": "customer",
                        "customer_id": customer_id,
                        "joined_at": joined,
                        "join_scene": rng.choice((1, 2, 3)),
                        "left_at": left,
                        "quit_scene": 0 if left else None,
                    }
                )
                joins[joined.astimezone(tz).date()] += 1
                if left is not None:
                    quits[left.astimezone(tz).date()] += 1
            bulk_insert(conn, table_of(CustomerGroupMember), rows)
            start_rate, half_life = rng.uniform(30, 120), rng.uniform(20, 120)
            days = []
            for age in range(age_days, -1, -1):
                day = today - dt.timedelta(days=age)
                elapsed = age_days - age
                rate = start_rate * math.pow(0.5, elapsed / half_life) * (1.3 if day.weekday() >= 5 else 1.0)
                messages = max(0, int(rng.gauss(rate, math.sqrt(rate) + 0.5)))
                days.append(
                    {
                        "tenant_id": tenant_id,
                        "group_id": group_id,
                        "day": day,
                        "joins": joins.get(day, 0),
                        "quits": quits.get(day, 0),
                        "messages": messages,
                    }
                )
            bulk_insert(conn, table_of(CustomerGroupDay), days)
            made += 1
    return made
