"""Migrations reach head on both engines and match the models exactly (no autogenerate diff)."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect

from siyu.metadata import Base


def test_head_matches_models(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert context.get_current_revision() == "0020"
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def test_every_tenant_table_leads_with_tenant_id(engine: Engine) -> None:
    inspector = inspect(engine)
    for table in Base.metadata.sorted_tables:
        if table.name == "tenants":
            continue
        columns = [c["name"] for c in inspector.get_columns(table.name)]
        assert columns[0] == "tenant_id", table.name
