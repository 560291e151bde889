"""Every API route runs in one transaction, and POSTs honour Idempotency-Key.

The route class opens the session, runs the endpoint, and commits only when the answer is a
success. With an Idempotency-Key, the first successful answer is stored in the same transaction
as the change it describes; a replay returns it, a different body with the same key is refused.
Two concurrent requests with one key race on the key's unique constraint: the loser's whole
transaction rolls back and it answers the winner's response.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from siyu.api.deps import Require, authenticate
from siyu.core.errors import DomainError
from siyu.core.ids import sha256_hex
from siyu.platform.models import IdempotencyRecord

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
F = TypeVar("F", bound=Callable[..., Any])
log = logging.getLogger("siyu.request")
MAX_KEY_LENGTH = 255
MAX_ATTEMPTS = 3


def read_only(endpoint: F) -> F:
    """Mark an endpoint that only reads: its transaction is a plain snapshot (on SQLite a deferred
    BEGIN, not BEGIN IMMEDIATE), so it never waits for, or fails on, the write lock."""
    endpoint.siyu_read_only = True  # type: ignore[attr-defined]
    return endpoint


class TransactionalRoute(APIRoute):
    """APIRoute that wraps the endpoint in a unit of work (and idempotency for POST)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Publish the permission the route declares (its Require dependency) as x-permission.
        for dep in self.dependant.dependencies:
            if isinstance(dep.call, Require):
                self.openapi_extra = {**(self.openapi_extra or {}), "x-permission": dep.call.permission.value}

    def get_route_handler(self) -> Handler:
        """Wrap FastAPI's handler."""
        original = super().get_route_handler()
        # (super().__init__ builds the handler, so the mark is read from the endpoint here.)
        maker = "read_sessionmaker" if getattr(self.endpoint, "siyu_read_only", False) else "sessionmaker"

        async def handler(request: Request) -> Response:
            started = time.perf_counter()
            session: Session = getattr(request.app.state, maker)()
            request.state.db = session
            try:
                key = request.headers.get("idempotency-key")
                if key is not None and request.method == "POST" and request.headers.get("authorization"):
                    response = await _idempotent(request, session, key, original)
                    await run_in_threadpool(session.close)  # _idempotent committed or rolled back
                    _log(request, response.status_code, started)
                    return response
                response = await _with_retry(request, session, original)
                await run_in_threadpool(_finish, session, response.status_code < 400)
                _log(request, response.status_code, started)
                # Server time of the request, commit included (browsers' dev tools and benchmarks read it).
                response.headers["Server-Timing"] = f"app;dur={(time.perf_counter() - started) * 1000:.1f}"
                return response
            except BaseException:
                await run_in_threadpool(_finish, session, False)
                raise

        return handler


def _log(request: Request, status: int, started: float) -> None:
    """One structured event per request, with the tenant and the actor when known."""
    principal = getattr(request.state, "principal", None)
    log.info(
        json.dumps(
            {
                "event": "http_request",
                "method": request.method,
                "path": request.url.path,
                "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 1),
                "tenant_id": principal.tenant_id if principal else None,
                "actor": f"{principal.actor_type}:{principal.actor_id}" if principal else None,
            }
        )
    )


def _finish(session: Session, success: bool) -> None:
    """Commit a success or roll back a failure, then release the connection (one thread hop)."""
    try:
        if success:
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


async def _with_retry(request: Request, session: Session, original: Handler) -> Response:
    """Run the endpoint; when a concurrent transaction wins a unique-constraint race (two requests
    creating the same identity at once), roll back and run it again so it sees the winner's rows."""
    for attempt in range(MAX_ATTEMPTS):
        try:
            return await original(request)
        except IntegrityError:
            await run_in_threadpool(session.rollback)
            if attempt == MAX_ATTEMPTS - 1:
                raise DomainError(
                    "conflict", reason_zh="并发写入冲突，请重试", reason_en="concurrent write conflict; retry"
                ) from None
    raise AssertionError("unreachable")


def _find(session: Session, tenant_id: int, key: str) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.tenant_id == tenant_id, IdempotencyRecord.key == key
        )
    )


def _replay(record: IdempotencyRecord, request_sha256: str) -> Response:
    if record.request_sha256 != request_sha256:
        raise DomainError("idempotency_key_reused", details={"key": record.key})
    return Response(
        content=record.response_body,
        status_code=record.status_code,
        media_type=record.content_type,
        headers={"Idempotent-Replayed": "true"},
    )


async def _idempotent(request: Request, session: Session, key: str, original: Handler) -> Response:
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            "validation_error", summary="Idempotency-Key 须为 1-255 个字符 / must be 1-255 characters"
        )
    body = await request.body()
    request_sha256 = sha256_hex(
        request.method.encode()
        + b" "
        + request.url.path.encode()
        + b"?"
        + request.url.query.encode()
        + b"\n"
        + body
    )
    principal = await run_in_threadpool(authenticate, request)
    existing = await run_in_threadpool(_find, session, principal.tenant_id, key)
    if existing is not None:
        return _replay(existing, request_sha256)
    response = await _with_retry(request, session, original)
    if response.status_code >= 400:
        await run_in_threadpool(session.rollback)
        return response

    def store_and_commit() -> Response:
        session.add(
            IdempotencyRecord(
                tenant_id=principal.tenant_id,
                key=key,
                method=request.method,
                path=request.url.path[:500],
                request_sha256=request_sha256,
                status_code=response.status_code,
                response_body=bytes(response.body).decode(),
                content_type=response.media_type or "application/json",
            )
        )
        try:
            session.commit()
        except IntegrityError:
            # Another request with this key committed first: ours is undone, theirs is the answer.
            session.rollback()
            winner = _find(session, principal.tenant_id, key)
            if winner is None:
                raise DomainError("idempotency_in_progress") from None
            return _replay(winner, request_sha256)
        return response

    return await run_in_threadpool(store_and_commit)
