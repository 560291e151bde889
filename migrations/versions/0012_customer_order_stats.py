"""customer order stats (each customer's paid orders, net spend, last purchase); orders by number

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 08:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from siyu.db.rls import drop_tenant_isolation, enable_tenant_isolation

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """The read model the customer list sorts and filters by, filled from the orders there are."""
    op.create_table(
        "customer_order_stats",
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("customer_id", BIGINT, nullable=False),
        sa.Column("paid_orders", sa.Integer(), nullable=False),
        sa.Column("net_fen", sa.BigInteger(), nullable=False),
        sa.Column("first_paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_paid_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["customer_id"],
            ["customers.id"],
            name=op.f("fk_customer_order_stats_customer_id_customers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_customer_order_stats_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("customer_id", name=op.f("pk_customer_order_stats")),
    )
    op.create_index("ix_customer_order_stats_spend", "customer_order_stats", ["tenant_id", "net_fen"])
    op.create_index("ix_customer_order_stats_last", "customer_order_stats", ["tenant_id", "last_paid_at"])
    op.create_index("ix_customer_order_stats_orders", "customer_order_stats", ["tenant_id", "paid_orders"])
    op.execute(
        "INSERT INTO customer_order_stats "
        "(tenant_id, customer_id, paid_orders, net_fen, first_paid_at, last_paid_at) "
        "SELECT tenant_id, customer_id, count(*), sum(paid_fen - refunded_fen), min(paid_at), max(paid_at) "
        "FROM orders WHERE customer_id IS NOT NULL AND paid_at IS NOT NULL GROUP BY tenant_id, customer_id"
    )
    enable_tenant_isolation(op, ("customer_order_stats",))
    op.create_index("ix_orders_external", "orders", ["tenant_id", "external_id"])


def downgrade() -> None:
    op.drop_index("ix_orders_external", table_name="orders")
    drop_tenant_isolation(op, ("customer_order_stats",))
    op.drop_table("customer_order_stats")
