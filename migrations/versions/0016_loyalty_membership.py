"""loyalty membership: programmes, tiers, member cards, growth value, order earnings

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 02:07:23.513055
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from siyu.db.rls import drop_tenant_isolation, enable_tenant_isolation

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = (
    "loyalty_programs",
    "loyalty_tiers",
    "loyalty_member_cards",
    "loyalty_order_earnings",
    "loyalty_growth_entries",
    "loyalty_tier_changes",
)


def upgrade() -> None:
    """Member cards, tiers and growth value, and what paid orders earned (points frozen through the
    refund window)."""
    op.create_table(
        "loyalty_programs",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("points_per_yuan", sa.Integer(), nullable=False),
        sa.Column("growth_per_yuan", sa.Integer(), nullable=False),
        sa.Column("refund_window_days", sa.Integer(), nullable=False),
        sa.Column(
            "excluded_categories",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "excluded_sku_codes",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("downgrade_rule", sa.String(length=20), nullable=False),
        sa.Column("downgrade_period_months", sa.Integer(), nullable=False),
        sa.Column("downgrade_after_days", sa.Integer(), nullable=False),
        sa.Column("card_prefix", sa.String(length=8), nullable=False),
        sa.Column("effective_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "points_per_yuan >= 0 AND growth_per_yuan >= 0",
            name=op.f("ck_loyalty_programs_rates_not_negative"),
        ),
        sa.CheckConstraint("refund_window_days >= 0", name=op.f("ck_loyalty_programs_window_not_negative")),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_loyalty_programs_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_programs")),
        sa.UniqueConstraint("tenant_id", name=op.f("uq_loyalty_programs_tenant_id")),
    )
    op.create_table(
        "loyalty_tiers",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("code", sa.String(length=20), nullable=False),
        sa.Column("name_zh", sa.String(length=20), nullable=False),
        sa.Column("name_en", sa.String(length=40), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("threshold", sa.BigInteger(), nullable=False),
        sa.Column("points_multiplier_pct", sa.Integer(), nullable=False),
        sa.Column(
            "benefits",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("requires_approval", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "points_multiplier_pct BETWEEN 0 AND 1000", name=op.f("ck_loyalty_tiers_multiplier_range")
        ),
        sa.CheckConstraint("threshold >= 0", name=op.f("ck_loyalty_tiers_threshold_not_negative")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_loyalty_tiers_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_tiers")),
        sa.UniqueConstraint("tenant_id", "code", name=op.f("uq_loyalty_tiers_tenant_id_code")),
        sa.UniqueConstraint("tenant_id", "rank", name=op.f("uq_loyalty_tiers_tenant_id_rank")),
    )
    op.create_table(
        "loyalty_member_cards",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_no", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("guide_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=True),
        sa.Column("channel_code_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("tier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("initial_tier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("growth", sa.BigInteger(), nullable=False),
        sa.Column("tier_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("below_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('active','frozen','closed')", name=op.f("ck_loyalty_member_cards_status")
        ),
        sa.CheckConstraint("growth >= 0", name=op.f("ck_loyalty_member_cards_growth_not_negative")),
        sa.ForeignKeyConstraint(
            ["initial_tier_id"],
            ["loyalty_tiers.id"],
            name=op.f("fk_loyalty_member_cards_initial_tier_id_loyalty_tiers"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_loyalty_member_cards_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tier_id"], ["loyalty_tiers.id"], name=op.f("fk_loyalty_member_cards_tier_id_loyalty_tiers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_member_cards")),
        sa.UniqueConstraint("tenant_id", "card_no", name=op.f("uq_loyalty_member_cards_tenant_id_card_no")),
        sa.UniqueConstraint(
            "tenant_id", "customer_id", name=op.f("uq_loyalty_member_cards_tenant_id_customer_id")
        ),
    )
    with op.batch_alter_table("loyalty_member_cards", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_member_cards_opened", ["tenant_id", "opened_at"], unique=False)

    op.create_table(
        "loyalty_growth_entries",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("order_ref", sa.String(length=120), nullable=True),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_loyalty_growth_entries_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["card_id"],
            ["loyalty_member_cards.id"],
            name=op.f("fk_loyalty_growth_entries_card_id_loyalty_member_cards"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_loyalty_growth_entries_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_growth_entries")),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name=op.f("uq_loyalty_growth_entries_tenant_id_idempotency_key")
        ),
    )
    with op.batch_alter_table("loyalty_growth_entries", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_growth_entries_card", ["tenant_id", "card_id", "id"], unique=False)

    op.create_table(
        "loyalty_order_earnings",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("store_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("paid_fen", sa.BigInteger(), nullable=False),
        sa.Column("cash_fen", sa.BigInteger(), nullable=False),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("growth", sa.BigInteger(), nullable=False),
        sa.Column("reversed_points", sa.BigInteger(), nullable=False),
        sa.Column("reversed_growth", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("available_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending','available')", name=op.f("ck_loyalty_order_earnings_status")
        ),
        sa.CheckConstraint(
            "reversed_growth >= 0 AND reversed_growth <= growth",
            name=op.f("ck_loyalty_order_earnings_growth_reversed_within"),
        ),
        sa.CheckConstraint(
            "reversed_points >= 0 AND reversed_points <= points",
            name=op.f("ck_loyalty_order_earnings_points_reversed_within"),
        ),
        sa.ForeignKeyConstraint(
            ["card_id"],
            ["loyalty_member_cards.id"],
            name=op.f("fk_loyalty_order_earnings_card_id_loyalty_member_cards"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_loyalty_order_earnings_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["loyalty_transactions.id"],
            name=op.f("fk_loyalty_order_earnings_transaction_id_loyalty_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_order_earnings")),
        sa.UniqueConstraint(
            "tenant_id", "order_id", name=op.f("uq_loyalty_order_earnings_tenant_id_order_id")
        ),
    )
    with op.batch_alter_table("loyalty_order_earnings", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_order_earnings_customer", ["tenant_id", "customer_id"], unique=False
        )
        batch_op.create_index(
            "ix_loyalty_order_earnings_due", ["tenant_id", "status", "available_at"], unique=False
        )

    op.create_table(
        "loyalty_tier_changes",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("card_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("from_tier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("to_tier_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reason", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("growth", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('applied','pending_approval')", name=op.f("ck_loyalty_tier_changes_status")
        ),
        sa.ForeignKeyConstraint(
            ["card_id"],
            ["loyalty_member_cards.id"],
            name=op.f("fk_loyalty_tier_changes_card_id_loyalty_member_cards"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_loyalty_tier_changes_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_tier_changes")),
    )
    with op.batch_alter_table("loyalty_tier_changes", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_tier_changes_card", ["tenant_id", "card_id", "id"], unique=False)

    enable_tenant_isolation(op, TABLES)


def downgrade() -> None:
    drop_tenant_isolation(op, TABLES)
    with op.batch_alter_table("loyalty_tier_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_tier_changes_card")

    op.drop_table("loyalty_tier_changes")
    with op.batch_alter_table("loyalty_order_earnings", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_order_earnings_due")
        batch_op.drop_index("ix_loyalty_order_earnings_customer")

    op.drop_table("loyalty_order_earnings")
    with op.batch_alter_table("loyalty_growth_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_growth_entries_card")

    op.drop_table("loyalty_growth_entries")
    with op.batch_alter_table("loyalty_member_cards", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_member_cards_opened")

    op.drop_table("loyalty_member_cards")
    op.drop_table("loyalty_tiers")
    op.drop_table("loyalty_programs")
