"""Daily series for the HQ home: GMV, orders, new customers and new member cards per local day.

Rows are grouped by UTC hour in the database (one grouped query per measure, whatever the number of
stores) and the hours are folded into the tenant's local days here, so days follow the tenant's
time zone, DST included. (Zones with half-hour offsets would need finer buckets.)
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.customers.facade import Customer, CustomerIdentity
from siyu.orders.facade import Order, Refund
from siyu.org.facade import Staff
from siyu.reports.periods import day_bounds


def _utc_hour(session: Session, column: Any) -> Any:
    """The UTC hour an instant falls in, as the engine can group by it."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))
    return func.substr(column, 1, 13)  # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC


def _as_utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        return dt.datetime.strptime(value, "%Y-%m-%d %H").replace(tzinfo=dt.UTC)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC)


def daily_series(
    session: Session, *, tenant_id: int, last_day: dt.date, days: int, tz: ZoneInfo
) -> dict[str, Any]:
    """Per local day from last_day − days + 1 to last_day: GMV, orders, new customers, new cards."""
    first_day = last_day - dt.timedelta(days=days - 1)
    start, _ = day_bounds(first_day, tz)
    _, end = day_bounds(last_day, tz)
    series: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))

    def fold(name: str, stmt: Any, index: int = 1) -> None:
        for row in session.execute(stmt):
            local_day = _as_utc(row[0]).astimezone(tz).date()
            series[name][local_day] += int(row[index] or 0)
            if name == "paid_fen":
                series["orders"][local_day] += int(row[2] or 0)

    hour = _utc_hour(session, Order.paid_at)
    fold(
        "paid_fen",
        select(hour, func.sum(Order.paid_fen), func.count())
        .where(Order.tenant_id == tenant_id, Order.paid_at >= start, Order.paid_at < end)
        .group_by(hour),
    )
    hour = _utc_hour(session, Refund.refunded_at)
    fold(
        "refund_fen",
        select(hour, func.sum(Refund.amount_fen))
        .where(Refund.tenant_id == tenant_id, Refund.refunded_at >= start, Refund.refunded_at < end)
        .group_by(hour),
    )
    hour = _utc_hour(session, Customer.created_at)
    fold(
        "new_customers",
        select(hour, func.count())
        .where(Customer.tenant_id == tenant_id, Customer.created_at >= start, Customer.created_at < end)
        .group_by(hour),
    )
    hour = _utc_hour(session, CustomerIdentity.created_at)
    fold(
        "new_member_cards",
        select(hour, func.count())
        .where(
            CustomerIdentity.tenant_id == tenant_id,
            CustomerIdentity.type == "member_card",
            CustomerIdentity.created_at >= start,
            CustomerIdentity.created_at < end,
        )
        .group_by(hour),
    )
    dates = [first_day + dt.timedelta(days=i) for i in range(days)]
    return {
        "dates": [d.isoformat() for d in dates],
        "gmv_fen": [series["paid_fen"][d] - series["refund_fen"][d] for d in dates],
        "orders": [series["orders"][d] for d in dates],
        "new_customers": [series["new_customers"][d] for d in dates],
        "new_member_cards": [series["new_member_cards"][d] for d in dates],
    }


def top_guides(
    session: Session, *, tenant_id: int, start: dt.datetime, end: dt.datetime, limit: int = 10
) -> list[dict[str, Any]]:
    """The brand's guides by paid amount in [start, end)."""
    rows = session.execute(
        select(Order.guide_id, func.count(), func.sum(Order.paid_fen))
        .where(
            Order.tenant_id == tenant_id,
            Order.paid_at >= start,
            Order.paid_at < end,
            Order.guide_id.is_not(None),
        )
        .group_by(Order.guide_id)
        .order_by(func.sum(Order.paid_fen).desc(), Order.guide_id)
        .limit(limit)
    ).all()
    names: dict[int | None, str] = dict(
        session.execute(
            select(Staff.id, Staff.name).where(
                Staff.tenant_id == tenant_id, Staff.id.in_([r[0] for r in rows])
            )
        ).all()
    )
    return [
        {"guide_id": gid, "name": names.get(gid), "orders": count, "paid_fen": int(paid or 0)}
        for gid, count, paid in rows
    ]
