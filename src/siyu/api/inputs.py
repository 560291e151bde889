"""The edge's character rule: no NUL or other control character reaches a handler.

PostgreSQL refuses NUL in text (the request failed with 500, where SQLite stored it silently) and
Excel refuses most other C0 characters (every export of such a name failed). One middleware checks
every request before it is routed: the path and query string may hold no C0 character at all;
JSON and form bodies may hold tab, newline and carriage return (multi-line notes, addresses) and
nothing else below U+0020, in values and in keys. The answer is 422 `validation_error` naming
each field — or, for a batch whose rows are reported one by one, `batch_rejected` with row errors.

JSON bodies are scanned as bytes first (a control character can only appear there as an escape,
`\\u0001`, `\\b`, `\\f`); only a body with such an escape is parsed to find the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Iterator
from email.message import Message as MimeHeaders
from email.parser import BytesHeaderParser
from typing import Any
from urllib.parse import parse_qsl

from fastapi.encoders import jsonable_encoder
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siyu.api.errors import ROW_REPORTED, error_response, language
from siyu.core.errors import DomainError, RowError, rejected
from siyu.core.inputs import control_character

_ESCAPED_CONTROL = re.compile(rb"\\(?:u00(?:0[0-8bBcCeEfF]|1[0-9a-fA-F])|[bf])")
_WITH_BODY = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A raw control byte (other than tab, LF, CR) never belongs in a JSON or form body: JSON strings must
# escape them, and a body in UTF-16 or UTF-32 (which JSON parsers also accept) is full of NUL bytes
# where the escape scan above would find nothing.
_RAW_CONTROL = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Multipart bodies carry files only on the import uploads (checked row by row there); everywhere
# else (console forms) every part is text and is scanned like a form.
_UPLOAD_PREFIX = "/api/v1/imports/"
MAX_REPORTED = 50


class Problem:
    """One field holding a control character."""

    __slots__ = ("character", "location", "path")

    def __init__(self, location: str, path: list[str | int], character: str) -> None:
        self.location = location
        self.path = path
        self.character = character

    @property
    def field(self) -> str:
        """The field as validation errors name it (`records.2.name`)."""
        return ".".join(str(p) for p in self.path) or self.location

    def describe(self) -> dict[str, Any]:
        """One entry of a validation error's details."""
        return {
            "field": self.field,
            "location": self.location,
            "type": "control_character",
            "message": f"contains the control character {self.character} / 含有控制字符 {self.character}",
        }


def _walk(value: Any, path: list[str | int], location: str) -> Iterator[Problem]:
    if isinstance(value, str):
        found = control_character(value)
        if found:
            yield Problem(location, path, found)
    elif isinstance(value, dict):
        for key, item in value.items():
            found = control_character(str(key))
            if found:
                yield Problem(location, path, found)  # the key itself is never echoed back
            yield from _walk(item, [*path, str(key)], location)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, [*path, index], location)


def url_problems(scope: Scope) -> list[Problem]:
    """Control characters in the path or the query string (none allowed, not even tab or newline)."""
    problems: list[Problem] = []
    found = control_character(scope.get("path", ""), single_line=True)
    if found:
        problems.append(Problem("path", [], found))
    raw = scope.get("query_string", b"")
    if raw:
        text = raw.decode("latin-1")
        for key, value in parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace"):
            found = control_character(key, single_line=True) or control_character(value, single_line=True)
            if found:
                clean_key = key if control_character(key, single_line=True) is None else ""
                problems.append(Problem("query", [clean_key] if clean_key else [], found))
    return problems


def _boundary(content_type: str) -> str:
    """The multipart boundary as sent (it is case-sensitive: browsers send `----WebKitFormBoundaryAbC`)."""
    holder = MimeHeaders()
    holder["content-type"] = content_type
    value = holder.get_param("boundary")
    return value if isinstance(value, str) else ""


def _is_file_part(head: bytes) -> bool:
    """Whether a part's headers declare a file: its Content-Disposition carries a `filename` (or
    `filename*`) parameter, even an empty one (a file input left empty)."""
    headers = BytesHeaderParser().parsebytes(head.lstrip(b"\r\n") + b"\r\n\r\n")
    return headers.get_param("filename", header="content-disposition") is not None or (
        headers.get_param("filename*", header="content-disposition") is not None
    )


def _multipart_fields(body: bytes, content_type: str) -> Iterator[bytes]:
    """Each part of a multipart body that is a field, not a file: its headers and value (a file's
    bytes are the file's own business — an image holds control bytes)."""
    boundary = _boundary(content_type)
    if not boundary:
        yield body
        return
    for part in body.split(b"--" + boundary.encode("latin-1")):
        head = part.partition(b"\r\n\r\n")[0]
        if _is_file_part(head):
            yield head  # the part's headers (its field name and file name) still may not hold any
            continue
        yield part


def body_problems(body: bytes, raw_content_type: str) -> list[Problem]:
    """Control characters (other than tab, newline, carriage return) in a JSON or form body (in a
    multipart body: in its fields and in its files' names, not in the files). `raw_content_type` is
    the header as sent: the media type is compared in lower case, the boundary kept as it is."""
    content_type = raw_content_type.lower()
    if content_type.startswith("multipart/form-data"):
        for field in _multipart_fields(body, raw_content_type):
            raw = _RAW_CONTROL.search(field)
            if raw:
                return [Problem("body", [], f"U+{raw.group()[0]:04X}")]
        return []
    if "json" in content_type:
        raw = _RAW_CONTROL.search(body)
        if raw:
            return [Problem("body", [], f"U+{raw.group()[0]:04X}")]
    if "json" in content_type:
        if not _ESCAPED_CONTROL.search(body):
            return []
        try:
            parsed = json.loads(body)
        except ValueError:
            return []  # not JSON at all: the route's own parsing answers that
        return _first(_walk(parsed, [], "body"))
    if content_type.startswith("application/x-www-form-urlencoded"):
        text = body.decode("latin-1")
        pairs = parse_qsl(text, keep_blank_values=True, encoding="utf-8", errors="replace")
        return _first(_walk(dict(pairs), [], "body"))
    return []


def _first(problems: Iterator[Problem]) -> list[Problem]:
    found: list[Problem] = []
    for problem in problems:
        found.append(problem)
        if len(found) >= MAX_REPORTED:
            break
    return found


def refusal(scope: Scope, problems: list[Problem]) -> DomainError | None:
    """The answer to problems: row errors on a row-reported batch, else a validation error (None)."""
    rows_key = ROW_REPORTED.get((scope.get("method", ""), scope.get("path", "")))
    if rows_key is None:
        return None
    errors: list[RowError] = []
    for p in problems:
        if len(p.path) < 2 or p.path[0] != rows_key or not isinstance(p.path[1], int):
            return None
        column = ".".join(str(x) for x in p.path[2:]) or None
        errors.append(
            RowError(
                p.path[1] + 1,
                column,
                "control_character",
                f"含有控制字符 {p.character}",
                f"contains the control character {p.character}",
            )
        )
    return rejected(errors)


def validation_response(request: Request, problems: list[Problem]) -> Any:
    """422 `validation_error` naming each field, in the caller's language."""
    lang = language(request)
    if lang == "en":
        summary = "; ".join(f"{p.field}: contains the control character {p.character}" for p in problems[:3])
    else:
        summary = "；".join(f"{p.field} 含有控制字符 {p.character}" for p in problems[:3])
    err = DomainError("validation_error", summary=summary)
    return error_response(422, "validation_error", err.message(lang), [p.describe() for p in problems], lang)


PageRenderer = Callable[[Request, str], Awaitable[Response | None]]


class ControlCharacterGuard:
    """Refuse NUL and other control characters in paths, query strings and JSON/form bodies."""

    def __init__(self, app: ASGIApp, page: PageRenderer | None = None) -> None:
        self.app = app
        # The console answers people with pages: given, `page(request, message)` renders the refusal
        # for a console address (None: not a console address, answer JSON).
        self.page = page

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the URL, then (for JSON and form bodies) the body, before the app sees either."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        problems = url_problems(scope)
        if problems:
            await self._refuse(scope, problems, send)
            return
        headers = dict(scope.get("headers") or [])
        raw_content_type = headers.get(b"content-type", b"").decode("latin-1")
        content_type = raw_content_type.lower()
        multipart_text = content_type.startswith("multipart/form-data") and not scope.get(
            "path", ""
        ).startswith(_UPLOAD_PREFIX)
        if scope.get("method") not in _WITH_BODY or not (
            "json" in content_type
            or content_type.startswith("application/x-www-form-urlencoded")
            or multipart_text
        ):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        problems = body_problems(body, raw_content_type)
        if problems:
            await self._refuse(scope, problems, send)
            return
        await self.app(
            scope, _replay([{"type": "http.request", "body": body, "more_body": False}], receive), send
        )

    async def _refuse(self, scope: Scope, problems: list[Problem], send: Send) -> None:
        request = Request(scope)
        rows = refusal(scope, problems)
        if self.page is not None:
            lang = language(request)
            summary = "; ".join(
                f"{p.field}: contains the control character {p.character}"
                if lang == "en"
                else f"{p.field} 含有控制字符 {p.character}"
                for p in problems[:3]
            )
            page = await self.page(request, DomainError("validation_error", summary=summary).message(lang))
            if page is not None:
                await page(scope, _no_body, send)
                return
        if rows is not None:
            lang = language(request)
            response = error_response(
                rows.status, rows.code, rows.message(lang), jsonable_encoder(rows.details), lang
            )
        else:
            response = validation_response(request, problems)
        await response(scope, _no_body, send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    pending = list(messages)

    async def replayed() -> Message:
        if pending:
            return pending.pop(0)
        return await receive()

    return replayed


async def _no_body() -> Message:
    return {"type": "http.request", "body": b"", "more_body": False}
