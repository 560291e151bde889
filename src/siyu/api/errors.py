"""One error body for every failure: {"error": {"code", "message", "details"}}, zh-CN or English."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from siyu.core.errors import DomainError, RowError, rejected

log = logging.getLogger("siyu.api")
# Batches answered with one report per row (`batch_rejected`, row errors) when a row is invalid,
# instead of one validation error for the whole body: (method, path) -> the body's list of rows.
ROW_REPORTED: dict[tuple[str, str], str] = {
    ("POST", "/api/v1/customers/batch"): "records",
    ("POST", "/api/v1/orders/batch"): "orders",
    ("POST", "/api/v1/refunds"): "refunds",
}


def language(request: Request) -> str:
    """'en' when the caller prefers English (Accept-Language or ?lang=en), else 'zh-CN'."""
    explicit = request.query_params.get("lang")
    if explicit:
        return "en" if explicit.lower().startswith("en") else "zh-CN"
    accept = request.headers.get("accept-language", "").lower()
    first = accept.split(",")[0].strip()
    return "en" if first.startswith("en") else "zh-CN"


def error_response(
    status: int,
    code: str,
    message: str,
    details: Any = None,
    lang: str = "zh-CN",
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    """Build the one error body."""
    body = {"error": {"code": code, "message": message, "details": jsonable_encoder(details)}}
    return JSONResponse(body, status_code=status, headers={"Content-Language": lang, **(headers or {})})


async def domain_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Map a DomainError to its status and localised message."""
    assert isinstance(exc, DomainError)
    lang = language(request)
    headers = {}
    if exc.code in ("too_many_attempts", "server_busy"):
        headers["Retry-After"] = str(exc.params.get("retry_after_s", 60))
    if exc.code in ("unauthenticated", "invalid_credentials"):
        headers["WWW-Authenticate"] = "Bearer"
    return error_response(exc.status, exc.code, exc.message(lang), exc.details, lang, headers)


def _describe(err: dict[str, Any]) -> dict[str, Any]:
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "header")]
    return {
        "field": ".".join(loc) or None,
        "location": err.get("loc", ["?"])[0],
        "type": err.get("type"),
        "message": err.get("msg"),
    }


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Pydantic/FastAPI validation failures: 422 with one entry per field."""
    assert isinstance(exc, RequestValidationError)
    lang = language(request)
    rows = _row_errors(request, exc.errors())
    if rows is not None:
        return error_response(rows.status, rows.code, rows.message(lang), rows.details, lang)
    problems = [_describe(e) for e in exc.errors()]
    summary = "; ".join(f"{p['field'] or p['location']}: {p['message']}" for p in problems[:3])
    err = DomainError("validation_error", summary=summary)
    return error_response(422, "validation_error", err.message(lang), problems, lang)


def _row_errors(request: Request, errors: Any) -> DomainError | None:
    """On a row-reported batch whose every problem lies in a row: `batch_rejected` with row errors."""
    rows_key = ROW_REPORTED.get((request.method, request.url.path))
    if rows_key is None:
        return None
    found: list[RowError] = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if len(loc) < 3 or loc[:2] != ["body", rows_key] or not isinstance(loc[2], int):
            return None
        column = ".".join(str(p) for p in loc[3:]) or None
        message = str(err.get("msg", ""))
        found.append(
            RowError(
                loc[2] + 1,
                column,
                str(err.get("type")),
                f"{column or '记录'}：{message}",
                f"{column or 'record'}: {message}",
            )
        )
    return rejected(found) if found else None


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Starlette HTTP errors (404 route, 405 method) in the same shape."""
    assert isinstance(exc, StarletteHTTPException)
    lang = language(request)
    if exc.status_code == 404:
        err = DomainError("not_found", object="route")
        return error_response(404, "not_found", err.message(lang), None, lang)
    code = {405: "method_not_allowed", 413: "body_too_large"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, str(exc.detail), None, lang)


async def unhandled_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Anything unexpected: logged with its trace, answered without one.

    A database that cannot give a connection in time (pool exhausted, SQLite busy past its
    timeout) is an overload, not a bug: 503 with Retry-After, so clients back off and retry.
    """
    if isinstance(exc, SQLAlchemyTimeoutError) or (
        isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)
    ):
        log.warning("database busy on %s %s: %s", request.method, request.url.path, exc.__class__.__name__)
        busy = DomainError(
            "server_busy", what_zh="数据库连接", what_en="database connections", retry_after_s=2
        )
        return await domain_error_handler(request, busy)
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    lang = language(request)
    message = "Internal error; it has been logged" if lang == "en" else "服务器内部错误，已记录"
    return error_response(500, "internal_error", message, None, lang)
