"""API shapes of WeCom: channel codes, groups, transfers, members; one class per direction."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import Field, model_validator

from siyu.schemas import HHMM_PATTERN, Day, DbId, Strict


class ScheduleSlot(Strict):
    """Guides on duty on some weekdays (0 = Monday) between two local times; to ≤ from runs overnight."""

    weekdays: list[Annotated[int, Field(ge=0, le=6)]] = Field(min_length=1, max_length=7)
    from_time: str = Field(alias="from", pattern=HHMM_PATTERN)
    to_time: str = Field(alias="to", pattern=HHMM_PATTERN)
    guide_ids: list[DbId] = Field(min_length=1, max_length=50)

    model_config = Strict.model_config | {"populate_by_name": True}


class WelcomeAttachment(Strict):
    """One attachment of a welcome message: an image, a link card or a mini-program card (images are
    uploaded to the console first: `media_id` is Siyu's id of the image)."""

    type: Literal["image", "link", "miniprogram"]
    media_id: DbId | None = None
    title: str | None = Field(default=None, min_length=1, max_length=64)
    url: str | None = Field(default=None, max_length=500, pattern=r"^https?://\S+$")
    desc: str | None = Field(default=None, max_length=120)
    appid: str | None = Field(default=None, pattern=r"^wx[0-9a-f]{16}$")
    page: str | None = Field(default=None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _complete(self) -> WelcomeAttachment:
        needs = {
            "image": ("media_id",),
            "link": ("title", "url"),
            "miniprogram": ("appid", "page", "title", "media_id"),
        }
        missing = [f for f in needs[self.type] if getattr(self, f) is None]
        if missing:
            raise ValueError(f"{self.type} needs {', '.join(missing)} / 附件缺少 {', '.join(missing)}")
        return self

    def stored(self) -> dict[str, object]:
        """The form kept on the code."""
        if self.type == "image":
            return {"type": "image", "media": self.media_id}
        if self.type == "link":
            return {"type": "link", "title": self.title, "url": self.url, "desc": self.desc}
        return {
            "type": "miniprogram",
            "appid": self.appid,
            "page": self.page,
            "title": self.title,
            "media": self.media_id,
        }


class ChannelCodeCreate(Strict):
    """A channel code: who it points at and how they rotate, what it tags, how it greets."""

    name: str = Field(min_length=1, max_length=60, examples=["静安店门口海报"])
    state: str | None = Field(
        default=None, pattern=r"^[A-Za-z0-9_-]{1,30}$", description="generated when absent"
    )
    source_label: str = Field(min_length=1, max_length=40, examples=["门店海报"])
    store_code: str | None = Field(default=None, max_length=64)
    mode: Literal["round_robin", "random", "schedule"] = "round_robin"
    guide_ids: list[DbId] = Field(default_factory=list, max_length=100)
    schedule: list[ScheduleSlot] = Field(default_factory=list, max_length=50)
    backup_guide_id: DbId | None = None
    daily_cap: int | None = Field(default=None, ge=1, le=10_000, description="adds per guide per day")
    tag_ids: list[DbId] = Field(default_factory=list, max_length=20)
    welcome_text: str | None = Field(default=None, max_length=1000)
    welcome_attachments: list[WelcomeAttachment] = Field(default_factory=list, max_length=9)

    @model_validator(mode="after")
    def _guides(self) -> ChannelCodeCreate:
        if self.mode == "schedule" and not self.schedule:
            raise ValueError("schedule mode needs a schedule / 排班模式需要排班表")
        if self.mode != "schedule" and not self.guide_ids:
            raise ValueError("at least one guide / 至少一位导购")
        return self


class ChannelCodeRead(Strict):
    id: int
    name: str
    state: str
    source_label: str
    store_id: int | None
    mode: str
    guide_ids: list[int]
    backup_guide_id: int | None
    daily_cap: int | None
    tag_ids: list[int]
    welcome_text: str | None
    welcome_attachments: list[dict[str, object]] = Field(default_factory=list)
    qr_code: str | None
    current_guide_id: int | None
    active: bool
    created_at: dt.datetime


class CodeDay(Strict):
    day: dt.date
    adds: int
    deletes: int
    net: int


class CodeStats(Strict):
    code_id: int
    days: list[CodeDay]
    adds: int
    deletes: int


class GroupRead(Strict):
    id: int
    chat_id: str
    name: str | None
    owner_staff_id: int | None
    store_id: int | None
    status: str
    needs_sync: bool
    members: int
    customers: int
    joins_30d: int
    quits_30d: int
    messages_30d: int
    dead: bool = Field(
        description="active, older than the window, and no day in it reached the message threshold"
    )
    created_at: dt.datetime


class GroupDay(Strict):
    day: dt.date
    joins: int
    quits: int
    messages: int


class GroupActivity(Strict):
    chat_id: str = Field(min_length=1, max_length=128)
    day: Day
    messages: int = Field(ge=0, le=10_000_000)


class GroupActivityBatch(Strict):
    """Message counts per group and local day (from the session archive or WeCom's statistics)."""

    days: list[GroupActivity] = Field(min_length=1, max_length=1000)


class TransferCreate(Strict):
    """Hand a guide's WeCom customers to others: all of them, or some; by rule unless a takeover is named."""

    from_staff_id: DbId
    kind: Literal["resigned", "on_job"]
    takeover_staff_id: DbId | None = None
    customer_ids: list[DbId] | None = Field(default=None, min_length=1, max_length=10_000)


class TransferResult(Strict):
    batch: str
    requested: int
    refused: int = Field(description="not sent: transferred twice in the last 90 days")
    failed: int = Field(description="WeCom refused them (errcode per customer in the list)")
    by_takeover: dict[int, int]


class TransferRead(Strict):
    id: int
    batch: str
    kind: str
    customer_id: int
    from_staff_id: int
    to_staff_id: int | None
    status: str
    errcode: int | None
    reason: str | None
    requested_at: dt.datetime
    finished_at: dt.datetime | None


class MemberSyncResult(Strict):
    members: int
    new: int
    left: int
    mapped: int
    created_staff: int
    unmapped: int
    attached: int


class MemberRead(Strict):
    userid: str
    name: str | None
    department_ids: list[int]
    status: str
    staff_id: int | None
    parked_friends: int
    first_seen_at: dt.datetime
    left_at: dt.datetime | None
