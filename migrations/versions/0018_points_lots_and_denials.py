"""points lots (FIFO, expiry), denials, expiry and burn rules

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 02:45:16.730887
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from siyu.core.clock import utcnow
from siyu.db.rls import drop_tenant_isolation, enable_tenant_isolation

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("loyalty_denials", "loyalty_points_lots")


def upgrade() -> None:
    """Points lots spent first-in first-out and expiring; the deny list; the expiry and burn rules.
    Points customers already hold get an opening lot that never expires."""
    op.create_table(
        "loyalty_denials",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("capability", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lifted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "capability IN ('earn_points','use_points','use_coupons','buy')",
            name=op.f("ck_loyalty_denials_capability"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_loyalty_denials_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_denials")),
    )
    with op.batch_alter_table("loyalty_denials", schema=None) as batch_op:
        batch_op.create_index(
            "ix_loyalty_denials_customer", ["tenant_id", "customer_id", "capability"], unique=False
        )

    op.create_table(
        "loyalty_points_lots",
        sa.Column("tenant_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("customer_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("transaction_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("points", sa.BigInteger(), nullable=False),
        sa.Column("remaining", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("points > 0", name=op.f("ck_loyalty_points_lots_points_positive")),
        sa.CheckConstraint(
            "remaining >= 0 AND remaining <= points", name=op.f("ck_loyalty_points_lots_remaining_within")
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_loyalty_points_lots_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["loyalty_transactions.id"],
            name=op.f("fk_loyalty_points_lots_transaction_id_loyalty_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_points_lots")),
    )
    with op.batch_alter_table("loyalty_points_lots", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_points_lots_expiry", ["tenant_id", "expires_at"], unique=False)
        batch_op.create_index(
            "ix_loyalty_points_lots_open", ["tenant_id", "customer_id", "remaining"], unique=False
        )

    with op.batch_alter_table("loyalty_programs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("points_expiry", sa.String(length=12), nullable=False, server_default="never")
        )
        batch_op.add_column(
            sa.Column("points_expiry_months", sa.Integer(), nullable=False, server_default="24")
        )
        batch_op.add_column(
            sa.Column("points_per_yuan_burn", sa.Integer(), nullable=False, server_default="100")
        )
        batch_op.add_column(sa.Column("burn_min_points", sa.Integer(), nullable=False, server_default="0"))
        batch_op.add_column(sa.Column("burn_max_points", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("burn_max_share_pct", sa.Integer(), nullable=False, server_default="100")
        )
        batch_op.add_column(
            sa.Column("burn_covers_shipping", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    enable_tenant_isolation(op, TABLES)
    accounts = sa.table(
        "loyalty_accounts",
        sa.column("tenant_id", sa.BigInteger()),
        sa.column("customer_id", sa.BigInteger()),
        sa.column("asset", sa.String()),
        sa.column("balance", sa.BigInteger()),
    )
    lots = sa.table(
        "loyalty_points_lots",
        sa.column("tenant_id", sa.BigInteger()),
        sa.column("customer_id", sa.BigInteger()),
        sa.column("transaction_id", sa.BigInteger()),
        sa.column("points", sa.BigInteger()),
        sa.column("remaining", sa.BigInteger()),
        sa.column("expires_at", sa.DateTime(timezone=True)),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    bind = op.get_bind()
    now = utcnow()
    held = bind.execute(
        sa.select(accounts.c.tenant_id, accounts.c.customer_id, accounts.c.balance).where(
            accounts.c.asset == "points", accounts.c.customer_id.is_not(None), accounts.c.balance > 0
        )
    ).all()
    if held:
        bind.execute(
            lots.insert(),
            [
                {
                    "tenant_id": t,
                    "customer_id": c,
                    "transaction_id": None,
                    "points": b,
                    "remaining": b,
                    "expires_at": None,
                    "created_at": now,
                }
                for t, c, b in held
            ],
        )


def downgrade() -> None:
    drop_tenant_isolation(op, TABLES)
    with op.batch_alter_table("loyalty_programs", schema=None) as batch_op:
        batch_op.drop_column("burn_covers_shipping")
        batch_op.drop_column("burn_max_share_pct")
        batch_op.drop_column("burn_max_points")
        batch_op.drop_column("burn_min_points")
        batch_op.drop_column("points_per_yuan_burn")
        batch_op.drop_column("points_expiry_months")
        batch_op.drop_column("points_expiry")

    with op.batch_alter_table("loyalty_points_lots", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_points_lots_open")
        batch_op.drop_index("ix_loyalty_points_lots_expiry")

    op.drop_table("loyalty_points_lots")
    with op.batch_alter_table("loyalty_denials", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_denials_customer")

    op.drop_table("loyalty_denials")
