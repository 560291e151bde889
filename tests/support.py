"""Helpers shared by test modules (no test module imports another)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.engine import make_url

from siyu.settings import normalise_database_url


def run_threads(n: int, target: Callable[[int], Any]) -> list[Any]:
    """Run `target(i)` for i in 0..n-1 on n threads released together; their answers in order."""
    results: list[Any] = [None] * n
    barrier = threading.Barrier(n)

    def work(i: int) -> None:
        barrier.wait()
        results[i] = target(i)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


# --- the services the tests need ----------------------------------------------------------------
IN_CI = os.environ.get("CI", "").lower() == "true"
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
