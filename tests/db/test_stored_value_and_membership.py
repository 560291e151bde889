"""Stored-value offers and refunds through approval, and paid membership (revenue over the term,
pro-rata cancellation, renewals and their rate), on SQLite and PostgreSQL with the ledger check at 0."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest

from siyu.access import Principal
from siyu.core.clock import FixedClock, get_clock, set_clock
from siyu.core.errors import DomainError
from siyu.db.session import unit_of_work
from siyu.loyalty import ledger, membership, paid, service, storedvalue
from siyu.loyalty.check import check
from tests.factories import World

T0 = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)
ALICE, BOB = 501, 502


@pytest.fixture
def clock() -> Iterator[FixedClock]:
    before = get_clock()
    fixed = FixedClock(T0)
    set_clock(fixed)
    yield fixed
    set_clock(before)


def _staff(w: World, name: str) -> Principal:
    return Principal(
        tenant_id=w.tenant_id,
        tenant_slug=w.slug,
        tenant_timezone="Asia/Shanghai",
        actor_type="staff",
        actor_id=w.staff[name],
        role="owner" if name == "owner" else "store_manager",
    )


def _balances(w: World, customer: int) -> dict[str, tuple[int, int]]:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        return ledger.balances(db, tenant_id=w.tenant_id, customer_id=customer)


def _violations(w: World) -> int:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        return int(check(db, tenant_id=w.tenant_id)["violations"])


def test_the_best_offer_a_top_up_reaches_applies(db_world: World, clock: FixedClock) -> None:
    w = db_world
    offers: list[dict[str, Any]] = [
        {"name": "充 ¥500 送 ¥30", "min_principal_fen": 50_000, "bonus_fen": 3_000},
        {
            "name": "充 ¥1,000 送 ¥100",
            "min_principal_fen": 100_000,
            "bonus_fen": 10_000,
            "gift": "帆布袋",
            "starts_at": T0 - dt.timedelta(days=5),
        },
        {
            "name": "已结束的双十一活动",
            "min_principal_fen": 100_000,
            "bonus_fen": 50_000,
            "starts_at": T0 - dt.timedelta(days=30),
            "ends_at": T0 - dt.timedelta(days=10),
        },
    ]
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        storedvalue.save_rules(db, tenant_id=w.tenant_id, wanted=offers, actor=None)
        assert storedvalue.offer_for(db, tenant_id=w.tenant_id, principal_fen=120_000).bonus_fen == 10_000  # type: ignore[union-attr]
        assert storedvalue.offer_for(db, tenant_id=w.tenant_id, principal_fen=50_000).bonus_fen == 3_000  # type: ignore[union-attr]
        assert storedvalue.offer_for(db, tenant_id=w.tenant_id, principal_fen=49_999) is None
    clash = [offers[0], {**offers[0], "name": "重复", "bonus_fen": 1}]
    with pytest.raises(DomainError) as refused, unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        storedvalue.save_rules(db, tenant_id=w.tenant_id, wanted=clash, actor=None)
    assert refused.value.code == "invalid_loyalty_rule" and "¥500.00" in refused.value.message()
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert len(storedvalue.rules(db, tenant_id=w.tenant_id)) == 3  # unchanged


def test_a_refund_of_unused_principal_waits_for_someone_elses_approval(
    db_world: World, clock: FixedClock
) -> None:
    w = db_world
    manager, owner = _staff(w, "manager"), _staff(w, "owner")
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        membership.save_program(db, tenant_id=w.tenant_id, values={"sv_refund_fee_pct": 5}, actor=None)
        service.top_up(
            db, tenant_id=w.tenant_id, customer_id=ALICE, principal_fen=100_000, bonus_fen=10_000, key="sv-t1"
        )
        asked, made = storedvalue.request_refund(
            db,
            tenant_id=w.tenant_id,
            customer_id=ALICE,
            principal_fen=60_000,
            reason="搬家",
            key="sv-r1",
            actor=manager,
        )
        assert made and (asked.fee_fen, asked.status) == (3_000, "pending")
        refund_id = asked.id
    assert _balances(w, ALICE)["sv_principal"] == (100_000, 60_000)  # frozen while it waits
    with pytest.raises(DomainError) as spent, unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        service.spend_stored_value(
            db, tenant_id=w.tenant_id, customer_id=ALICE, amount_fen=50_001, key="sv-s1"
        )
    assert spent.value.code == "insufficient_balance"
    with pytest.raises(DomainError) as own, unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        storedvalue.decide_refund(
            db, tenant_id=w.tenant_id, refund_id=refund_id, approve=True, comment=None, actor=manager
        )
    assert own.value.code == "conflict"
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        done = storedvalue.decide_refund(
            db,
            tenant_id=w.tenant_id,
            refund_id=refund_id,
            approve=True,
            comment="同意",
            fee_fen=1_000,
            actor=owner,
        )
        assert (done.status, done.fee_fen, done.bonus_forfeited_fen) == ("approved", 1_000, 6_000)
    # 60 % of the principal left, with 60 % of the bonus; the fee kept, the rest paid back.
    assert _balances(w, ALICE)["sv_principal"] == (40_000, 0) and _balances(w, ALICE)["sv_bonus"] == (
        4_000,
        0,
    )
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        with pytest.raises(DomainError):
            storedvalue.decide_refund(
                db, tenant_id=w.tenant_id, refund_id=refund_id, approve=False, comment=None, actor=owner
            )
        rejected, _ = storedvalue.request_refund(
            db,
            tenant_id=w.tenant_id,
            customer_id=ALICE,
            principal_fen=None,
            reason="再退",
            key="sv-r2",
            actor=manager,
        )
        assert rejected.principal_fen == 40_000
        storedvalue.decide_refund(
            db, tenant_id=w.tenant_id, refund_id=rejected.id, approve=False, comment="不符合", actor=owner
        )
    assert _balances(w, ALICE)["sv_principal"] == (40_000, 0)
    assert _violations(w) == 0


def _plans(w: World) -> None:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        paid.save_plans(
            db,
            tenant_id=w.tenant_id,
            wanted=[
                {
                    "code": "plus",
                    "name_zh": "PLUS 会员",
                    "name_en": "PLUS",
                    "price_fen": 36_500,
                    "term_months": 12,
                    "benefits": {"free_shipping": True},
                    "refund_fee_pct": 10,
                }
            ],
            actor=None,
        )


def _buy(w: World, customer: int, key: str, auto_renew: bool = False) -> int:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        term, _ = paid.purchase(
            db, tenant_id=w.tenant_id, customer_id=customer, plan_code="plus", key=key, auto_renew=auto_renew
        )
        return term.id


def _run(w: World) -> dict[str, int]:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        return paid.run_terms(db, tenant_id=w.tenant_id)


def test_revenue_is_recognised_over_the_term_and_a_cancellation_refunds_the_rest(
    db_world: World, clock: FixedClock
) -> None:
    w = db_world
    _plans(w)
    _buy(w, ALICE, "m-a1")
    assert _balances(w, ALICE)["membership_deferred"] == (36_500, 0)
    clock.advance(dt.timedelta(days=73))  # a fifth of the 365-day term
    assert _run(w)["recognised_fen"] == 7_300
    assert _balances(w, ALICE)["membership_deferred"] == (29_200, 0)
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        latest = paid.current_term(db, tenant_id=w.tenant_id, customer_id=ALICE)
        assert latest is not None
        term = paid.cancel(
            db, tenant_id=w.tenant_id, membership_id=latest.id, reason="不再需要", actor=_staff(w, "owner")
        )
        assert (term.status, term.refunded_fen, term.recognised_fen) == ("cancelled", 26_280, 10_220)
    assert _balances(w, ALICE)["membership_deferred"] == (0, 0)
    with pytest.raises(DomainError), unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        paid.cancel(db, tenant_id=w.tenant_id, membership_id=latest.id, reason="再取消", actor=None)
    assert _violations(w) == 0


def test_renewals_follow_on_and_the_cohort_rate_counts_them(db_world: World, clock: FixedClock) -> None:
    w = db_world
    _plans(w)
    first = _buy(w, ALICE, "m-r1", auto_renew=True)
    _buy(w, BOB, "m-r2")
    clock.advance(dt.timedelta(days=360))
    assert _run(w)["reminded"] == 1 and _run(w)["reminded"] == 0  # a week before the end, once
    renewal = _buy(w, ALICE, "m-r3")  # starts when the first term ends
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        terms = {
            t.id: t
            for t in db.scalars(paid.select(paid.Membership).where(paid.Membership.tenant_id == w.tenant_id))
        }
        assert terms[renewal].starts_at == terms[first].ends_at and terms[renewal].renewal_of_id == first
        with pytest.raises(DomainError):  # one plan at a time
            paid.save_plans(
                db,
                tenant_id=w.tenant_id,
                wanted=[
                    {
                        "code": "plus",
                        "name_zh": "PLUS 会员",
                        "name_en": "PLUS",
                        "price_fen": 36_500,
                        "term_months": 12,
                    },
                    {
                        "code": "gold",
                        "name_zh": "黑金",
                        "name_en": "Black",
                        "price_fen": 99_900,
                        "term_months": 12,
                    },
                ],
                actor=None,
            )
            paid.purchase(db, tenant_id=w.tenant_id, customer_id=ALICE, plan_code="gold", key="m-r4")
    clock.advance(dt.timedelta(days=6))
    done = _run(w)
    assert done["expired"] == 2
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        cohorts = paid.renewal_rates(db, tenant_id=w.tenant_id)
    assert [(c.month, c.ended, c.renewed, c.rate) for c in cohorts] == [("2027-11", 2, 1, 0.5)]
    assert _balances(w, BOB)["membership_deferred"] == (0, 0)
    assert _violations(w) == 0


def test_no_plan_no_term(db_world: World) -> None:
    w = db_world
    with pytest.raises(DomainError) as missing, unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        paid.purchase(db, tenant_id=w.tenant_id, customer_id=ALICE, plan_code="nothing", key="m-x1")
    assert missing.value.code == "not_found"
    assert _balances(w, ALICE) == {}
