"""Every benchmark command of the README runs from a fresh database, at a tiny size.

A smoke test, not a measurement: each `siyu bench …` command runs on a fresh SQLite file and on a
fresh PostgreSQL schema, and the JSON each prints has its documented keys with sane values. (Timings
are never asserted.)
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from siyu.cli import app
from siyu.db.session import make_engine
from siyu.settings import normalise_database_url
from tests.support import PG_SCHEMA, _pg_url_with_schema, _unavailable


def _postgres_admin_url() -> str:
    url = os.environ.get("SIYU_TEST_POSTGRES_URL")
    if not url:
        _unavailable("PostgreSQL", "set SIYU_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test")
    assert url is not None
    return normalise_database_url(url)


def _schema(admin_url: str, sql: str) -> None:
    engine = make_engine(admin_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


@pytest.fixture
def fresh_postgres() -> Iterator[str]:
    """A URL whose search_path is an empty schema of its own, dropped afterwards."""
    admin = _postgres_admin_url()
    schema = f"{PG_SCHEMA}_bench_{uuid.uuid4().hex[:8]}"
    try:
        _schema(admin, f"CREATE SCHEMA {schema}")
    except Exception as exc:  # connection refused, auth failure, …
        _unavailable("PostgreSQL", f"cannot connect to SIYU_TEST_POSTGRES_URL ({exc.__class__.__name__})")
    try:
        yield _pg_url_with_schema(admin, schema)
    finally:
        _schema(admin, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty database on each engine."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'bench.db'}"
    url: str = request.getfixturevalue("fresh_postgres")
    return url


def _cli(*args: str) -> Any:
    result = CliRunner().invoke(app, ["bench", *args])
    assert result.exit_code == 0, (result.output, result.exception)
    return json.loads(result.stdout)


def _engine_of(url: str) -> str:
    return "postgresql" if url.startswith("postgresql") else "sqlite"


# --- checks of each benchmark's JSON ---------------------------------------------------------
def check_customers(doc: dict[str, Any], engine: str, customers: int) -> None:
    assert (doc["benchmark"], doc["engine"], doc["workload"]["customers"]) == ("customers", engine, customers)
    for key in ("upsert_create_customers_per_s", "upsert_update_customers_per_s", "peer_customers_per_s"):
        assert doc[key] > 0, key
    assert doc["ratio_vs_peer"] > 0 and doc["target_customers_per_s"] == 5000
    assert 0 < doc["lookup_ms"]["p50"] <= doc["lookup_ms"]["p99"]


def check_orders(docs: list[dict[str, Any]], engine: str, orders: int, history: int, stores: int) -> None:
    ingest, reports = docs
    assert (ingest["benchmark"], ingest["engine"], ingest["workload"]["orders"]) == (
        "orders.ingest",
        engine,
        orders,
    )
    for key in (
        "orders_per_s",
        "known_buyers_orders_per_s",
        "replay_unchanged_orders_per_s",
        "peer_orders_per_s",
    ):
        assert ingest[key] > 0, key
    assert (reports["benchmark"], reports["engine"]) == ("orders.reports", engine)
    assert (reports["workload"]["history_orders"], reports["stores_in_rollup"]) == (history, stores)
    assert 0 < reports["store_daily_ms"]["p50"] <= reports["store_daily_ms"]["p95"]
    assert reports["rollup_all_stores_s"]["median"] > 0


def check_audiences(doc: dict[str, Any], engine: str, customers: int) -> None:
    assert (doc["benchmark"], doc["engine"], doc["workload"]["customers"]) == ("audiences", engine, customers)
    assert doc["workload"]["assignments"] > 0 and doc["workload"]["orders"] == 3 * customers
    assert set(doc["rules"]) == {"tag_rule_5_conditions", "mixed_rule"}
    for rule in doc["rules"].values():
        assert rule["same_answer"] is True and rule["engine_ms"]["median"] > 0


# --- siyu bench … ---------------------------------------------------------------------------------
def test_siyu_bench_customers(fresh_url: str) -> None:
    doc = _cli("customers", "--customers", "60", "--lookups", "10", "--database-url", fresh_url)
    check_customers(doc, _engine_of(fresh_url), 60)


def test_siyu_bench_orders(fresh_url: str) -> None:
    docs = _cli(
        "orders",
        *("--orders", "40", "--peer-orders", "5", "--history", "400", "--stores", "3"),
        *("--customers", "100", "--samples", "3", "--database-url", fresh_url),
    )
    check_orders(docs, _engine_of(fresh_url), 40, 400, 3)


def test_siyu_bench_console(fresh_url: str) -> None:
    doc = _cli(
        "console",
        *("--rounds", "1", "--stores", "1", "--customers", "40", "--order-days", "2"),
        *("--database-url", fresh_url),
    )
    assert doc["benchmark"] == "console" and doc["workload"]["stores"] == 1
    assert doc["workload"]["demo_built_s"] is not None  # the fresh database got its demo brand
    assert {"hq", "store-daily (HQ)", "customer 360"} <= {p["page"] for p in doc["pages"]}
    assert all(0 < p["server_ms"]["p50"] <= p["server_ms"]["p95"] for p in doc["pages"])
    assert doc["worst_p95_ms"] > 0


def test_siyu_bench_wecom(fresh_url: str) -> None:
    doc = _cli("wecom", "--events", "12", "--clients", "2", "--database-url", fresh_url)
    assert (doc["benchmark"], doc["workload"]["events"]) == ("wecom", 12)
    assert doc["callbacks_per_s"] > 0 and doc["outcomes"] == {"applied": 12}


def test_siyu_bench_audiences(fresh_url: str) -> None:
    doc = _cli("audiences", "--customers", "150", "--tags-per-customer", "5", "--database-url", fresh_url)
    check_audiences(doc, _engine_of(fresh_url), 150)


def test_siyu_bench_lookups(fresh_url: str) -> None:
    doc = _cli(
        "lookups",
        *("--database-url", fresh_url, "--customers", "40", "--lookups", "10"),
        *("--stores", "1", "--order-days", "1"),
    )
    assert (doc["benchmark"], doc["engine"]) == ("lookup_at_scale", _engine_of(fresh_url))
    assert doc["workload"] == {"customers": 40, "lookups": 10}
    assert doc["demo_build_seconds"] is not None and doc["lookup_ms"]["p50"] > 0


def test_siyu_bench_jobs(fresh_url: str) -> None:
    doc = _cli("jobs", "--jobs", "30", "--samples", "3", "--database-url", fresh_url)
    assert (doc["benchmark"], doc["engine"], doc["workload"]["jobs"]) == ("jobs", _engine_of(fresh_url), 30)
    assert doc["jobs_per_s_4_processes"] > 0 and doc["peer_jobs_per_s_1_process"] > 0
    ratio = doc["jobs_per_s_4_processes"] / doc["peer_jobs_per_s_1_process"]
    assert doc["ratio_vs_peer"] == pytest.approx(ratio, abs=0.02)
    for mode in ("in_process", "external_worker_poll_0_5s"):
        lag = doc["commit_to_dispatch_ms"][mode]
        assert 0 <= lag["p50"] <= lag["p95"], mode


def test_siyu_bench_ledger(fresh_url: str) -> None:
    docs = _cli(
        "ledger",
        *("--clients", "2", "--operations", "6", "--workers", "4", "--postings", "400"),
        *("--database-url", fresh_url),
    )
    engine = _engine_of(fresh_url)
    http, contention, checked = docs
    assert (http["benchmark"], http["engine"], http["workload"]["clients"]) == ("ledger.http", engine, 2)
    assert http["operations_per_s"] > 0 and http["violations_after"] == 0 and set(http["statuses"]) == {"200"}
    assert (contention["benchmark"], contention["workload"]["transfers"]) == ("ledger.contention", 12)
    ours = contention["ledger"]
    assert (
        ours["violations"] == 0 and ours["keys_with_two_effects"] == 0 and ours["points_created_or_lost"] == 0
    )
    assert contention["peer_read_check_write"]["operations_per_s"] > 0
    assert (checked["benchmark"], checked["workload"]["postings"], checked["violations"]) == (
        "ledger.check",
        400,
        0,
    )
