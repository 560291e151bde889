"""row-level security on PostgreSQL

Every tenant table gets a policy: when the transaction has set `siyu.tenant_id` (the API does so
once it knows the caller), only that tenant's rows are visible or writable — a backstop under the
explicit tenant filters of every query. Without the setting (migrations, the CLI, the demo
builder, sign-in before the tenant is known) the policy lets everything through. SQLite has no
row-level security; this revision does nothing there.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 18:48:35
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Tables with a tenant_id column as of revision 0001 (later revisions add their own tables).
TENANT_TABLES = (
    "regions",
    "stores",
    "staff",
    "staff_stores",
    "auth_tokens",
    "api_keys",
    "audit_log",
    "idempotency_keys",
    "customers",
    "customer_identities",
    "customer_timeline",
    "customer_consents",
    "customer_merges",
    "custom_field_definitions",
)
# nullif: the setting reads '' once a transaction-local value has ended; the cast must never see it
# (PostgreSQL does not promise to short-circuit OR).
SETTING = "nullif(current_setting('siyu.tenant_id', true), '')"
CONDITION = f"{SETTING} IS NULL OR tenant_id = {SETTING}::bigint"


def upgrade() -> None:
    """Enable and force RLS with one tenant policy per table (PostgreSQL only)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({CONDITION}) WITH CHECK ({CONDITION})")


def downgrade() -> None:
    """Drop the policies and disable RLS."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TENANT_TABLES:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
