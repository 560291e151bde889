"""wecom members and parked friends

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-28 23:52:07.509815
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from siyu.db.rls import drop_tenant_isolation, enable_tenant_isolation

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NEW_TENANT_TABLES = ("wecom_members",)
BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """The WeCom member directory; friends of members no staff carries yet are parked by UserID."""
    op.create_table(
        "wecom_members",
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("userid", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=True),
        sa.Column(
            "department_ids",
            sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
            nullable=False,
        ),
        sa.Column("wecom_status", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("left_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('active','left')", name=op.f("ck_wecom_members_status")),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_wecom_members_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wecom_members")),
        sa.UniqueConstraint("tenant_id", "userid", name=op.f("uq_wecom_members_tenant_id_userid")),
    )
    with op.batch_alter_table("wecom_configs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("create_staff_for_members", sa.Boolean(), server_default=sa.true(), nullable=False)
        )
    with op.batch_alter_table("wecom_friends", schema=None) as batch_op:
        batch_op.add_column(sa.Column("parked_userid", sa.String(length=64), nullable=True))
        batch_op.alter_column("staff_id", existing_type=BIGINT, nullable=True)
        batch_op.create_unique_constraint(
            batch_op.f("uq_wecom_friends_tenant_id_parked_userid_external_userid"),
            ["tenant_id", "parked_userid", "external_userid"],
        )
        batch_op.create_check_constraint(
            batch_op.f("ck_wecom_friends_owner"), "(staff_id IS NULL) <> (parked_userid IS NULL)"
        )
    enable_tenant_isolation(op, NEW_TENANT_TABLES)


def downgrade() -> None:
    """Drop the directory; parked friends go with the NOT NULL staff column they cannot satisfy."""
    drop_tenant_isolation(op, NEW_TENANT_TABLES)
    op.execute(
        "DELETE FROM wecom_friend_events WHERE friend_id IN (SELECT id FROM wecom_friends WHERE staff_id IS NULL)"
    )
    op.execute("DELETE FROM wecom_friends WHERE staff_id IS NULL")
    with op.batch_alter_table("wecom_friends", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("ck_wecom_friends_owner"), type_="check")
        batch_op.drop_constraint(
            batch_op.f("uq_wecom_friends_tenant_id_parked_userid_external_userid"), type_="unique"
        )
        batch_op.alter_column("staff_id", existing_type=BIGINT, nullable=False)
        batch_op.drop_column("parked_userid")
    with op.batch_alter_table("wecom_configs", schema=None) as batch_op:
        batch_op.drop_column("create_staff_for_members")
    op.drop_table("wecom_members")
