"""OpenAPI fuzzing (schemathesis + hypothesis): whatever a client sends, every operation answers
without a server error, and every 4xx uses the one error shape.

Each operation gets requests that follow its schema (positive) and requests that break it
(negative: wrong types, out-of-range numbers, missing fields), on SQLite and on PostgreSQL — NUL
bytes answered 500 only on PostgreSQL. The depth is `SIYU_FUZZ_EXAMPLES` positive cases per
operation (default 30; negative cases are half as many); `SIYU_FUZZ_RANDOM=1` draws new cases each
run instead of the same derandomised ones (a deeper local run: SIYU_FUZZ_EXAMPLES=500).
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from sqlalchemy import Engine, update

from siyu.app import create_app
from siyu.db.session import unit_of_work
from siyu.org.models import Staff
from tests.factories import build_world, issue_token


def check_response(case: Any, response: Any) -> None:
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        if case.path.endswith("/wechat-pay/{tenant_slug}/notify") and "error" not in body:
            # A refused notification is answered as WeChat Pay's protocol sets: {"code": "FAIL", …}.
            assert body["code"] == "FAIL" and body["message"], body
            return
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "message", "details"}, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]


EXAMPLES = int(os.environ.get("SIYU_FUZZ_EXAMPLES", "30"))
RANDOM = os.environ.get("SIYU_FUZZ_RANDOM", "") == "1"


def test_every_operation_survives_generated_requests(engine: Engine) -> None:
    world = build_world(engine)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(engine=engine))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 35
    statuses: dict[int, int] = {}
    for operation in operations:
        for mode, examples in ((GenerationMode.POSITIVE, EXAMPLES), (GenerationMode.NEGATIVE, EXAMPLES // 2)):
            _fuzz(engine, world, operation, mode, examples, statuses)
    # The generated requests reached the endpoints, not only the validators.
    assert sum(n for code, n in statuses.items() if code < 300) > 50
    assert sum(statuses.values()) > 400


def _fuzz(
    engine: Engine, world: Any, operation: Any, mode: GenerationMode, examples: int, statuses: dict[int, int]
) -> None:
    if examples < 1:
        return

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
        derandomize=not RANDOM,
    )
    def run(case: Any) -> None:
        # Generated calls may sign out, or mark the owner as departed: start each from a fresh token.
        with unit_of_work(engine) as session:
            session.execute(
                update(Staff).where(Staff.id == world.staff["owner"]).values(status="active", role="owner")
            )
        token = issue_token(engine, world.tenant_id, world.staff["owner"])
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
        response = case.call()
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        check_response(case, response)

    try:
        run()
    except Unsatisfiable:
        # Nothing to break: an operation without parameters or body has no negative cases.
        assert mode is GenerationMode.NEGATIVE, operation.label
