"""The demo brand built against a fixed clock is the same brand, to the fen and the second, every time."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from sqlalchemy import func, select

from siyu.customers.models import Customer
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, unit_of_work
from siyu.demo.builder import build_demo
from siyu.orders.models import Order, Refund
from siyu.wecom.models import WeComFriend

NOW = dt.datetime(2026, 6, 30, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai


def facts(url: str) -> dict[str, object]:
    engine = make_engine(url)
    upgrade(engine)
    tenant_id = build_demo(engine, customers=300, stores=2, order_days=20, seed=11, now=NOW).tenant_id
    with unit_of_work(engine) as session:
        orders = session.execute(
            select(
                func.count(), func.sum(Order.paid_fen), func.min(Order.placed_at), func.max(Order.placed_at)
            ).where(Order.tenant_id == tenant_id)
        ).one()
        refunds = session.execute(
            select(func.count(), func.sum(Refund.amount_fen), func.max(Refund.refunded_at)).where(
                Refund.tenant_id == tenant_id
            )
        ).one()
        newest = session.scalar(select(func.max(Customer.created_at)).where(Customer.tenant_id == tenant_id))
        friends = session.scalar(
            select(func.count()).select_from(WeComFriend).where(WeComFriend.tenant_id == tenant_id)
        )
    engine.dispose()
    return {"orders": tuple(orders), "refunds": tuple(refunds), "newest_customer": newest, "friends": friends}


def test_the_demo_brand_follows_the_clock_it_is_given(tmp_path: Path) -> None:
    first = facts(f"sqlite:///{tmp_path / 'a.db'}")
    again = facts(f"sqlite:///{tmp_path / 'b.db'}")
    assert first == again  # every figure, every timestamp
    # Exact: the seed and the clock fix every figure (a change to the generator changes these on purpose).
    utc = dt.UTC
    assert first["orders"] == (
        674,
        44_891_110,
        dt.datetime(2026, 6, 10, 2, 13, 20, tzinfo=utc),
        dt.datetime(2026, 6, 29, 14, 50, 7, tzinfo=utc),
    )
    assert first["refunds"] == (30, 926_640, dt.datetime(2026, 6, 29, 21, 48, 4, tzinfo=utc))
    assert first["newest_customer"] == dt.datetime(2026, 6, 27, 19, 25, 28, tzinfo=utc)
    assert first["friends"] == 157
    _, _, earliest, latest = first["orders"]
    # Twenty days of orders up to the day before the clock's day (Shanghai), none after it.
    shanghai = dt.timezone(dt.timedelta(hours=8))
    assert earliest.astimezone(shanghai).date() == dt.date(2026, 6, 10)
    assert latest.astimezone(shanghai).date() == dt.date(2026, 6, 29)
    refunds, _, last_refund = first["refunds"]
    assert refunds > 0 and last_refund <= NOW
    assert first["newest_customer"] <= NOW
