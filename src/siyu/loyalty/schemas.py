"""API shapes of the loyalty ledger: one class per direction. Money is integer fen, points whole."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from pydantic import BaseModel, Field, model_validator

from siyu.core.inputs import MAX_ID
from siyu.schemas import Instant, Strict

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
    bonus_fen: Annotated[
        int | None, Field(default=None, ge=0, le=10**9, description="null: the brand's top-up offer decides")
    ] = None
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
    goods_fen: Annotated[
        int | None,
        Field(
            default=None,
            ge=0,
            le=10**10,
            description="the order's goods (points: checked against the programme's caps)",
        ),
    ] = None
    shipping_fen: Annotated[int, Field(ge=0, le=10**8)] = 0
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


class CardRead(BaseModel):
    """A member card, the member's tier and what the next tier takes."""

    card_no: str
    status: Literal["active", "frozen", "closed"]
    source: str
    store_id: int | None
    guide_id: int | None
    channel: str | None
    channel_code_id: int | None
    opened_at: dt.datetime
    tier_code: str | None
    tier_name_zh: str | None
    tier_name_en: str | None
    growth: int = Field(description="earned growth value (paid purchases net of refunds, actions)")
    next_tier_code: str | None
    gap_to_next_tier: int | None = Field(description="growth value still needed (null at the top tier)")
    benefits: dict[str, object] = Field(description="the tier's benefits")
    pending_tier_request: str | None = Field(description="a higher tier awaiting approval, if any")


class ExpiringPoints(BaseModel):
    expires_at: dt.datetime
    points: int


class LoyaltyRead(BaseModel):
    """What a customer may see: balances (points, stored value principal and bonus), what is held
    for open checkouts, and the latest history."""

    customer_id: int
    card: CardRead | None = Field(description="the member card (null: not a member)")
    denied: list[Literal["earn_points", "use_points", "use_coupons", "buy"]] = Field(
        default=[], description="what the customer is denied (the deny list)"
    )
    points_expiring: list[ExpiringPoints] = Field(default=[], description="points that expire within 90 days")
    points: Balance
    points_pending: int = Field(description="points earned and frozen until the refund window ends")
    stored_value_fen: Balance = Field(description="principal and bonus together")
    stored_value_principal_fen: Balance
    stored_value_bonus_fen: Balance
    active_holds: list[HoldRead]
    history: list[HistoryLine]
    next_cursor: str | None


SOURCE = Literal["store", "guide", "channel", "channel_code", "import"]
Code = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_-]+$")]


class CardOpenIn(Strict):
    """Open a customer's member card: where (a store, a guide, a channel, a channel code), and for a
    migrated member their card number, tier and growth value."""

    source: SOURCE
    store_id: StoreId = None
    guide_id: Annotated[int | None, Field(default=None, ge=1, le=MAX_ID)] = None
    channel: str | None = Field(default=None, max_length=40, pattern=r"^[a-z0-9_]+$")
    channel_code_id: Annotated[int | None, Field(default=None, ge=1, le=MAX_ID)] = None
    card_no: str | None = Field(default=None, min_length=4, max_length=32, pattern=r"^[A-Za-z0-9-]+$")
    initial_tier: Code | None = None
    initial_growth: Annotated[int, Field(ge=0, le=10**10)] = 0


class ActionRule(Strict):
    """What an action earns a member: points, growth value, at most `per_day` a day or `once`."""

    points: Annotated[int, Field(ge=0, le=100_000)] = 0
    growth: Annotated[int, Field(ge=0, le=100_000)] = 0
    per_day: Annotated[int | None, Field(default=None, ge=1, le=100)] = None
    once: bool = False


class Campaign(Strict):
    """A window in which orders earn `multiplier_pct` % of the points (on top of the tier's), in
    some stores or all (an empty `store_ids`)."""

    name: str = Field(min_length=1, max_length=60, examples=["双十一积分翻倍"])
    starts_at: Instant
    ends_at: Instant
    multiplier_pct: Annotated[int, Field(ge=100, le=1000)] = 200
    store_ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default=[], max_length=2000)

    @model_validator(mode="after")
    def _ordered(self) -> Campaign:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at / 结束时间须晚于开始时间")
        return self


ACTION = Annotated[str, Field(min_length=2, max_length=30, pattern=r"^[a-z][a-z0-9_]*$")]


class ProgramIn(Strict):
    """The programme's rules: what a paid order earns and how tiers are kept."""

    points_per_yuan: Annotated[int, Field(ge=0, le=1000, description="points per whole ¥ of cash paid")] = 1
    growth_per_yuan: Annotated[
        int, Field(ge=0, le=1000, description="growth value per whole ¥ of cash paid")
    ] = 1
    refund_window_days: Annotated[int, Field(ge=0, le=365, description="points stay frozen this long")] = 7
    excluded_categories: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(
        default=[], max_length=200
    )
    excluded_sku_codes: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default=[], max_length=2000
    )
    downgrade_rule: Literal["none", "by_period", "after_days_below"] = "none"
    downgrade_period_months: Annotated[int, Field(ge=1, le=60)] = 12
    downgrade_after_days: Annotated[int, Field(ge=1, le=3650)] = 90
    card_prefix: str = Field(default="", max_length=8, pattern=r"^[A-Z0-9]*$")
    points_expiry: Literal["never", "after_months", "year_end"] = Field(
        default="never", description="never; N months after credited; or 31 December N/12 years after"
    )
    points_expiry_months: Annotated[int, Field(ge=1, le=120)] = 24
    points_per_yuan_burn: Annotated[
        int, Field(ge=1, le=100_000, description="points that make ¥1 at checkout")
    ] = 100
    burn_min_points: Annotated[int, Field(ge=0, le=10**9)] = 0
    burn_max_points: Annotated[int | None, Field(default=None, ge=1, le=10**9)] = None
    burn_max_share_pct: Annotated[
        int, Field(ge=1, le=100, description="largest share of an order points may pay")
    ] = 100
    burn_covers_shipping: bool = False
    sv_spend_order: Literal["principal_first", "bonus_first"] = "principal_first"
    sv_refund_fee_pct: Annotated[int, Field(ge=0, le=50)] = 0
    action_rules: dict[ACTION, ActionRule] = Field(
        default={}, max_length=30, examples=[{"sign_in": {"points": 5, "per_day": 1}}]
    )
    campaigns: list[Campaign] = Field(default=[], max_length=50)


class ProgramRead(ProgramIn):
    effective_from: dt.datetime = Field(description="orders paid before this earn nothing")
    updated_at: dt.datetime


class TierBenefits(Strict):
    """What a tier gives: read by pricing (discount), shipping and the birthday gift."""

    discount_pct: Annotated[int, Field(ge=0, le=50, description="member price: per cent off")] = 0
    free_shipping: bool = False
    birthday_gift: str | None = Field(default=None, max_length=60)


class TierIn(Strict):
    code: Code
    name_zh: str = Field(min_length=1, max_length=20)
    name_en: str = Field(min_length=1, max_length=40)
    threshold: Annotated[int, Field(ge=0, le=10**10, description="growth value that reaches the tier")]
    points_multiplier_pct: Annotated[int, Field(ge=0, le=1000, description="100 = 1×")] = 100
    benefits: TierBenefits = TierBenefits()
    requires_approval: bool = False


class TiersIn(Strict):
    tiers: list[TierIn] = Field(min_length=1, max_length=20)


class TierRead(BaseModel):
    code: str
    name_zh: str
    name_en: str
    rank: int
    threshold: int
    points_multiplier_pct: int
    benefits: dict[str, object]
    requires_approval: bool


class WeChatTopUpIn(Strict):
    """A top-up the customer pays with WeChat Pay (mini-program / JSAPI)."""

    principal_fen: Units
    bonus_fen: Annotated[
        int | None, Field(default=None, ge=0, le=10**10, description="null: the brand's top-up offer decides")
    ] = None
    openid: str = Field(min_length=6, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
    store_id: StoreId = None
    idempotency_key: Key


class WeChatTopUpRead(BaseModel):
    out_trade_no: str
    status: str
    amount_fen: int
    pay_params: dict[str, str] = Field(
        description="what wx.requestPayment needs (appId, timeStamp, nonceStr, package, signType, paySign)"
    )


class WeChatRefundIn(Strict):
    out_trade_no: str = Field(pattern=r"^[A-Za-z0-9_-]{6,32}$")
    amount_fen: Units
    reason: str = Field(min_length=2, max_length=80)
    idempotency_key: Key


class WeChatPaymentRead(BaseModel):
    out_trade_no: str
    purpose: str
    amount_fen: int
    refunded_fen: int
    status: Literal["created", "paid", "closed", "refund_due"]
    transaction_id: str | None
    outcome: str | None
    paid_at: dt.datetime | None
    created_at: dt.datetime


class PaymentRefundRead(BaseModel):
    out_refund_no: str
    amount_fen: int
    status: str
    refund_id: str | None
    created_at: dt.datetime


class DenialIn(Strict):
    """Deny a customer a capability, or lift the denial (anti-abuse); a reason is required."""

    capability: Literal["earn_points", "use_points", "use_coupons", "buy"]
    denied: bool
    reason: str = Field(min_length=2, max_length=200)


class BurnQuoteIn(Strict):
    goods_fen: Annotated[int, Field(ge=0, le=10**10)]
    shipping_fen: Annotated[int, Field(ge=0, le=10**8)] = 0


class BurnQuoteRead(BaseModel):
    """How many points this order may take, and what they are worth."""

    available_points: int
    min_points: int
    max_points: int
    max_value_fen: int
    points_per_yuan: int
    reason_zh: str
    reason_en: str


class TopUpRuleIn(Strict):
    name: str = Field(min_length=1, max_length=60, examples=["充 ¥1,000 送 ¥100"])
    min_principal_fen: Units
    bonus_fen: Annotated[int, Field(ge=0, le=10**9)] = 0
    gift: str | None = Field(default=None, max_length=60)
    starts_at: Instant | None = None
    ends_at: Instant | None = None
    active: bool = True


class TopUpRulesIn(Strict):
    rules: list[TopUpRuleIn] = Field(max_length=50)


class TopUpRuleRead(BaseModel):
    name: str
    min_principal_fen: int
    bonus_fen: int
    gift: str | None
    starts_at: dt.datetime | None
    ends_at: dt.datetime | None
    active: bool


class SvRefundIn(Strict):
    """Ask to pay back unused principal (all of it when `principal_fen` is omitted)."""

    principal_fen: Annotated[int | None, Field(default=None, ge=1, le=10**9)] = None
    reason: str = Field(min_length=2, max_length=200)
    store_id: StoreId = None
    idempotency_key: Key


class SvRefundDecisionIn(Strict):
    approve: bool
    comment: str | None = Field(default=None, max_length=200)
    fee_fen: Annotated[
        int | None, Field(default=None, ge=0, le=10**9, description="lower the fee (approval)")
    ] = None


class SvRefundRead(BaseModel):
    id: int
    customer_id: int
    principal_fen: int
    fee_fen: int
    bonus_forfeited_fen: int
    status: Literal["pending", "approved", "rejected"]
    reason: str
    comment: str | None
    created_at: dt.datetime
    decided_at: dt.datetime | None


class PlanIn(Strict):
    code: Code
    name_zh: str = Field(min_length=1, max_length=30)
    name_en: str = Field(min_length=1, max_length=60)
    price_fen: Units
    term_months: Annotated[int, Field(ge=1, le=60)]
    tier_code: Code | None = Field(default=None, description="the tier whose benefits the plan grants")
    benefits: dict[str, str | int | bool] = Field(default={}, max_length=20)
    refund_fee_pct: Annotated[int, Field(ge=0, le=100)] = 0
    active: bool = True


class PlansIn(Strict):
    plans: list[PlanIn] = Field(max_length=20)


class PlanRead(BaseModel):
    code: str
    name_zh: str
    name_en: str
    price_fen: int
    term_months: int
    tier_code: str | None
    benefits: dict[str, object]
    refund_fee_pct: int
    active: bool


class MembershipIn(Strict):
    plan_code: Code
    auto_renew: bool = False
    store_id: StoreId = None
    idempotency_key: Key


class MembershipCancelIn(Strict):
    reason: str = Field(min_length=2, max_length=200)


class MembershipRead(BaseModel):
    id: int
    plan_code: str
    price_fen: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: Literal["active", "cancelled", "expired"]
    auto_renew: bool
    renewal: bool
    recognised_fen: int
    refunded_fen: int


class CohortRead(BaseModel):
    month: str = Field(description="the month the terms ended (brand time zone)")
    ended: int
    renewed: int
    rate: float | None


class WeChatMembershipIn(Strict):
    plan_code: Code
    auto_renew: bool = False
    openid: str = Field(min_length=6, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")
    store_id: StoreId = None
    idempotency_key: Key


class Definition(BaseModel):
    zh: str
    en: str


class LiabilityGroup(BaseModel):
    key: str
    name: str
    figures: dict[str, int]


class LiabilityDay(BaseModel):
    date: dt.date
    groups: list[LiabilityGroup]


class LiabilityRead(BaseModel):
    """Points (whole), money (fen) at the end of each day; breakage during it."""

    by: Literal["brand", "region", "store"]
    definitions: dict[str, Definition]
    days: list[LiabilityDay]


class ActionIn(Strict):
    """A member did something the brand rewards (sign-in, a review, a completed profile)."""

    action: ACTION
    idempotency_key: Key
