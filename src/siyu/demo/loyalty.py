"""The demo brand's membership: its rules and tiers, member cards opened over the year at the
customers' stores (by their guides, where they have one), members migrated with their old tier, and
stored value topped up by some of them. Points come from the demo's orders of the last month: the
rules take effect 30 days before today, so the worker earns (and refunds take back) points for the
orders card holders paid since, as it does for real orders."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from siyu.customers.models import Customer, CustomerIdentity, TimelineEvent
from siyu.db.base import table_of
from siyu.db.bulk import bulk_insert
from siyu.db.session import unit_of_work
from siyu.loyalty import membership, paid, service, storedvalue
from siyu.loyalty.models import GrowthEntry, LedgerAccount, MemberCard, TierChange

# The demo's tier names (as the customer records carry them) and the ladder behind them.
TIERS = [
    {
        "code": "classic",
        "name_zh": "普卡",
        "name_en": "Classic",
        "threshold": 0,
        "points_multiplier_pct": 100,
        "benefits": {"discount_pct": 0, "free_shipping": False, "birthday_gift": None},
    },
    {
        "code": "silver",
        "name_zh": "银卡",
        "name_en": "Silver",
        "threshold": 2_000,
        "points_multiplier_pct": 120,
        "benefits": {"discount_pct": 3, "free_shipping": False, "birthday_gift": "生日券 ¥30"},
    },
    {
        "code": "gold",
        "name_zh": "金卡",
        "name_en": "Gold",
        "threshold": 8_000,
        "points_multiplier_pct": 150,
        "benefits": {"discount_pct": 5, "free_shipping": True, "birthday_gift": "生日券 ¥80"},
    },
    {
        "code": "diamond",
        "name_zh": "钻石卡",
        "name_en": "Diamond",
        "threshold": 30_000,
        "points_multiplier_pct": 200,
        "benefits": {"discount_pct": 8, "free_shipping": True, "birthday_gift": "生日礼盒"},
        "requires_approval": True,
    },
]


def open_member_cards(
    session: Session,
    tenant_id: int,
    first: dt.date,
    today: dt.date,
    rng: random.Random,
    tz: ZoneInfo,
    extra: random.Random,
) -> int:
    """Set the rules and tiers, and open a card for every customer holding a member card number
    (opened over the year, in store hours, at their home store); how many cards. `rng` draws the
    opening times (the orders' generator: three draws per card, as before cards existed, so the
    rest of the demo stays as it was); `extra` draws everything else."""
    effective = dt.datetime.combine(today - dt.timedelta(days=30), dt.time(0, 0), tzinfo=tz).astimezone(
        dt.UTC
    )
    membership.save_program(
        session,
        tenant_id=tenant_id,
        values={
            "points_per_yuan": 1,
            "growth_per_yuan": 1,
            "refund_window_days": 7,
            "excluded_categories": [],
            "excluded_sku_codes": [],
            "downgrade_rule": "by_period",
            "downgrade_period_months": 12,
            "card_prefix": "MS",
            "effective_from": effective,
        },
        actor=None,
    )
    ladder = {t.name_zh: t for t in membership.tiers(session, tenant_id=tenant_id)} or {
        t.name_zh: t for t in membership.save_tiers(session, tenant_id=tenant_id, wanted=TIERS, actor=None)
    }
    holders = session.execute(
        select(
            CustomerIdentity.customer_id,
            CustomerIdentity.value,
            Customer.store_id,
            Customer.guide_id,
            Customer.member_tier,
        )
        .join(Customer, Customer.id == CustomerIdentity.customer_id)
        .where(CustomerIdentity.tenant_id == tenant_id, CustomerIdentity.type == "member_card")
        .order_by(CustomerIdentity.id)
    ).all()
    span = (today - first).days
    now = dt.datetime.now(dt.UTC)
    cards: list[dict[str, Any]] = []
    timeline: list[dict[str, Any]] = []
    if span <= 0:
        return 0
    for customer_id, number, store_id, guide_id, tier_name in holders:
        opened = dt.datetime.combine(
            first + dt.timedelta(days=rng.randrange(span)),
            dt.time(rng.randint(10, 21), rng.randrange(60)),
            tzinfo=tz,
        ).astimezone(dt.UTC)
        tier = ladder.get(tier_name or "普卡") or ladder["普卡"]
        # Migrated members keep their tier; their growth value is where that tier starts, plus a little.
        growth = tier.threshold + extra.randrange(0, 1500)
        cards.append(
            {
                "tenant_id": tenant_id,
                "customer_id": customer_id,
                "card_no": number,
                "status": "active",
                "source": "guide" if guide_id else "store",
                "store_id": store_id,
                "guide_id": guide_id,
                "channel": None,
                "channel_code_id": None,
                "tier_id": tier.id,
                "initial_tier_id": tier.id,
                "growth": growth,
                "tier_since": opened,
                "below_since": None,
                "opened_at": opened,
                "closed_at": None,
                "updated_at": now,
            }
        )
        timeline.append(
            {
                "tenant_id": tenant_id,
                "customer_id": customer_id,
                "kind": "member_card_opened",
                "occurred_at": opened,
                "actor_type": "system",
                "actor_id": None,
                "data": {
                    "card_no": number,
                    "source": cards[-1]["source"],
                    "store_id": store_id,
                    "guide_id": guide_id,
                },
            }
        )
    conn = session.connection()
    bulk_insert(conn, table_of(MemberCard), cards)
    bulk_insert(conn, table_of(TimelineEvent), timeline)
    written = session.execute(
        select(MemberCard.id, MemberCard.tier_id, MemberCard.growth, MemberCard.opened_at).where(
            MemberCard.tenant_id == tenant_id
        )
    ).all()
    bulk_insert(
        conn,
        table_of(GrowthEntry),
        [
            {
                "tenant_id": tenant_id,
                "card_id": card_id,
                "amount": growth,
                "kind": "migrated",
                "order_ref": None,
                "idempotency_key": f"card-opened:{card_id}",
                "created_at": opened,
            }
            for card_id, _, growth, opened in written
            if growth
        ],
    )
    bulk_insert(
        conn,
        table_of(TierChange),
        [
            {
                "tenant_id": tenant_id,
                "card_id": card_id,
                "from_tier_id": None,
                "to_tier_id": tier_id,
                "reason": "initial",
                "status": "applied",
                "growth": growth,
                "created_at": opened,
            }
            for card_id, tier_id, growth, opened in written
        ],
    )
    return len(cards)


def top_up_some(engine: Engine, tenant_id: int, rng: random.Random, share: float = 0.06) -> int:
    """Some card holders hold stored value: top-ups of ¥500–¥3,000 (with the brand's bonus of 10 %
    from ¥1,000) at their home store; how many top-ups."""
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        # Real-name cards (a name and a phone on file): only they may hold more than ¥1,000.
        holders = session.execute(
            select(MemberCard.customer_id, MemberCard.store_id)
            .join(Customer, Customer.id == MemberCard.customer_id)
            .where(
                MemberCard.tenant_id == tenant_id,
                Customer.phone_e164.is_not(None),
                Customer.name.is_not(None),
            )
            .order_by(MemberCard.id)
        ).all()
    chosen = [h for h in holders if rng.random() < share]
    done = 0
    for start in range(0, len(chosen), 200):
        with unit_of_work(engine, tenant_id=tenant_id) as session:
            for customer_id, store_id in chosen[start : start + 200]:
                principal = rng.choice((50_000, 100_000, 100_000, 200_000, 300_000))
                service.top_up(
                    session,
                    tenant_id=tenant_id,
                    customer_id=customer_id,
                    principal_fen=principal,
                    bonus_fen=principal // 10 if principal >= 100_000 else 0,
                    key=f"demo-top-up:{customer_id}",
                    store_id=store_id,
                )
                done += 1
    return done


OFFERS = [
    {"name": "充 ¥500 送 ¥30", "min_principal_fen": 50_000, "bonus_fen": 3_000, "gift": None},
    {"name": "充 ¥1,000 送 ¥100", "min_principal_fen": 100_000, "bonus_fen": 10_000, "gift": None},
    {
        "name": "充 ¥2,000 送 ¥260 + 帆布袋",
        "min_principal_fen": 200_000,
        "bonus_fen": 26_000,
        "gift": "帆布袋",
    },
]
PLANS = [
    {
        "code": "plus",
        "name_zh": "PLUS 会员",
        "name_en": "PLUS membership",
        "price_fen": 29_900,
        "term_months": 12,
        "tier_code": "gold",
        "benefits": {"free_shipping": True, "monthly_coupon": "每月 ¥20 无门槛券"},
        "refund_fee_pct": 10,
    }
]


def offers_plans_and_members(engine: Engine, tenant_id: int, rng: random.Random, share: float = 0.03) -> int:
    """Top-up offers, the PLUS plan, and about 3 % of card holders on it (a tenth set to renew
    automatically); a few stored-value refund requests wait for approval. How many paid members."""
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        storedvalue.save_rules(session, tenant_id=tenant_id, wanted=[dict(o) for o in OFFERS], actor=None)
        paid.save_plans(session, tenant_id=tenant_id, wanted=[dict(p) for p in PLANS], actor=None)
        holders = session.execute(
            select(MemberCard.customer_id, MemberCard.store_id)
            .where(MemberCard.tenant_id == tenant_id)
            .order_by(MemberCard.id)
        ).all()
    chosen = [h for h in holders if rng.random() < share]
    for start in range(0, len(chosen), 200):
        with unit_of_work(engine, tenant_id=tenant_id) as session:
            for customer_id, store_id in chosen[start : start + 200]:
                paid.purchase(
                    session,
                    tenant_id=tenant_id,
                    customer_id=customer_id,
                    plan_code="plus",
                    key=f"demo-plus:{customer_id}",
                    auto_renew=rng.random() < 0.1,
                    store_id=store_id,
                )
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        topped = session.execute(
            select(LedgerAccount.customer_id)
            .where(
                LedgerAccount.tenant_id == tenant_id,
                LedgerAccount.asset == "sv_principal",
                LedgerAccount.balance > 0,
            )
            .order_by(LedgerAccount.id)
            .limit(3)
        ).scalars()
        for holder in [c for c in topped if c is not None]:
            storedvalue.request_refund(
                session,
                tenant_id=tenant_id,
                customer_id=holder,
                principal_fen=None,
                reason="顾客搬家，申请退还未用完的储值",
                key=f"demo-sv-refund:{holder}",
            )
    return len(chosen)
