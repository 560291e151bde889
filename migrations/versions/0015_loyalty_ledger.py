"""loyalty ledger: accounts, transactions, postings, holds

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 11:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from siyu.db.rls import drop_tenant_isolation, enable_tenant_isolation

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TABLES = ("loyalty_accounts", "loyalty_transactions", "loyalty_postings", "loyalty_holds")


def _tenant(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["tenant_id"], ["tenants.id"], name=op.f(f"fk_{table}_tenant_id_tenants"), ondelete="CASCADE"
    )


def upgrade() -> None:
    """The append-only double-entry ledger behind points, stored value and paid membership."""
    op.create_table(
        "loyalty_accounts",
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("customer_id", BIGINT, nullable=True),
        sa.Column("asset", sa.String(length=24), nullable=False),
        sa.Column("unit", sa.String(length=8), nullable=False),
        sa.Column("balance", sa.BigInteger(), nullable=False),
        sa.Column("held", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "held >= 0 AND held <= balance", name=op.f("ck_loyalty_accounts_held_within_balance")
        ),
        sa.CheckConstraint(
            "balance >= 0 OR customer_id IS NULL",
            name=op.f("ck_loyalty_accounts_customer_balance_not_negative"),
        ),
        _tenant("loyalty_accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_accounts")),
        sa.UniqueConstraint(
            "tenant_id", "customer_id", "asset", name=op.f("uq_loyalty_accounts_tenant_id_customer_id_asset")
        ),
    )
    op.create_index(
        "ix_loyalty_accounts_brand",
        "loyalty_accounts",
        ["tenant_id", "asset"],
        unique=True,
        postgresql_where=sa.text("customer_id IS NULL"),
        sqlite_where=sa.text("customer_id IS NULL"),
    )
    op.create_table(
        "loyalty_transactions",
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("customer_id", BIGINT, nullable=True),
        sa.Column("idempotency_key", sa.String(length=120), nullable=True),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("reverses_id", BIGINT, nullable=True),
        sa.Column("hold_id", BIGINT, nullable=True),
        sa.Column("store_id", BIGINT, nullable=True),
        sa.Column("order_ref", sa.String(length=120), nullable=True),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", BIGINT, nullable=True),
        sa.Column("result", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["loyalty_transactions.id"],
            name=op.f("fk_loyalty_transactions_reverses_id_loyalty_transactions"),
        ),
        _tenant("loyalty_transactions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_transactions")),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name=op.f("uq_loyalty_transactions_tenant_id_idempotency_key")
        ),
    )
    op.create_index(
        "ix_loyalty_transactions_customer", "loyalty_transactions", ["tenant_id", "customer_id", "id"]
    )
    op.create_index("ix_loyalty_transactions_reverses", "loyalty_transactions", ["tenant_id", "reverses_id"])
    op.create_table(
        "loyalty_postings",
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("transaction_id", BIGINT, nullable=False),
        sa.Column("account_id", BIGINT, nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_loyalty_postings_amount_not_zero")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["loyalty_accounts.id"],
            name=op.f("fk_loyalty_postings_account_id_loyalty_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["loyalty_transactions.id"],
            name=op.f("fk_loyalty_postings_transaction_id_loyalty_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_postings")),
    )
    op.create_index("ix_loyalty_postings_account", "loyalty_postings", ["tenant_id", "account_id", "id"])
    op.create_index("ix_loyalty_postings_transaction", "loyalty_postings", ["transaction_id"])
    op.create_table(
        "loyalty_holds",
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("account_id", BIGINT, nullable=False),
        sa.Column("customer_id", BIGINT, nullable=False),
        sa.Column("asset", sa.String(length=24), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("order_ref", sa.String(length=120), nullable=True),
        sa.Column("store_id", BIGINT, nullable=True),
        sa.Column("idempotency_key", sa.String(length=120), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_loyalty_holds_amount_positive")),
        sa.CheckConstraint(
            "status IN ('active','captured','released','expired')", name=op.f("ck_loyalty_holds_status")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["loyalty_accounts.id"], name=op.f("fk_loyalty_holds_account_id_loyalty_accounts")
        ),
        _tenant("loyalty_holds"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_holds")),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name=op.f("uq_loyalty_holds_tenant_id_idempotency_key")
        ),
    )
    op.create_index("ix_loyalty_holds_active", "loyalty_holds", ["tenant_id", "status", "expires_at"])
    op.create_index("ix_loyalty_holds_account", "loyalty_holds", ["tenant_id", "account_id"])
    enable_tenant_isolation(op, TABLES)


def downgrade() -> None:
    drop_tenant_isolation(op, TABLES)
    for table in reversed(TABLES):
        op.drop_table(table)
