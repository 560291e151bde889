"""The liability report on SQLite and PostgreSQL, against a hand-built two days: balances at the end
of each day from the postings, per store, rolled up to the brand, and the day's breakage."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest

from siyu.access import Principal
from siyu.core.clock import FixedClock, get_clock, set_clock
from siyu.customers import facade as customers
from siyu.customers.schemas import CustomerUpsert
from siyu.db.session import unit_of_work
from siyu.loyalty import liability, membership, paid, service, storedvalue
from tests.factories import World

SHANGHAI = ZoneInfo("Asia/Shanghai")
T0 = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)  # 11:00 in Shanghai
D0 = dt.date(2026, 11, 2)


@pytest.fixture
def clock() -> Iterator[FixedClock]:
    before = get_clock()
    fixed = FixedClock(T0)
    set_clock(fixed)
    yield fixed
    set_clock(before)


def test_liability_per_store_and_day_with_breakage(db_world: World, clock: FixedClock) -> None:
    w = db_world
    s1, s2 = w.store_ids
    owner = Principal(w.tenant_id, w.slug, "Asia/Shanghai", "staff", w.staff["owner"], "owner")
    manager = Principal(w.tenant_id, w.slug, "Asia/Shanghai", "staff", w.staff["manager"], "store_manager")
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        a, b = (
            customers.resolve_customers(
                db,
                tenant_id=w.tenant_id,
                records=[CustomerUpsert(phone=p, store_id=st)],
                source="t",
                actor=None,
            )[0].id
            for p, st in (("13977770001", s1), ("13977770002", s2))
        )
        membership.save_program(db, tenant_id=w.tenant_id, values={"points_per_yuan_burn": 200}, actor=None)
        paid.save_plans(
            db,
            tenant_id=w.tenant_id,
            wanted=[
                {"code": "plus", "name_zh": "PLUS", "name_en": "PLUS", "price_fen": 36_500, "term_months": 12}
            ],
            actor=None,
        )
        service.top_up(
            db, tenant_id=w.tenant_id, customer_id=a, principal_fen=100_000, bonus_fen=10_000, key="l-t1"
        )
        service.adjust_points(
            db, tenant_id=w.tenant_id, customer_id=b, points=5_000, reason="迁移", key="l-p1", actor=None
        )
        paid.purchase(db, tenant_id=w.tenant_id, customer_id=a, plan_code="plus", key="l-m1")
        asked, _ = storedvalue.request_refund(
            db,
            tenant_id=w.tenant_id,
            customer_id=a,
            principal_fen=50_000,
            reason="退一半",
            key="l-r1",
            actor=manager,
        )
    clock.advance(dt.timedelta(days=1))  # the next day
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        storedvalue.decide_refund(
            db, tenant_id=w.tenant_id, refund_id=asked.id, approve=True, comment=None, actor=owner
        )
        service.adjust_points(
            db, tenant_id=w.tenant_id, customer_id=b, points=-1_000, reason="兑换", key="l-p2", actor=None
        )
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        days = liability.daily(
            db,
            tenant_id=w.tenant_id,
            first=D0 - dt.timedelta(days=1),
            last=D0 + dt.timedelta(days=1),
            zone=SHANGHAI,
        )
    assert days[D0 - dt.timedelta(days=1)] == {}
    first = {store: f.as_dict() for store, f in days[D0].items()}
    wanted = {
        "sv_principal_fen": 100_000,
        "sv_bonus_fen": 10_000,
        "membership_deferred_fen": 36_500,
        "points": 0,
        "liability_fen": 146_500,
        "forfeited_fen": 0,
    }
    assert {k: first[s1][k] for k in wanted} == wanted
    assert (first[s2]["points"], first[s2]["points_value_fen"], first[s2]["liability_fen"]) == (
        5_000,
        2_500,
        2_500,
    )
    second = {store: f.as_dict() for store, f in days[D0 + dt.timedelta(days=1)].items()}
    assert (second[s1]["sv_principal_fen"], second[s1]["sv_bonus_fen"], second[s1]["forfeited_fen"]) == (
        50_000,
        5_000,
        5_000,
    )
    assert second[s2]["points"] == 4_000
    brand = liability.roll_up(days[D0 + dt.timedelta(days=1)])["brand"].as_dict()
    assert brand["liability_fen"] == 2_000 + 50_000 + 5_000 + 36_500
    assert brand["forfeited_fen"] == 5_000 and brand["expired_points"] == 0
    sheet = liability.rows({D0: days[D0]}, [(s1, "S1 门店1"), (s2, "S2 门店2")])
    assert (
        sheet[0][:2] == ["2026-11-02", "S1 门店1"]
        and sheet[0][2 + list(liability.FIGURES).index("sv_principal_fen")] == 1000.0
    )
