"""Business hours: parsing, overlap checks (overnight included) and "is the store open" — pure."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from siyu.core.errors import DomainError

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAYS_EN = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
WEEKDAYS_ZH = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Interval:
    """Open from `opens` on `weekday` until `closes`, which is the next day when closes <= opens."""

    weekday: int
    opens: str
    closes: str

    @property
    def start_min(self) -> int:
        """Minute of the week the interval starts (Mon 00:00 = 0)."""
        return self.weekday * MINUTES_PER_DAY + to_minutes(self.opens)

    @property
    def length_min(self) -> int:
        """Length in minutes; overnight intervals run into the next day (00:00-00:00 is 24 h)."""
        opens, closes = to_minutes(self.opens), to_minutes(self.closes)
        return closes - opens if closes > opens else MINUTES_PER_DAY - opens + closes

    def label(self, lang: str = "zh-CN") -> str:
        """Human label, e.g. '周一 10:00-02:00'."""
        names = WEEKDAYS_ZH if lang != "en" else WEEKDAYS_EN
        return f"{names[self.weekday]} {self.opens}-{self.closes}"


def to_minutes(hhmm: str) -> int:
    """'HH:MM' -> minutes after midnight; a clear error otherwise."""
    match = _HHMM.match(hhmm or "")
    if not match:
        raise DomainError("invalid_hours", value=hhmm)
    return int(match.group(1)) * 60 + int(match.group(2))


def validate_intervals(intervals: list[Interval]) -> None:
    """Refuse malformed times and any two intervals that overlap on the weekly circle."""
    spans = []
    for iv in intervals:
        if not 0 <= iv.weekday <= 6:
            raise DomainError("invalid_hours", value=f"weekday={iv.weekday}")
        spans.append((iv.start_min, iv.start_min + iv.length_min, iv))
    spans.sort(key=lambda s: s[0])
    for i, (_start, end, iv) in enumerate(spans):
        # Compare with the next interval, and the last one wraps around to the first (Sun night -> Mon).
        if i + 1 < len(spans):
            nxt_start, nxt_iv = spans[i + 1][0], spans[i + 1][2]
        elif len(spans) > 1:
            nxt_start, nxt_iv = spans[0][0] + MINUTES_PER_WEEK, spans[0][2]
        else:
            continue
        if end > nxt_start:
            raise DomainError(
                "overlapping_hours",
                detail_zh=f"{iv.label()} 与 {nxt_iv.label()} 重叠",
                detail_en=f"{iv.label('en')} overlaps {nxt_iv.label('en')}",
                details={"intervals": [iv.__dict__, nxt_iv.__dict__]},
            )


def parse_day_spec(weekday: int, spec: str) -> list[Interval]:
    """Parse a spreadsheet cell like '10:00-22:00', '10:00-14:00,17:00-02:00', 'closed' or ''."""
    spec = (spec or "").strip()
    if spec.lower() in ("", "closed", "休息", "-"):
        return []
    out = []
    for part in re.split(r"[,，;；]", spec):
        bits = part.strip().split("-")
        if len(bits) != 2:
            raise DomainError("invalid_hours", value=spec)
        opens, closes = bits[0].strip(), bits[1].strip()
        to_minutes(opens)
        to_minutes(closes)
        out.append(Interval(weekday, opens, closes))
    return out


def is_open_at(
    intervals: list[Interval], holidays: dict[date, list[tuple[str, str]] | None], tz: ZoneInfo, at: datetime
) -> bool:
    """Whether a store is open at an aware instant, read on the wall clock of time zone `tz`.

    holidays maps a local date to None (closed all day) or to that day's own intervals; an
    overnight interval belongs to the day it starts on.
    """
    if at.tzinfo is None:
        raise ValueError("is_open_at needs an aware datetime")
    local = at.astimezone(tz)
    local_date, minute = local.date(), local.hour * 60 + local.minute
    for day_offset in (0, -1):  # today's intervals, and yesterday's that run past midnight
        day = local_date + timedelta(days=day_offset)
        if day in holidays:
            specials = holidays[day]
            todays = [Interval(day.weekday(), o, c) for o, c in (specials or [])]
        else:
            todays = [iv for iv in intervals if iv.weekday == day.weekday()]
        for iv in todays:
            start = to_minutes(iv.opens) + day_offset * MINUTES_PER_DAY
            if start <= minute < start + iv.length_min:
                return True
    return False


def hhmm(t: time) -> str:
    """A time as 'HH:MM'."""
    return f"{t.hour:02d}:{t.minute:02d}"
