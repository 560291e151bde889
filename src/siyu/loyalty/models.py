"""The ledger's tables: accounts, transactions, postings and holds.

Append-only double entry: a transaction's postings sum to zero per unit (points, fen); postings and
transactions are never updated or deleted; an account's `balance` and `held` change only by one
conditional UPDATE in the same transaction as the postings that explain them. Holds are the one
row with a state (active → captured / released / expired), changed by a conditional UPDATE too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped, TenantScopedFact

# What a customer holds, and the unit it is counted in.
CUSTOMER_ASSETS: dict[str, str] = {
    "points": "point",  # available points
    "points_pending": "point",  # earned, frozen through the refund window
    "sv_principal": "fen",  # stored value paid in
    "sv_bonus": "fen",  # stored value given on top (forfeited on a refund)
    "membership_deferred": "fen",  # paid membership not yet recognised as revenue
}
# The brand's counter-accounts, one per (asset, name): where a customer's units come from and go to.
BRAND_ACCOUNTS: dict[str, str] = {
    "points:issued": "point",  # points given (a marketing expense)
    "points:redeemed": "point",  # points spent on orders
    "points:expired": "point",  # breakage: lots that expired unspent
    "points:adjusted": "point",  # manual adjustments
    "points:unrecovered": "point",  # reversals of points already spent (the clawback shortfall)
    "sv:cash": "fen",  # money received for stored value (and paid back on refunds)
    "sv:bonus_expense": "fen",  # bonus given on top-ups
    "sv:redeemed": "fen",  # stored value spent on orders
    "sv:forfeited": "fen",  # bonus forfeited when the principal is refunded
    "sv:fees": "fen",  # refund fees kept
    "membership:cash": "fen",  # money received for paid membership
    "membership:revenue": "fen",  # membership revenue recognised over the term
}
HOLD_STATUSES = ("active", "captured", "released", "expired")


class LedgerAccount(TenantScoped, Base):
    """A customer's balance of one asset (`customer_id` set), or a brand counter-account.

    Customer accounts keep `balance` (never below zero) and `held` (frozen by active holds, never
    above the balance). Counter-accounts keep no running balance — every transaction touches one,
    and a row every transaction updates would serialise the brand; their balance is the sum of their
    postings, which `siyu ledger check` computes."""

    __tablename__ = "loyalty_accounts"
    __table_args__ = (
        UniqueConstraint("tenant_id", "customer_id", "asset"),
        Index(
            "ix_loyalty_accounts_brand",
            "tenant_id",
            "asset",
            unique=True,
            postgresql_where="customer_id IS NULL",
            sqlite_where="customer_id IS NULL",
        ),
        CheckConstraint("held >= 0 AND held <= balance", name="held_within_balance"),
        CheckConstraint("balance >= 0 OR customer_id IS NULL", name="customer_balance_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(BigIntPK)
    asset: Mapped[str] = mapped_column(String(24))  # CUSTOMER_ASSETS key, or BRAND_ACCOUNTS key
    unit: Mapped[str] = mapped_column(String(8))  # point | fen
    balance: Mapped[int] = mapped_column(BigInteger, default=0)
    held: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime]


class LedgerTransaction(TenantScoped, Base):
    """One balanced change: what happened, why, for whom, under which idempotency key.

    `request_sha256` is the digest of what was asked; a replay with the same key and digest returns
    `result` (the first answer), the same key with another digest is refused. A reversal names what
    it reverses; a hold's capture or release names the hold."""

    __tablename__ = "loyalty_transactions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_loyalty_transactions_customer", "tenant_id", "customer_id", "id"),
        Index("ix_loyalty_transactions_reverses", "tenant_id", "reverses_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(24))
    customer_id: Mapped[int | None] = mapped_column(BigIntPK)
    idempotency_key: Mapped[str | None] = mapped_column(String(120))
    request_sha256: Mapped[str] = mapped_column(String(64))
    reverses_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("loyalty_transactions.id"))
    hold_id: Mapped[int | None] = mapped_column(BigIntPK)
    store_id: Mapped[int | None] = mapped_column(BigIntPK)  # the issuing or accepting store
    order_ref: Mapped[str | None] = mapped_column(String(120))
    reason: Mapped[str | None] = mapped_column(String(200))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(BigIntPK)
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime]


class LedgerPosting(TenantScopedFact, Base):
    """One leg of a transaction: a signed amount on one account (never zero, never changed)."""

    __tablename__ = "loyalty_postings"
    __table_args__ = (
        Index("ix_loyalty_postings_account", "tenant_id", "account_id", "id"),
        Index("ix_loyalty_postings_transaction", "transaction_id"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("loyalty_transactions.id"))
    account_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("loyalty_accounts.id"))
    amount: Mapped[int] = mapped_column(BigInteger)


class LedgerHold(TenantScoped, Base):
    """Units frozen on a customer's account for a checkout: captured (wholly or in part) when the
    order is paid, released on cancel, expired when nobody decided in time."""

    __tablename__ = "loyalty_holds"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_loyalty_holds_active", "tenant_id", "status", "expires_at"),
        Index("ix_loyalty_holds_account", "tenant_id", "account_id"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint("status IN ('active','captured','released','expired')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("loyalty_accounts.id"))
    customer_id: Mapped[int] = mapped_column(BigIntPK)
    asset: Mapped[str] = mapped_column(String(24))
    amount: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="active")
    order_ref: Mapped[str | None] = mapped_column(String(120))
    store_id: Mapped[int | None] = mapped_column(BigIntPK)
    idempotency_key: Mapped[str] = mapped_column(String(120))
    request_sha256: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


# --- membership: the programme, tiers, cards, growth value -------------------------------------------

CARD_STATUSES = ("active", "frozen", "closed")
CARD_SOURCES = ("store", "guide", "channel", "channel_code", "import")
TIER_CHANGE_STATUSES = ("applied", "pending_approval")
DOWNGRADE_RULES = ("none", "by_period", "after_days_below")


class LoyaltyProgram(TenantScoped, Base):
    """A brand's loyalty rules: how points and growth value are earned on a paid order, how long
    they stay frozen (the refund window), and how tiers are kept. One row per brand; a brand without
    one earns nothing."""

    __tablename__ = "loyalty_programs"
    __table_args__ = (
        UniqueConstraint("tenant_id"),
        CheckConstraint("points_per_yuan >= 0 AND growth_per_yuan >= 0", name="rates_not_negative"),
        CheckConstraint("refund_window_days >= 0", name="window_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    points_per_yuan: Mapped[int] = mapped_column(Integer, default=1)  # points per whole ¥ of cash paid
    growth_per_yuan: Mapped[int] = mapped_column(Integer, default=1)  # growth value per whole ¥ of cash
    refund_window_days: Mapped[int] = mapped_column(Integer, default=7)  # points frozen this long
    excluded_categories: Mapped[list[str]] = mapped_column(default=list)  # any level of the path
    excluded_sku_codes: Mapped[list[str]] = mapped_column(default=list)
    downgrade_rule: Mapped[str] = mapped_column(String(20), default="none")
    downgrade_period_months: Mapped[int] = mapped_column(Integer, default=12)
    downgrade_after_days: Mapped[int] = mapped_column(Integer, default=90)
    card_prefix: Mapped[str] = mapped_column(String(8), default="")
    # Orders paid before this moment earn nothing (a programme does not pay out retroactively).
    effective_from: Mapped[datetime]
    # When points expire: never, N months after they were credited, or at the end of the year
    # N years after (a fixed date, 31 December, in the brand's time zone).
    points_expiry: Mapped[str] = mapped_column(String(12), default="never")
    points_expiry_months: Mapped[int] = mapped_column(Integer, default=24)
    # Points as a tender: how many points make ¥1, the least and most per order, the largest share
    # of the order they may pay, and whether they may pay the postage.
    points_per_yuan_burn: Mapped[int] = mapped_column(Integer, default=100)
    burn_min_points: Mapped[int] = mapped_column(Integer, default=0)
    burn_max_points: Mapped[int | None] = mapped_column(Integer)
    burn_max_share_pct: Mapped[int] = mapped_column(Integer, default=100)
    burn_covers_shipping: Mapped[bool] = mapped_column(default=False)
    # Stored value: which part pays first, and the fee kept when unused principal is refunded.
    sv_spend_order: Mapped[str] = mapped_column(String(16), default="principal_first")
    sv_refund_fee_pct: Mapped[int] = mapped_column(Integer, default=0)
    # Points for actions: {"sign_in": {"points": 5, "growth": 0, "per_day": 1, "once": false}, …}
    action_rules: Mapped[dict[str, Any] | None] = mapped_column(default=dict)
    # Campaigns that multiply what orders earn: [{"name", "starts_at", "ends_at", "multiplier_pct",
    # "store_ids": [] (all stores)}]; the highest that applies counts, on top of the tier's.
    campaigns: Mapped[list[dict[str, Any]] | None] = mapped_column(default=list)
    updated_at: Mapped[datetime]


class LoyaltyTier(TenantScoped, Base):
    """A tier: reached at `threshold` growth value; `rank` orders tiers (0 is the entry tier).

    `points_multiplier_pct` scales points earned (100 = 1×); `benefits` carries what other domains
    read (`discount_pct` for pricing, `free_shipping`, `birthday_gift`); reaching a tier with
    `requires_approval` records a request instead of moving the member."""

    __tablename__ = "loyalty_tiers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        UniqueConstraint("tenant_id", "rank"),
        CheckConstraint("threshold >= 0", name="threshold_not_negative"),
        CheckConstraint("points_multiplier_pct BETWEEN 0 AND 1000", name="multiplier_range"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    name_zh: Mapped[str] = mapped_column(String(20))
    name_en: Mapped[str] = mapped_column(String(40))
    rank: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[int] = mapped_column(BigInteger)
    points_multiplier_pct: Mapped[int] = mapped_column(Integer, default=100)
    benefits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    requires_approval: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime]


class MemberCard(TenantScoped, Base):
    """A customer's member card: one per customer, with where it was opened (store, guide, channel,
    channel code — the store daily report's "new member cards" counts these) and the member's tier
    and growth value. `growth` changes only by a conditional update next to an entry in
    `loyalty_growth_entries` that explains it."""

    __tablename__ = "loyalty_member_cards"
    __table_args__ = (
        UniqueConstraint("tenant_id", "customer_id"),
        UniqueConstraint("tenant_id", "card_no"),
        Index("ix_loyalty_member_cards_opened", "tenant_id", "opened_at"),
        CheckConstraint("growth >= 0", name="growth_not_negative"),
        CheckConstraint("status IN ('active','frozen','closed')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigIntPK)
    card_no: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(8), default="active")
    source: Mapped[str] = mapped_column(String(16))
    store_id: Mapped[int | None] = mapped_column(BigIntPK)
    guide_id: Mapped[int | None] = mapped_column(BigIntPK)
    channel: Mapped[str | None] = mapped_column(String(40))
    channel_code_id: Mapped[int | None] = mapped_column(BigIntPK)
    tier_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("loyalty_tiers.id"))
    initial_tier_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("loyalty_tiers.id"))
    growth: Mapped[int] = mapped_column(BigInteger, default=0)
    tier_since: Mapped[datetime | None]
    below_since: Mapped[datetime | None]  # growth fell below the tier's threshold (downgrade rules)
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class GrowthEntry(TenantScoped, Base):
    """One change of a member's growth value (append-only): an order paid, a refund, an action, a
    migrated balance, an adjustment. `idempotency_key` makes each happen once."""

    __tablename__ = "loyalty_growth_entries"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_loyalty_growth_entries_card", "tenant_id", "card_id", "id"),
        CheckConstraint("amount <> 0", name="amount_not_zero"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    card_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("loyalty_member_cards.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16))  # order | refund | action | migrated | adjust
    order_ref: Mapped[str | None] = mapped_column(String(120))
    idempotency_key: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]


class TierChange(TenantScoped, Base):
    """A member's move between tiers (history), or a request for one awaiting approval."""

    __tablename__ = "loyalty_tier_changes"
    __table_args__ = (
        Index("ix_loyalty_tier_changes_card", "tenant_id", "card_id", "id"),
        CheckConstraint("status IN ('applied','pending_approval')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    card_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("loyalty_member_cards.id"))
    from_tier_id: Mapped[int | None] = mapped_column(BigIntPK)
    to_tier_id: Mapped[int | None] = mapped_column(BigIntPK)
    reason: Mapped[str] = mapped_column(String(16))  # opened | upgrade | downgrade | initial
    status: Mapped[str] = mapped_column(String(16))
    growth: Mapped[int] = mapped_column(BigInteger)  # the growth value when it happened
    created_at: Mapped[datetime]


class OrderEarning(TenantScoped, Base):
    """What one paid order earned a member: points, frozen (`points_pending`) until `available_at`
    — the end of the refund window — and growth value, counted at once.

    `reversed_*` are what refunds took back so far (each refund takes the share of the order's paid
    amount it refunds, so a series of partial refunds ends exactly at the whole). `status`: pending
    → available when the job moves the rest of the points to `points`; a refund after that takes
    back from the available points (the clawback rule in docs/loyalty.md)."""

    __tablename__ = "loyalty_order_earnings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "order_id"),
        Index("ix_loyalty_order_earnings_due", "tenant_id", "status", "available_at"),
        Index("ix_loyalty_order_earnings_customer", "tenant_id", "customer_id"),
        CheckConstraint("reversed_points >= 0 AND reversed_points <= points", name="points_reversed_within"),
        CheckConstraint("reversed_growth >= 0 AND reversed_growth <= growth", name="growth_reversed_within"),
        CheckConstraint("status IN ('pending','available')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigIntPK)
    card_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("loyalty_member_cards.id"))
    order_id: Mapped[int] = mapped_column(BigIntPK)
    store_id: Mapped[int | None] = mapped_column(BigIntPK)
    transaction_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("loyalty_transactions.id"))
    paid_fen: Mapped[int] = mapped_column(BigInteger)  # the order's paid amount (refund shares)
    cash_fen: Mapped[int] = mapped_column(BigInteger)  # the cash points and growth were earned on
    points: Mapped[int] = mapped_column(BigInteger)
    growth: Mapped[int] = mapped_column(BigInteger)
    reversed_points: Mapped[int] = mapped_column(BigInteger, default=0)
    reversed_growth: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    available_at: Mapped[datetime]
    created_at: Mapped[datetime]


class PointsLot(TenantScoped, Base):
    """Points credited together, spent first-in first-out and expiring together.

    Every credit of a customer's `points` opens a lot (an earning that matured, an adjustment, an
    action); every debit (a spend, a capture, a clawback) takes from the open lots, the one that
    expires first first; the job `loyalty.expire_points` books what is left of a lot past its date
    to `points:expired` (breakage). The open lots of a customer always add up to their points
    balance (`siyu ledger check`)."""

    __tablename__ = "loyalty_points_lots"
    __table_args__ = (
        Index("ix_loyalty_points_lots_open", "tenant_id", "customer_id", "remaining"),
        Index("ix_loyalty_points_lots_expiry", "tenant_id", "expires_at"),
        CheckConstraint("remaining >= 0 AND remaining <= points", name="remaining_within"),
        CheckConstraint("points > 0", name="points_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigIntPK)
    # The crediting transaction (None: the opening lot of points held before lots existed).
    transaction_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("loyalty_transactions.id"))
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime | None]  # None: never
    created_at: Mapped[datetime]


DENIABLE = ("earn_points", "use_points", "use_coupons", "buy")


class Denial(TenantScoped, Base):
    """An operator's decision that a customer may not do something (anti-abuse): earn points, use
    points, use coupons, buy. Lifting it keeps the row (`lifted_at`), so the history stays."""

    __tablename__ = "loyalty_denials"
    __table_args__ = (
        Index("ix_loyalty_denials_customer", "tenant_id", "customer_id", "capability"),
        CheckConstraint("capability IN ('earn_points','use_points','use_coupons','buy')", name="capability"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigIntPK)
    capability: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(200))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(BigIntPK)
    created_at: Mapped[datetime]
    lifted_at: Mapped[datetime | None]


class TopUpRule(TenantScoped, Base):
    """A top-up offer: top up at least `min_principal_fen` within the window and get `bonus_fen`
    (充 ¥1,000 送 ¥100) and/or a gift. The best rule a top-up reaches applies (the highest threshold)."""

    __tablename__ = "loyalty_topup_rules"
    __table_args__ = (
        Index("ix_loyalty_topup_rules_active", "tenant_id", "active", "min_principal_fen"),
        CheckConstraint("min_principal_fen > 0 AND bonus_fen >= 0", name="amounts"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    min_principal_fen: Mapped[int] = mapped_column(BigInteger)
    bonus_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    gift: Mapped[str | None] = mapped_column(String(60))
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


SV_REFUND_STATUSES = ("pending", "approved", "rejected")


class StoredValueRefund(TenantScoped, Base):
    """A request to pay back unused stored-value principal: the principal is frozen (a hold) until
    someone other than the requester approves — then it leaves the card, the fee is kept and the
    matching share of the bonus is forfeited — or rejects it, and it is free again."""

    __tablename__ = "loyalty_sv_refunds"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_loyalty_sv_refunds_status", "tenant_id", "status", "id"),
        CheckConstraint("principal_fen > 0 AND fee_fen >= 0 AND fee_fen <= principal_fen", name="amounts"),
        CheckConstraint("status IN ('pending','approved','rejected')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigIntPK)
    principal_fen: Mapped[int] = mapped_column(BigInteger)
    fee_fen: Mapped[int] = mapped_column(BigInteger)
    bonus_forfeited_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    reason: Mapped[str] = mapped_column(String(200))
    hold_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("loyalty_holds.id"))
    transaction_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("loyalty_transactions.id"))
    store_id: Mapped[int | None] = mapped_column(BigIntPK)
    requested_by: Mapped[int | None] = mapped_column(BigIntPK)
    decided_by: Mapped[int | None] = mapped_column(BigIntPK)
    comment: Mapped[str | None] = mapped_column(String(200))
    idempotency_key: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class MembershipPlan(TenantScoped, Base):
    """A paid membership plan: a price for a term, and the privileges it gives (the benefits of a
    tier, by code, and its own)."""

    __tablename__ = "loyalty_membership_plans"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint("price_fen > 0 AND term_months > 0", name="price_and_term"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(20))
    name_zh: Mapped[str] = mapped_column(String(30))
    name_en: Mapped[str] = mapped_column(String(60))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    term_months: Mapped[int] = mapped_column(Integer)
    tier_code: Mapped[str | None] = mapped_column(String(20))  # whose benefits the plan grants
    benefits: Mapped[dict[str, Any]] = mapped_column(default=dict)
    refund_fee_pct: Mapped[int] = mapped_column(Integer, default=0)  # kept on a pro-rata cancellation
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]


class Membership(TenantScoped, Base):
    """One paid term of a plan for a customer. Its price is deferred revenue on the customer's
    `membership_deferred` account, recognised day by day over the term (`recognised_fen`); a renewal
    is a new term that starts when the previous one ends (`renewal_of_id`)."""

    __tablename__ = "loyalty_memberships"
    __table_args__ = (
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_loyalty_memberships_customer", "tenant_id", "customer_id", "ends_at"),
        Index("ix_loyalty_memberships_status", "tenant_id", "status", "ends_at"),
        CheckConstraint("recognised_fen >= 0 AND recognised_fen + refunded_fen <= price_fen", name="amounts"),
        CheckConstraint("status IN ('active','cancelled','expired')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigIntPK)
    plan_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("loyalty_membership_plans.id"))
    price_fen: Mapped[int] = mapped_column(BigInteger)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(10), default="active")
    auto_renew: Mapped[bool] = mapped_column(default=False)
    renewal_of_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("loyalty_memberships.id"))
    transaction_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("loyalty_transactions.id"))
    recognised_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    store_id: Mapped[int | None] = mapped_column(BigIntPK)
    idempotency_key: Mapped[str] = mapped_column(String(120))
    reminded_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
