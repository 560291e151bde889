"""Row-level security for tenant tables, as the migrations apply it.

Revision 0002 introduced the policy and 0003–0004 restated it inline; revisions from 0005 on call
these two functions. Migrations are history: what these functions do must never change — a new
policy is a new function and a new revision.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

SETTING = "nullif(current_setting('siyu.tenant_id', true), '')"
CONDITION = f"{SETTING} IS NULL OR tenant_id = {SETTING}::bigint"


def enable_tenant_isolation(op: Any, tables: Iterable[str]) -> None:
    """PostgreSQL: confine every statement on these tables to the session's tenant (none on SQLite)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY tenant_isolation ON {table} USING ({CONDITION}) WITH CHECK ({CONDITION})")


def drop_tenant_isolation(op: Any, tables: Iterable[str]) -> None:
    """The downgrade of enable_tenant_isolation (the tables' own drop removes the rest)."""
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in tables:
        op.execute(f"DROP POLICY IF EXISTS tenant_isolation ON {table}")
