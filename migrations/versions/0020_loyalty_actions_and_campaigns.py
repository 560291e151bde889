"""loyalty: points for actions, campaign multipliers

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 03:03:56.159811
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0020"
down_revision: str | None = "0019"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """The programme's points for actions and its campaigns (empty for existing programmes)."""
    with op.batch_alter_table("loyalty_programs", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "action_rules",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column(
                "campaigns",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"),
                nullable=True,
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("loyalty_programs", schema=None) as batch_op:
        batch_op.drop_column("campaigns")
        batch_op.drop_column("action_rules")
