"""Pure parts of orders and reports: comparison days, day bounds, attribution, figures."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from siyu.orders.attribution import Binding, attribute
from siyu.org.facade import StaffInfo, StoreInfo
from siyu.reports.facts import StoreFacts
from siyu.reports.periods import comparison_days, day_bounds
from siyu.reports.store_daily import compare, figures

STORE = StoreInfo(id=1, code="S1", name="一店", region_id=None, status="active", hours=(), holidays={})
GUIDE = StaffInfo(id=7, employee_no="G7", name="导购", role="guide", status="active", store_ids=(2, 1))


def test_comparison_days_clamp_month_ends_and_leap_days() -> None:
    assert comparison_days(dt.date(2026, 3, 31))["last_month"] == dt.date(2026, 2, 28)
    assert comparison_days(dt.date(2028, 2, 29))["last_year"] == dt.date(2027, 2, 28)
    days = comparison_days(dt.date(2026, 1, 1))
    assert (days["yesterday"], days["last_week"], days["last_month"]) == (
        dt.date(2025, 12, 31),
        dt.date(2025, 12, 25),
        dt.date(2025, 12, 1),
    )


def test_day_bounds_are_local_midnights_in_utc() -> None:
    start, end = day_bounds(dt.date(2026, 6, 18), ZoneInfo("Asia/Shanghai"))
    assert start == dt.datetime(2026, 6, 17, 16, tzinfo=dt.UTC) and end - start == dt.timedelta(hours=24)
    start, end = day_bounds(dt.date(2026, 3, 8), ZoneInfo("America/New_York"))  # DST starts: 23 h
    assert end - start == dt.timedelta(hours=23)


def test_attribution_rules_in_order() -> None:
    bound = Binding(guide_id=9, store_id=1)
    assert (
        attribute(channel="pos", in_store=True, store=STORE, staff=None, binding=bound).reason == "pos_till"
    )
    shared = attribute(channel="guide_share", in_store=False, store=None, staff=GUIDE, binding=bound)
    assert (shared.reason, shared.guide_id, shared.store_id) == ("guide_share_link", 7, 2)
    named = attribute(channel="guide_share", in_store=False, store=STORE, staff=GUIDE, binding=None)
    assert named.store_id == 1  # the named store, since the guide works there
    scan = attribute(channel="mini_program", in_store=True, store=STORE, staff=None, binding=bound)
    assert (scan.reason, scan.guide_id, scan.placement) == ("in_store_scan", 9, "in_store")
    online = attribute(channel="livestream", in_store=False, store=None, staff=None, binding=bound)
    assert (online.reason, online.store_id, online.guide_id) == ("exclusive_guide", 1, 9)
    none = attribute(channel="platform:jd", in_store=False, store=None, staff=None, binding=None)
    assert (none.reason, none.store_id) == ("unattributed", None)


def test_figures_and_comparisons() -> None:
    f = StoreFacts()
    f.total.orders, f.total.paid_fen, f.total.refund_fen = 3, 10001, 1
    f.in_store.paid_fen = 10001
    assert figures(f)["aov_fen"] == 3333  # 10000 / 3 rounded half up
    assert figures(StoreFacts())["aov_fen"] is None
    assert compare(150, 100) == {"value": 100, "delta": 50, "pct": 0.5}
    assert compare(5, 0) == {"value": 0, "delta": 5, "pct": None}


def test_shares_are_of_gross_paid_sales_and_change_in_exact_percentage_points() -> None:
    from siyu.reports.store_daily import COMPARISONS, with_comparisons

    def day(in_store_paid: int, off_paid: int, refunds_in_store: int) -> dict[str, object]:
        f = StoreFacts()
        f.in_store.paid_fen, f.in_store.refund_fen = in_store_paid, refunds_in_store
        f.off_open.paid_fen = off_paid
        f.total.paid_fen, f.total.refund_fen = in_store_paid + off_paid, refunds_in_store
        return figures(f)

    # In-store refunds beyond in-store sales: by GMV the share would be −1.1 % or 166.5 %.
    today = day(1000, 2000, 1033)  # in-store GMV −33, GMV 1967; paid 3000
    earlier = day(1, 5999, 0)  # 1 / 6000 = 0.0166… %
    full = with_comparisons({"today": today, **{c: earlier for c in COMPARISONS}})
    share = full["in_store_share"]
    assert share["value"] == 0.3333  # 1000 / 3000
    # (1000/3000 − 1/6000) × 100 = 33.316666… pp; from rounded shares it would be 33.33 − 0.02 = 33.31.
    assert share["vs"]["yesterday"] == {"value": 0.0002, "delta_pp": 33.32}
    assert full["off_store_share"]["vs"]["yesterday"] == {"value": 0.9998, "delta_pp": -33.32}
    nothing_paid = with_comparisons({"today": day(0, 0, 500), **{c: earlier for c in COMPARISONS}})
    assert nothing_paid["in_store_share"]["value"] is None
    assert nothing_paid["in_store_share"]["vs"]["last_week"] == {"value": 0.0002, "delta_pp": None}
    # Money keeps a relative change, but none from a base that is not positive.
    assert compare(50, -100) == {"value": -100, "delta": 150, "pct": None}
    assert compare(1, 3) == {"value": 3, "delta": -2, "pct": -0.6667}
