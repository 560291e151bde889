"""No blocking I/O on the event loop, and SQLite's write lock never freezes the console.

FastAPI runs `def` endpoints and dependencies in the thread pool and `async def` ones on the event
loop, where one blocking call (a database query, a lock wait) stalls every request of the process.
So: no async endpoint at all, and async dependencies only from a reviewed list, each checked to
call nothing that does I/O. A real server then takes concurrent previews, saves and page loads.
"""

from __future__ import annotations

import ast
import concurrent.futures
import inspect
import re
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant

from siyu.api.deps import Require, get_session, page_limit
from siyu.app import create_app
from siyu.console.forms import form_data
from siyu.console.security import csrf_guard
from siyu.console.segments import request_body
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine
from siyu.payments.views import notification_body
from siyu.serving import serve
from siyu.wecom.views import raw_body
from tests.console.support import api_routes
from tests.factories import World, build_world

# Reviewed: each only reads the request (or returns the request's session object) — no I/O.
ASYNC_ALLOWED: set[Callable[..., Any]] = {
    get_session,
    page_limit,
    Require.__call__,
    raw_body,
    notification_body,
    request_body,
    csrf_guard,
    form_data,
}
# Calls that would block the loop (database, files, network, sleeping).
BLOCKING_CALLS = {
    "execute", "scalar", "scalars", "commit", "flush", "refresh", "rollback", "query", "get_bind",
    "sleep", "open", "read_text", "read_bytes", "urlopen", "connect", "resolve_bearer", "authenticate",
}  # fmt: skip


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _coroutine(call: Callable[..., Any]) -> Callable[..., Any] | None:
    if inspect.iscoroutinefunction(call):
        return call
    if not inspect.isfunction(call) and inspect.iscoroutinefunction(type(call).__call__):
        return type(call).__call__  # type: ignore[no-any-return]
    return None


def test_no_async_endpoint_and_only_reviewed_async_dependencies(world: World) -> None:
    app = create_app(engine=world.engine)
    seen = 0
    for route in api_routes(app.routes):
        assert not inspect.iscoroutinefunction(route.endpoint), f"async endpoint {route.path}"
        for call in _calls(route.dependant):
            seen += 1
            function = _coroutine(call)
            if function is not None:
                assert function in ASYNC_ALLOWED, f"{route.path}: unreviewed async {function.__qualname__}"
    assert seen > 100
    for function in ASYNC_ALLOWED:
        tree = ast.parse(textwrap.dedent(inspect.getsource(function)))
        called = {
            node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
        }
        assert not called & BLOCKING_CALLS, (function.__qualname__, called & BLOCKING_CALLS)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, World]]:
    url = f"sqlite:///{tmp_path / 'concurrent.db'}"
    engine = make_engine(url)
    upgrade(engine)
    world = build_world(engine)
    proc, base = serve(url)
    try:
        yield base, world
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        engine.dispose()


def test_concurrent_previews_saves_and_pages_stay_fast(server: tuple[str, World]) -> None:
    base, world = server
    h = world.headers("integration")
    with httpx.Client(base_url=base, headers=h, timeout=60) as api:
        records = [{"name": f"客户{i}", "phone": f"1370000{i:04d}", "gender": "female"} for i in range(200)]
        api.post("/api/v1/customers/batch", json={"records": records}).raise_for_status()
    cookies = {"siyu_session": world.tokens["owner"], "siyu_csrf": "concurrency-test"}
    with httpx.Client(base_url=base, cookies=cookies, timeout=60) as browser:
        page = browser.get("/audiences")
        assert page.status_code == 200
        token = re.search(r'<meta name="csrf-token" content="([0-9a-f]+)">', page.text)
        assert token is not None
    headers = {"X-CSRF-Token": token.group(1), "Origin": base}
    rule = {"type": "gender", "values": ["female"]}

    def one(i: int) -> tuple[int, float]:
        started = time.perf_counter()
        with httpx.Client(base_url=base, cookies=cookies, headers=headers, timeout=60) as c:
            kind = i % 4
            if kind == 0:
                r = c.post("/audiences/preview", json={"rule": rule})
            elif kind == 1:
                r = c.post(
                    "/audiences", data={"name": f"并发{i}", "rule": '{"type":"gender","values":["female"]}'}
                )
            elif kind == 2:
                r = c.get("/signin")
            else:
                r = c.get("/customers")
        return r.status_code, time.perf_counter() - started

    with concurrent.futures.ThreadPoolExecutor(max_workers=10) as pool:
        results = list(pool.map(one, range(40)))
    statuses = [status for status, _ in results]
    assert all(status < 500 for status in statuses), statuses
    assert set(statuses) <= {200, 303}, statuses
    assert max(seconds for _, seconds in results) < 5, sorted(seconds for _, seconds in results)[-5:]


def test_no_read_only_route_writes_an_audit_entry(world: World) -> None:
    """A route marked read-only runs in a snapshot that SQLite cannot turn into a write once another
    connection wrote ("database is locked"): none may record an audit entry (exports do, and so
    take a writing transaction)."""
    import ast
    import textwrap

    app = create_app(engine=world.engine)
    for route in api_routes(app.routes):
        if not getattr(route.endpoint, "siyu_read_only", False):
            continue
        tree = ast.parse(textwrap.dedent(inspect.getsource(route.endpoint)))
        calls = {
            f"{node.func.value.id}.{node.func.attr}"
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and isinstance(node.func.value, ast.Name)
        }
        assert "audit.record" not in calls, route.path
        assert not any(c.endswith("snapshot_download") for c in calls), route.path
