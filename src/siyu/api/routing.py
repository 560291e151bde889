"""Every API route runs in one transaction, and POSTs honour Idempotency-Key.

The route class opens the session, runs the endpoint, and commits only when the answer is a
success. With an Idempotency-Key, the first successful answer is stored in the same transaction
as the change it describes; a replay returns it, a different body with the same key is refused.
Two concurrent requests with one key race on the key's unique constraint: the loser's whole
transaction rolls back and it answers the winner's response.

A stored answer belongs to whoever got it: the fingerprint binds the key to the principal (actor
type and id) as well as the method, path, query and body, so the same key from anyone else is a
different request (422 `idempotency_key_reused`) and never reads the first answer. The route's
permission is checked before any stored answer is returned, and every replay is audited.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.routing import APIRoute
from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.pool import QueuePool
from starlette.concurrency import run_in_threadpool

from siyu.access import Perm, Principal
from siyu.api.deps import Require, authenticate
from siyu.core.errors import DomainError
from siyu.core.ids import sha256_hex
from siyu.platform import audit
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


def sign_in_admission(endpoint: F) -> F:
    """Mark a sign-in endpoint: it is admitted through its own few places (SIGN_IN_PLACES), so a
    flood of sign-ins — each an expensive password check — queues among itself and never takes the
    places of signed-in people's requests."""
    endpoint.siyu_admission = "sign_in"  # type: ignore[attr-defined]
    return endpoint


class TransactionalRoute(APIRoute):
    """APIRoute that wraps the endpoint in a unit of work (and idempotency for POST)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Publish the permission the route declares (its Require dependency) as x-permission.
        self.permissions: tuple[Perm, ...] = ()
        for dep in self.dependant.dependencies:
            if isinstance(dep.call, Require):
                self.permissions += (dep.call.permission,)
                self.openapi_extra = {**(self.openapi_extra or {}), "x-permission": dep.call.permission.value}
                if dep.call.also:
                    self.permissions += dep.call.also
                    self.openapi_extra["x-permission-also"] = [p.value for p in dep.call.also]

    def get_route_handler(self) -> Handler:
        """Wrap FastAPI's handler."""
        original = super().get_route_handler()
        # (super().__init__ builds the handler, so the mark is read from the endpoint here.)
        maker = "read_sessionmaker" if getattr(self.endpoint, "siyu_read_only", False) else "sessionmaker"

        admission_class = getattr(self.endpoint, "siyu_admission", "default")

        async def handler(request: Request) -> Response:
            started = time.perf_counter()
            async with admission(request, admission_class):
                return await run(request, started)

        async def run(request: Request, started: float) -> Response:
            session: Session = getattr(request.app.state, maker)()
            request.state.db = session
            try:
                key = request.headers.get("idempotency-key")
                if key is not None and request.method == "POST" and request.headers.get("authorization"):
                    response = await _idempotent(request, session, key, original, self.permissions)
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


# Admission: at most as many requests hold a database session as the engine's pool has
# connections. The rest wait on the event loop (not in a worker thread) for up to ADMISSION_WAIT_S,
# then answer 503 with Retry-After. Without it a burst fills every worker thread with requests
# waiting for a connection or for SQLite's write lock, and a request that holds the lock can no
# longer get a thread to finish on.
ADMISSION_WAIT_S = 10.0
SIGN_IN_PLACES = 2  # of the pool's connections, kept for sign-ins; the rest for everything else
_admissions: dict[tuple[int, int, str], asyncio.Semaphore] = {}


def _capacity(engine: Engine) -> int:
    pool = engine.pool
    if isinstance(pool, QueuePool):
        return max(1, pool.size() + max(pool._max_overflow, 0))  # the overflow has no public getter
    return 8


@asynccontextmanager
async def admission(request: Request, admission_class: str = "default") -> AsyncIterator[None]:
    """Hold one of the engine's admission places (of the request's class) or raise `server_busy`."""
    engine: Engine = request.app.state.engine
    key = (id(engine), id(asyncio.get_running_loop()), admission_class)
    semaphore = _admissions.get(key)
    if semaphore is None:
        capacity = _capacity(engine)
        places = SIGN_IN_PLACES if admission_class == "sign_in" else max(1, capacity - SIGN_IN_PLACES)
        semaphore = _admissions.setdefault(key, asyncio.Semaphore(places))
    try:
        await asyncio.wait_for(semaphore.acquire(), ADMISSION_WAIT_S)
    except TimeoutError:
        raise DomainError(
            "server_busy", what_zh="数据库连接", what_en="database connections", retry_after_s=2
        ) from None
    try:
        yield
    finally:
        semaphore.release()


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
        except IntegrityError as exc:
            await run_in_threadpool(session.rollback)
            if not is_unique_violation(exc):
                # A check, foreign-key or not-null constraint refused the data: retrying cannot
                # help. Validation should have caught it first, so it is logged as a defect.
                log.error("constraint refused a write on %s: %s", request.url.path, exc.orig)
                raise DomainError("constraint_violated") from None
            if attempt == MAX_ATTEMPTS - 1:
                raise DomainError(
                    "conflict", reason_zh="并发写入冲突，请重试", reason_en="concurrent write conflict; retry"
                ) from None
    raise AssertionError("unreachable")


def is_unique_violation(exc: IntegrityError) -> bool:
    """Whether an integrity error is a unique-key race (retryable), not a refused value."""
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate is not None:
        return bool(sqlstate == "23505")
    return "UNIQUE constraint failed" in str(exc.orig)


def _find(session: Session, tenant_id: int, key: str) -> IdempotencyRecord | None:
    return session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.tenant_id == tenant_id, IdempotencyRecord.key == key
        )
    )


def _replay(
    session: Session, principal: Principal, record: IdempotencyRecord, request_sha256: str
) -> Response:
    """The stored answer, when this principal sent this very request before (audited)."""
    if record.request_sha256 != request_sha256:
        raise DomainError("idempotency_key_reused", details={"key": record.key})
    audit.record(
        session,
        tenant_id=principal.tenant_id,
        actor=principal,
        action="idempotent_replay",
        object_type="idempotency_key",
        object_id=record.id,
        data={"path": record.path, "status": record.status_code},
    )
    session.commit()
    return Response(
        content=record.response_body,
        status_code=record.status_code,
        media_type=record.content_type,
        headers={"Idempotent-Replayed": "true"},
    )


async def _idempotent(
    request: Request, session: Session, key: str, original: Handler, permissions: tuple[Perm, ...]
) -> Response:
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise DomainError(
            "validation_error", summary="Idempotency-Key 须为 1-255 个字符 / must be 1-255 characters"
        )
    body = await request.body()
    principal = await run_in_threadpool(authenticate, request)
    # Authorisation first: a caller without the route's permission never reaches a stored answer.
    for permission in permissions:
        if not principal.can(permission):
            raise DomainError("forbidden", permission=permission.value)
    # Keys are each caller's own: stored as a digest of (actor, key), so one principal can neither
    # read another's answer nor take a key another will use (a POS's order number, say).
    key = sha256_hex(f"{principal.actor_type}:{principal.actor_id}\n{key}".encode())
    request_sha256 = sha256_hex(
        f"{principal.actor_type}:{principal.actor_id}\n".encode()
        + request.method.encode()
        + b" "
        + request.url.path.encode()
        + b"?"
        + request.url.query.encode()
        + b"\n"
        + body
    )
    existing = await run_in_threadpool(_find, session, principal.tenant_id, key)
    if existing is not None:
        return await run_in_threadpool(_replay, session, principal, existing, request_sha256)
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
            return _replay(session, principal, winner, request_sha256)
        return response

    return await run_in_threadpool(store_and_commit)
