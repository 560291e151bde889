from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    assert allocate(1000, [1000, 1000, 1000]) == [333, 333, 334]
    assert sum(allocate(25, [3, 5, 7, 11])) == 25
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


def test_allocation_never_drives_a_line_below_zero_and_adds_up() -> None:
    """Hardening 11: lines 10000 / 99 / 99 with an order discount of 10150 (goods 10198)."""
    parts = allocate(10150, [10000, 99, 99])
    assert parts == [9953, 98, 99]
    assert sum(parts) == 10150 and all(0 <= p <= w for p, w in zip(parts, [10000, 99, 99], strict=True))
    assert allocate(10198, [10000, 99, 99]) == [10000, 99, 99]  # the whole order free
    assert allocate(0, [5, 7]) == [0, 0]
    with pytest.raises(ValueError):
        allocate(10199, [10000, 99, 99])


@given(st.lists(st.integers(0, 10**7), min_size=1, max_size=30).filter(lambda w: sum(w) > 0), st.data())
def test_allocation_parts_lie_within_their_lines_and_add_up(weights: list[int], data: st.DataObject) -> None:
    total = data.draw(st.integers(0, sum(weights)))
    parts = allocate(total, weights)
    assert sum(parts) == total
    assert all(0 <= p <= w for p, w in zip(parts, weights, strict=True))
    # Each part is its exact share rounded down or up.
    assert all(abs(p * sum(weights) - total * w) < sum(weights) for p, w in zip(parts, weights, strict=True))
