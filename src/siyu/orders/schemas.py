"""API shapes of orders, refunds and footfall: one class per direction."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from siyu.core.inputs import MAX_ID
from siyu.customers.facade import IdentityIn
from siyu.products.facade import CHANNEL_PATTERN, SKU_CODE, Fen
from siyu.schemas import Instant, Strict

STATUS = Literal["created", "paid", "fulfilled", "completed", "cancelled"]
FULFILMENT = Literal["in_store", "pickup", "same_city", "express"]
PAYMENT_METHOD = Literal[
    "wechat_pay", "alipay", "unionpay", "bank_card", "cash", "stored_value", "points", "platform", "other"
]
Quantity = Annotated[int, Field(ge=1, le=100_000)]


class OrderCustomer(Strict):
    """Who bought: any identities (resolved to one customer, created when new)."""

    identities: list[IdentityIn] = Field(default_factory=list, max_length=10)
    phone: str | None = Field(default=None, max_length=32)


class LineIn(Strict):
    sku_code: str = SKU_CODE
    quantity: Quantity
    unit_price_fen: Fen
    discount_fen: Fen = Field(default=0, description="this line's own discount (whole line, not per unit)")


class PaymentIn(Strict):
    method: PAYMENT_METHOD
    amount_fen: Annotated[int, Field(ge=1, le=10**12)]
    transaction_id: str | None = Field(default=None, max_length=100)


class OrderIn(Strict):
    """An order as a channel sends it. Times need a zone; money is integer fen."""

    channel: str = Field(pattern=CHANNEL_PATTERN, examples=["pos", "mini_program", "platform:tmall"])
    external_id: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
    customer: OrderCustomer | None = None
    store_code: str | None = Field(default=None, max_length=40, description="the till's / scanning store")
    staff_employee_no: str | None = Field(
        default=None, max_length=40, description="cashier, or the guide whose link was used"
    )
    in_store: bool = Field(default=False, description="placed physically in the store (scan-to-buy)")
    status: STATUS
    fulfilment: FULFILMENT = "express"
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    placed_at: Instant
    paid_at: Instant | None = None
    fulfilled_at: Instant | None = None
    completed_at: Instant | None = None
    cancelled_at: Instant | None = None
    lines: list[LineIn] = Field(min_length=1, max_length=200)
    order_discount_fen: Fen = 0
    shipping_fen: Fen = 0
    payments: list[PaymentIn] = Field(default_factory=list, max_length=20)

    @model_validator(mode="after")
    def _pos_is_in_store(self) -> OrderIn:
        if self.channel == "pos":
            self.in_store = True
        return self


class OrderBatch(Strict):
    orders: list[OrderIn]
    source: str = Field(default="api", max_length=64, pattern=r"^[a-z0-9_:.-]+$")


OUTCOME = Literal["created", "updated", "unchanged", "stale"]


class IngestResult(Strict):
    row: int
    order_id: int
    outcome: OUTCOME
    revision: int
    store_id: int | None
    guide_id: int | None
    attribution_reason: str


class OrderBatchResult(Strict):
    created: int
    updated: int
    unchanged: int
    stale: int
    results: list[IngestResult]


class LineRead(Strict):
    id: int
    line_no: int
    sku_code: str
    product_id: int
    quantity: int
    unit_price_fen: int
    discount_fen: int
    amount_fen: int
    refunded_quantity: int
    refunded_fen: int


class PaymentRead(Strict):
    method: str
    amount_fen: int
    transaction_id: str | None


class OrderSummary(Strict):
    id: int
    channel: str
    external_id: str
    customer_id: int | None
    store_id: int | None
    guide_id: int | None
    attribution_reason: str
    attribution_explained: str
    placement: str
    during_hours: bool | None
    fulfilment: str
    status: str
    currency: str
    placed_at: dt.datetime
    paid_at: dt.datetime | None
    goods_fen: int
    discount_fen: int
    shipping_fen: int
    total_fen: int
    paid_fen: int
    refunded_fen: int
    revision: int


class OrderRead(OrderSummary):
    fulfilled_at: dt.datetime | None
    completed_at: dt.datetime | None
    cancelled_at: dt.datetime | None
    source_store_id: int | None
    source_staff_id: int | None
    lines: list[LineRead]
    payments: list[PaymentRead]
    refunds: list[RefundRead]


class OrderPage(Strict):
    items: list[OrderSummary]
    next_cursor: str | None


class RevisionRead(Strict):
    revision: int
    changed_fields: list[str]
    replaced_at: dt.datetime
    source: str
    snapshot: dict[str, object]


class RefundLineIn(Strict):
    line_no: Annotated[int, Field(ge=1, le=200)]
    quantity: Annotated[int, Field(ge=0, le=100_000)]
    amount_fen: Annotated[int, Field(ge=0, le=10**12)] | None = Field(
        default=None, description="defaults to the quantity's share of the line's amount"
    )


class RefundIn(Strict):
    """A refund against an order's lines; (order, external_id) makes a replay harmless."""

    channel: str = Field(pattern=CHANNEL_PATTERN)
    order_external_id: str = Field(min_length=1, max_length=100)
    external_id: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
    refunded_at: Instant
    lines: list[RefundLineIn] = Field(min_length=1, max_length=200)
    reason: str | None = Field(default=None, max_length=200)


class RefundBatch(Strict):
    refunds: list[RefundIn]


class RefundLineRead(Strict):
    order_line_id: int
    quantity: int
    amount_fen: int


class RefundRead(Strict):
    id: int
    order_id: int
    external_id: str
    amount_fen: int
    reason: str | None
    refunded_at: dt.datetime
    lines: list[RefundLineRead]


class RefundResult(Strict):
    row: int
    refund_id: int
    order_id: int
    amount_fen: int
    replayed: bool


class RefundBatchResult(Strict):
    results: list[RefundResult]


class FootfallIn(Strict):
    store_code: str = Field(min_length=1, max_length=40)
    hour_start: Instant = Field(description="the start of a whole hour in the tenant's time zone")
    visitors: Annotated[int, Field(ge=0, le=1_000_000)]


class FootfallBatch(Strict):
    counts: list[FootfallIn] = Field(max_length=10_000)


class FootfallResult(Strict):
    written: int


class OrderFilter(BaseModel):
    """What an order list is narrowed by (query parameters of GET /orders, and the console)."""

    store_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    guide_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    customer_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    channel: str | None = Field(default=None, max_length=40)
    status: str | None = Field(default=None, max_length=12)
    paid_from: Instant | None = Field(
        default=None, description="ISO 8601 with a zone, 2000-01-01 … 2100-12-31"
    )
    paid_to: Instant | None = Field(default=None, description="ISO 8601 with a zone, 2000-01-01 … 2100-12-31")


class OrderSearch(OrderFilter):
    """The console's order list adds the class and the order number (the customers a search found
    are a query of their own: `search_orders(customers=…)`)."""

    placement: Literal["in_store", "off_store"] | None = None
    number: str | None = Field(default=None, max_length=100, description="external id, or #id")


OrderRead.model_rebuild()
