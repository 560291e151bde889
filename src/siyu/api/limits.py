"""ASGI middleware that caps request bodies (413 before the body is read past the cap)."""

from __future__ import annotations

import json

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Paths that take uploaded files: the API's imports, and the console's imports and channel codes
# (a welcome image and a mini-program cover).
UPLOAD_PREFIXES = ("/api/v1/imports", "/imports", "/wecom/codes")


class BodySizeLimit:
    """Refuse bodies over `max_bytes` (uploads, `UPLOAD_PREFIXES`, get `max_upload_bytes`)."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, max_upload_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_upload_bytes = max_upload_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check Content-Length, then count streamed bytes."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.max_upload_bytes if scope["path"].startswith(UPLOAD_PREFIXES) else self.max_bytes
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
            await _reject(send, limit, page=not scope["path"].startswith("/api/"))
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge()
            return message

        try:
            await self.app(scope, counting_receive, send)
        except _TooLarge:
            await _reject(send, limit, page=not scope["path"].startswith("/api/"))


class _TooLarge(HTTPException):
    """Raised from receive(); an HTTPException so FastAPI's body parsing lets it through as 413."""

    def __init__(self) -> None:
        super().__init__(status_code=413, detail="请求体过大 / Request body too large")


async def _reject(send: Send, limit: int, *, page: bool = False) -> None:
    if page:  # a person's upload in the console: a short page in both languages, a way back
        megabytes = limit // (1024 * 1024)
        html = (
            '<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>413</title>'
            f"<p>文件太大：上限 {megabytes} MB。请拆分后再上传。</p>"
            f"<p>The file is too large: the limit is {megabytes} MB. Split it and upload the parts.</p>"
            '<p><a href="javascript:history.back()">返回 Back</a></p></html>'
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"text/html; charset=utf-8"),
                    (b"content-length", str(len(html)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": html})
        return
    body = json.dumps(
        {
            "error": {
                "code": "body_too_large",
                "message": f"请求体过大（上限 {limit} 字节）/ Request body too large (limit {limit} bytes)",
                "details": {"limit_bytes": limit},
            }
        },
        ensure_ascii=False,
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
