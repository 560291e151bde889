"""Shared fixtures: engines for SQLite and PostgreSQL, tenants, staff tokens, an in-process API.

PostgreSQL and Redis tests need SIYU_TEST_POSTGRES_URL / SIYU_TEST_REDIS_URL. Without them they
skip with one line saying how to enable them; with CI=true a missing service fails the run.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from siyu.app import create_app
from siyu.auth.models import AuthToken
from siyu.core.ids import new_token, sha256_hex
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, unit_of_work
from siyu.org.models import Staff, StaffStore, Store, Tenant
from siyu.platform.limits import MemoryLimiter, set_limiter
from siyu.settings import Settings, normalise_database_url

IN_CI = os.environ.get("CI", "").lower() == "true"
# Apps built in tests run no scheduled tag refresh; the tests that need one start it themselves.
os.environ.setdefault("SIYU_RULE_TAG_REFRESH_MINUTES", "0")
# Two test runs side by side on one PostgreSQL each take their own schema (SIYU_TEST_PG_SCHEMA).
PG_SCHEMA = os.environ.get("SIYU_TEST_PG_SCHEMA", "siyu_test")


def _unavailable(what: str, how: str) -> None:
    message = f"{what} not available: {how}"
    if IN_CI:
        pytest.fail(f"CI=true and {message}", pytrace=False)
    pytest.skip(message)


def _pg_url_with_schema(url: str, schema: str) -> str:
    parsed = make_url(normalise_database_url(url))
    return parsed.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False
    )


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


@dataclass
class World:
    """A tenant with two stores, a store manager and two guides, plus tokens per role."""

    engine: Engine
    tenant_id: int
    slug: str
    store_ids: list[int]
    staff: dict[str, int]
    tokens: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        """Authorization headers for a role of this world."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def issue_token(engine: Engine, tenant_id: int, staff_id: int, *, ttl: timedelta = timedelta(hours=1)) -> str:
    """A sign-in token written directly (argon2 sign-in is tested once, not for every test)."""
    token = new_token("st")
    with unit_of_work(engine) as session:
        session.add(
            AuthToken(
                tenant_id=tenant_id,
                staff_id=staff_id,
                token_sha256=sha256_hex(token),
                expires_at=datetime.now(UTC) + ttl,
            )
        )
    return token


def build_world(engine: Engine) -> World:
    """Create a fresh tenant world on an engine."""
    from siyu.auth.service import create_api_key

    slug = f"t-{uuid.uuid4().hex[:10]}"
    with unit_of_work(engine) as session:
        tenant = Tenant(slug=slug, name=f"Brand {slug}", timezone="Asia/Shanghai", currency="CNY")
        session.add(tenant)
        session.flush()
        stores = [
            Store(
                tenant_id=tenant.id,
                code=f"S{i}",
                name=f"门店{i}",
                city="上海",
                status="active",
                business_hours=[],
                holidays=[],
            )
            for i in (1, 2)
        ]
        session.add_all(stores)
        session.flush()
        staff: dict[str, int] = {}
        for role, username in (
            ("owner", "owner"),
            ("hq_operator", "hq"),
            ("analyst", "analyst"),
            ("store_manager", "manager"),
            ("guide", "guide"),
            ("guide", "guide2"),
        ):
            member = Staff(
                tenant_id=tenant.id, employee_no=username.upper(), username=username, name=username, role=role
            )
            session.add(member)
            session.flush()
            staff[username] = member.id
        session.add_all(
            [
                StaffStore(tenant_id=tenant.id, staff_id=staff["manager"], store_id=stores[0].id),
                StaffStore(tenant_id=tenant.id, staff_id=staff["guide"], store_id=stores[0].id),
                StaffStore(tenant_id=tenant.id, staff_id=staff["guide2"], store_id=stores[1].id),
            ]
        )
        _, api_key = create_api_key(session, tenant_id=tenant.id, name="test", actor=None)
        tenant_id = tenant.id
        store_ids = [s.id for s in stores]
    tokens = {
        "owner": issue_token(engine, tenant_id, staff["owner"]),
        "hq_operator": issue_token(engine, tenant_id, staff["hq"]),
        "analyst": issue_token(engine, tenant_id, staff["analyst"]),
        "store_manager": issue_token(engine, tenant_id, staff["manager"]),
        "guide": issue_token(engine, tenant_id, staff["guide"]),
        "guide2": issue_token(engine, tenant_id, staff["guide2"]),
        "integration": api_key,
    }
    return World(
        engine=engine, tenant_id=tenant_id, slug=slug, store_ids=store_ids, staff=staff, tokens=tokens
    )


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
    """The app in-process on the shared SQLite database."""
    # No scheduled tag refresh in the shared app: tests refresh when they mean to (one test runs the
    # worker thread on its own).
    settings = Settings(rule_tag_refresh_minutes=0)
    with TestClient(create_app(engine=sqlite_engine, settings=settings)) as test_client:
        yield test_client


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
