"""imports from the console: the uploaded sheet, its mapping, outcome and row report

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from siyu.db.rls import drop_tenant_isolation, enable_tenant_isolation

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    """Imports a person starts in the console, with who, when and the row report."""
    op.create_table(
        "import_runs",
        sa.Column("tenant_id", BIGINT, nullable=False),
        sa.Column("id", BIGINT, nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("filename", sa.String(length=200), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("headers", JSON, nullable=False),
        sa.Column("mapping", JSON, nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("error_count", sa.Integer(), nullable=False),
        sa.Column("errors", JSON, nullable=False),
        sa.Column("message", sa.String(length=500), nullable=True),
        sa.Column("actor_id", BIGINT, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('uploaded','queued','running','done','rejected','failed')",
            name=op.f("ck_import_runs_status"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"], ["tenants.id"], name=op.f("fk_import_runs_tenant_id_tenants"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_runs")),
    )
    op.create_index("ix_import_runs_tenant_recent", "import_runs", ["tenant_id", "id"])
    enable_tenant_isolation(op, ("import_runs",))


def downgrade() -> None:
    drop_tenant_isolation(op, ("import_runs",))
    op.drop_table("import_runs")
