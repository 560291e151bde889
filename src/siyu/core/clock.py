"""Clocks: production uses the system clock; tests inject a fixed one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current aware UTC time."""

    def now(self) -> datetime:
        """Current time, timezone-aware, in UTC."""
        ...


class SystemClock:
    """The real clock."""

    def now(self) -> datetime:
        """Current time, timezone-aware, in UTC."""
        return datetime.now(UTC)


class FixedClock:
    """A clock that only moves when told to (tests)."""

    def __init__(self, at: datetime) -> None:
        if at.tzinfo is None:
            raise ValueError("FixedClock needs an aware datetime")
        self._at = at.astimezone(UTC)

    def now(self) -> datetime:
        """The fixed time."""
        return self._at

    def advance(self, delta: timedelta) -> None:
        """Move the clock forward."""
        self._at += delta


_clock: Clock = SystemClock()


def get_clock() -> Clock:
    """The process clock."""
    return _clock


def set_clock(clock: Clock) -> None:
    """Replace the process clock (tests)."""
    global _clock
    _clock = clock


def utcnow() -> datetime:
    """Now, from the process clock."""
    return _clock.now()
