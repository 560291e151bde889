"""Hardening 9: the rule-tag refresh takes its locks in one order — the demo build and `siyu tags
refresh` complete on PostgreSQL within a deadline, and a busy server stops on SIGTERM within 10 s."""

from __future__ import annotations

import datetime as dt
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from siyu.db.session import make_engine
from siyu.settings import normalise_database_url
from tests.support import _unavailable

SIYU = [sys.executable, "-m", "siyu.cli"]


@pytest.fixture(scope="module")
def demo_pg() -> Iterator[dict[str, str]]:
    """A fresh PostgreSQL schema with a small demo brand, and the environment that points at it."""
    url = os.environ.get("SIYU_TEST_POSTGRES_URL")
    if not url:
        _unavailable("PostgreSQL", "set SIYU_TEST_POSTGRES_URL=postgresql://postgres@127.0.0.1:5432/test")
    assert url is not None
    schema = f"locks_{uuid.uuid4().hex[:8]}"
    admin = make_engine(normalise_database_url(url))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    scoped = (
        make_url(normalise_database_url(url))
        .update_query_dict({"options": f"-csearch_path={schema}"})
        .render_as_string(hide_password=False)
    )
    env = {**os.environ, "SIYU_DATABASE_URL": scoped, "SIYU_GC_TUNING": "false"}
    try:
        run(env, "migrate", deadline_s=60)
        # Before the fix this never finished: the refresh waited for its own lock at "rule tags".
        out = run(env, "demo", "--stores", "2", "--customers", "400", "--order-days", "20", deadline_s=120)
        assert "demo brand" in out
        yield env
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def run(env: dict[str, str], *args: str, deadline_s: float) -> str:
    """Run the CLI; a command still running at its deadline is a failure (it is killed)."""
    try:
        done = subprocess.run([*SIYU, *args], env=env, capture_output=True, text=True, timeout=deadline_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"siyu {' '.join(args)} still running after {deadline_s} s", pytrace=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.postgres
def test_rule_tag_refresh_completes_on_postgresql(demo_pg: dict[str, str]) -> None:
    out = run(demo_pg, "tags", "refresh", "--tenant", "demo", deadline_s=60)
    assert "demo" in out
    # Twice in a row (the second finds its index current and still takes the locks in order).
    run(demo_pg, "tags", "refresh", "--tenant", "demo", deadline_s=60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.postgres
def test_a_busy_server_answers_and_stops_on_sigterm(demo_pg: dict[str, str]) -> None:
    port = free_port()
    env = {**demo_pg, "SIYU_RULE_TAG_REFRESH_MINUTES": "1"}
    server = subprocess.Popen(
        [*SIYU, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        token = httpx.post(
            f"{base}/api/v1/auth/sign-in",
            json={"tenant": "demo", "username": "owner", "password": "siyu-demo-2026"},
            timeout=10,
        ).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        sku = httpx.get(f"{base}/api/v1/products?limit=1", headers=headers, timeout=10).json()["items"][0]
        now = dt.datetime.now(dt.UTC).isoformat()
        order: dict[str, Any] = {
            "channel": "pos",
            "external_id": f"lock-{uuid.uuid4().hex[:8]}",
            "store_code": "S001",
            "status": "paid",
            "placed_at": now,
            "paid_at": now,
            "lines": [{"sku_code": sku["code"], "quantity": 1, "unit_price_fen": sku["list_price_fen"]}],
            "payments": [{"method": "cash", "amount_fen": sku["list_price_fen"]}],
        }
        # An order batch wakes the refresh worker; previews run while it refreshes.
        batch = httpx.post(
            f"{base}/api/v1/orders/batch", headers=headers, json={"orders": [order]}, timeout=30
        )
        assert batch.status_code == 200, batch.text
        rule = {
            "rule": {
                "type": "orders",
                "measure": "count",
                "op": ">=",
                "value": 1,
                "window": {"last_days": 30},
            }
        }
        answers: list[tuple[int, float]] = []

        def preview(record: bool = True) -> None:
            for _ in range(8):
                started = time.perf_counter()
                try:
                    r = httpx.post(f"{base}/api/v1/audiences/preview", headers=headers, json=rule, timeout=30)
                except httpx.HTTPError:
                    if record:
                        raise
                    return  # the server has stopped, as it was told to
                if record:
                    answers.append((r.status_code, time.perf_counter() - started))
                time.sleep(0.4)

        threads = [threading.Thread(target=preview) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert answers and all(status == 200 for status, _ in answers), answers
        assert max(seconds for _, seconds in answers) < 10
        # Busy again (another batch, another preview in flight), then SIGTERM.
        order["external_id"] = f"lock-{uuid.uuid4().hex[:8]}"
        httpx.post(f"{base}/api/v1/orders/batch", headers=headers, json={"orders": [order]}, timeout=30)
        inflight = threading.Thread(target=preview, kwargs={"record": False})
        inflight.start()
        time.sleep(0.5)
        server.send_signal(signal.SIGTERM)
        started = time.perf_counter()
        server.wait(timeout=10)
        assert time.perf_counter() - started < 10
        inflight.join(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
