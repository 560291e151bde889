"""WeCom callbacks served without the router: the same verification, storage and answers as the
`POST /api/v1/wecom/{tenant_slug}/callback` route, with storage committed in groups.

Callbacks arrive in bursts and each is tiny; the router's dependency injection, per-request ORM
session, thread hops and one commit per callback were most of their cost. Here one committer thread
takes whatever callbacks are waiting (up to GROUP), verifies and stores each, commits them together,
and only then answers each request — so every acknowledgement still follows a durable write, and a
callback that is refused (bad signature …) gets its own error while the others are stored. Requests
that are not well-formed callbacks (a parameter missing or too long) go on to the route, which
answers them as before.
"""

from __future__ import annotations

import asyncio
import queue
import re
import threading
from dataclasses import dataclass
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from siyu.api.errors import domain_error_handler
from siyu.core.errors import DomainError
from siyu.db.session import unit_of_work
from siyu.wecom import service
from siyu.wecom.xml import MAX_XML_BYTES

PATH = re.compile(r"^/api/v1/wecom/([a-z0-9][a-z0-9-]{1,39})/callback$")
LIMITS = {"msg_signature": 64, "timestamp": 20, "nonce": 64}
GROUP = 64  # callbacks committed together at most


@dataclass
class _Pending:
    slug: str
    params: dict[str, str]
    body: bytes
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[tuple[int, int, bool]]

    def answer(self, value: Any) -> None:
        def settle() -> None:
            if self.future.done():
                return
            if isinstance(value, BaseException):
                self.future.set_exception(value)
            else:
                self.future.set_result(value)

        self.loop.call_soon_threadsafe(settle)


class CallbackFastPath:
    """ASGI middleware in front of the app for POSTed WeCom callbacks."""

    def __init__(self, app: ASGIApp, *, state: Any) -> None:
        self.app = app
        self.state = state  # the FastAPI app's state: engine and the inbox worker
        self.waiting: queue.Queue[_Pending] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.lock = threading.Lock()

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
            loop = asyncio.get_running_loop()
            future: asyncio.Future[tuple[int, int, bool]] = loop.create_future()
            self._committer()
            self.waiting.put(_Pending(match.group(1), params, body, loop, future))
            tenant_id, _inbox_id, new = await future
        except DomainError as exc:
            await (await domain_error_handler(request, exc))(scope, receive, send)
            return
        await PlainTextResponse("success")(scope, receive, send)
        if new:  # the job runner is nudged once the stored row is committed and answered (applied right
            # here, off the event loop, when the server runs no job threads)
            runner = self.state.jobs
            if runner.running:
                runner.trigger("wecom.inbox", tenant_id=tenant_id)  # an in-memory nudge
            elif self.state.settings.workers == "in-process":
                await run_in_threadpool(runner.trigger, "wecom.inbox", tenant_id=tenant_id)

    def _committer(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        with self.lock:
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="wecom-callbacks", daemon=True)
                self.thread.start()

    def _run(self) -> None:
        while True:
            group = [self.waiting.get()]
            while len(group) < GROUP:
                try:
                    group.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            try:
                self._store(group)
            except Exception:  # the group's transaction failed: each alone, so only the culprit fails
                for item in group:
                    try:
                        self._store([item])
                    except Exception as exc:
                        item.answer(exc)

    def _store(self, group: list[_Pending]) -> None:
        """Verify and store every callback of the group in one transaction; answer after commit."""
        answers: list[tuple[_Pending, Any]] = []
        with unit_of_work(self.state.engine) as session:
            for item in group:
                try:
                    stored = service.receive(
                        session,
                        tenant_slug=item.slug,
                        msg_signature=item.params["msg_signature"],
                        timestamp=item.params["timestamp"],
                        nonce=item.params["nonce"],
                        body=item.body,
                    )
                    answers.append((item, stored))
                except DomainError as exc:  # refused before anything was written for it
                    answers.append((item, exc))
        for item, value in answers:
            item.answer(value)
