"""Engines and sessions; SQLite gets WAL and foreign keys; the tenancy guard lives here."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.orm import ORMExecuteState, Session, sessionmaker, with_loader_criteria

from siyu.db.base import TenantScoped
from siyu.settings import get_settings, normalise_database_url

SQLITE_BUSY_TIMEOUT_MS = 10_000


def make_engine(url: str | None = None, *, echo: bool | None = None) -> Engine:
    """Create an engine for the URL (defaults to SIYU_DATABASE_URL)."""
    settings = get_settings()
    url = normalise_database_url(url or settings.database_url)
    kwargs: dict[str, Any] = {"echo": settings.log_sql if echo is None else echo}
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1] if "///" in url else ""
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True
        kwargs["pool_size"] = 10
        # Wait at most 10 s for a connection; past that the request answers 503 with Retry-After.
        kwargs["pool_timeout"] = 10
        # No server-side prepared statements: after five executions PostgreSQL may switch a prepared
        # statement to a generic plan, and for "value = ANY(:array)" lookups that plan was measured
        # at 1 s per 1,000-record batch instead of 0.15 s.
        kwargs["connect_args"] = {"prepare_threshold": None}
    engine = create_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
    return engine


def _sqlite_on_connect(dbapi_conn: Any, _record: Any) -> None:
    # Let SQLAlchemy (not pysqlite) own transactions, so BEGIN IMMEDIATE can take the write lock.
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    # A writer waits this long for the write lock, then fails (bounded: a request never hangs on
    # it). Readers never wait: WAL snapshots, and read-only requests open with a plain BEGIN.
    cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    # 64 MiB of page cache per connection instead of SQLite's 2 MiB: order ingest touches five
    # indexes of a growing table, and the report's index ranges stay hot.
    cur.execute("PRAGMA cache_size=-65536")
    cur.close()


def _sqlite_on_begin(conn: Any) -> None:
    # IMMEDIATE: a use case takes the write lock up front, so read-then-write never deadlocks.
    # Connections opened with read_connection() only read: a plain BEGIN (a WAL snapshot).
    conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get("siyu_read_only") else "BEGIN IMMEDIATE")


def read_connection(engine: Engine) -> Connection:
    """A connection for reading committed data beside a running use case (never takes SQLite's
    write lock, so it cannot wait on the transaction that opened it)."""
    return engine.connect().execution_options(siyu_read_only=True)


def read_only_engine(engine: Engine) -> Engine:
    """The same engine (same pool) whose transactions only read: on SQLite a plain BEGIN."""
    return engine.execution_options(siyu_read_only=True)


@lru_cache(maxsize=4)
def get_engine(url: str | None = None) -> Engine:
    """The process engine for a URL (cached)."""
    return make_engine(url)


@lru_cache(maxsize=16)
def session_factory(engine: Engine) -> sessionmaker[Session]:
    """The sessionmaker of an engine (cached: building one per use case is measurably slow)."""
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


@contextmanager
def unit_of_work(engine: Engine, *, tenant_id: int | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back on any error."""
    session = session_factory(engine)()
    if tenant_id is not None:
        session.info["tenant_id"] = tenant_id
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


# --- tenancy guard -----------------------------------------------------------------------------
# Services filter by tenant_id explicitly. As a backstop, a session that knows its tenant adds
# "tenant_id = :tid" to every ORM SELECT of a TenantScoped entity. Leaving the scope is loud:
# `with cross_tenant_access(session): …`.


@contextmanager
def cross_tenant_access(session: Session) -> Iterator[Session]:
    """Escape hatch: ORM queries inside this block are not tenant-filtered."""
    previous = session.info.get("cross_tenant", False)
    session.info["cross_tenant"] = True
    try:
        yield session
    finally:
        session.info["cross_tenant"] = previous


@event.listens_for(Session, "after_begin")
def _scope_transaction(session: Session, _transaction: Any, connection: Any) -> None:
    # On PostgreSQL, row-level security (migration 0002) confines every statement of this
    # transaction — ORM, Core or raw SQL — to the session's tenant. Runs again after a rollback.
    tenant_id = session.info.get("tenant_id")
    if tenant_id is not None and connection.dialect.name == "postgresql":
        connection.execute(
            text("SELECT set_config('siyu.tenant_id', :tid, true)"), {"tid": str(int(tenant_id))}
        )


def set_session_tenant(session: Session, tenant_id: int) -> None:
    """Scope the session to a tenant: ORM guard now, and RLS for the current transaction too."""
    session.info["tenant_id"] = tenant_id
    if session.in_transaction():
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT set_config('siyu.tenant_id', :tid, true)"), {"tid": str(int(tenant_id))}
            )


def clear_session_tenant(session: Session) -> None:
    """Undo set_session_tenant for the rest of the transaction (work that goes across tenants)."""
    session.info.pop("tenant_id", None)
    if session.in_transaction():
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT set_config('siyu.tenant_id', '', true)"))


@event.listens_for(Session, "do_orm_execute")
def _tenant_guard(state: ORMExecuteState) -> None:
    tenant_id = state.session.info.get("tenant_id")
    if tenant_id is None or state.session.info.get("cross_tenant"):
        return
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(
            with_loader_criteria(
                TenantScoped,
                lambda cls: cls.tenant_id == tenant_id,
                include_aliases=True,
            )
        )


# Namespaces of transaction-level advisory locks (the first key of pg_advisory_xact_lock). The
# second key is the brand's id hashed with the schema: advisory locks are database-wide, and two
# Siyu schemas in one database (a test run beside another, two installations) must not share them.
# A hash collision only makes two brands wait for each other now and then; it never breaks a rule.
ADVISORY_KEY_SQL = "hashtext(current_schema() || ':' || CAST(:tid AS text))"
LOCK_NAMESPACES = {
    "guide_bindings": 0x51D0_0001,
    "tags": 0x51D0_0002,
    "customer_stats": 0x51D0_0003,
    "loyalty_customer": 0x51D0_0004,
}


def lock_rows(session: Session, name: str, ids: list[int]) -> None:
    """Serialise one kind of write per row id (customer …) until the transaction ends, taking the
    locks in ascending id order so two writers never wait for each other in a circle.

    PostgreSQL: transaction-level advisory locks keyed by the schema and the id (hashed; a collision
    only makes two rows wait for each other). SQLite: nothing to do (one writer at a time)."""
    connection = session.connection()
    if connection.dialect.name != "postgresql" or not ids:
        return
    connection.execute(
        text(
            "SELECT pg_advisory_xact_lock(:ns, hashtext(current_schema() || ':' || CAST(x AS text))) "
            "FROM unnest(CAST(:ids AS bigint[])) WITH ORDINALITY AS t(x, n) ORDER BY n"
        ),
        {"ns": LOCK_NAMESPACES[name], "ids": sorted(ids)},
    )


def lock_tenant(session: Session, name: str, tenant_id: int) -> None:
    """Serialise one kind of write per tenant until the transaction ends.

    PostgreSQL: a transaction-level advisory lock, so concurrent use cases read state the other
    has committed instead of racing on a unique key. SQLite: nothing to do, every write
    transaction already holds the database (BEGIN IMMEDIATE).
    """
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.execute(
            text(f"SELECT pg_advisory_xact_lock(:ns, {ADVISORY_KEY_SQL})"),
            {"ns": LOCK_NAMESPACES[name], "tid": int(tenant_id)},
        )
    session.info.setdefault(HELD_LOCKS, set()).add((name, int(tenant_id)))


def holds_tenant_lock(session: Session, name: str, tenant_id: int) -> bool:
    """Whether this session's open transaction took `lock_tenant(name, tenant_id)`."""
    return (name, int(tenant_id)) in session.info.get(HELD_LOCKS, ())


HELD_LOCKS = "siyu_held_locks"


@event.listens_for(Session, "after_transaction_end")
def _forget_locks(session: Session, transaction: Any) -> None:
    # Transaction-level advisory locks end with the transaction; so does the record of them.
    if transaction.parent is None:
        session.info.pop(HELD_LOCKS, None)
