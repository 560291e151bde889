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

from sqlalchemy.orm import Session

from siyu.org import facade as org
from siyu.reports.facts import guide_facts, hourly_totals
from siyu.reports.periods import day_bounds


def daily_series(
    session: Session, *, tenant_id: int, last_day: dt.date, days: int, tz: ZoneInfo
) -> dict[str, Any]:
    """Per local day from last_day − days + 1 to last_day: GMV, orders, new customers, new cards."""
    first_day = last_day - dt.timedelta(days=days - 1)
    start, _ = day_bounds(first_day, tz)
    _, end = day_bounds(last_day, tz)
    series: dict[str, dict[dt.date, int]] = defaultdict(lambda: defaultdict(int))
    for name, rows in hourly_totals(session, tenant_id=tenant_id, start=start, end=end).items():
        for hour, value, count in rows:
            local_day = hour.astimezone(tz).date()
            series[name][local_day] += value
            if name == "paid_fen":
                series["orders"][local_day] += count
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
    facts = guide_facts(session, tenant_id=tenant_id, store_id=None, start=start, end=end)
    best = sorted(facts.items(), key=lambda item: (-item[1].paid_fen, item[0]))[:limit]
    names = org.staff_names(session, tenant_id=tenant_id, ids={gid for gid, _ in best})
    return [
        {"guide_id": gid, "name": names.get(gid, (None, None))[0], "orders": f.orders, "paid_fen": f.paid_fen}
        for gid, f in best
    ]
