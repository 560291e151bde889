"""stored value: top-up rules, refunds of unused principal; paid membership: plans, terms

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 02:51:11.263843
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from siyu.db.rls import drop_tenant_isolation, enable_tenant_isolation

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "loyalty_topup_rules",
    "loyalty_sv_refunds",
    "loyalty_membership_plans",
    "loyalty_memberships",
)


def upgrade() -> None:
    """Top-up offers and refunds of unused principal with approval; paid membership plans and terms."""
    op.create_table(
        "loyalty_membership_plans",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name_zh", sa.String(length=30), nullable=False),
        sa.Column("name_en", sa.String(length=60), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("term_months", sa.Integer(), nullable=False),
        sa.Column("tier_code", sa.String(length=20), nullable=True),
        sa.Column(
            "benefits",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("refund_fee_pct", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "price_fen > 0 AND term_months > 0", name=op.f("ck_loyalty_membership_plans_price_and_term")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_loyalty_membership_plans_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_membership_plans")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_loyalty_membership_plans_tenant_id_code")),
    )
    op.create_table(
        "loyalty_topup_rules",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sa.String(length=60), nullable=False),
        sa.Column("min_principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("bonus_fen", sa.BigInteger(), nullable=False),
        sa.Column("gift", sa.String(length=60), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "min_principal_fen > 0 AND bonus_fen >= 0", name=op.f("ck_loyalty_topup_rules_amounts")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_loyalty_topup_rules_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_topup_rules")),
    )
    with op.batch_alter_table("loyalty_topup_rules", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_topup_rules_active", ["tenant_id", "active", "min_principal_fen"], unique=False
        )

    op.create_table(
        "loyalty_memberships",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("plan_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("price_fen", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("auto_renew", sa.Boolean(), nullable=False),
        sa.Column("renewal_of_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("recognised_fen", sa.BigInteger(), nullable=False),
        sa.Column("refunded_fen", sa.BigInteger(), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active','cancelled','expired')", name=op.f("ck_loyalty_memberships_status")
        ),
        sa.CheckConstraint(
            "recognised_fen >= 0 AND recognised_fen + refunded_fen <= price_fen",
            name=op.f("ck_loyalty_memberships_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["loyalty_membership_plans.id"],
            name=op.f("fk_loyalty_memberships_plan_id_loyalty_membership_plans"),
        ),
        sa.ForeignKeyConstraint(
            ["renewal_of_id"],
            ["loyalty_memberships.id"],
            name=op.f("fk_loyalty_memberships_renewal_of_id_loyalty_memberships"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_loyalty_memberships_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["loyalty_transactions.id"],
            name=op.f("fk_loyalty_memberships_transaction_id_loyalty_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_memberships")),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name=op.f("uq_loyalty_memberships_tenant_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("loyalty_memberships", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_memberships_customer", ["tenant_id", "customer_id", "ends_at"], unique=False
        )
        batch_op.create_index(
            "ix_loyalty_memberships_status", ["tenant_id", "status", "ends_at"], unique=False
        )

    op.create_table(
        "loyalty_sv_refunds",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("principal_fen", sa.BigInteger(), nullable=False),
        sa.Column("fee_fen", sa.BigInteger(), nullable=False),
        sa.Column("bonus_forfeited_fen", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("hold_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("requested_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("decided_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("comment", sa.String(length=200), nullable=True),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending','approved','rejected')", name=op.f("ck_loyalty_sv_refunds_status")
        ),
        sa.CheckConstraint(
            "principal_fen > 0 AND fee_fen >= 0 AND fee_fen <= principal_fen",
            name=op.f("ck_loyalty_sv_refunds_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["hold_id"], ["loyalty_holds.id"], name=op.f("fk_loyalty_sv_refunds_hold_id_loyalty_holds")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_loyalty_sv_refunds_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["loyalty_transactions.id"],
            name=op.f("fk_loyalty_sv_refunds_transaction_id_loyalty_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_sv_refunds")),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name=op.f("uq_loyalty_sv_refunds_tenant_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("loyalty_sv_refunds", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_sv_refunds_status", ["tenant_id", "status", "id"], unique=False)

    with op.batch_alter_table("loyalty_programs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "sv_spend_order", sa.String(length=16), nullable=False, server_default="principal_first"
            )
        )
        batch_op.add_column(sa.Column("sv_refund_fee_pct", sa.Integer(), nullable=False, server_default="0"))

    enable_tenant_isolation(op, TABLES)


def downgrade() -> None:
    drop_tenant_isolation(op, TABLES)
    with op.batch_alter_table("loyalty_programs", schema=None) as batch_op:
        batch_op.drop_column("sv_refund_fee_pct")
        batch_op.drop_column("sv_spend_order")

    with op.batch_alter_table("loyalty_sv_refunds", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_sv_refunds_status")

    op.drop_table("loyalty_sv_refunds")
    with op.batch_alter_table("loyalty_memberships", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_memberships_status")
        batch_op.drop_index("ix_loyalty_memberships_customer")

    op.drop_table("loyalty_memberships")
    with op.batch_alter_table("loyalty_topup_rules", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_topup_rules_active")

    op.drop_table("loyalty_topup_rules")
    op.drop_table("loyalty_membership_plans")
