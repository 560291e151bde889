"""The history downgrades to base and upgrades again (on a private database per engine)."""

import os
import uuid
from pathlib import Path

from sqlalchemy import Engine, inspect, text

from siyu.db.migrate import downgrade, upgrade
from siyu.db.session import make_engine
from siyu.settings import normalise_database_url


def test_sqlite_downgrade_and_upgrade(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine)
    downgrade(engine, "base")
    assert [t for t in inspect(engine).get_table_names() if t != "alembic_version"] == []
    upgrade(engine)
    assert "customers" in inspect(engine).get_table_names()
    engine.dispose()


def test_postgres_downgrade_and_upgrade(pg_engine: Engine) -> None:
    schema = f"siyu_mig_{uuid.uuid4().hex[:8]}"
    url = normalise_database_url(os.environ["SIYU_TEST_POSTGRES_URL"])
    with pg_engine.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    from tests.support import _pg_url_with_schema

    engine = make_engine(_pg_url_with_schema(url, schema))
    try:
        upgrade(engine)
        assert "customer_identities" in inspect(engine).get_table_names()
        downgrade(engine, "base")
        assert [t for t in inspect(engine).get_table_names() if t != "alembic_version"] == []
        upgrade(engine)
    finally:
        engine.dispose()
        with pg_engine.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
