"""What the edge accepts: id, version, date and time ranges, and which characters text may hold.

Every id, date and time that reaches the API has a range, and no text carries NUL or other C0
control characters: PostgreSQL refuses NUL in text (a 500 where SQLite silently stored it), Excel
refuses most of the others, and a date in year 1 overflows the moment a time zone is applied.
These are the numbers; `siyu.org.schemas` turns them into the shared pydantic types and
`siyu.api.deps` into query and path parameters.
"""

from __future__ import annotations

import datetime as dt
import re

MAX_ID = 2**63 - 1  # ids are BIGINT
MAX_VERSION = 2**31 - 1  # versions and other counters stored as INTEGER
MIN_DATE = dt.date(2000, 1, 1)
MAX_DATE = dt.date(2100, 12, 31)
MIN_BIRTHDAY = dt.date(1900, 1, 1)  # people were born before 2000
MIN_INSTANT = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
END_INSTANT = dt.datetime(2101, 1, 1, tzinfo=dt.UTC)  # exclusive: the last instant of 2100 is in

# Text may hold tab, newline and carriage return (multi-line notes, addresses); nothing else below
# U+0020. Query strings and paths are single-line: every C0 character is refused there.
CONTROL_IN_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f]")
CONTROL_IN_LINE = re.compile("[\x00-\x1f]")
ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ISO_INSTANT = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?([Zz]|[+-]\d{2}:?\d{2})$")


def control_character(text: str, *, single_line: bool = False) -> str | None:
    """The first control character in text as `U+XXXX`, or None when the text is clean."""
    found = (CONTROL_IN_LINE if single_line else CONTROL_IN_TEXT).search(text)
    return None if found is None else f"U+{ord(found.group()):04X}"


def ascii_digits(text: str, *, max_len: int = 18) -> bool:
    """Whether text is 1–`max_len` ASCII digits. `str.isdigit` alone also accepts `²` or `١`, which
    `int()` then refuses (or reads as a number nobody typed); 18 digits always fit a BIGINT."""
    return 0 < len(text) <= max_len and text.isascii() and text.isdigit()


def id_or_none(raw: str | None) -> int | None:
    """A positive id typed in a form or a query string, or None when it is not one."""
    if raw is None:
        return None
    raw = raw.strip()
    return int(raw) if ascii_digits(raw) and 0 < int(raw) <= MAX_ID else None


def date_in_range(value: dt.date, *, earliest: dt.date = MIN_DATE) -> bool:
    """Whether a date lies in 2000-01-01 (or `earliest`) … 2100-12-31."""
    return earliest <= value <= MAX_DATE


def instant_in_range(value: dt.datetime) -> bool:
    """Whether an aware instant lies in 2000-01-01T00:00Z … 2100-12-31T23:59:59.999999Z."""
    return MIN_INSTANT <= value < END_INSTANT
