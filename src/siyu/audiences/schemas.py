"""API shapes of audiences: one class per direction."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import Field, model_validator

from siyu.schemas import DbId, Strict, Version

RULE_EXAMPLE = {
    "type": "all",
    "of": [
        {"type": "tags", "match": "any", "tag_ids": [1, 2]},
        {"type": "gender", "values": ["female"]},
        {"type": "orders", "window": {"last_days": 90}, "measure": "gmv_fen", "op": ">=", "value": 200000},
    ],
}


class RuleBody(Strict):
    """A rule in the audience rule language (see docs/audiences.md)."""

    rule: dict[str, Any] = Field(examples=[RULE_EXAMPLE])


class Breakdown(Strict):
    key: str
    label: str
    count: int


class Preview(Strict):
    count: int
    by_store: list[Breakdown]
    by_tier: list[Breakdown]
    elapsed_ms: float
    cached: bool


class AudienceCreate(Strict):
    name: str = Field(min_length=1, max_length=80, examples=["高价值女性会员"])
    description: str | None = Field(default=None, max_length=400)
    rule: dict[str, Any] = Field(examples=[RULE_EXAMPLE])


class AudienceUpdate(Strict):
    name: str | None = Field(default=None, min_length=1, max_length=80)
    description: str | None = Field(default=None, max_length=400)
    rule: dict[str, Any] | None = None


class SnapshotRead(Strict):
    id: int
    audience_id: int
    version: int
    size: int
    rule: dict[str, Any]
    created_by: int | None
    created_at: dt.datetime


class AudienceRead(Strict):
    id: int
    name: str
    description: str | None
    rule: dict[str, Any]
    created_by: int | None
    created_at: dt.datetime
    updated_at: dt.datetime
    latest_snapshot: SnapshotRead | None


class Operand(Strict):
    """One side of an overlap: a live audience, a frozen snapshot version, or a rule."""

    audience_id: DbId | None = None
    version: Version | None = Field(default=None, description="with audience_id: a frozen snapshot")
    rule: dict[str, Any] | None = None

    @model_validator(mode="after")
    def _one(self) -> Operand:
        if (self.audience_id is None) == (self.rule is None):
            raise ValueError("give audience_id or rule / 需提供人群包或规则之一")
        if self.version is not None and self.audience_id is None:
            raise ValueError("version needs audience_id / 版本号需配合人群包")
        return self


class OverlapBody(Strict):
    a: Operand
    b: Operand


class Overlap(Strict):
    a: int
    b: int
    both: int
    only_a: int
    only_b: int
    either: int
    jaccard: float = Field(description="both / either, 0 when both are empty")


ExportFormat = Literal["csv", "xlsx"]
