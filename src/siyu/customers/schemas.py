"""API shapes of customers: one class per direction."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, Field

from siyu.core.inputs import MAX_ID
from siyu.schemas import Birthday, DbId, Instant, Strict

GENDER = Literal["male", "female", "unknown"]
PURPOSE = Literal[
    "marketing_sms",
    "marketing_wecom",
    "marketing_official_account",
    "marketing_mini_program",
    "marketing_phone_call",
    "profiling",
]


class IdentityIn(Strict):
    """An identity as sent: type, value and, for openids / platform ids, its namespace."""

    type: str = Field(max_length=32, examples=["wechat_unionid"])
    value: str = Field(max_length=200)
    namespace: str | None = Field(default=None, max_length=64, description="app id (openid) or platform")


class IdentityRead(Strict):
    id: int
    type: str
    namespace: str
    value: str = Field(description="phones are masked unless revealed")
    source: str | None
    created_at: dt.datetime


class CustomerProfile(Strict):
    """Profile fields that a caller may set."""

    name: str | None = Field(default=None, max_length=80)
    gender: GENDER | None = None
    birthday: Birthday | None = None
    city: str | None = Field(default=None, max_length=60)
    member_tier: str | None = Field(default=None, max_length=20, examples=["金卡"])
    custom_fields: dict[str, Any] | None = None
    store_id: DbId | None = None
    guide_id: DbId | None = None


class CustomerUpsert(CustomerProfile):
    """One record of a batch upsert: at least one identity; `phone` is added as a phone identity."""

    identities: list[IdentityIn] = Field(default_factory=list, max_length=20)
    phone: str | None = Field(default=None, max_length=32)


class CustomerBatch(Strict):
    records: list[CustomerUpsert]
    source: str = Field(default="api", max_length=64, pattern=r"^[a-z0-9_:.-]+$")


class UpsertResult(Strict):
    row: int
    customer_id: int
    number: int
    created: bool


class BatchResult(Strict):
    created_count: int
    updated_count: int
    results: list[UpsertResult]


class CustomerUpdate(CustomerProfile):
    """PATCH body; custom_fields keys set to null are removed."""


class CustomerSummary(Strict):
    id: int
    number: int
    name: str | None
    gender: str
    birthday: dt.date | None
    city: str | None
    member_tier: str | None
    phone: str | None = Field(description="masked, e.g. 138****1234")
    custom_fields: dict[str, Any]
    store_id: int | None
    guide_id: int | None
    status: str
    merged_into_id: int | None
    created_at: dt.datetime
    updated_at: dt.datetime


class CustomerRead(CustomerSummary):
    identities: list[IdentityRead]


class CustomerPage(Strict):
    items: list[CustomerSummary]
    next_cursor: str | None


class PhoneReveal(Strict):
    customer_id: int
    phone: str | None = Field(description="E.164")
    national: str | None


class TimelineRead(Strict):
    id: int
    kind: str
    occurred_at: dt.datetime
    actor_type: str
    actor_id: int | None
    data: dict[str, Any]


class TimelinePage(Strict):
    items: list[TimelineRead]
    next_cursor: str | None


class ConsentCreate(Strict):
    purpose: PURPOSE
    granted: bool
    source: str = Field(min_length=1, max_length=64, examples=["mini_program_privacy_dialog"])


class ConsentRead(Strict):
    id: int
    purpose: str
    granted: bool
    source: str
    recorded_at: dt.datetime


class ConsentState(Strict):
    current: dict[str, ConsentRead]
    history: list[ConsentRead]


class MergeCreate(Strict):
    survivor_id: DbId
    merged_id: DbId


class MergeRead(Strict):
    id: int
    survivor_id: int
    merged_id: int
    created_at: dt.datetime
    undone_at: dt.datetime | None
    moved: dict[str, int] = Field(description="rows moved per table")


class CustomFieldCreate(Strict):
    key: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    label_zh: str = Field(min_length=1, max_length=80)
    label_en: str = Field(min_length=1, max_length=80)
    type: Literal["text", "number", "date", "boolean", "choice"]
    choices: list[str] = Field(default_factory=list, max_length=100)


class CustomFieldRead(CustomFieldCreate):
    id: int


class CustomerFilter(BaseModel):
    """What a customer list is narrowed by (query parameters of GET /customers, and the console)."""

    q: str | None = Field(
        default=None, max_length=128, description="name, phone, number or any identity value"
    )
    city: str | None = Field(default=None, max_length=60)
    gender: Literal["male", "female", "unknown"] | None = None
    store_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    guide_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    member_tier: str | None = Field(default=None, max_length=20)
    status: Literal["active", "merged"] = "active"
    created_from: Instant | None = Field(
        default=None, description="ISO 8601 with a zone, 2000-01-01 … 2100-12-31"
    )
    created_to: Instant | None = Field(
        default=None, description="ISO 8601 with a zone, 2000-01-01 … 2100-12-31"
    )


class CustomerSearch(CustomerFilter):
    """The console's search adds a phone ending (the last four digits for who may not see phones)."""

    phone_ending: str | None = Field(default=None, max_length=15)
