"""wecom inbox: a partial index of callbacks not applied yet

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Workers look for callbacks to apply across brands: a small index of the unapplied ones."""
    op.create_index(
        "ix_wecom_inbox_unprocessed",
        "wecom_inbox",
        ["tenant_id"],
        postgresql_where=sa.text("processed_at IS NULL"),
        sqlite_where=sa.text("processed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_wecom_inbox_unprocessed", table_name="wecom_inbox")
