"""Orders, their lines, payments, revisions and refunds; hourly store footfall."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped, TenantScopedFact

FIXED_CHANNELS = (
    "pos",
    "mini_program",
    "guide_share",
    "livestream",
    "community_group",
    "official_account",
)
FULFILMENTS = ("in_store", "pickup", "same_city", "express")
STATUSES = ("created", "paid", "fulfilled", "completed", "cancelled")
ATTRIBUTION_REASONS = ("pos_till", "in_store_scan", "guide_share_link", "exclusive_guide", "unattributed")


class Order(TenantScoped, Base):
    """One order from one channel; (channel, external_id) is unique per tenant."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("tenant_id", "channel", "external_id"),
        # The store daily report reads one store's paid orders in a time range, and the HQ roll-up
        # all stores' orders in a time range. The first index also holds every column the report
        # groups and sums, so a store-day is read from the index alone.
        Index(
            "ix_orders_store_paid",
            "tenant_id",
            "store_id",
            "paid_at",
            "channel",
            "placement",
            "during_hours",
            "paid_fen",
            "customer_id",
            "guide_id",
        ),
        Index("ix_orders_tenant_paid", "tenant_id", "paid_at"),
        # "Was this buyer new to the brand?" reads a customer's earliest payment.
        Index("ix_orders_customer_paid", "tenant_id", "customer_id", "paid_at"),
        Index("ix_orders_guide_paid", "guide_id", "paid_at"),
        # The console finds an order by its number without knowing the channel.
        Index("ix_orders_external", "tenant_id", "external_id"),
        CheckConstraint("status IN ('created','paid','fulfilled','completed','cancelled')", name="status"),
        CheckConstraint("fulfilment IN ('in_store','pickup','same_city','express')", name="fulfilment"),
        CheckConstraint("placement IN ('in_store','off_store')", name="placement"),
        CheckConstraint("total_fen >= 0 AND paid_fen >= 0", name="amounts"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= paid_fen", name="refunded"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    external_id: Mapped[str] = mapped_column(String(100))
    customer_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("customers.id"))
    # Store and staff ids are checked against the tenant's stores and staff when an order arrives,
    # and stores and staff are never deleted (closed, departed), so these columns carry no
    # foreign key: on PostgreSQL each would be a trigger per inserted order.
    # Attributed store and guide (see docs/orders.md for the rules), and why.
    store_id: Mapped[int | None] = mapped_column(BigIntPK)
    guide_id: Mapped[int | None] = mapped_column(BigIntPK)
    attribution_reason: Mapped[str] = mapped_column(String(24))
    # What the channel sent: the till's or scanning store, and the cashier or sharing guide.
    source_store_id: Mapped[int | None] = mapped_column(BigIntPK)
    source_staff_id: Mapped[int | None] = mapped_column(BigIntPK)
    placement: Mapped[str] = mapped_column(String(12))  # in_store | off_store
    # For off-store orders of an attributed store: placed while the store was open (else None).
    during_hours: Mapped[bool | None]
    fulfilment: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(12))
    currency: Mapped[str] = mapped_column(String(3))
    placed_at: Mapped[datetime]
    paid_at: Mapped[datetime | None]
    fulfilled_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    goods_fen: Mapped[int] = mapped_column(BigInteger)  # Σ quantity × unit price
    discount_fen: Mapped[int] = mapped_column(BigInteger)  # line discounts + order discount
    shipping_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    total_fen: Mapped[int] = mapped_column(BigInteger)  # what the customer owes
    paid_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # Σ payments
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)  # Σ refunds, by conditional UPDATE
    revision: Mapped[int] = mapped_column(Integer, default=1)
    payload_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class OrderLine(TenantScopedFact, Base):
    """One SKU line; amount_fen is what the line costs after its share of every discount."""

    __tablename__ = "order_lines"
    __table_args__ = (
        UniqueConstraint("order_id", "line_no"),
        Index("ix_order_lines_product", "product_id"),
        CheckConstraint("quantity > 0", name="quantity"),
        CheckConstraint("amount_fen >= 0 AND refunded_fen <= amount_fen", name="amounts"),
        CheckConstraint("refunded_quantity >= 0 AND refunded_quantity <= quantity", name="refunded_quantity"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("orders.id", ondelete="CASCADE"))
    line_no: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(BigIntPK)  # checked on arrival; SKUs are never deleted
    sku_code: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int] = mapped_column(Integer)
    unit_price_fen: Mapped[int] = mapped_column(BigInteger)
    discount_fen: Mapped[int] = mapped_column(BigInteger)  # own discount + allocated order discount
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_quantity: Mapped[int] = mapped_column(Integer, default=0)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)


class OrderPayment(TenantScopedFact, Base):
    """A tender: WeChat Pay, Alipay, card, cash, stored value, points…"""

    __tablename__ = "order_payments"
    __table_args__ = (Index("ix_order_payments_order", "order_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("orders.id", ondelete="CASCADE"))
    method: Mapped[str] = mapped_column(String(24))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    transaction_id: Mapped[str | None] = mapped_column(String(100))


class OrderRevision(TenantScoped, Base):
    """The payload an order had before an update from its channel changed it (history)."""

    __tablename__ = "order_revisions"
    __table_args__ = (UniqueConstraint("order_id", "revision"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("orders.id", ondelete="CASCADE"))
    revision: Mapped[int] = mapped_column(Integer)  # the revision this snapshot was
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    changed_fields: Mapped[list[str]] = mapped_column(default=list)
    replaced_at: Mapped[datetime]
    source: Mapped[str] = mapped_column(String(64))


class Refund(TenantScoped, Base):
    """Money given back against an order's lines; (order, external_id) makes replays harmless.

    Where the refund counts (its order's store, guide, channel and class) is copied onto it, so a
    store's refunds of a day are one index range, not a join through every order of the brand.
    """

    __tablename__ = "refunds"
    __table_args__ = (
        UniqueConstraint("order_id", "external_id"),
        Index("ix_refunds_tenant_refunded", "tenant_id", "refunded_at"),
        Index("ix_refunds_store_refunded", "tenant_id", "store_id", "refunded_at"),
        CheckConstraint("amount_fen > 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    order_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("orders.id", ondelete="CASCADE"))
    external_id: Mapped[str] = mapped_column(String(100))
    store_id: Mapped[int | None] = mapped_column(BigIntPK)
    guide_id: Mapped[int | None] = mapped_column(BigIntPK)
    channel: Mapped[str] = mapped_column(String(40))
    placement: Mapped[str] = mapped_column(String(12))
    during_hours: Mapped[bool | None]
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(200))
    refunded_at: Mapped[datetime]
    created_at: Mapped[datetime]


class RefundLine(TenantScoped, Base):
    """How much of one order line a refund gave back."""

    __tablename__ = "refund_lines"
    __table_args__ = (
        Index("ix_refund_lines_refund", "refund_id"),
        Index("ix_refund_lines_line", "order_line_id"),
        CheckConstraint("quantity >= 0 AND amount_fen >= 0", name="amounts"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    refund_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("refunds.id", ondelete="CASCADE"))
    order_line_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("order_lines.id", ondelete="CASCADE"))
    quantity: Mapped[int] = mapped_column(Integer)
    amount_fen: Mapped[int] = mapped_column(BigInteger)


class Footfall(TenantScoped, Base):
    """Visitors counted by a store's door counter in one hour (hour_start in UTC)."""

    __tablename__ = "store_footfall"
    __table_args__ = (
        UniqueConstraint("tenant_id", "store_id", "hour_start"),
        CheckConstraint("visitors >= 0", name="visitors"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    store_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("stores.id", ondelete="CASCADE"))
    hour_start: Mapped[datetime]
    visitors: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime]


class CustomerOrderStats(TenantScoped, Base):
    """Per customer: paid orders, net spend (paid − refunded) and the first and last payment.

    A read model of the orders table for lists that sort and filter customers by what they bought;
    rewritten from the customer's orders in the transaction that changes them (ingest, refunds,
    merges), so it is never behind (`siyu.orders.stats`)."""

    __tablename__ = "customer_order_stats"
    __table_args__ = (
        Index("ix_customer_order_stats_spend", "tenant_id", "net_fen"),
        Index("ix_customer_order_stats_last", "tenant_id", "last_paid_at"),
        Index("ix_customer_order_stats_orders", "tenant_id", "paid_orders"),
    )

    customer_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"), primary_key=True
    )
    paid_orders: Mapped[int] = mapped_column(Integer)
    net_fen: Mapped[int] = mapped_column(BigInteger)
    first_paid_at: Mapped[datetime]
    last_paid_at: Mapped[datetime]
