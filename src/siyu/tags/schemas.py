"""API shapes of tags: one class per direction."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field

from siyu.schemas import DbId, Strict

GROUP_KIND = Literal["manual", "rule", "imported", "wecom", "guide_private"]
MAX_ASSIGNMENTS = 10_000


class TagGroupCreate(Strict):
    """A tag group; guides may only create guide-private ones (theirs alone)."""

    name_zh: str = Field(min_length=1, max_length=40, examples=["风格偏好"])
    name_en: str = Field(min_length=1, max_length=60, examples=["Style"])
    kind: GROUP_KIND = "manual"
    exclusive: bool = Field(default=False, description="a customer holds at most one tag of the group")
    open_to_guides: bool = Field(default=False, description="guides may tag their customers with it")


class TagCreate(Strict):
    """A tag; rule groups need a rule (the audience rule language), other groups must not have one."""

    name_zh: str = Field(min_length=1, max_length=40, examples=["通勤"])
    name_en: str = Field(min_length=1, max_length=60, examples=["Commute"])
    expires_after_days: int | None = Field(default=None, ge=1, le=3650)
    rule: dict[str, Any] | None = None


class TagRead(Strict):
    id: int
    group_id: int
    name_zh: str
    name_en: str
    expires_after_days: int | None
    rule: dict[str, Any] | None
    refreshed_at: dt.datetime | None
    members: int = Field(description="customers holding it now")


class TagGroupRead(Strict):
    id: int
    name_zh: str
    name_en: str
    kind: str
    exclusive: bool
    open_to_guides: bool
    owner_staff_id: int | None
    tags: list[TagRead]


class AssignmentItem(Strict):
    customer_id: DbId
    tag_id: DbId


class AssignmentBatch(Strict):
    """Up to 10,000 (customer, tag) pairs, assigned or removed together: all or none."""

    action: Literal["assign", "remove"] = "assign"
    items: list[AssignmentItem] = Field(min_length=1)


class AssignmentResult(Strict):
    assigned: int = 0
    renewed: int = 0
    unchanged: int = 0
    replaced: int = Field(default=0, description="other tags of exclusive groups taken off")
    removed: int = 0


class CustomerTagCreate(Strict):
    tag_id: DbId


class CustomerTagRead(Strict):
    tag_id: int
    group_id: int
    group_name_zh: str
    group_name_en: str
    name_zh: str
    name_en: str
    source_type: str
    source_id: int | None
    assigned_at: dt.datetime
    expires_at: dt.datetime | None


class TagEventRead(Strict):
    id: int
    tag_id: int
    tag_name_zh: str
    action: str
    source_type: str
    source_id: int | None
    occurred_at: dt.datetime
    expires_at: dt.datetime | None


class RefreshResult(Strict):
    tag_id: int
    members: int
    added: int
    removed: int
