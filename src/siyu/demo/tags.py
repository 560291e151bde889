"""The demo brand's tags: guide tags, imported CRM tags, campaign tags that lapse, and rule tags
(high value, dormant, RFM) — 20 to 80 per customer.

Manual and imported assignments are written set-based with their history rows, as an import would
write them (each customer's set is valid by construction: one tag per exclusive group); rule tags
are then filled by the same refresh the server runs on its schedule.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, func, select

from siyu.customers.models import Customer
from siyu.db.base import table_of
from siyu.db.bulk import bulk_insert
from siyu.db.session import unit_of_work
from siyu.platform import audit
from siyu.tags import schemas as s
from siyu.tags import service
from siyu.tags.models import TagAssignment, TagEvent

# (name_zh, name_en, kind, exclusive, open to guides, [(tag zh, tag en)]); earlier tags are more popular
GROUPS: list[tuple[str, str, str, bool, bool, list[tuple[str, str]]]] = [
    (
        "年龄段",
        "Age band",
        "manual",
        True,
        True,
        [("18-24", "18-24"), ("25-34", "25-34"), ("35-44", "35-44"), ("45+", "45+")],
    ),
    ("尺码", "Size", "manual", True, True, [("XS", "XS"), ("S", "S"), ("M", "M"), ("L", "L"), ("XL", "XL")]),
    (
        "风格偏好",
        "Style",
        "manual",
        False,
        True,
        [
            ("通勤", "Commute"),
            ("休闲", "Casual"),
            ("运动", "Sporty"),
            ("优雅", "Elegant"),
            ("街头", "Street"),
            ("简约", "Minimal"),
            ("复古", "Vintage"),
            ("甜美", "Sweet"),
            ("国潮", "Guochao"),
            ("户外机能", "Outdoor tech"),
        ],
    ),
    (
        "颜色偏好",
        "Colours",
        "manual",
        False,
        True,
        [
            ("黑色", "Black"),
            ("白色", "White"),
            ("灰色", "Grey"),
            ("藏青", "Navy"),
            ("米色", "Beige"),
            ("红色", "Red"),
            ("粉色", "Pink"),
            ("绿色", "Green"),
            ("卡其", "Khaki"),
            ("大地色", "Earth tones"),
        ],
    ),
    (
        "身形",
        "Figure",
        "manual",
        False,
        True,
        [
            ("梨形", "Pear"),
            ("苹果形", "Apple"),
            ("沙漏形", "Hourglass"),
            ("H形", "Straight"),
            ("娇小", "Petite"),
            ("高挑", "Tall"),
        ],
    ),
    (
        "购买动机",
        "Motivation",
        "manual",
        False,
        True,
        [
            ("自用", "For self"),
            ("送礼", "Gifts"),
            ("换季", "Season change"),
            ("促销敏感", "Deal seeker"),
            ("新品尝鲜", "Early adopter"),
            ("职场", "Workwear"),
            ("约会", "Dates"),
            ("旅行", "Travel"),
        ],
    ),
    (
        "兴趣",
        "Interests",
        "manual",
        False,
        True,
        [
            ("健身", "Fitness"),
            ("亲子", "Family"),
            ("咖啡", "Coffee"),
            ("宠物", "Pets"),
            ("阅读", "Reading"),
            ("音乐", "Music"),
            ("美妆", "Beauty"),
            ("数码", "Gadgets"),
            ("露营", "Camping"),
            ("摄影", "Photography"),
            ("瑜伽", "Yoga"),
            ("骑行", "Cycling"),
            ("滑雪", "Skiing"),
            ("烘焙", "Baking"),
            ("看展", "Exhibitions"),
        ],
    ),
    (
        "服务偏好",
        "Service",
        "manual",
        False,
        True,
        [
            ("喜欢到店试穿", "Tries in store"),
            ("偏好线上", "Prefers online"),
            ("需要搭配建议", "Wants styling advice"),
            ("只接受企微联系", "WeCom only"),
            ("勿扰时段晚间", "No evening contact"),
            ("改衣需求", "Alterations"),
        ],
    ),
    (
        "品类偏好",
        "Categories",
        "imported",
        False,
        False,
        [
            ("外套", "Coats"),
            ("针织", "Knitwear"),
            ("衬衫", "Shirts"),
            ("裤装", "Trousers"),
            ("裙装", "Dresses"),
            ("鞋履", "Shoes"),
            ("配饰", "Accessories"),
            ("内衣家居", "Loungewear"),
            ("童装", "Kids"),
            ("羽绒", "Down"),
        ],
    ),
    (
        "会员活动",
        "Member activity",
        "imported",
        False,
        False,
        [
            ("2025双11参与", "Singles' Day 2025"),
            ("2026春季新品会", "Spring launch 2026"),
            ("会员日常客", "Member-day regular"),
            ("直播间活跃", "Livestream regular"),
            ("社群活跃", "Group regular"),
            ("积分兑换过", "Redeemed points"),
            ("参与过问卷", "Answered a survey"),
            ("生日礼已领", "Birthday gift claimed"),
            ("推荐过好友", "Referred a friend"),
            ("评价过商品", "Wrote a review"),
            ("线下活动报名", "Event sign-up"),
            ("试用装领取", "Claimed a sample"),
        ],
    ),
    (
        "渠道来源",
        "Acquisition",
        "imported",
        False,
        False,
        [
            ("门店扫码", "Store QR"),
            ("小程序注册", "Mini-program"),
            ("天猫会员通", "Tmall member link"),
            ("抖音直播", "Douyin live"),
            ("异业合作", "Partner"),
            ("老带新", "Referral"),
        ],
    ),
]
CAMPAIGN = (
    "活动意向",
    "Campaign intent",
    [("618意向", "618 intent"), ("双11意向", "Singles' Day intent"), ("年货节意向", "New-year intent")],
)


def _orders(measure: str, op: str, value: int, days: int = 365) -> dict[str, Any]:
    return {"type": "orders", "window": {"last_days": days}, "measure": measure, "op": op, "value": value}


def _since(op: str, days: int) -> dict[str, Any]:
    return {"type": "last_purchase", "op": op, "days": days}


def _both(*parts: dict[str, Any]) -> dict[str, Any]:
    return {"type": "all", "of": list(parts)}


# RFM cut-offs (documented in docs/audiences.md): R by days since the last purchase, F by orders
# and M by net spend in the last 365 days.
RULE_TAGS: list[tuple[str, str, dict[str, Any]]] = [
    ("高价值", "High value", _orders("gmv_fen", ">=", 200_000)),
    ("沉睡", "Dormant", _both(_since(">=", 180))),
    ("R5", "R5", _since("<=", 30)),
    ("R4", "R4", _both(_since(">", 30), _since("<=", 90))),
    ("R3", "R3", _both(_since(">", 90), _since("<=", 180))),
    ("R2", "R2", _both(_since(">", 180), _since("<=", 365))),
    ("R1", "R1", _since(">", 365)),
    ("F1", "F1", _orders("count", "=", 1)),
    ("F2", "F2", _orders("count", "=", 2)),
    ("F3", "F3", _both(_orders("count", ">=", 3), _orders("count", "<=", 4))),
    ("F4", "F4", _both(_orders("count", ">=", 5), _orders("count", "<=", 9))),
    ("F5", "F5", _orders("count", ">=", 10)),
    ("M1", "M1", _both(_orders("count", ">=", 1), _orders("gmv_fen", "<", 50_000))),
    ("M2", "M2", _both(_orders("gmv_fen", ">=", 50_000), _orders("gmv_fen", "<", 200_000))),
    ("M3", "M3", _both(_orders("gmv_fen", ">=", 200_000), _orders("gmv_fen", "<", 500_000))),
    ("M4", "M4", _both(_orders("gmv_fen", ">=", 500_000), _orders("gmv_fen", "<", 1_000_000))),
    ("M5", "M5", _orders("gmv_fen", ">=", 1_000_000)),
]


def build_tags(
    engine: Engine,
    tenant_id: int,
    *,
    seed: int,
    progress: Callable[[str, int, int], None] | None = None,
    now: datetime | None = None,
) -> int:
    """Create the demo's tag catalogue and assignments; returns how many assignments exist after."""
    report = progress or (lambda _stage, _done, _total: None)
    rng = random.Random(seed + 7)
    now = now or datetime.now(UTC)
    exclusive: list[list[int]] = []
    pool: list[tuple[int, float, bool]] = []  # tag id, weight, guide tag (else imported)
    campaign: list[int] = []
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        for name_zh, name_en, kind, is_exclusive, open_to_guides, tags in GROUPS:
            group = service.create_group(
                session,
                tenant_id=tenant_id,
                data=s.TagGroupCreate.model_validate(
                    {
                        "name_zh": name_zh,
                        "name_en": name_en,
                        "kind": kind,
                        "exclusive": is_exclusive,
                        "open_to_guides": open_to_guides,
                    }
                ),
                principal=None,
            )
            ids = [
                service.create_tag(
                    session,
                    tenant_id=tenant_id,
                    group_id=group.id,
                    data=s.TagCreate(name_zh=z, name_en=e),
                    principal=None,
                ).id
                for z, e in tags
            ]
            if is_exclusive:
                exclusive.append(ids)
            else:
                pool += [(t, 1.0 / (1 + k) ** 0.5, open_to_guides) for k, t in enumerate(ids)]
        group = service.create_group(
            session,
            tenant_id=tenant_id,
            data=s.TagGroupCreate(name_zh=CAMPAIGN[0], name_en=CAMPAIGN[1], open_to_guides=True),
            principal=None,
        )
        campaign = [
            service.create_tag(
                session,
                tenant_id=tenant_id,
                group_id=group.id,
                data=s.TagCreate(name_zh=z, name_en=e, expires_after_days=30),
                principal=None,
            ).id
            for z, e in CAMPAIGN[2]
        ]
        rules = service.create_group(
            session,
            tenant_id=tenant_id,
            data=s.TagGroupCreate(name_zh="自动标签", name_en="Automatic", kind="rule"),
            principal=None,
        )
        for z, e, rule in RULE_TAGS:
            service.create_tag(
                session,
                tenant_id=tenant_id,
                group_id=rules.id,
                data=s.TagCreate(name_zh=z, name_en=e, rule=rule),
                principal=None,
            )
        entry = audit.record(
            session,
            tenant_id=tenant_id,
            actor=None,
            action="tags.import",
            object_type="tag",
            object_id=None,
            data={"via": "demo"},
        )
        session.flush()
        batch_id = entry.id
        customers = list(
            session.execute(
                select(Customer.id, Customer.number, Customer.guide_id)
                .where(Customer.tenant_id == tenant_id)
                .order_by(Customer.number)
            )
        )
    assignments: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    guide_tags = {t for t, _, g in pool if g} | set(campaign)
    total = len(customers)
    for done, (customer_id, number, guide_id) in enumerate(customers, start=1):
        wanted = 20 + int(60 * rng.random() ** 2)  # 20 to 80, most near the lower end
        chosen = [rng.choice(group) for group in exclusive]
        keyed = sorted(pool, key=lambda item: -(rng.random() ** (1.0 / item[1])))
        chosen_set = set(chosen)
        for tag_id, _, _ in keyed[: wanted - len(chosen)]:
            chosen_set.add(tag_id)
        picks: list[tuple[int, datetime, datetime | None]] = []
        for tag_id in chosen_set:
            picks.append(
                (tag_id, now - timedelta(days=rng.randint(1, 400), minutes=rng.randint(0, 1439)), None)
            )
        if rng.random() < 0.15:  # campaign intent: 30 days, some already lapsed
            at = now - timedelta(days=rng.randint(0, 45), minutes=rng.randint(0, 1439))
            picks.append((rng.choice(campaign), at, at + timedelta(days=30)))
        for tag_id, at, expires_at in picks:
            by_guide = guide_id is not None and tag_id in guide_tags
            source_type, source_id = ("staff", guide_id) if by_guide else ("import", batch_id)
            row = {
                "tenant_id": tenant_id,
                "tag_id": tag_id,
                "customer_id": customer_id,
                "customer_number": number,
                "source_type": source_type,
                "source_id": source_id,
            }
            assignments.append({**row, "assigned_at": at, "expires_at": expires_at})
            events.append({**row, "action": "assigned", "occurred_at": at, "expires_at": expires_at})
        if len(assignments) >= 100_000 or done == total:
            with unit_of_work(engine, tenant_id=tenant_id) as session:
                conn = session.connection()
                bulk_insert(conn, table_of(TagAssignment), assignments)
                bulk_insert(conn, table_of(TagEvent), events)
            assignments, events = [], []
            report("tags", done, total)
    from siyu.segments.jobs import refresh_tenant

    report("rule tags", 0, 1)
    refresh_tenant(engine, tenant_id)  # rule tags filled, lapsed campaign tags swept
    report("rule tags", 1, 1)
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        count = session.scalar(
            select(func.count()).select_from(TagAssignment).where(TagAssignment.tenant_id == tenant_id)
        )
    return int(count or 0)
