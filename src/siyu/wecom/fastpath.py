"""WeCom callbacks served without the router: the same verification, storage and answers as the
`POST /api/v1/wecom/{tenant_slug}/callback` route, in one thread hop and one transaction.

Callbacks arrive in bursts and each is tiny; the router's dependency injection, per-request ORM
session and two thread hops were most of their cost. Requests that are not well-formed callbacks
(a parameter missing or too long) go on to the route, which answers them as before.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from siyu.api.errors import domain_error_handler
from siyu.core.errors import DomainError
from siyu.wecom import service
from siyu.wecom.xml import MAX_XML_BYTES

PATH = re.compile(r"^/api/v1/wecom/([a-z0-9][a-z0-9-]{1,39})/callback$")
LIMITS = {"msg_signature": 64, "timestamp": 20, "nonce": 64}


class CallbackFastPath:
    """ASGI middleware in front of the app for POSTed WeCom callbacks."""

    def __init__(self, app: ASGIApp, *, state: Any) -> None:
        self.app = app
        self.state = state  # the FastAPI app's state: sessionmaker and the inbox worker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        match = (
            PATH.match(scope.get("path", ""))
            if scope["type"] == "http" and scope["method"] == "POST"
            else None
        )
        request = Request(scope, receive) if match else None
        params = dict(request.query_params) if request is not None else {}
        if (
            match is None
            or request is None
            or any(not params.get(k) or len(params[k]) > n for k, n in LIMITS.items())
        ):
            await self.app(scope, receive, send)
            return
        body = await request.body()
        try:
            if len(body) > MAX_XML_BYTES:
                raise DomainError("body_too_large", limit_bytes=MAX_XML_BYTES)
            tenant_id, inbox_id, new = await run_in_threadpool(self._store, match.group(1), params, body)
        except DomainError as exc:
            await (await domain_error_handler(request, exc))(scope, receive, send)
            return
        await PlainTextResponse("success")(scope, receive, send)
        if new:  # handed to the worker once the stored row is committed and answered
            self.state.wecom_worker.submit(tenant_id, inbox_id)

    def _store(self, slug: str, params: dict[str, str], body: bytes) -> tuple[int, int, bool]:
        session = self.state.sessionmaker()
        try:
            tenant_id, inbox_id, new = service.receive(
                session,
                tenant_slug=slug,
                msg_signature=params["msg_signature"],
                timestamp=params["timestamp"],
                nonce=params["nonce"],
                body=body,
            )
            session.commit()
            return tenant_id, inbox_id, new
        except BaseException:
            session.rollback()
            raise
        finally:
            session.close()
