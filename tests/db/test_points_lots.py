"""Points lots on SQLite and PostgreSQL: credits open lots with the programme's expiry, debits take
first-in first-out, lots past their date expire to breakage (points frozen by a checkout wait), a
merge carries lots with their dates, and the lots always add up to the balance."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from siyu.core.clock import FixedClock, get_clock, set_clock
from siyu.db.session import unit_of_work
from siyu.loyalty import ledger, lots, membership, service
from siyu.loyalty.check import check
from siyu.loyalty.models import PointsLot
from tests.factories import World

T0 = dt.datetime(2026, 11, 2, 3, 0, tzinfo=dt.UTC)
ALICE = 301


@pytest.fixture
def clock() -> Iterator[FixedClock]:
    before = get_clock()
    fixed = FixedClock(T0)
    set_clock(fixed)
    yield fixed
    set_clock(before)


def _program(w: World, **values: Any) -> None:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        membership.save_program(db, tenant_id=w.tenant_id, values=values, actor=None)


def _adjust(w: World, points: int, key: str) -> None:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        service.adjust_points(
            db, tenant_id=w.tenant_id, customer_id=ALICE, points=points, reason="测试", key=key, actor=None
        )


def _lots(w: World) -> list[tuple[int, int, dt.datetime | None]]:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        return [
            (lot.points, lot.remaining, lot.expires_at)
            for lot in db.scalars(
                select(PointsLot).where(PointsLot.tenant_id == w.tenant_id).order_by(PointsLot.id)
            )
        ]


def _expire(w: World) -> int:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        return service.expire_points(db, tenant_id=w.tenant_id)


def _state(w: World) -> tuple[int, int, int]:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        balance, held = ledger.balances(db, tenant_id=w.tenant_id, customer_id=ALICE).get("points", (0, 0))
        return balance, held, int(check(db, tenant_id=w.tenant_id)["violations"])


def test_debits_take_first_in_first_out_and_what_is_left_expires(db_world: World, clock: FixedClock) -> None:
    w = db_world
    _program(w, points_expiry="after_months", points_expiry_months=12)
    _adjust(w, 100, "lot-a")
    clock.advance(dt.timedelta(days=31))
    _adjust(w, 50, "lot-b")
    _adjust(w, -120, "spend-120")  # all of A, 20 of B
    a_expiry = dt.datetime(2027, 11, 2, 3, 0, tzinfo=dt.UTC)
    b_expiry = dt.datetime(2027, 12, 3, 3, 0, tzinfo=dt.UTC)
    assert _lots(w) == [(100, 0, a_expiry), (50, 30, b_expiry)]
    assert _state(w) == (30, 0, 0)
    clock.advance(a_expiry + dt.timedelta(days=1) - clock.now())  # A is spent: nothing to expire
    assert _expire(w) == 0
    clock.advance(b_expiry + dt.timedelta(minutes=1) - clock.now())
    assert _expire(w) == 1 and _expire(w) == 0  # once
    assert _state(w) == (0, 0, 0)
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        breakage = ledger.brand_account(db, tenant_id=w.tenant_id, name="points:expired")
        booked = sum(
            p.amount
            for p in db.scalars(
                select(ledger.LedgerPosting).where(ledger.LedgerPosting.account_id == breakage.id)
            )
        )
    assert booked == 30


def test_points_frozen_by_a_checkout_wait_for_it(db_world: World, clock: FixedClock) -> None:
    w = db_world
    _program(w, points_expiry="after_months", points_expiry_months=1)
    _adjust(w, 100, "lot-c")
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        hold, _ = service.hold_for_checkout(
            db,
            tenant_id=w.tenant_id,
            customer_id=ALICE,
            asset="points",
            amount=60,
            key="hold-60",
            minutes=1440,
        )
        hold_id = hold.id
    clock.advance(dt.timedelta(days=31, hours=1))
    assert _expire(w) == 1
    assert _state(w) == (60, 60, 0)  # 40 expired; the 60 in the checkout did not
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        ledger.release(db, tenant_id=w.tenant_id, hold_id=hold_id, key="release-60")
    assert _expire(w) == 1
    assert _state(w) == (0, 0, 0)


def test_year_end_expiry_and_points_that_never_expire(db_world: World) -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    program = membership.LoyaltyProgram(points_expiry="year_end", points_expiry_months=12)
    late = dt.datetime(2026, 12, 31, 17, 0, tzinfo=dt.UTC)  # already 1 January 2027 in Shanghai
    assert lots.expiry_for(program, T0, shanghai) == dt.datetime(2028, 1, 1, tzinfo=shanghai)
    assert lots.expiry_for(program, late, shanghai) == dt.datetime(2029, 1, 1, tzinfo=shanghai)
    assert lots.expiry_for(membership.LoyaltyProgram(points_expiry="never"), T0, shanghai) is None
    assert lots.add_months(dt.datetime(2027, 1, 31, tzinfo=dt.UTC), 1) == dt.datetime(
        2027, 2, 28, tzinfo=dt.UTC
    )
    w = db_world
    _adjust(w, 70, "no-programme")  # a brand without rules: points never expire
    assert _lots(w) == [(70, 70, None)] and _expire(w) == 0
