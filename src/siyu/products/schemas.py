"""API shapes of the product catalogue."""

from __future__ import annotations

import datetime as dt
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from siyu.schemas import Strict

MAX_FEN = 10**12  # ¥10 billion: far above any real price, well inside BIGINT
Fen = Annotated[int, Field(ge=0, le=MAX_FEN)]
CHANNEL_PATTERN = r"^(pos|mini_program|guide_share|livestream|community_group|official_account|platform:[a-z][a-z0-9_]{1,31})$"
SKU_CODE = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$")
_CHANNEL = re.compile(CHANNEL_PATTERN)


class ProductUpsert(Strict):
    """A SKU as sent; `code` is its key. Prices in fen."""

    code: str = SKU_CODE
    name: str = Field(min_length=1, max_length=200)
    category_path: list[Annotated[str, Field(min_length=1, max_length=60)]] = Field(
        default_factory=list, max_length=6, examples=[["服装", "上衣", "T恤"]]
    )
    list_price_fen: Fen
    cost_fen: Fen = 0
    floor_prices_fen: dict[str, Fen] = Field(default_factory=dict, examples=[{"mini_program": 9900}])
    status: Literal["active", "inactive"] = "active"

    @field_validator("floor_prices_fen")
    @classmethod
    def _channels(cls, value: dict[str, int]) -> dict[str, int]:
        for channel in value:
            if not _CHANNEL.match(channel):
                raise ValueError(f"unknown channel {channel!r}")
        return value


class ProductBatch(Strict):
    products: list[ProductUpsert] = Field(max_length=1000)


class ProductRead(Strict):
    id: int
    code: str
    name: str
    category_path: list[str]
    list_price_fen: int
    cost_fen: int
    floor_prices_fen: dict[str, int]
    status: str
    created_at: dt.datetime
    updated_at: dt.datetime


class ProductPage(Strict):
    items: list[ProductRead]
    next_cursor: str | None


class ProductBatchResult(Strict):
    created: int
    updated: int
    unchanged: int
