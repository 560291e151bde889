"""The ledger's tables: accounts, transactions, postings and holds.

Append-only double entry: a transaction's postings sum to zero per unit (points, fen); postings and
transactions are never updated or deleted; an account's `balance` and `held` change only by one
conditional UPDATE in the same transaction as the postings that explain them. Holds are the one
row with a state (active → captured / released / expired), changed by a conditional UPDATE too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, String, UniqueConstraint
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
