"""OpenAPI fuzzing (schemathesis + hypothesis): whatever a client sends, every operation answers
without a server error, and every 4xx uses the one error shape."""

from __future__ import annotations

from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy import Engine, update

from siyu.app import create_app
from siyu.db.session import unit_of_work
from siyu.org.models import Staff
from tests.conftest import build_world, issue_token


def check_response(case: Any, response: Any) -> None:
    assert response.status_code < 500, f"{case.method} {case.formatted_path}: {response.text[:500]}"
    if response.status_code >= 400:
        body = response.json()
        assert set(body) == {"error"}, body
        assert set(body["error"]) == {"code", "message", "details"}, body
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]


def test_every_operation_survives_generated_requests(sqlite_engine: Engine) -> None:
    world = build_world(sqlite_engine)
    schema = schemathesis.openapi.from_asgi("/openapi.json", create_app(engine=sqlite_engine))
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 35
    statuses: dict[int, int] = {}
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=15,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
            derandomize=True,
        )
        def run(case: Any) -> None:
            # Generated calls may sign out, or mark the owner as departed: start each from a fresh token.
            with unit_of_work(sqlite_engine) as session:
                session.execute(
                    update(Staff)
                    .where(Staff.id == world.staff["owner"])
                    .values(status="active", role="owner")
                )
            token = issue_token(sqlite_engine, world.tenant_id, world.staff["owner"])
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {token}"}
            response = case.call()
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            check_response(case, response)

        run()
    # The generated requests reached the endpoints, not only the validators.
    assert sum(n for code, n in statuses.items() if code < 300) > 50
    assert sum(statuses.values()) > 400
