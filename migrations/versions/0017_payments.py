"""payments: WeChat Pay merchant settings, payment intents, notifications, refunds

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 02:34:04.348578
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from siyu.db.rls import drop_tenant_isolation, enable_tenant_isolation

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("payments_wechat_configs", "payment_intents", "payment_notifications", "payment_refunds")


def upgrade() -> None:
    """WeChat Pay for top-ups: the merchant, what was asked, what was heard, what was refunded."""
    op.create_table(
        "payment_intents",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("purpose", sa.String(length=32), nullable=False),
        sa.Column("out_trade_no", sa.String(length=32), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("description", sa.String(length=127), nullable=False),
        sa.Column("payer_openid", sa.String(length=128), nullable=False),
        sa.Column("prepay_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("transaction_id", sa.String(length=32), nullable=True),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column(
            "details",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("outcome", sa.String(length=200), nullable=True),
        sa.Column("paid_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('created','paid','closed','refund_due')", name=op.f("ck_payment_intents_status")
        ),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_payment_intents_amount_positive")),
        sa.CheckConstraint(
            "refunded_fen >= 0 AND refunded_fen <= amount_fen",
            name=op.f("ck_payment_intents_refunded_within"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_payment_intents_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_intents")),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name=op.f("uq_payment_intents_tenant_id_idempotency_key")
        ),
        sa.UniqueConstraint(
            "tenant_id", "out_trade_no", name=op.f("uq_payment_intents_tenant_id_out_trade_no")
        ),
        sa.UniqueConstraint(
            "tenant_id", "transaction_id", name=op.f("uq_payment_intents_tenant_id_transaction_id")
        ),
    )
    with op.batch_alter_table("payment_intents", schema=None) as batch_op:
        batch_op.create_index("ix_payment_intents_customer", ["tenant_id", "customer_id"], unique=False)
        batch_op.create_index("ix_payment_intents_open", ["tenant_id", "status", "created_at"], unique=False)

    op.create_table(
        "payment_notifications",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("notification_id", sa.String(length=64), nullable=True),
        sa.Column("event_type", sa.String(length=40), nullable=True),
        sa.Column("out_trade_no", sa.String(length=32), nullable=True),
        sa.Column("transaction_id", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_payment_notifications_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_notifications")),
    )
    with op.batch_alter_table("payment_notifications", schema=None) as batch_op:
        batch_op.create_index("ix_payment_notifications_received", ["tenant_id", "received_at"], unique=False)

    op.create_table(
        "payment_refunds",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("intent_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("out_refund_no", sa.String(length=64), nullable=False),
        sa.Column("amount_fen", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=80), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("refund_id", sa.String(length=32), nullable=True),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount_fen > 0", name=op.f("ck_payment_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_payment_refunds_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_refunds")),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name=op.f("uq_payment_refunds_tenant_id_idempotency_key")
        ),
        sa.UniqueConstraint(
            "tenant_id", "out_refund_no", name=op.f("uq_payment_refunds_tenant_id_out_refund_no")
        ),
    )
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.create_index("ix_payment_refunds_intent", ["tenant_id", "intent_id"], unique=False)

    op.create_table(
        "payments_wechat_configs",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mchid", sa.String(length=32), nullable=False),
        sa.Column("appid", sa.String(length=32), nullable=False),
        sa.Column("merchant_serial", sa.String(length=64), nullable=False),
        sa.Column("private_key_enc", sa.Text(), nullable=False),
        sa.Column("apiv3_key_enc", sa.Text(), nullable=False),
        sa.Column("platform_key_id", sa.String(length=80), nullable=False),
        sa.Column("platform_public_key", sa.Text(), nullable=False),
        sa.Column("api_base", sa.String(length=200), nullable=True),
        sa.Column("notify_base_url", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_payments_wechat_configs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments_wechat_configs")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_payments_wechat_configs_tenant_id")),
    )
    enable_tenant_isolation(op, TABLES)


def downgrade() -> None:
    drop_tenant_isolation(op, TABLES)
    op.drop_table("payments_wechat_configs")
    with op.batch_alter_table("payment_refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_refunds_intent")

    op.drop_table("payment_refunds")
    with op.batch_alter_table("payment_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_notifications_received")

    op.drop_table("payment_notifications")
    with op.batch_alter_table("payment_intents", schema=None) as batch_op:
        batch_op.drop_index("ix_payment_intents_open")
        batch_op.drop_index("ix_payment_intents_customer")

    op.drop_table("payment_intents")
