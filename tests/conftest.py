"""Shared fixtures: engines for SQLite and PostgreSQL, tenants, staff tokens, an in-process API.

PostgreSQL and Redis tests need SIYU_TEST_POSTGRES_URL / SIYU_TEST_REDIS_URL. Without them they
skip with one line saying how to enable them; with CI=true a missing service fails the run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from siyu import domains
from siyu.app import create_app
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine
from siyu.platform.limits import MemoryLimiter, set_limiter
from siyu.settings import Settings, normalise_database_url
from tests.factories import World, build_world
from tests.support import PG_SCHEMA, _pg_url_with_schema, _unavailable

domains.load()  # every domain's registrations, as the server and the CLI have them
# Apps built in tests run no scheduled tag refresh; the tests that need one start it themselves.
os.environ.setdefault("SIYU_RULE_TAG_REFRESH_MINUTES", "0")


@pytest.fixture(scope="session")
def sqlite_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated SQLite file database shared by the session (each test uses its own tenant)."""
    path: Path = tmp_path_factory.mktemp("db") / "siyu-test.db"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def pg_engine() -> Iterator[Engine]:
    """A migrated PostgreSQL schema of its own, dropped and rebuilt for each run."""
    url = os.environ.get("SIYU_TEST_POSTGRES_URL")
    if not url:
        _unavailable("PostgreSQL", "set SIYU_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test")
    assert url is not None
    admin = make_engine(normalise_database_url(url))
    try:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
            conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))
    except Exception as exc:  # connection refused, auth failure, …
        _unavailable("PostgreSQL", f"cannot connect to SIYU_TEST_POSTGRES_URL ({exc.__class__.__name__})")
    finally:
        admin.dispose()
    engine = make_engine(_pg_url_with_schema(url, PG_SCHEMA))
    upgrade(engine)
    yield engine
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest) -> Engine:
    """Each database-tier test runs on SQLite and on PostgreSQL."""
    name = "sqlite_engine" if request.param == "sqlite" else "pg_engine"
    result: Engine = request.getfixturevalue(name)
    return result


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A reachable Redis, or skip (fail in CI)."""
    import redis

    url = os.environ.get("SIYU_TEST_REDIS_URL")
    if not url:
        _unavailable("Redis", "set SIYU_TEST_REDIS_URL=redis://127.0.0.1:6379/0")
    assert url is not None
    try:
        redis.Redis.from_url(url).ping()
    except Exception as exc:
        _unavailable("Redis", f"cannot connect to SIYU_TEST_REDIS_URL ({exc.__class__.__name__})")
    return url


@pytest.fixture(autouse=True)
def fresh_limiter() -> Iterator[None]:
    """Each test starts with an empty in-process sign-in limiter."""
    set_limiter(MemoryLimiter())
    yield
    set_limiter(None)


@pytest.fixture
def world(sqlite_engine: Engine) -> World:
    """A fresh tenant on the shared SQLite database (API tier)."""
    return build_world(sqlite_engine)


@pytest.fixture
def db_world(engine: Engine) -> World:
    """A fresh tenant on SQLite and on PostgreSQL (database tier)."""
    return build_world(engine)


@pytest.fixture(scope="session")
def client(sqlite_engine: Engine) -> Iterator[TestClient]:
    """The app in-process on the shared SQLite database.

    Its lifespan is not entered, so it runs no job threads: background work runs when a test asks
    (`client.app.state.jobs.drain()`, in the test's thread) or inline (WeCom callbacks), and the
    job threads of the apps single tests start (pointed at a fake WeCom, say) are the only ones that
    claim jobs from the shared database while those tests run.
    """
    settings = Settings(rule_tag_refresh_minutes=0)
    yield TestClient(create_app(engine=sqlite_engine, settings=settings))


@pytest.fixture
def make_world() -> Callable[[Engine], World]:
    """Build extra worlds (two-tenant tests)."""
    return build_world


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Say once, not per test, which services were missing and how to enable them."""
    reasons: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = getattr(report, "longrepr", None)
        reason = longrepr[2] if isinstance(longrepr, tuple) else str(longrepr)
        reason = reason.removeprefix("Skipped: ")
        reasons[reason] = reasons.get(reason, 0) + 1
    for reason, n in sorted(reasons.items()):
        terminalreporter.write_line(f"{n} tests skipped — {reason}", yellow=True)
