"""Payments tables: a brand's WeChat Pay merchant settings (keys sealed), payment intents (one per
order Siyu asks WeChat Pay to collect), the notifications received, and refunds.

An intent is paid once: its status changes `created → paid` by one conditional update, and
`transaction_id` (WeChat Pay's number) is unique per brand, so a notification and a reconciliation
query that report the same payment at once apply it once."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped

INTENT_STATUSES = ("created", "paid", "closed", "refund_due")


class WeChatPayConfig(TenantScoped, Base):
    """A brand's merchant on WeChat Pay: ids, the API key's serial, the private key and the APIv3
    key (sealed with SIYU_SECRET_KEY), and the platform public key it trusts (with its id)."""

    __tablename__ = "payments_wechat_configs"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    mchid: Mapped[str] = mapped_column(String(32))
    appid: Mapped[str] = mapped_column(String(32))
    merchant_serial: Mapped[str] = mapped_column(String(64))
    private_key_enc: Mapped[str] = mapped_column(Text)
    apiv3_key_enc: Mapped[str] = mapped_column(Text)
    platform_key_id: Mapped[str] = mapped_column(String(80))
    platform_public_key: Mapped[str] = mapped_column(Text)
    api_base: Mapped[str | None] = mapped_column(String(200))  # None: WeChat Pay itself
    notify_base_url: Mapped[str] = mapped_column(String(200))
    updated_at: Mapped[datetime]


class PaymentIntent(TenantScoped, Base):
    """Money Siyu asked a customer to pay, for a purpose (a stored-value top-up)."""

    __tablename__ = "payment_intents"
    __table_args__ = (
        UniqueConstraint("tenant_id", "out_trade_no"),
        UniqueConstraint("tenant_id", "transaction_id"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_payment_intents_open", "tenant_id", "status", "created_at"),
        Index("ix_payment_intents_customer", "tenant_id", "customer_id"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refunded_within"),
        CheckConstraint("status IN ('created','paid','closed','refund_due')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))  # wechat_pay
    purpose: Mapped[str] = mapped_column(String(32))  # stored_value_top_up
    out_trade_no: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[int] = mapped_column(BigIntPK)
    store_id: Mapped[int | None] = mapped_column(BigIntPK)
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    refunded_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    description: Mapped[str] = mapped_column(String(127))
    payer_openid: Mapped[str] = mapped_column(String(128))
    prepay_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="created")
    transaction_id: Mapped[str | None] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(120))
    request_sha256: Mapped[str] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)  # what the purpose needs (bonus …)
    outcome: Mapped[str | None] = mapped_column(String(200))  # why a paid intent needs a refund
    paid_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class PaymentNotification(TenantScoped, Base):
    """Every notification received, verified or not, and what became of it (audit and support)."""

    __tablename__ = "payment_notifications"
    __table_args__ = (Index("ix_payment_notifications_received", "tenant_id", "received_at"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    notification_id: Mapped[str | None] = mapped_column(String(64))
    event_type: Mapped[str | None] = mapped_column(String(40))
    out_trade_no: Mapped[str | None] = mapped_column(String(32))
    transaction_id: Mapped[str | None] = mapped_column(String(32))
    outcome: Mapped[str] = mapped_column(String(16))  # applied | duplicate | rejected | ignored
    reason: Mapped[str | None] = mapped_column(String(200))
    received_at: Mapped[datetime]


class PaymentRefund(TenantScoped, Base):
    """Money given back on a paid intent through WeChat Pay."""

    __tablename__ = "payment_refunds"
    __table_args__ = (
        UniqueConstraint("tenant_id", "out_refund_no"),
        UniqueConstraint("tenant_id", "idempotency_key"),
        Index("ix_payment_refunds_intent", "tenant_id", "intent_id"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    intent_id: Mapped[int] = mapped_column(BigIntPK)
    out_refund_no: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(80))
    status: Mapped[str] = mapped_column(String(16))  # as WeChat Pay answers: PROCESSING, SUCCESS, …
    refund_id: Mapped[str | None] = mapped_column(String(32))
    idempotency_key: Mapped[str] = mapped_column(String(120))
    request_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
