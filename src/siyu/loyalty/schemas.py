"""API shapes of the loyalty ledger: one class per direction. Money is integer fen, points whole."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from siyu.core.inputs import MAX_ID
from siyu.schemas import Strict

Key = Annotated[
    str,
    Field(
        min_length=8,
        max_length=120,
        pattern=r"^[\x21-\x7e]+$",
        description="idempotency key: the same key and request return the first answer; "
        "the same key with another request is refused (409)",
    ),
]
Units = Annotated[int, Field(ge=1, le=10**10)]
StoreId = Annotated[
    int | None, Field(default=None, ge=1, le=MAX_ID, description="issuing or accepting store")
]
OrderRef = Annotated[str | None, Field(default=None, max_length=120, pattern=r"^[\x21-\x7e]+$")]
HOLDABLE = Literal["points", "sv_principal", "sv_bonus"]


class PointsAdjustmentIn(Strict):
    """Add (positive) or take away (negative) points by hand; a reason is required."""

    points: Annotated[int, Field(ge=-(10**9), le=10**9)]
    reason: str = Field(min_length=2, max_length=200)
    idempotency_key: Key


class TopUpIn(Strict):
    """Stored value paid in (principal) and given on top (bonus)."""

    principal_fen: Annotated[int, Field(ge=1, le=10**9)]
    bonus_fen: Annotated[int, Field(ge=0, le=10**9)] = 0
    store_id: StoreId
    registered: bool = Field(default=True, description="a real-name card (cap ¥5,000; anonymous ¥1,000)")
    idempotency_key: Key


class SpendIn(Strict):
    """Pay from stored value (principal first)."""

    amount_fen: Units
    order_ref: OrderRef
    store_id: StoreId
    idempotency_key: Key


class HoldIn(Strict):
    """Freeze points or stored value for a checkout until it is paid or cancelled."""

    customer_id: Annotated[int, Field(ge=1, le=MAX_ID)]
    asset: HOLDABLE
    amount: Units
    order_ref: OrderRef
    store_id: StoreId
    minutes: Annotated[int, Field(ge=1, le=24 * 60)] = 30
    idempotency_key: Key


class CaptureIn(Strict):
    """Take what the order used (at most what was held); the rest goes back."""

    amount: Units
    idempotency_key: Key


class ReleaseIn(Strict):
    idempotency_key: Key


class ReversalIn(Strict):
    """Undo a part of a transaction: `numerator / denominator` of what remains of it."""

    numerator: Annotated[int, Field(ge=1, le=10**9)] = 1
    denominator: Annotated[int, Field(ge=1, le=10**9)] = 1
    reason: str = Field(min_length=2, max_length=200)
    idempotency_key: Key


class TransactionRead(BaseModel):
    """A ledger transaction as its caller sees it (a replay answers the same)."""

    id: int
    kind: str
    customer_id: int | None
    balances: dict[str, int] = Field(description="the customer's balances after it, per asset it touched")
    order_ref: str | None
    store_id: int | None
    hold_id: int | None
    reverses_id: int | None
    created_at: dt.datetime


class HoldRead(BaseModel):
    id: int
    customer_id: int
    asset: str
    amount: int
    status: Literal["active", "captured", "released", "expired"]
    order_ref: str | None
    store_id: int | None
    expires_at: dt.datetime
    created_at: dt.datetime


class Balance(BaseModel):
    balance: int
    held: int
    available: int


class HistoryLine(BaseModel):
    id: int
    kind: str
    label_zh: str
    label_en: str
    changes: dict[str, int] = Field(description="per asset, what this transaction changed")
    order_ref: str | None
    store_id: int | None
    created_at: dt.datetime


class LoyaltyRead(BaseModel):
    """What a customer may see: balances (points, stored value principal and bonus), what is held
    for open checkouts, and the latest history."""

    customer_id: int
    points: Balance
    stored_value_fen: Balance = Field(description="principal and bonus together")
    stored_value_principal_fen: Balance
    stored_value_bonus_fen: Balance
    active_holds: list[HoldRead]
    history: list[HistoryLine]
    next_cursor: str | None
