"""wecom: welcome attachments of channel codes and the images they send

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 09:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from siyu.db.rls import drop_tenant_isolation, enable_tenant_isolation

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """A channel code's welcome message gets images, link cards and mini-program cards."""
    with op.batch_alter_table("wecom_channel_codes") as batch:
        batch.add_column(sa.Column("welcome_attachments", JSON, nullable=False, server_default="[]"))
    op.create_table(
        "wecom_media",
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("filename", sa.String(length=120), nullable=False),
        sa.Column("content_type", sa.String(length=40), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("media_id", sa.String(length=200), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_wecom_media_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_wecom_media")),
    )
    enable_tenant_isolation(op, ("wecom_media",))


def downgrade() -> None:
    drop_tenant_isolation(op, ("wecom_media",))
    op.drop_table("wecom_media")
    with op.batch_alter_table("wecom_channel_codes") as batch:
        batch.drop_column("welcome_attachments")
