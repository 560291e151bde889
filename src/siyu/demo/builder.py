"""Build a seeded demo brand: regions, stores with real-looking hours, staff and customers whose
identities overlap across channels the way they do in life (a WeChat unionid behind both a
mini-program and an official-account openid, a phone behind a member card, a POS id, …).

Customers are written with set-based inserts in chunks (not through the upsert use case) because
the generator already knows which identities belong together; that is what makes a 1,000,000
customer brand take minutes, not hours.
"""

from __future__ import annotations

import base64
import random
import string
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import Engine

from siyu.access.passwords import hash_password
from siyu.customers.models import ConsentRecord, Customer, CustomerIdentity, TimelineEvent
from siyu.db.base import table_of
from siyu.db.bulk import bulk_insert
from siyu.db.session import unit_of_work
from siyu.metadata import purge_tenant
from siyu.org import schemas as org_schemas
from siyu.org import service as org_service
from siyu.org.models import Region, Staff, StaffStore, Store, Tenant

DEMO_SLUG = "demo"
DEMO_PASSWORD = "siyu-demo-2026"
MINI_PROGRAM_APP_ID = "wx5d1c8a9b3e7f2a46"
OFFICIAL_ACCOUNT_APP_ID = "wx9b2e4f6a8c0d1e3f"
CHUNK = 20_000

REGIONS = [
    (
        "EAST",
        "华东区",
        [
            ("上海", 31.2304, 121.4737),
            ("杭州", 30.2741, 120.1551),
            ("南京", 32.0603, 118.7969),
            ("苏州", 31.2990, 120.5853),
        ],
    ),
    ("SOUTH", "华南区", [("广州", 23.1291, 113.2644), ("深圳", 22.5431, 114.0579)]),
    ("NORTH", "华北区", [("北京", 39.9042, 116.4074), ("天津", 39.3434, 117.3616)]),
    ("WEST", "西南区", [("成都", 30.5728, 104.0668), ("重庆", 29.5630, 106.5516)]),
]
DISTRICTS = [
    "万象城",
    "来福士",
    "大悦城",
    "万达广场",
    "银泰",
    "太古里",
    "步行街",
    "奥特莱斯",
    "印象城",
    "龙湖天街",
]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲芬芳燕彩春菊兰凤洁梅琳素云莲真环雪荣爱妹霞香月莺媛艳瑞凡佳嘉琼勤珍贞莉桂娣叶璧璐娅琦晶妍茜秋珊莎锦黛青倩婷姣婉娴瑾颖露瑶怡婵雁蓓纨仪荷丹蓉眉君琴蕊薇菁梦岚苑婕馨瑗琰韵融园艺咏卿聪澜纯毓悦昭冰爽琬茗羽希宁欣飘育滢馥筠柔竹霭凝晓欢霄枫芸菲寒伊亚宜可姬舒影荔枝思丽"
MOBILE_PREFIXES = [
    "138",
    "139",
    "135",
    "136",
    "137",
    "150",
    "151",
    "152",
    "158",
    "159",
    "186",
    "187",
    "188",
    "130",
    "131",
    "132",
    "155",
    "156",
    "185",
    "133",
    "153",
    "180",
    "189",
    "177",
    "199",
]
ID_ALPHABET = string.ascii_letters + string.digits + "-_"
PLATFORMS = ["tmall", "jd", "douyin"]


@dataclass
class DemoResult:
    """What was built."""

    tenant_id: int
    stores: int
    staff: int
    customers: int
    orders: int
    tag_assignments: int
    seconds: float


def _hours(rng: random.Random, overnight: bool) -> list[dict[str, Any]]:
    hours = []
    for weekday in range(7):
        weekend = weekday >= 4
        if overnight and weekend:
            hours.append({"weekday": weekday, "opens": "10:00", "closes": "02:00"})
        else:
            hours.append({"weekday": weekday, "opens": "10:00", "closes": "22:30" if weekend else "22:00"})
    return hours


def _token(rng: random.Random, length: int) -> str:
    # randbytes + base64 is deterministic for a seeded Random and ~10x faster than choices().
    return base64.urlsafe_b64encode(rng.randbytes(length)).decode()[:length]


def _phone(index: int, seed: int) -> str:
    prefix = MOBILE_PREFIXES[index % len(MOBILE_PREFIXES)]
    # 7919 is coprime to 10**8, so distinct indexes below 10**8 give distinct numbers per prefix.
    return f"+86{prefix}{(index * 7919 + seed) % 10**8:08d}"


def tenant_has_customers(engine: Engine, slug: str = DEMO_SLUG) -> bool:
    """Whether the demo tenant exists with customers (make run builds it only once)."""
    with unit_of_work(engine) as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        if tenant_id is None:
            return False
        return bool(
            session.scalar(select(func.count()).select_from(Customer).where(Customer.tenant_id == tenant_id))
        )


def build_demo(
    engine: Engine,
    *,
    stores: int = 30,
    guides_per_store: int = 5,
    customers: int = 50_000,
    seed: int = 20260101,
    slug: str = DEMO_SLUG,
    order_days: int = 365,
    orders_per_store_day: float = 9.0,
    progress: Callable[[str, int, int], None] | None = None,
    now: datetime | None = None,
) -> DemoResult:
    """Build (or rebuild) the demo tenant; identical inputs (with `now`, the clock the brand is
    built against — by default the real one) give an identical brand."""
    started = datetime.now(UTC)
    clock = (now or started).replace(microsecond=0)
    rng = random.Random(seed)
    report = progress or (lambda _stage, _done, _total: None)
    with unit_of_work(engine) as session:
        old = session.scalar(select(Tenant).where(Tenant.slug == slug))
        if old is not None:
            purge_tenant(session, tenant_id=old.id)
        tenant = org_service.create_tenant(
            session, data=org_schemas.TenantCreate(slug=slug, name="晨星服饰 Morning Star Apparel")
        )
        tenant_id = tenant.id
        password_hash = hash_password(DEMO_PASSWORD)
        region_ids: dict[str, int] = {}
        cities: list[tuple[str, str, float, float]] = []
        for code, name, region_cities in REGIONS:
            region = Region(tenant_id=tenant_id, code=code, name=name)
            session.add(region)
            session.flush()
            region_ids[code] = region.id
            cities += [(code, c, lat, lng) for c, lat, lng in region_cities]
        store_rows: list[Store] = []
        for i in range(stores):
            region_code, city, lat, lng = cities[i % len(cities)]
            district = DISTRICTS[(i // len(cities)) % len(DISTRICTS)]
            store = Store(
                tenant_id=tenant_id,
                region_id=region_ids[region_code],
                code=f"S{i + 1:03d}",
                name=f"晨星{city}{district}店",
                city=city,
                address=f"{city}市{district}{rng.randint(1, 5)}层",
                latitude=round(lat + rng.uniform(-0.08, 0.08), 6),
                longitude=round(lng + rng.uniform(-0.08, 0.08), 6),
                status="active",
                business_hours=_hours(rng, overnight=(i % 10 == 3)),
                holidays=[
                    {"date": "2026-02-17", "closed": True, "opens": None, "closes": None, "name": "春节"}
                ],
            )
            session.add(store)
            store_rows.append(store)
        session.flush()
        staff_rows = [
            Staff(
                tenant_id=tenant_id,
                employee_no=no,
                username=username,
                name=name,
                role=role,
                password_hash=password_hash,
            )
            for no, username, name, role in (
                ("E0001", "owner", "林总", "owner"),
                ("E0002", "hq", "周运营", "hq_operator"),
                ("E0003", "analyst", "陈分析", "analyst"),
            )
        ]
        guides_by_store: dict[int, list[Staff]] = {}
        pending_links: list[tuple[Staff, Store]] = []
        for s_index, store in enumerate(store_rows):
            manager = Staff(
                tenant_id=tenant_id,
                employee_no=f"M{s_index + 1:04d}",
                username=f"mgr-{store.code}",
                name=f"{SURNAMES[s_index % len(SURNAMES)]}店长",
                role="store_manager",
                password_hash=password_hash,
            )
            staff_rows.append(manager)
            pending_links.append((manager, store))
            guides_by_store[store.id] = []
            for g in range(guides_per_store):
                guide = Staff(
                    tenant_id=tenant_id,
                    employee_no=f"G{s_index + 1:03d}{g + 1:02d}",
                    username=f"guide-{store.code}-{g + 1}",
                    name=rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=2)),
                    role="guide",
                    password_hash=password_hash,
                )
                staff_rows.append(guide)
                guides_by_store[store.id].append(guide)
                pending_links.append((guide, store))
        session.add_all(staff_rows)
        session.flush()
        session.add_all(
            StaffStore(tenant_id=tenant_id, staff_id=st.id, store_id=so.id) for st, so in pending_links
        )
        store_ids = [s.id for s in store_rows]
        store_city = {s.id: s.city for s in store_rows}
        guide_ids = {sid: [g.id for g in gs] for sid, gs in guides_by_store.items()}
        staff_count = len(staff_rows)
    report("customers", 0, customers)
    _insert_customers(engine, tenant_id, customers, seed, store_ids, store_city, guide_ids, report, clock)
    orders = 0
    if order_days > 0 and customers > 0:
        from siyu.demo.orders import build_orders

        orders = build_orders(
            engine,
            tenant_id,
            seed=seed,
            days=order_days,
            orders_per_store_day=orders_per_store_day,
            progress=report,
            now=clock,
        )
        from siyu.demo.loyalty import offers_plans_and_members, top_up_some

        report("stored value", 0, 1)
        top_up_some(engine, tenant_id, random.Random(seed + 13))
        offers_plans_and_members(engine, tenant_id, random.Random(seed + 17))
        report("stored value", 1, 1)
    tags = 0
    if customers > 0:
        from siyu.demo.tags import build_tags

        tags = build_tags(engine, tenant_id, seed=seed, progress=report, now=clock)
        if order_days > 0:  # friends follow the year's new-fan events
            from siyu.demo.wecom import build_wecom

            report("wecom", 0, 1)
            build_wecom(engine, tenant_id, seed=seed, now=clock)
            report("wecom", 1, 1)
    if order_days > 0 and customers > 0:
        # Hand the demo's events to their subscribers now (loyalty earns the last month's points),
        # so the server does not start with a backlog that competes with its first requests.
        from siyu.events.relay import pending, relay

        report("events", 0, 1)
        for _ in range(10_000):
            if relay(engine) == 0 or not pending(engine):
                break
        report("events", 1, 1)
    seconds = (datetime.now(UTC) - started).total_seconds()
    return DemoResult(
        tenant_id=tenant_id,
        stores=stores,
        staff=staff_count,
        customers=customers,
        orders=orders,
        tag_assignments=tags,
        seconds=seconds,
    )


def _insert_customers(  # noqa: C901 - to split (docs/architecture.md)
    engine: Engine,
    tenant_id: int,
    total: int,
    seed: int,
    store_ids: list[int],
    store_city: dict[int, str | None],
    guide_ids: dict[int, list[int]],
    report: Callable[[str, int, int], None],
    now: datetime,
) -> None:
    customers_t, identities_t = table_of(Customer), table_of(CustomerIdentity)
    timeline_t, consents_t = table_of(TimelineEvent), table_of(ConsentRecord)
    with engine.begin() as conn:
        next_id = (conn.execute(select(func.coalesce(func.max(customers_t.c.id), 0))).scalar_one()) + 1
    done = 0
    while done < total:
        size = min(CHUNK, total - done)
        rng = random.Random(f"{seed}:{done}")
        c_rows: list[dict[str, Any]] = []
        i_rows: list[dict[str, Any]] = []
        t_rows: list[dict[str, Any]] = []
        k_rows: list[dict[str, Any]] = []
        for offset in range(size):
            index = done + offset
            cid = next_id + index
            store_id = store_ids[rng.randrange(len(store_ids))] if rng.random() < 0.92 else None
            guide_id = rng.choice(guide_ids[store_id]) if store_id and rng.random() < 0.6 else None
            gender = "female" if rng.random() < 0.66 else ("male" if rng.random() < 0.9 else "unknown")
            created = now - timedelta(days=rng.randrange(730), seconds=rng.randrange(86400))
            birthday = (
                date(1966 + rng.randrange(42), 1 + rng.randrange(12), 1 + rng.randrange(28))
                if rng.random() < 0.55
                else None
            )
            phone = _phone(index, seed) if rng.random() < 0.72 else None
            idents: list[tuple[str, str, str]] = []
            has_union = rng.random() < 0.75
            if has_union:
                idents.append(("wechat_unionid", "", "o" + _token(rng, 27)))
            if (has_union and rng.random() < 0.9) or (not has_union and rng.random() < 0.3):
                idents.append(("wechat_openid", MINI_PROGRAM_APP_ID, "oM" + _token(rng, 26)))
            if has_union and rng.random() < 0.45:
                idents.append(("wechat_openid", OFFICIAL_ACCOUNT_APP_ID, "oA" + _token(rng, 26)))
            if rng.random() < 0.45:
                idents.append(("wecom_external_userid", "", "wm" + _token(rng, 30)))
            if phone:
                idents.append(("phone", "", phone))
            if rng.random() < 0.35:
                idents.append(("member_card", "", f"MS{index + 1:010d}"))
            if store_id and rng.random() < 0.3:
                idents.append(("pos_customer_id", "", f"POS-{store_id}-{index + 1}"))
            if rng.random() < 0.2:
                platform = rng.choice(PLATFORMS)
                idents.append(("platform_buyer_id", platform, f"{platform[:2]}{index + 1:09d}"))
            if not idents:
                idents.append(("wechat_openid", MINI_PROGRAM_APP_ID, "oM" + _token(rng, 26)))
            # Card holders have a tier (a hash of the number, so the random draws stay as they were).
            tier = None
            if any(t == "member_card" for t, _, _ in idents):
                share = (index * 2654435761) % 100
                tier = "普卡" if share < 60 else "银卡" if share < 85 else "金卡" if share < 97 else "钻石卡"
            c_rows.append(
                {
                    "id": cid,
                    "tenant_id": tenant_id,
                    "number": index + 1,
                    "name": rng.choice(SURNAMES) + "".join(rng.choices(GIVEN, k=rng.choice((1, 2)))),
                    "gender": gender,
                    "birthday": birthday,
                    "city": store_city.get(store_id) if store_id else None,
                    "phone_e164": phone,
                    "member_tier": tier,
                    "custom_fields": {},
                    "store_id": store_id,
                    "guide_id": guide_id,
                    "status": "active",
                    "created_at": created,
                    "updated_at": created,
                }
            )
            source = (
                "wecom"
                if any(t == "wecom_external_userid" for t, _, _ in idents)
                else ("pos" if any(t == "pos_customer_id" for t, _, _ in idents) else "mini_program")
            )
            for type_, ns, value in idents:
                i_rows.append(
                    {
                        "tenant_id": tenant_id,
                        "customer_id": cid,
                        "type": type_,
                        "namespace": ns,
                        "value": value,
                        "source": source,
                        "created_at": created,
                    }
                )
            t_rows.append(
                {
                    "tenant_id": tenant_id,
                    "customer_id": cid,
                    "kind": "created",
                    "occurred_at": created,
                    "actor_type": "system",
                    "actor_id": None,
                    "data": {"source": source},
                }
            )
            if any(t == "wecom_external_userid" for t, _, _ in idents):
                k_rows.append(
                    {
                        "tenant_id": tenant_id,
                        "customer_id": cid,
                        "purpose": "marketing_wecom",
                        "granted": True,
                        "source": "wecom_add_friend",
                        "recorded_at": created,
                        "actor_type": "system",
                        "actor_id": None,
                    }
                )
            if phone and rng.random() < 0.5:
                k_rows.append(
                    {
                        "tenant_id": tenant_id,
                        "customer_id": cid,
                        "purpose": "marketing_sms",
                        "granted": rng.random() < 0.9,
                        "source": "member_signup",
                        "recorded_at": created,
                        "actor_type": "system",
                        "actor_id": None,
                    }
                )
        with engine.begin() as conn:
            bulk_insert(conn, customers_t, c_rows)
            bulk_insert(conn, identities_t, i_rows)
            bulk_insert(conn, timeline_t, t_rows)
            bulk_insert(conn, consents_t, k_rows)
        done += size
        report("customers", done, total)
    with engine.begin() as conn:
        conn.execute(
            update(table_of(Tenant)).where(table_of(Tenant).c.id == tenant_id).values(customer_seq=total)
        )
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "SELECT setval(pg_get_serial_sequence('customers', 'id'), "
                    "(SELECT COALESCE(MAX(id), 1) FROM customers))"
                )
            )
