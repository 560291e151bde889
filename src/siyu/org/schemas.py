"""API shapes of the organisation: one class per direction."""

from __future__ import annotations

from typing import Literal
from zoneinfo import available_timezones

from pydantic import Field, field_validator, model_validator

from siyu.schemas import CODE, HHMM, HHMM_PATTERN, Day, DbId, Strict

ROLE = Literal["owner", "hq_operator", "analyst", "store_manager", "guide"]
STORE_STATUS = Literal["active", "preparing", "suspended", "closed"]


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
