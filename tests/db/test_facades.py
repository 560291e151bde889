"""The facades other capabilities build on (orders, WeCom, …), on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update

from siyu.customers import facade as customers
from siyu.customers import schemas as s
from siyu.customers import service
from siyu.db.session import unit_of_work
from siyu.org import facade as org
from siyu.org.models import Store
from tests.factories import World


def test_resolve_customers_creates_then_finds_and_timeline_events_append(db_world: World) -> None:
    record = s.CustomerUpsert(
        identities=[s.IdentityIn(type="member_card", value="FACADE01")], store_id=db_world.store_ids[0]
    )
    with unit_of_work(db_world.engine) as session:
        [first] = customers.resolve_customers(
            session, tenant_id=db_world.tenant_id, records=[record], source="pos", actor=None
        )
    with unit_of_work(db_world.engine) as session:
        [again] = customers.resolve_customers(
            session, tenant_id=db_world.tenant_id, records=[record], source="pos", actor=None
        )
        customers.add_timeline_event(
            session,
            tenant_id=db_world.tenant_id,
            customer_id=again.id,
            kind="order_paid",
            data={"amount_fen": 12900},
        )
    assert (first.created, again.created, first.id == again.id) == (True, False, True)
    assert (first.number, first.store_id) == (1, db_world.store_ids[0])
    with unit_of_work(db_world.engine) as session:
        events, _ = service.timeline(
            session, tenant_id=db_world.tenant_id, customer_id=first.id, principal=None, cursor=None, limit=10
        )
    assert [(e.kind, e.data) for e in events] == [
        ("order_paid", {"amount_fen": 12900}),
        ("created", {"source": "pos", "identities": ["member_card:FACADE01"]}),
    ]


def test_store_info_knows_overnight_hours_and_holidays(db_world: World) -> None:
    hours = [{"weekday": d, "opens": "10:00", "closes": "02:00"} for d in range(7)]
    holidays = [{"date": "2026-02-17", "closed": True, "opens": None, "closes": None, "name": "春节"}]
    with unit_of_work(db_world.engine) as session:
        session.execute(
            update(Store)
            .where(Store.id == db_world.store_ids[0])
            .values(business_hours=hours, holidays=holidays)
        )
    with unit_of_work(db_world.engine) as session:
        info = org.stores_by_code(session, tenant_id=db_world.tenant_id, codes={"S1", "NOPE"})
        zone = org.tenant_zone(session, tenant_id=db_world.tenant_id)
        staff = org.staff_by_employee_no(session, tenant_id=db_world.tenant_id, numbers={"GUIDE", "MANAGER"})
    assert set(info) == {"S1"} and zone == ZoneInfo("Asia/Shanghai")
    store = info["S1"]
    # 2026-02-16 17:30 UTC is 01:30 on the 17th in Shanghai: Monday's overnight hours still run.
    assert store.is_open(zone, datetime(2026, 2, 16, 17, 30, tzinfo=UTC))
    # Noon on the 17th (春节) is closed; 03:00 Shanghai on an ordinary day is closed.
    assert not store.is_open(zone, datetime(2026, 2, 17, 4, 0, tzinfo=UTC))
    assert not store.is_open(zone, datetime(2026, 3, 2, 19, 0, tzinfo=UTC))
    assert staff["GUIDE"].store_ids == (db_world.store_ids[0],) and staff["MANAGER"].role == "store_manager"
