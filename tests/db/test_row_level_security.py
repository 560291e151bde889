"""Row-level security on PostgreSQL, as an unprivileged application role sees it (superusers
bypass RLS, so this connects as a role of its own): a session scoped to tenant A cannot read or
write tenant B's rows even with raw SQL, and bulk writes (COPY via a staging table) still work."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from siyu.app import create_app
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, set_session_tenant, unit_of_work
from siyu.settings import normalise_database_url
from tests.factories import World, build_world

ROLE, SCHEMA = "siyu_rls_app", "siyu_rls"


@pytest.fixture(scope="module")
def rls_engine(pg_engine: Engine) -> Iterator[Engine]:
    with pg_engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE"))
        conn.execute(
            text(
                f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{ROLE}') "
                f"THEN CREATE ROLE {ROLE} LOGIN NOSUPERUSER NOBYPASSRLS; END IF; END $$"
            )
        )
        conn.execute(text(f"CREATE SCHEMA {SCHEMA} AUTHORIZATION {ROLE}"))
    url = make_url(normalise_database_url(os.environ["SIYU_TEST_POSTGRES_URL"])).set(
        username=ROLE, password=None
    )
    url = url.update_query_dict({"options": f"-csearch_path={SCHEMA}"})
    engine = make_engine(url.render_as_string(hide_password=False))
    upgrade(engine)
    yield engine
    engine.dispose()
    with pg_engine.begin() as conn:
        conn.execute(text(f"DROP SCHEMA {SCHEMA} CASCADE"))


def add_customers(client: TestClient, world: World, cards: list[str]) -> None:
    body = {"records": [{"identities": [{"type": "member_card", "value": c}]} for c in cards]}
    response = client.post("/api/v1/customers/batch", json=body, headers=world.headers("integration"))
    assert response.status_code == 200, response.text


def test_a_tenant_scoped_session_sees_and_writes_only_its_tenant(rls_engine: Engine) -> None:
    a, b = build_world(rls_engine), build_world(rls_engine)
    with TestClient(create_app(engine=rls_engine)) as client:
        add_customers(client, a, ["RLSA0001", "RLSA0002"])  # bulk COPY path under RLS
        add_customers(client, b, ["RLSB0001"])
        assert (
            client.get(
                "/api/v1/customers/lookup",
                params={"type": "member_card", "value": "RLSB0001"},
                headers=a.headers("owner"),
            ).status_code
            == 404
        )
    with unit_of_work(rls_engine) as session:
        set_session_tenant(session, a.tenant_id)
        # Raw SQL, no tenant filter: the database itself confines it.
        assert session.execute(text("SELECT count(*) FROM customers")).scalar_one() == 2
        assert set(session.execute(text("SELECT DISTINCT tenant_id FROM customer_identities")).scalars()) == {
            a.tenant_id
        }
        assert (
            session.execute(
                text("UPDATE customers SET name = 'x' WHERE tenant_id = :b"), {"b": b.tenant_id}
            ).rowcount
            == 0
        )  # type: ignore[attr-defined]
    with pytest.raises(DBAPIError, match="row-level security"), unit_of_work(rls_engine) as session:
        set_session_tenant(session, a.tenant_id)
        session.execute(
            text("INSERT INTO regions (tenant_id, code, name) VALUES (:b, 'X', 'x')"), {"b": b.tenant_id}
        )
    with unit_of_work(rls_engine) as session:  # no tenant: operators' tools see everything
        names = session.execute(
            text("SELECT count(*) FROM customers WHERE tenant_id IN (:a, :b)"),
            {"a": a.tenant_id, "b": b.tenant_id},
        ).scalar_one()
        assert names == 3


@pytest.mark.postgres
def test_every_table_with_tenant_id_has_a_forced_row_level_security_policy(rls_engine: Engine) -> None:
    """A new table with a tenant_id column and no policy (a migration that forgot the RLS block)
    fails here: RLS enabled and forced, and at least one policy, on every such table."""
    with rls_engine.connect() as conn:
        tables = set(
            conn.scalars(
                text(
                    "SELECT table_name FROM information_schema.columns"
                    " WHERE table_schema = current_schema() AND column_name = 'tenant_id'"
                )
            )
        )
        guarded = {
            name: (enabled, forced, policies)
            for name, enabled, forced, policies in conn.execute(
                text(
                    "SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,"
                    " (SELECT count(*) FROM pg_policies p"
                    "   WHERE p.schemaname = current_schema() AND p.tablename = c.relname)"
                    " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                )
            )
        }
    assert len(tables) >= 30
    missing = sorted(t for t in tables if not (guarded[t][0] and guarded[t][1] and guarded[t][2] >= 1))
    assert missing == []
