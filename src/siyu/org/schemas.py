"""API shapes of the organisation: one class per direction."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal
from zoneinfo import available_timezones

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)
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
ROLE = Literal["owner", "hq_operator", "analyst", "store_manager", "guide"]
STORE_STATUS = Literal["active", "preparing", "suspended", "closed"]
HHMM_PATTERN = r"^([01]\d|2[0-3]):[0-5]\d$"
HHMM = Field(pattern=HHMM_PATTERN, examples=["10:00"])
CODE = Field(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class Strict(BaseModel):
    """Refuse unknown fields so typos are errors, not silent no-ops; refuse loose types (a boolean
    for a number, a number for a string) so a client's bug is an error, not a guess."""

    model_config = ConfigDict(extra="forbid", from_attributes=True, strict=True)


class TenantRead(Strict):
    id: int
    slug: str
    name: str
    timezone: str
    currency: str
    binding_protection_days: int


class TenantUpdate(Strict):
    """Brand settings an owner may change (slug, time zone and currency are fixed at creation)."""

    name: str | None = Field(default=None, min_length=1, max_length=120)
    binding_protection_days: int | None = Field(
        default=None,
        ge=0,
        le=365,
        description="days a new exclusive-guide binding is protected from takeover",
    )


class TenantCreate(Strict):
    slug: str = Field(min_length=2, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*$")
    name: str = Field(min_length=1, max_length=120)
    timezone: str = "Asia/Shanghai"
    currency: Literal["CNY", "HKD", "USD"] = "CNY"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        if value not in available_timezones():
            raise ValueError(f"unknown time zone {value!r}")
        return value


class RegionCreate(Strict):
    code: str = CODE
    name: str = Field(min_length=1, max_length=120)


class RegionUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=120)


class RegionRead(Strict):
    id: int
    code: str
    name: str


class HoursInterval(Strict):
    """Open on `weekday` (0 = Monday) from `opens` to `closes`; closes <= opens runs past midnight."""

    weekday: int = Field(ge=0, le=6)
    opens: str = HHMM
    closes: str = HHMM


class Holiday(Strict):
    """A date with its own hours: closed all day, or open opens-closes."""

    date: Day
    closed: bool = True
    opens: str | None = Field(default=None, pattern=HHMM_PATTERN)
    closes: str | None = Field(default=None, pattern=HHMM_PATTERN)
    name: str | None = Field(default=None, max_length=60)

    @model_validator(mode="after")
    def _hours_when_open(self) -> Holiday:
        if not self.closed and (self.opens is None or self.closes is None):
            raise ValueError("an open holiday needs opens and closes / 营业的节假日需要开门和关门时间")
        return self


class StoreBase(Strict):
    name: str = Field(min_length=1, max_length=120)
    region_id: DbId | None = None
    city: str | None = Field(default=None, max_length=60)
    address: str | None = Field(default=None, max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    status: STORE_STATUS = "active"
    business_hours: list[HoursInterval] = Field(default_factory=list, max_length=50)
    holidays: list[Holiday] = Field(default_factory=list, max_length=400)


class StoreCreate(StoreBase):
    code: str = CODE


class StoreUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=120)
    region_id: DbId | None = None
    city: str | None = Field(default=None, max_length=60)
    address: str | None = Field(default=None, max_length=300)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    status: STORE_STATUS | None = None
    business_hours: list[HoursInterval] | None = Field(default=None, max_length=50)
    holidays: list[Holiday] | None = Field(default=None, max_length=400)

    @model_validator(mode="after")
    def _no_null_for_required(self) -> StoreUpdate:
        # Omit a field to keep it; null would erase a value every store must have.
        nulls = [
            f
            for f in ("name", "status", "business_hours", "holidays")
            if f in self.model_fields_set and getattr(self, f) is None
        ]
        if nulls:
            raise ValueError(f"{', '.join(nulls)} cannot be null (omit to keep) / 不能为空（不修改请省略）")
        return self


class StoreRead(StoreBase):
    id: int
    code: str


class StorePage(Strict):
    items: list[StoreRead]
    next_cursor: str | None


class StaffCreate(Strict):
    employee_no: str = CODE
    username: str = Field(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$")
    name: str = Field(min_length=1, max_length=80)
    role: ROLE
    phone: str | None = Field(default=None, max_length=32)
    store_ids: list[DbId] = Field(default_factory=list, max_length=200)
    password: str | None = Field(default=None, min_length=10, max_length=128)
    wecom_userid: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")


class StaffUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=80)
    role: ROLE | None = None
    status: Literal["active", "departed"] | None = None
    phone: str | None = Field(default=None, max_length=32)
    store_ids: list[DbId] | None = Field(default=None, max_length=200)
    password: str | None = Field(default=None, min_length=10, max_length=128)
    wecom_userid: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")


class StaffRead(Strict):
    id: int
    employee_no: str
    username: str
    name: str
    role: str
    status: str
    phone: str | None
    store_ids: list[int]
    wecom_userid: str | None = None


class StaffPage(Strict):
    items: list[StaffRead]
    next_cursor: str | None
