from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from siyu.core.errors import DomainError
from siyu.org.hours import Interval, is_open_at, parse_day_spec, validate_intervals


def test_overnight_interval_overlapping_next_morning_is_refused() -> None:
    with pytest.raises(DomainError) as info:
        validate_intervals([Interval(0, "18:00", "02:00"), Interval(1, "01:00", "10:00")])
    assert info.value.code == "overlapping_hours"
    assert "周一 18:00-02:00" in info.value.message()
    assert "Mon 18:00-02:00" in info.value.message("en")


def test_sunday_night_wrapping_into_monday_is_checked() -> None:
    with pytest.raises(DomainError):
        validate_intervals([Interval(6, "22:00", "03:00"), Interval(0, "02:00", "09:00")])
    validate_intervals([Interval(6, "22:00", "03:00"), Interval(0, "03:00", "09:00")])


def test_same_day_overlap_and_touching_intervals() -> None:
    with pytest.raises(DomainError):
        validate_intervals([Interval(2, "10:00", "14:00"), Interval(2, "13:59", "20:00")])
    validate_intervals([Interval(2, "10:00", "14:00"), Interval(2, "14:00", "20:00")])


def test_full_week_of_overnight_hours_is_valid() -> None:
    validate_intervals([Interval(d, "10:00", "02:00") for d in range(7)])


SH = ZoneInfo("Asia/Shanghai")


def at(*parts: int) -> datetime:
    """A Shanghai wall-clock time as an aware UTC instant."""
    return datetime(*parts, tzinfo=SH).astimezone(UTC)


def test_is_open_handles_overnight_and_holidays() -> None:
    hours = [Interval(d, "10:00", "22:00") for d in range(5)] + [
        Interval(d, "10:00", "02:00") for d in (5, 6)
    ]
    # Saturday 2026-11-28 23:30 and Sunday 01:30 belong to Saturday's overnight interval.
    assert is_open_at(hours, {}, SH, at(2026, 11, 28, 23, 30))
    assert is_open_at(hours, {}, SH, at(2026, 11, 29, 1, 30))
    assert not is_open_at(hours, {}, SH, at(2026, 11, 29, 2, 0))
    assert not is_open_at(hours, {}, SH, at(2026, 11, 27, 22, 0))
    assert is_open_at(hours, {}, SH, at(2026, 11, 27, 21, 59))
    holidays: dict[date, list[tuple[str, str]] | None] = {date(2026, 11, 28): None}
    assert not is_open_at(hours, holidays, SH, at(2026, 11, 28, 12, 0))
    assert not is_open_at(hours, holidays, SH, at(2026, 11, 29, 1, 0))
    special = {date(2026, 11, 27): [("12:00", "16:00")]}
    assert is_open_at(hours, special, SH, at(2026, 11, 27, 12, 0))
    assert not is_open_at(hours, special, SH, at(2026, 11, 27, 11, 0))


def test_parse_day_spec() -> None:
    assert parse_day_spec(3, "10:00-14:00, 17:00-02:00") == [
        Interval(3, "10:00", "14:00"),
        Interval(3, "17:00", "02:00"),
    ]
    assert parse_day_spec(3, "closed") == []
    assert parse_day_spec(3, "") == []
    with pytest.raises(DomainError) as info:
        parse_day_spec(3, "10-22")
    assert info.value.code == "invalid_hours"
    with pytest.raises(DomainError):
        parse_day_spec(3, "25:00-26:00")
