from datetime import UTC, datetime, timedelta, timezone

import pytest

from siyu.core.clock import FixedClock
from siyu.core.errors import DomainError
from siyu.core.money import allocate, format_fen
from siyu.core.pagination import decode_int_cursor, encode_cursor
from siyu.db.base import UTCDateTime


def test_format_fen() -> None:
    assert format_fen(123456) == "¥1,234.56"
    assert format_fen(5) == "¥0.05"
    assert format_fen(-1999) == "-¥19.99"
    with pytest.raises(TypeError):
        format_fen(1.5)  # type: ignore[arg-type]


def test_allocate_gives_remainder_to_last_part() -> None:
    assert allocate(1000, [1, 1, 1]) == [333, 333, 334]
    assert sum(allocate(999, [3, 5, 7, 11])) == 999
    with pytest.raises(ValueError):
        allocate(100, [0, 0])


def test_cursor_round_trip_and_corruption() -> None:
    assert decode_int_cursor(encode_cursor(42)) == 42
    assert decode_int_cursor(None) is None
    with pytest.raises(DomainError) as info:
        decode_int_cursor("%%%not-base64")
    assert info.value.code == "invalid_cursor"
    with pytest.raises(DomainError):
        decode_int_cursor(encode_cursor("text"))


def test_messages_in_both_languages() -> None:
    err = DomainError("not_found", object="store")
    assert err.message() == "门店不存在"
    assert err.message("en") == "Store not found"
    assert err.status == 404


def test_utc_datetime_refuses_naive_and_converts_zones() -> None:
    column = UTCDateTime()
    with pytest.raises(ValueError):
        column.process_bind_param(datetime(2026, 1, 1), None)  # type: ignore[arg-type]  # noqa: DTZ001
    shanghai = timezone(timedelta(hours=8))
    stored = column.process_bind_param(datetime(2026, 1, 1, 8, tzinfo=shanghai), None)  # type: ignore[arg-type]
    assert stored == datetime(2026, 1, 1, 0, tzinfo=UTC)
    assert stored is not None and stored.utcoffset() == timedelta(0)
    loaded = column.process_result_value(datetime(2026, 1, 1, 0), None)  # type: ignore[arg-type]  # noqa: DTZ001
    assert loaded is not None and loaded.tzinfo is UTC


def test_fixed_clock_moves_only_when_told() -> None:
    clock = FixedClock(datetime(2026, 11, 23, tzinfo=UTC))
    assert clock.now() == datetime(2026, 11, 23, tzinfo=UTC)
    clock.advance(timedelta(minutes=5))
    assert clock.now() == datetime(2026, 11, 23, 0, 5, tzinfo=UTC)
