"""Local calendar days → UTC bounds, and the comparison days of a report — pure."""

from __future__ import annotations

import calendar
import datetime as dt
from zoneinfo import ZoneInfo

COMPARISONS = ("yesterday", "last_week", "last_month", "last_year")
LABELS = {
    "today": ("当日", "Day"),
    "yesterday": ("较昨日", "vs yesterday"),
    "last_week": ("较上周同日", "vs same weekday last week"),
    "last_month": ("较上月同日", "vs same day last month"),
    "last_year": ("较去年同日", "vs same day last year"),
}


def day_bounds(day: dt.date, tz: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    """[start, end) of a local calendar day, in UTC (a DST day may be 23 or 25 hours)."""
    start = dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(0), tzinfo=tz).astimezone(dt.UTC)
    return start, end


def _shift_months(day: dt.date, months: int) -> dt.date:
    """The same day `months` earlier; the 31st falls back to the month's last day."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def comparison_days(day: dt.date) -> dict[str, dt.date]:
    """The report day and the days it is compared with."""
    return {
        "today": day,
        "yesterday": day - dt.timedelta(days=1),
        "last_week": day - dt.timedelta(days=7),
        "last_month": _shift_months(day, 1),
        "last_year": _shift_months(day, 12),
    }
