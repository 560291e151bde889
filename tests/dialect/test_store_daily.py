"""The store daily report on a hand-built day, right to the fen, on SQLite and PostgreSQL.

Store S1 is open 10:00-02:00 every day (the hours cross midnight); the day is Thu 2026-06-18 in
Asia/Shanghai. Every expected number below is worked out by hand in the comments.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update

from siyu.core.clock import FixedClock, get_clock, set_clock
from siyu.customers import facade as customers
from siyu.customers.schemas import CustomerUpsert, IdentityIn
from siyu.db.session import unit_of_work
from siyu.loyalty import membership
from siyu.orders import refunds as refund_service
from siyu.orders import schemas as s
from siyu.orders import service as orders
from siyu.org import facade as org
from siyu.org.models import Store
from siyu.products import service as products
from siyu.products.schemas import ProductUpsert
from siyu.reports import store_daily as report
from tests.factories import World

TZ = ZoneInfo("Asia/Shanghai")
DAY = dt.date(2026, 6, 18)
UNIONID = "oUNIONID-fixture-0001"


def at(day: dt.date, hhmm: str, plus_days: int = 0) -> dt.datetime:
    h, m = map(int, hhmm.split(":"))
    return dt.datetime.combine(day + dt.timedelta(days=plus_days), dt.time(h, m), tzinfo=TZ)


def order(
    ext: str,
    channel: str,
    when: dt.datetime,
    lines: list[tuple[str, int, int, int]],
    *,
    store: str | None = None,
    staff: str | None = None,
    customer: dict[str, Any] | None = None,
    order_discount: int = 0,
    shipping: int = 0,
    placed: dt.datetime | None = None,
    in_store: bool = False,
    status: str = "paid",
) -> s.OrderIn:
    goods = sum(q * p - d for _, q, p, d in lines) - order_discount + shipping
    return s.OrderIn.model_validate(
        {
            "channel": channel,
            "external_id": ext,
            "customer": customer,
            "store_code": store,
            "staff_employee_no": staff,
            "in_store": in_store,
            "status": status,
            "fulfilment": "in_store" if channel == "pos" else "express",
            "placed_at": placed or when,
            "paid_at": when if status != "created" else None,
            "lines": [
                {"sku_code": c, "quantity": q, "unit_price_fen": p, "discount_fen": d} for c, q, p, d in lines
            ],
            "order_discount_fen": order_discount,
            "shipping_fen": shipping,
            "payments": [{"method": "wechat_pay", "amount_fen": goods}] if status != "created" else [],
        }
    )


PHONE1 = {"phone": "13800000001"}
PHONE2 = {"phone": "13800000002"}
PHONE3 = {"phone": "13800000003"}
PHONE4 = {"phone": "13800000004"}
U1 = {"identities": [{"type": "wechat_unionid", "value": UNIONID}]}


@pytest.fixture
def fixed_clock() -> Iterator[FixedClock]:
    previous = get_clock()
    clock = FixedClock(at(DAY, "12:00"))
    set_clock(clock)
    yield clock
    set_clock(previous)


def build_day(w: World, clock: FixedClock) -> None:
    s1, s2 = w.store_ids
    with unit_of_work(w.engine) as db:
        db.execute(
            update(Store)
            .where(Store.id == s1)
            .values(business_hours=[{"weekday": d, "opens": "10:00", "closes": "02:00"} for d in range(7)])
        )
        products.upsert_products(
            db,
            tenant_id=w.tenant_id,
            products=[
                ProductUpsert(code="A", name="外套", list_price_fen=10000, cost_fen=4000),
                ProductUpsert(code="B", name="衬衫", list_price_fen=5990, cost_fen=2000),
                ProductUpsert(code="C", name="袜子", list_price_fen=2500, cost_fen=500),
            ],
            actor=None,
        )
    # History before the day: yesterday, last week, last year (guests, so buyers stay as planned).
    history = [
        order("h-yday", "pos", at(DAY, "10:30", -1), [("A", 2, 10000, 0)], store="S1", customer=PHONE2),
        order("h-week", "pos", at(DAY, "12:00", -7), [("A", 3, 10000, 0)], store="S1"),
        order("h-year", "pos", at(dt.date(2025, 6, 18), "12:00"), [("A", 5, 10000, 0)], store="S1"),
    ]
    day = [
        # 1 pos, cashier GUIDE, in-store 10000; phone1 is new to the brand.
        order(
            "o1", "pos", at(DAY, "11:00"), [("A", 1, 10000, 0)], store="S1", staff="GUIDE", customer=PHONE1
        ),
        # 2 pos, guest, 2×5990 − 980 = 11000.
        order("o2", "pos", at(DAY, "15:30"), [("B", 2, 5990, 980)], store="S1"),
        # 3 pos at 23:30 (open till 02:00): 4×2500 − 1000 order discount = 9000; phone2 bought yesterday.
        order(
            "o3",
            "pos",
            at(DAY, "23:30"),
            [("C", 4, 2500, 0)],
            store="S1",
            customer=PHONE2,
            order_discount=1000,
        ),
        # 4 guide link at 01:30 — Wednesday's hours still run: off-store, during hours; binds U1 to GUIDE.
        order(
            "o4",
            "guide_share",
            at(DAY, "01:30"),
            [("A", 1, 10000, 0), ("B", 1, 5990, 990)],
            staff="GUIDE",
            customer=U1,
        ),
        # 5 guide link at 03:00: after hours. 5000.
        order("o5", "guide_share", at(DAY, "03:00"), [("C", 2, 2500, 0)], staff="GUIDE", customer=U1),
        # 6 mini-program at 09:00 (before opening): exclusive guide → S1, after hours; 10000 + 1200 shipping.
        order("o6", "mini_program", at(DAY, "09:00"), [("A", 1, 10000, 0)], customer=U1, shipping=1200),
        # 7 mini-program, phone3 has no guide: unattributed (not in S1's report; in the brand total).
        order("o7", "mini_program", at(DAY, "12:00"), [("B", 1, 5990, 0)], customer=PHONE3),
        # 8 livestream at 20:00, exclusive guide, during hours: 2500.
        order("o8", "livestream", at(DAY, "20:00"), [("C", 1, 2500, 0)], customer=U1),
        # 9 community group at 02:30 (closed since 02:00): 20000 − 500 = 19500.
        order(
            "o9", "community_group", at(DAY, "02:30"), [("A", 2, 10000, 0)], customer=U1, order_discount=500
        ),
        # 10 scan-to-buy in S1 (in-store), phone4 new: 5990.
        order(
            "o10",
            "mini_program",
            at(DAY, "16:00"),
            [("B", 1, 5990, 0)],
            store="S1",
            in_store=True,
            customer=PHONE4,
        ),
        # 11 another store's till: not S1.
        order("o11", "pos", at(DAY, "12:00"), [("A", 1, 10000, 0)], store="S2"),
        # 12 created, not paid: not a sale.
        order("o12", "mini_program", at(DAY, "13:00"), [("A", 1, 10000, 0)], customer=U1, status="created"),
        # 13 Tmall at 21:00, exclusive guide, during hours: 3×5990 = 17970.
        order("o13", "platform:tmall", at(DAY, "21:00"), [("B", 3, 5990, 0)], customer=U1),
        # 14 paid at exactly 00:00 of the day: counted. Guest, in-store 10000.
        order("o14", "pos", at(DAY, "00:00"), [("A", 1, 10000, 0)], store="S1"),
        # 15 paid at 00:00 of the next day: not counted.
        order("o15", "pos", at(DAY, "00:00", 1), [("A", 1, 10000, 0)], store="S1"),
        # 16 placed yesterday 23:50 (open), paid today 00:10: counted today, off-store during hours. 5000.
        order(
            "o16",
            "mini_program",
            at(DAY, "00:10"),
            [("C", 2, 2500, 0)],
            customer=U1,
            placed=at(DAY, "23:50", -1),
        ),
    ]
    with unit_of_work(w.engine) as db:
        orders.ingest_orders(db, tenant_id=w.tenant_id, orders=history + day, source="test", actor=None)
    refunds = [
        # One of order 3's four pairs of socks: 9000 × 1 // 4 = 2250, today.
        s.RefundIn.model_validate(
            {
                "channel": "pos",
                "order_external_id": "o3",
                "external_id": "r1",
                "refunded_at": at(DAY, "23:59"),
                "lines": [{"line_no": 1, "quantity": 1}],
            }
        ),
        # Yesterday's order fully refunded today: 20000 off today's in-store GMV.
        s.RefundIn.model_validate(
            {
                "channel": "pos",
                "order_external_id": "h-yday",
                "external_id": "r2",
                "refunded_at": at(DAY, "10:00"),
                "lines": [{"line_no": 1, "quantity": 2}],
            }
        ),
        # Tomorrow: not today.
        s.RefundIn.model_validate(
            {
                "channel": "guide_share",
                "order_external_id": "o5",
                "external_id": "r3",
                "refunded_at": at(DAY, "10:00", 1),
                "lines": [{"line_no": 1, "quantity": 2}],
            }
        ),
    ]
    with unit_of_work(w.engine) as db:
        refund_service.refund_orders(db, tenant_id=w.tenant_id, refunds=refunds, actor=None)
        refund_service.record_footfall(
            db,
            tenant_id=w.tenant_id,
            counts=[
                s.FootfallIn(store_code="S1", hour_start=at(DAY, "10:00"), visitors=30),
                s.FootfallIn(store_code="S1", hour_start=at(DAY, "11:00"), visitors=25),
                s.FootfallIn(store_code="S1", hour_start=at(DAY, "23:00"), visitors=5),
                s.FootfallIn(store_code="S1", hour_start=at(DAY, "00:00", 1), visitors=99),
            ],
        )
        # New fans (as WeCom will write them) and a member card opened today for phone1 (home S1).
        phone1 = customers.resolve_customers(
            db, tenant_id=w.tenant_id, records=[CustomerUpsert(phone="13800000001")], source="t", actor=None
        )[0]
        phone4 = customers.resolve_customers(
            db, tenant_id=w.tenant_id, records=[CustomerUpsert(phone="13800000004")], source="t", actor=None
        )[0]
        for cid, store_id in ((phone1.id, s1), (phone4.id, s1), (phone4.id, s2)):
            customers.add_timeline_event(
                db, tenant_id=w.tenant_id, customer_id=cid, kind="new_fan", data={"store_id": store_id}
            )
        membership.open_card(
            db,
            tenant_id=w.tenant_id,
            customer_id=phone1.id,
            where=membership.CardSource(source="store", store_id=s1),
            card_no="CARD0001",
        )


def test_store_daily_report_of_the_fixture_day(db_world: World, fixed_clock: FixedClock) -> None:
    w = db_world
    build_day(w, fixed_clock)
    with unit_of_work(w.engine) as db:
        store = org.stores_by_code(db, tenant_id=w.tenant_id, codes={"S1"})["S1"]
        r = report.store_daily(db, tenant_id=w.tenant_id, store=store, day=DAY)
        rollup = report.rollup(db, tenant_id=w.tenant_id, day=DAY, store_ids=None)
    f = {k: v["value"] for k, v in r["figures"].items()}
    # Paid: 10000+11000+9000+15000+5000+11200+2500+19500+5990+17970+10000+5000 = 122160 in 12 orders;
    # refunds today 2250 + 20000 = 22250.
    assert f["paid_fen"] == 122160
    assert f["orders"] == 12
    assert f["refund_fen"] == 22250
    assert f["gmv_fen"] == 99910
    assert f["aov_fen"] == 8326  # 99910 / 12 = 8325.83
    # In-store: 10000+11000+9000+5990+10000 − 22250 = 23740; off-store 76170.
    assert f["in_store_gmv_fen"] == 23740
    assert f["off_store_gmv_fen"] == 76170
    # Shares are of gross paid sales: in-store paid 45990 / 122160 = 0.376473…, off-store 76170.
    assert f["in_store_share"] == 0.3765 and f["off_store_share"] == 0.6235
    # Off-store during hours (o4, o8, o13, o16) 40470; after (o5, o6, o9) 35700.
    assert f["off_store_open_gmv_fen"] == 40470
    assert f["off_store_closed_gmv_fen"] == 35700
    assert f["off_store_open_share"] == 0.5313 and f["off_store_closed_share"] == 0.4687
    # Yesterday was all in-store (h-yday): 100 % → 37.647… % is −62.352… percentage points.
    share_vs = r["figures"]["in_store_share"]["vs"]
    assert share_vs["yesterday"] == {"value": 1.0, "delta_pp": -62.35}
    assert share_vs["last_month"] == {"value": None, "delta_pp": None}  # nothing paid that day
    assert r["figures"]["off_store_share"]["vs"]["yesterday"] == {"value": 0.0, "delta_pp": 62.35}
    assert r["figures"]["off_store_open_share"]["vs"]["yesterday"] == {"value": None, "delta_pp": None}
    assert f["visitors"] == 60
    assert f["new_fans"] == 2
    assert f["new_member_cards"] == 1
    assert (f["buyers"], f["new_buyers"], f["repeat_buyers"], f["guest_orders"]) == (4, 3, 1, 2)
    channels = {c["channel"]: (c["orders"], c["paid_fen"], c["gmv_fen"]) for c in r["channels"]}
    assert channels == {
        "pos": (4, 40000, 17750),
        "mini_program": (3, 22190, 22190),
        "guide_share": (2, 20000, 20000),
        "community_group": (1, 19500, 19500),
        "platform:tmall": (1, 17970, 17970),
        "livestream": (1, 2500, 2500),
    }
    assert {c["channel"]: c["paid_share"] for c in r["channels"]}["pos"] == 0.3274  # 40000 / 122160
    assert [c["channel"] for c in r["channels"]][:2] == ["mini_program", "guide_share"]
    gmv = r["figures"]["gmv_fen"]["vs"]
    assert gmv["yesterday"] == {"value": 20000, "delta": 79910, "pct": 3.9955}
    assert gmv["last_week"] == {"value": 30000, "delta": 69910, "pct": 2.3303}
    assert gmv["last_month"] == {"value": 0, "delta": 99910, "pct": None}
    assert gmv["last_year"] == {"value": 50000, "delta": 49910, "pct": 0.9982}
    assert r["comparison_dates"]["last_month"] == "2026-05-18"
    hourly = {h["hour"]: (h["orders"], h["paid_fen"], h["visitors"]) for h in r["hourly"]}
    assert hourly[0] == (2, 15000, 0) and hourly[10] == (0, 0, 30) and hourly[23] == (1, 9000, 5)
    guide = r["guides"][0]
    assert (guide["employee_no"], guide["orders"], guide["gmv_fen"], guide["new_customers"]) == (
        "GUIDE",
        8,
        86170,
        1,
    )
    # Brand total: S1 99910 + S2 10000 + the unattributed o7 5990.
    assert rollup["total"]["figures"]["gmv_fen"]["value"] == 115900
    assert rollup["total"]["unattributed_gmv_fen"] == 5990
    by_code = {row["code"]: row["figures"]["gmv_fen"]["value"] for row in rollup["stores"]}
    assert by_code == {"S1": 99910, "S2": 10000}
    # The link purchase bound U1 to GUIDE, and U1 is now in GUIDE's data scope.
    with unit_of_work(w.engine) as db:
        u1 = customers.resolve_customers(
            db,
            tenant_id=w.tenant_id,
            records=[CustomerUpsert(identities=[IdentityIn(type="wechat_unionid", value=UNIONID)])],
            source="t",
            actor=None,
        )[0]
    assert u1.guide_id == w.staff["guide"]


def test_daily_series_for_the_hq_trend(db_world: World, fixed_clock: FixedClock) -> None:
    from siyu.reports.trends import daily_series, top_guides

    w = db_world
    build_day(w, fixed_clock)
    with unit_of_work(w.engine) as db:
        series = daily_series(db, tenant_id=w.tenant_id, last_day=DAY, days=8, tz=TZ)
        start, end = report.day_bounds(DAY, TZ)
        guides = top_guides(db, tenant_id=w.tenant_id, start=start, end=end)
    assert series["dates"][0] == "2026-06-11" and series["dates"][-1] == "2026-06-18"
    # The brand's day: S1 99910 + S2 10000 + unattributed 5990; 12 + 1 + 1 orders.
    assert series["gmv_fen"] == [30000, 0, 0, 0, 0, 0, 20000, 115900]
    assert series["orders"] == [1, 0, 0, 0, 0, 0, 1, 14]
    assert series["new_customers"][-1] == 5 and sum(series["new_customers"][:-1]) == 0
    assert series["new_member_cards"] == [0, 0, 0, 0, 0, 0, 0, 1]
    assert [(g["name"], g["orders"], g["paid_fen"]) for g in guides] == [("guide", 8, 86170)]


DAY2 = DAY + dt.timedelta(days=1)


def test_a_day_whose_refunds_exceed_its_sales(db_world: World, fixed_clock: FixedClock) -> None:
    """Shares stay in 0..100 % (of gross paid sales) and their changes are exact percentage points."""
    w = db_world
    build_day(w, fixed_clock)
    fixed_clock.advance(dt.timedelta(days=1, hours=11))  # Fri 2026-06-19 23:00
    day2 = [
        # In-store 5000 at the till (and o15, paid at 00:00, makes in-store 15000).
        order("d2-1", "pos", at(DAY2, "12:00"), [("C", 2, 2500, 0)], store="S1"),
        # Off-store during hours 5000 (exclusive guide → S1, open at 20:00).
        order("d2-2", "mini_program", at(DAY2, "20:00"), [("C", 2, 2500, 0)], customer=U1),
        # Off-store after hours 5990 (03:00, closed since 02:00).
        order("d2-3", "mini_program", at(DAY2, "03:00"), [("B", 1, 5990, 0)], customer=U1),
    ]
    refunds = [
        # The whole of o9 (off-store, after hours) 19500, o13 (during hours) 17970, o1 (in-store) 10000;
        # r3 (o5, 5000, after hours) is refunded this day too.
        s.RefundIn.model_validate(
            {
                "channel": channel,
                "order_external_id": ext,
                "external_id": f"d2-r-{ext}",
                "refunded_at": at(DAY2, "18:00"),
                "lines": [{"line_no": 1, "quantity": quantity}],
            }
        )
        for channel, ext, quantity in (
            ("community_group", "o9", 2),
            ("platform:tmall", "o13", 3),
            ("pos", "o1", 1),
        )
    ]
    with unit_of_work(w.engine) as db:
        orders.ingest_orders(db, tenant_id=w.tenant_id, orders=day2, source="test", actor=None)
        refund_service.refund_orders(db, tenant_id=w.tenant_id, refunds=refunds, actor=None)
    with unit_of_work(w.engine) as db:
        store = org.stores_by_code(db, tenant_id=w.tenant_id, codes={"S1"})["S1"]
        r = report.store_daily(db, tenant_id=w.tenant_id, store=store, day=DAY2)
        rollup = report.rollup(db, tenant_id=w.tenant_id, day=DAY2, store_ids=None)
    fig = r["figures"]
    f = {k: v["value"] for k, v in fig.items()}
    # Paid 10000 (o15) + 5000 + 5000 + 5990 = 25990; refunds 19500 + 17970 + 10000 + 5000 = 52470.
    assert (f["paid_fen"], f["refund_fen"], f["gmv_fen"], f["orders"]) == (25990, 52470, -26480, 4)
    assert (f["in_store_gmv_fen"], f["off_store_gmv_fen"]) == (5000, -31480)
    # GMV-based shares would be 5000 / −26480 = −18.9 % and 118.9 %. Of gross paid sales:
    # in-store 15000 / 25990 = 0.577145…, off-store 10990 / 25990; during hours 5000 / 10990.
    assert (f["in_store_share"], f["off_store_share"]) == (0.5771, 0.4229)
    assert (f["off_store_open_share"], f["off_store_closed_share"]) == (0.4550, 0.5450)
    # Changes in percentage points from the exact shares: 15000/25990 − 45990/122160 = 20.0672… pp
    # (from the rounded shares 57.71 − 37.65 it would be 20.06); 5000/10990 − 40470/76170 =
    # −7.6353… pp (45.50 − 53.13 = −7.63 from rounded ones).
    assert fig["in_store_share"]["vs"]["yesterday"] == {"value": 0.3765, "delta_pp": 20.07}
    assert fig["off_store_share"]["vs"]["yesterday"] == {"value": 0.6235, "delta_pp": -20.07}
    assert fig["off_store_open_share"]["vs"]["yesterday"] == {"value": 0.5313, "delta_pp": -7.64}
    assert fig["off_store_closed_share"]["vs"]["yesterday"] == {"value": 0.4687, "delta_pp": 7.64}
    assert fig["in_store_share"]["vs"]["last_week"] == {"value": None, "delta_pp": None}
    assert all("pct" not in change for name in report.SHARES for change in fig[name]["vs"].values())
    # Money keeps its relative change: −126390 / 99910 = −1.26503… → −1.265.
    assert fig["gmv_fen"]["vs"]["yesterday"] == {"value": 99910, "delta": -126390, "pct": -1.265}
    paid = {c["channel"]: (c["orders"], c["paid_fen"], c["gmv_fen"], c["paid_share"]) for c in r["channels"]}
    assert paid == {
        "pos": (2, 15000, 5000, 0.5771),
        "mini_program": (2, 10990, 10990, 0.4229),
        "community_group": (0, 0, -19500, 0.0),
        "platform:tmall": (0, 0, -17970, 0.0),
        "guide_share": (0, 0, -5000, 0.0),
    }
    # The roll-up gives the same shares and changes for the store.
    s1 = next(row for row in rollup["stores"] if row["code"] == "S1")["figures"]
    assert s1["in_store_share"] == fig["in_store_share"]
    assert s1["off_store_closed_share"] == fig["off_store_closed_share"]
