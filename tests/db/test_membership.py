"""Membership on SQLite and PostgreSQL: member cards, tiers from earned growth value, points earned on
the cash of paid orders (frozen through the refund window), taken back exactly by refunds, and the
ledger still balanced after all of it."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select, update

from siyu.core.clock import FixedClock, get_clock, set_clock
from siyu.core.errors import DomainError
from siyu.customers import facade as customers
from siyu.customers.schemas import CustomerUpsert
from siyu.db.session import unit_of_work
from siyu.events.relay import relay
from siyu.loyalty import earning, ledger, membership, rules, service
from siyu.loyalty.check import check
from siyu.loyalty.models import GrowthEntry, MemberCard, OrderEarning, TierChange
from siyu.orders import refunds as refund_service
from siyu.orders import schemas as s
from siyu.orders import service as orders
from siyu.products import service as products
from siyu.products.schemas import ProductUpsert
from tests.factories import World

T0 = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)
TIERS = [
    {"code": "normal", "name_zh": "普卡", "name_en": "Classic", "threshold": 0},
    {
        "code": "silver",
        "name_zh": "银卡",
        "name_en": "Silver",
        "threshold": 1000,
        "points_multiplier_pct": 150,
    },
    {"code": "gold", "name_zh": "金卡", "name_en": "Gold", "threshold": 5000, "points_multiplier_pct": 200},
]


@pytest.fixture
def clock() -> Any:
    before = get_clock()
    fixed = FixedClock(T0)
    set_clock(fixed)
    yield fixed
    set_clock(before)


def _setup(w: World, **program: Any) -> None:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        membership.save_program(
            db,
            tenant_id=w.tenant_id,
            values={
                "points_per_yuan": 1,
                "growth_per_yuan": 1,
                "refund_window_days": 7,
                "excluded_sku_codes": ["GIFTCARD"],
                "excluded_categories": ["烟酒"],
                "effective_from": T0 - dt.timedelta(days=30),
                **program,
            },
            actor=None,
        )
        membership.save_tiers(db, tenant_id=w.tenant_id, wanted=TIERS, actor=None)
        products.upsert_products(
            db,
            tenant_id=w.tenant_id,
            products=[
                ProductUpsert(code="COAT", name="外套", list_price_fen=100_000),
                ProductUpsert(code="GIFTCARD", name="礼品卡", list_price_fen=50_000),
                ProductUpsert(code="WINE", name="红酒", category_path=["烟酒", "酒"], list_price_fen=20_000),
            ],
            actor=None,
        )


def _customer(w: World, phone: str) -> int:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        return customers.resolve_customers(
            db, tenant_id=w.tenant_id, records=[CustomerUpsert(phone=phone)], source="t", actor=None
        )[0].id


def _open(w: World, customer_id: int, **kw: Any) -> MemberCard:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        card, _ = membership.open_card(
            db,
            tenant_id=w.tenant_id,
            customer_id=customer_id,
            where=membership.CardSource(source="store", store_id=w.store_ids[0]),
            **kw,
        )
        db.flush()
        db.expunge(card)
        return card


def _order(
    w: World,
    ext: str,
    phone: str,
    lines: list[tuple[str, int, int]],
    payments: list[tuple[str, int]],
    paid_at: dt.datetime = T0,
) -> None:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        orders.ingest_orders(
            db,
            tenant_id=w.tenant_id,
            orders=[
                s.OrderIn(
                    channel="pos",
                    external_id=ext,
                    customer=s.OrderCustomer(phone=phone),
                    store_code="S1",
                    status="paid",
                    placed_at=paid_at,
                    paid_at=paid_at,
                    lines=[s.LineIn(sku_code=c, quantity=q, unit_price_fen=p) for c, q, p in lines],
                    payments=[s.PaymentIn(method=m, amount_fen=a) for m, a in payments],
                )
            ],
            source="t",
            actor=None,
        )
    _relay(w)


def _refund(w: World, ext: str, rid: str, line_no: int, quantity: int, amount: int | None = None) -> None:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        refund_service.refund_orders(
            db,
            tenant_id=w.tenant_id,
            refunds=[
                s.RefundIn(
                    channel="pos",
                    order_external_id=ext,
                    external_id=rid,
                    refunded_at=get_clock().now(),
                    lines=[s.RefundLineIn(line_no=line_no, quantity=quantity, amount_fen=amount)],
                )
            ],
            actor=None,
        )
    _relay(w)


def _relay(w: World) -> None:
    while relay(w.engine):
        pass


def _state(w: World, customer_id: int) -> dict[str, Any]:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        have = ledger.balances(db, tenant_id=w.tenant_id, customer_id=customer_id)
        card = membership.card_of(db, tenant_id=w.tenant_id, customer_id=customer_id)
        standing = membership.standing(db, tenant_id=w.tenant_id, customer_id=customer_id)
        report = check(db, tenant_id=w.tenant_id)
        return {
            "points": have.get("points", (0, 0))[0],
            "pending": have.get("points_pending", (0, 0))[0],
            "growth": card.growth if card else None,
            "tier": standing.tier.code if standing and standing.tier else None,
            "gap": standing.gap_to_next if standing else None,
            "violations": report["violations"],
        }


def test_a_card_is_opened_once_with_a_checked_number_that_finds_the_customer(db_world: World) -> None:
    w = db_world
    _setup(w, card_prefix="MS")
    alice = _customer(w, "13900000001")
    card = _open(w, alice)
    digits = card.card_no[2:]
    assert card.card_no.startswith("MS") and len(digits) == 11
    # Luhn: the check digit makes the weighted sum a multiple of ten.
    total = sum(
        (2 * int(d) - 9 if 2 * int(d) > 9 else 2 * int(d)) if i % 2 else int(d)
        for i, d in enumerate(reversed(digits))
    )
    assert total % 10 == 0
    again = _open(w, alice, card_no="OTHER-123")
    assert again.id == card.id and again.card_no == card.card_no  # once per customer
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        key = customers.normalise("member_card", card.card_no)
        assert customers.identity_owners(db, tenant_id=w.tenant_id, keys=[key]) == {key: alice}
    bob = _customer(w, "13900000002")
    with pytest.raises(DomainError) as taken:
        _open(w, bob, card_no=card.card_no)
    assert taken.value.code == "card_no_taken" and taken.value.status == 409
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert membership.card_of(db, tenant_id=w.tenant_id, customer_id=bob) is None
        opened = membership.cards_opened(
            db, tenant_id=w.tenant_id, start=T0 - dt.timedelta(days=3650), end=T0 + dt.timedelta(days=3650)
        )
    assert opened == {w.store_ids[0]: 1}
    assert _state(w, alice)["tier"] == "normal" and _state(w, alice)["gap"] == 1000


def test_tier_ladders_that_contradict_themselves_are_refused(db_world: World) -> None:
    w = db_world
    _setup(w)
    bad = [
        [{**TIERS[0], "threshold": 10}, TIERS[1]],  # lowest tier above zero
        [TIERS[0], {**TIERS[1], "threshold": 0}],  # two tiers at one threshold
        [TIERS[0], {**TIERS[1], "code": "normal"}],  # one code twice
    ]
    for ladder in bad:
        with pytest.raises(DomainError) as refused, unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
            membership.save_tiers(db, tenant_id=w.tenant_id, wanted=ladder, actor=None)
        assert refused.value.code == "invalid_loyalty_rule"
    alice = _customer(w, "13900000011")
    _open(w, alice, initial_tier="gold")
    with pytest.raises(DomainError) as held, unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        membership.save_tiers(db, tenant_id=w.tenant_id, wanted=TIERS[:2], actor=None)
    assert "1 位会员" in held.value.message()
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert [t.code for t in membership.tiers(db, tenant_id=w.tenant_id)] == ["normal", "silver", "gold"]


def test_points_are_earned_on_cash_only_frozen_then_released_and_growth_upgrades(
    db_world: World, clock: FixedClock
) -> None:
    w = db_world
    _setup(w)
    alice = _customer(w, "13900000021")
    # Before the card: earns nothing.
    _order(
        w,
        "PRE-1",
        "13900000021",
        [("COAT", 1, 100_000)],
        [("wechat_pay", 100_000)],
        T0 - dt.timedelta(hours=1),
    )
    _open(w, alice)
    assert _state(w, alice)["pending"] == 0 and _state(w, alice)["growth"] == 0
    # ¥1,000 coat + ¥500 gift card + ¥200 wine = ¥1,700, paid ¥1,200 cash and ¥500 stored value.
    # Eligible share: 100,000 / 170,000 of the cash 120,000 = 70,588 fen → ¥705 → 705 points, 705 growth.
    clock.advance(dt.timedelta(minutes=5))
    _order(
        w,
        "O-1",
        "13900000021",
        [("COAT", 1, 100_000), ("GIFTCARD", 1, 50_000), ("WINE", 1, 20_000)],
        [("wechat_pay", 120_000), ("stored_value", 50_000)],
        clock.now(),
    )
    assert _state(w, alice) == {
        "points": 0,
        "pending": 705,
        "growth": 705,
        "tier": "normal",
        "gap": 295,
        "violations": 0,
    }
    # Another ¥400 in cash: growth 1,105 → silver at once (the order earned at the tier it was paid at).
    _order(w, "O-2", "13900000021", [("COAT", 1, 40_000)], [("alipay", 40_000)], clock.now())
    st = _state(w, alice)
    assert (st["pending"], st["growth"], st["tier"], st["gap"]) == (1105, 1105, "silver", 3895)
    # Silver earns 1.5×: ¥200 → 300 points.
    _order(w, "O-3", "13900000021", [("COAT", 1, 20_000)], [("cash", 20_000)], clock.now())
    assert _state(w, alice)["pending"] == 1405
    # A replayed event changes nothing.
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        ids = list(db.scalars(select(OrderEarning.order_id).where(OrderEarning.tenant_id == w.tenant_id)))
        assert earning.earn_for_orders(db, tenant_id=w.tenant_id, order_ids=ids) == 0
    # The refund window (7 days) ends: the job makes them available.
    clock.advance(dt.timedelta(days=6))
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert earning.mature_due(db, tenant_id=w.tenant_id) == 0
    clock.advance(dt.timedelta(days=1, minutes=1))
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert earning.mature_due(db, tenant_id=w.tenant_id) == 3
    assert _state(w, alice)["points"] == 1405 and _state(w, alice)["pending"] == 0
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        changes = list(db.scalars(select(TierChange.reason).where(TierChange.tenant_id == w.tenant_id)))
        assert changes == ["opened", "upgrade"]
        assert db.scalar(select(MemberCard.growth).where(MemberCard.customer_id == alice)) == 1305
        tier_name = db.execute(
            select(customers.Customer.member_tier).where(customers.Customer.id == alice)
        ).scalar_one()
    assert tier_name == "银卡"


def test_refunds_take_back_exactly_and_spent_points_are_the_brands_loss(
    db_world: World, clock: FixedClock
) -> None:
    w = db_world
    _setup(w)
    alice = _customer(w, "13900000031")
    _open(w, alice)
    # Three coats at ¥333.33 = ¥999.99 cash → 999 points, 999 growth.
    _order(w, "R-1", "13900000031", [("COAT", 3, 33_333)], [("wechat_pay", 99_999)], clock.now())
    assert _state(w, alice)["pending"] == 999
    # One coat back while frozen: 33,333 / 99,999 of 999 = 333 points and growth.
    _refund(w, "R-1", "RF-1", 1, 1)
    st = _state(w, alice)
    assert (st["pending"], st["growth"]) == (666, 666)
    # The window ends; the member spends 600 of the 666.
    clock.advance(dt.timedelta(days=8))
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        earning.mature_due(db, tenant_id=w.tenant_id)
        service.adjust_points(
            db,
            tenant_id=w.tenant_id,
            customer_id=alice,
            points=-600,
            reason="兑换礼品",
            key="spend-600",
            actor=None,
        )
    assert _state(w, alice)["points"] == 66
    # The rest comes back: 666 points are due, 66 are there — the other 600 are the brand's loss.
    _refund(w, "R-1", "RF-2", 1, 2)
    st = _state(w, alice)
    assert (st["points"], st["pending"], st["growth"], st["violations"]) == (0, 0, 0, 0)
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        e = db.scalar(select(OrderEarning).where(OrderEarning.tenant_id == w.tenant_id))
        assert e is not None and (e.reversed_points, e.reversed_growth) == (999, 999)
        report = check(db, tenant_id=w.tenant_id)
        unrecovered = ledger.brand_account(db, tenant_id=w.tenant_id, name="points:unrecovered")
        lost = sum(
            p.amount
            for p in db.scalars(
                select(ledger.LedgerPosting).where(ledger.LedgerPosting.account_id == unrecovered.id)
            )
        )
        entries = list(
            db.scalars(
                select(GrowthEntry.amount)
                .where(GrowthEntry.tenant_id == w.tenant_id)
                .order_by(GrowthEntry.id)
            )
        )
    assert report["violations"] == 0 and lost == -600
    assert entries == [999, -333, -666]
    # A replay of the refund event takes nothing more.
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert earning.reverse_for_orders(db, tenant_id=w.tenant_id, order_ids=[e.order_id]) == 0


def test_a_tier_that_needs_approval_is_requested_and_downgrades_follow_the_rule(
    db_world: World, clock: FixedClock
) -> None:
    w = db_world
    _setup(w, downgrade_rule="after_days_below", downgrade_after_days=30)
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        membership.save_tiers(
            db,
            tenant_id=w.tenant_id,
            wanted=[TIERS[0], TIERS[1], {**TIERS[2], "requires_approval": True}],
            actor=None,
        )
    alice = _customer(w, "13900000041")
    _open(w, alice)
    _order(w, "A-1", "13900000041", [("COAT", 6, 100_000)], [("wechat_pay", 600_000)], clock.now())
    st = _state(w, alice)
    assert (st["growth"], st["tier"]) == (6000, "silver")  # gold waits for approval
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        pending = list(
            db.scalars(
                select(TierChange.status).where(
                    TierChange.tenant_id == w.tenant_id, TierChange.reason == "upgrade"
                )
            )
        )
    assert sorted(pending) == ["applied", "pending_approval"]
    # Five of six coats come back: growth 1,000 — exactly silver's threshold, still silver.
    _refund(w, "A-1", "AR-1", 1, 5)
    assert _state(w, alice)["growth"] == 1000 and _state(w, alice)["tier"] == "silver"
    # A bigger return (the last coat) drops growth to 0: below silver, counted from now.
    _refund(w, "A-1", "AR-2", 1, 1)
    assert _state(w, alice)["growth"] == 0
    clock.advance(dt.timedelta(days=29))
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert membership.review(db, tenant_id=w.tenant_id) == 0
    clock.advance(dt.timedelta(days=2))
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert membership.review(db, tenant_id=w.tenant_id) == 1
    assert _state(w, alice)["tier"] == "normal"


def test_by_period_keeps_a_tier_only_when_the_period_earned_it_again(
    db_world: World, clock: FixedClock
) -> None:
    w = db_world
    _setup(w, downgrade_rule="by_period", downgrade_period_months=12)
    alice, bob = _customer(w, "13900000051"), _customer(w, "13900000052")
    _open(w, alice)
    _open(w, bob)
    _order(w, "P-1", "13900000051", [("COAT", 1, 100_000)], [("wechat_pay", 100_000)], clock.now())
    _order(w, "P-2", "13900000052", [("COAT", 1, 100_000)], [("wechat_pay", 100_000)], clock.now())
    assert _state(w, alice)["tier"] == "silver" and _state(w, bob)["tier"] == "silver"
    clock.advance(dt.timedelta(days=300))
    _order(w, "P-3", "13900000052", [("COAT", 1, 100_000)], [("wechat_pay", 100_000)], clock.now())
    clock.advance(dt.timedelta(days=70))  # a year and a bit since the upgrade
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert membership.review(db, tenant_id=w.tenant_id) == 1
    assert _state(w, alice)["tier"] == "normal"  # earned nothing in the period
    assert _state(w, bob)["tier"] == "silver"  # earned 1,000 in it: kept


def test_a_migrated_member_keeps_their_tier_and_number(db_world: World) -> None:
    w = db_world
    _setup(w)
    alice = _customer(w, "13900000061")
    card = _open(w, alice, card_no="OLD-000123", initial_tier="gold", initial_growth=200)
    assert card.card_no == "OLD-000123"
    st = _state(w, alice)
    assert (st["tier"], st["growth"], st["gap"]) == ("gold", 200, None)
    bob = _customer(w, "13900000062")
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        reasons = list(db.scalars(select(TierChange.reason).where(TierChange.tenant_id == w.tenant_id)))
        with pytest.raises(DomainError) as unknown:
            membership.open_card(
                db,
                tenant_id=w.tenant_id,
                customer_id=bob,
                where=membership.CardSource(source="import"),
                initial_tier="platinum",
            )
    assert reasons == ["initial"] and unknown.value.code == "not_found"


def test_the_check_finds_frozen_points_and_growth_that_do_not_add_up(
    db_world: World, clock: FixedClock
) -> None:
    w = db_world
    _setup(w)
    alice = _customer(w, "13900000071")
    card = _open(w, alice)
    _order(w, "K-1", "13900000071", [("COAT", 1, 50_000)], [("wechat_pay", 50_000)], clock.now())
    assert _state(w, alice)["violations"] == 0
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        db.execute(update(MemberCard).where(MemberCard.id == card.id).values(growth=MemberCard.growth + 1))
        db.execute(
            update(OrderEarning)
            .where(OrderEarning.tenant_id == w.tenant_id)
            .values(reversed_points=OrderEarning.reversed_points + 1)
        )
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        report = check(db, tenant_id=w.tenant_id)
    assert report["by_invariant"]["growth_mismatch"] == 1 and report["by_invariant"]["pending_mismatch"] == 1
    assert report["violations"] == 2


def test_a_customer_denied_earning_gets_growth_but_no_points(db_world: World, clock: FixedClock) -> None:
    w = db_world
    _setup(w)
    alice = _customer(w, "13900000081")
    _open(w, alice)
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert rules.set_denial(
            db,
            tenant_id=w.tenant_id,
            customer_id=alice,
            capability="earn_points",
            deny=True,
            reason="刷单",
            actor=None,
        )
        with pytest.raises(DomainError) as refused:
            service.earn_points(db, tenant_id=w.tenant_id, customer_id=alice, points=10, key="deny-earn-1")
    assert refused.value.code == "capability_denied"
    _order(w, "D-1", "13900000081", [("COAT", 1, 30_000)], [("wechat_pay", 30_000)], clock.now())
    st = _state(w, alice)
    assert (st["pending"], st["points"], st["growth"], st["violations"]) == (0, 0, 300, 0)


def _order_with(
    w: World, ext: str, phone: str, status: str, payments: list[tuple[str, int, str | None]]
) -> None:
    at = get_clock().now()
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        orders.ingest_orders(
            db,
            tenant_id=w.tenant_id,
            orders=[
                s.OrderIn(
                    channel="mini_program",
                    external_id=ext,
                    customer=s.OrderCustomer(phone=phone),
                    status=status,
                    placed_at=at,
                    paid_at=at if status == "paid" else None,
                    cancelled_at=at if status == "cancelled" else None,
                    lines=[
                        s.LineIn(sku_code="COAT", quantity=1, unit_price_fen=sum(a for _, a, _ in payments))
                    ],
                    payments=[s.PaymentIn(method=m, amount_fen=a, transaction_id=t) for m, a, t in payments]
                    if status == "paid"
                    else [],
                )
            ],
            source="t",
            actor=None,
        )
    _relay(w)


def test_an_order_paid_with_points_captures_its_hold_and_a_cancelled_one_releases_it(
    db_world: World, clock: FixedClock
) -> None:
    w = db_world
    _setup(w)
    alice, bob = _customer(w, "13900000091"), _customer(w, "13900000092")
    _open(w, alice)
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        service.adjust_points(
            db,
            tenant_id=w.tenant_id,
            customer_id=alice,
            points=1_000,
            reason="迁移",
            key="hp-seed",
            actor=None,
        )
        held, _ = service.hold_for_checkout(
            db, tenant_id=w.tenant_id, customer_id=alice, asset="points", amount=500, key="hp-hold-1"
        )
        other, _ = service.hold_for_checkout(
            db, tenant_id=w.tenant_id, customer_id=alice, asset="points", amount=100, key="hp-hold-2"
        )
        hold_id, other_id = held.id, other.id
    # ¥100 in cash and ¥3 in points (300 points at 100 a yuan): 300 of the 500 held are taken.
    _order_with(
        w, "HP-1", "13900000091", "paid", [("wechat_pay", 10_000, None), ("points", 300, f"hold:{hold_id}")]
    )
    st = _state(w, alice)
    assert (st["points"], st["pending"], st["violations"]) == (700, 100, 0)  # 100 earned on the cash only
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert ledger.get_hold(db, tenant_id=w.tenant_id, hold_id=hold_id).status == "captured"
        assert ledger.balances(db, tenant_id=w.tenant_id, customer_id=alice)["points"] == (700, 100)
    # The same order seen again changes nothing; a cancelled order gives its hold back.
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        order_ids = list(
            db.scalars(select(OrderEarning.order_id).where(OrderEarning.tenant_id == w.tenant_id))
        )
        assert (
            earning.settle_holds_for_orders(db, tenant_id=w.tenant_id, order_ids=order_ids)["captured"] == 0
        )
    _order_with(w, "HP-2", "13900000091", "paid", [("points", 100, f"hold:{other_id}")])
    assert _state(w, alice)["points"] == 600
    _order_with(
        w, "HP-3", "13900000092", "paid", [("points", 100, f"hold:{hold_id}")]
    )  # bob names alice's hold
    assert _state(w, alice)["points"] == 600 and _state(w, bob)["points"] == 0
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        third, _ = service.hold_for_checkout(
            db,
            tenant_id=w.tenant_id,
            customer_id=alice,
            asset="points",
            amount=200,
            key="hp-hold-3",
            order_ref="mini_program:HP-4",
        )
        third_id = third.id
    assert _state(w, alice)["points"] == 600
    _order_with(w, "HP-4", "13900000091", "cancelled", [("points", 200, None)])
    _relay(w)
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert ledger.get_hold(db, tenant_id=w.tenant_id, hold_id=third_id).status == "released"
    assert _state(w, alice)["points"] == 600 and _state(w, alice)["violations"] == 0


def test_a_campaign_multiplies_what_orders_earn_in_its_window_and_stores(
    db_world: World, clock: FixedClock
) -> None:
    w = db_world
    s1 = w.store_ids[0]
    window = {
        "starts_at": (T0 - dt.timedelta(hours=1)).isoformat(),
        "ends_at": (T0 + dt.timedelta(hours=1)).isoformat(),
    }
    _setup(
        w,
        campaigns=[
            {"name": "翻倍", "multiplier_pct": 200, "store_ids": [s1], **window},
            {"name": "别的门店三倍", "multiplier_pct": 300, "store_ids": [w.store_ids[1]], **window},
        ],
    )
    alice = _customer(w, "13900000101")
    _open(w, alice)
    _order(w, "C-1", "13900000101", [("COAT", 1, 10_000)], [("wechat_pay", 10_000)], clock.now())
    assert _state(w, alice)["pending"] == 200  # ¥100 × 1 point × 200 %
    clock.advance(dt.timedelta(hours=2))
    _order(w, "C-2", "13900000101", [("COAT", 1, 10_000)], [("wechat_pay", 10_000)], clock.now())
    assert _state(w, alice)["pending"] == 300  # after the window: × 100 %
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        program = membership.program(db, tenant_id=w.tenant_id)
        assert program is not None
        assert earning.campaign_pct(program, T0, s1) == 200 and earning.campaign_pct(program, T0, None) == 100
