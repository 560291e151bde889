"""Shared API types (the kernel's `schemas`): the strict base model and the ranged id, version,
date and time types every domain's schemas build on. No domain is imported here."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field
from pydantic import types as pydantic_types
from pydantic_core import PydanticCustomError

from siyu.core.inputs import (
    ISO_DATE,
    ISO_INSTANT,
    MAX_DATE,
    MAX_ID,
    MAX_VERSION,
    MIN_BIRTHDAY,
    MIN_DATE,
    date_in_range,
    instant_in_range,
)

# --- shared input types: every id, version, date and time at the edge has a range ----------------
# Models are strict about types (no bool for an int, no number for a time); dates and times are
# the exception pydantic needs, since JSON carries them as strings: ISO 8601 text only.
DbId = Annotated[int, Field(ge=1, le=MAX_ID)]
Version = Annotated[int, Field(ge=1, le=MAX_VERSION)]
RANGE_TEXT = f"{MIN_DATE.isoformat()} … {MAX_DATE.isoformat()}"


def _iso_date_text(value: Any) -> Any:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and ISO_DATE.match(value):
        return value
    raise PydanticCustomError("date_format", "expected a date YYYY-MM-DD / 应为日期 YYYY-MM-DD")


def _date_range(value: dt.date) -> dt.date:
    if not date_in_range(value):
        raise PydanticCustomError(
            "date_range", "the date must be within {range} / 日期须在 {range} 之间", {"range": RANGE_TEXT}
        )
    return value


def _birthday_range(value: dt.date) -> dt.date:
    if not date_in_range(value, earliest=MIN_BIRTHDAY):
        raise PydanticCustomError(
            "date_range",
            "the date must be within {range} / 日期须在 {range} 之间",
            {"range": f"{MIN_BIRTHDAY.isoformat()} … {MAX_DATE.isoformat()}"},
        )
    return value


def _iso_instant_text(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and ISO_INSTANT.match(value):
        return value
    raise PydanticCustomError(
        "datetime_format",
        "expected an ISO 8601 time with a zone, e.g. 2026-11-11T10:00:00+08:00 / 应为带时区的 ISO 8601 时间",
    )


def _instant_range(value: dt.datetime) -> dt.datetime:
    if not instant_in_range(value):
        raise PydanticCustomError(
            "datetime_range",
            "the time must be within {range} (UTC) / 时间须在 {range}（UTC）之间",
            {"range": RANGE_TEXT},
        )
    return value


Day = Annotated[
    dt.date, pydantic_types.Strict(False), BeforeValidator(_iso_date_text), AfterValidator(_date_range)
]
# A date of birth: 1900-01-01 … 2100-12-31.
Birthday = Annotated[
    dt.date, pydantic_types.Strict(False), BeforeValidator(_iso_date_text), AfterValidator(_birthday_range)
]
Instant = Annotated[
    AwareDatetime,
    pydantic_types.Strict(False),
    BeforeValidator(_iso_instant_text),
    AfterValidator(_instant_range),
]
HHMM_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
HHMM = Field(pattern=HHMM_PATTERN, examples=["10:00"])
CODE = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Strict(BaseModel):
    """Refuse unknown fields so typos are errors, not silent no-ops; refuse loose types (a boolean
    for a number, a number for a string) so a client's bug is an error, not a guess."""

    model_config = ConfigDict(extra="forbid", from_attributes=True, strict=True)
