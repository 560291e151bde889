"""create_app(): routers, middleware, error mapping — no business logic."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException as StarletteHTTPException

from siyu import __version__, domains
from siyu.api.inputs import ControlCharacterGuard
from siyu.api.limits import BodySizeLimit
from siyu.api.platform import router as platform_router
from siyu.audiences.views import router as audiences_router
from siyu.auth.views import router as auth_router
from siyu.console import (
    admin_pages,
    audit_page,
    code_pages,
    customer_actions,
    customer_pages,
    home_pages,
    import_pages,
    order_pages,
    people_pages,
    product_pages,
    sessions,
    settings_pages,
)
from siyu.console import jobs_page as console_jobs
from siyu.console import loyalty_pages as console_loyalty
from siyu.console import rendering as console
from siyu.console import security as console_security
from siyu.console import segments as console_segments
from siyu.console import wecom_pages as console_wecom
from siyu.core.errors import DomainError
from siyu.customers.views import router as customers_router
from siyu.db.session import get_engine, read_only_engine, session_factory
from siyu.guides.views import router as guides_router
from siyu.jobs.runner import Runner
from siyu.loyalty.views import router as loyalty_router
from siyu.orders.views import router as orders_router
from siyu.org.views import router as org_router
from siyu.payments.views import router as payments_router
from siyu.products.views import router as products_router
from siyu.reports.views import router as reports_router
from siyu.settings import Settings, get_settings
from siyu.tags.views import router as tags_router
from siyu.wecom.fastpath import CallbackFastPath
from siyu.wecom.views import router as wecom_router

DESCRIPTION = """
Siyu (私域) — private-domain customer operations for retail brands.

* Authenticate with `Authorization: Bearer <token>`: a staff token from `POST /api/v1/auth/sign-in`,
  or an integration's API key (`siyu apikey create --tenant SLUG`).
* Every POST that changes state honours `Idempotency-Key`: a replay answers the first response.
* Errors share one shape: `{"error": {"code", "message", "details"}}`; send `Accept-Language: en`
  for English messages (Chinese by default).
* Each route's permission is listed as `x-permission` (and any further one it needs as
  `x-permission-also`: an import needs the rows' permission and `imports:run`).
"""


DOCS_HTML = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Siyu 私域 API</title>
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
<link rel="icon" href="/static/vendor/swagger-ui/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/swagger-init.js"></script>
</body>
</html>
"""

CONSOLE_STATIC = Path(__file__).parent / "console" / "static"
NODE_MODULES = Path(__file__).resolve().parents[2] / "node_modules"  # the checkout's, from `make assets`

# Young-generation threshold: a batch of 1,000 orders allocates ~10^6 objects; at CPython's default
# (700) the collector runs thousands of times per batch and rescans the long-lived application.
GC_THRESHOLDS = (50_000, 50, 100)


def tune_gc() -> None:
    """Move everything alive at start-up (routes, schemas, metadata) out of the collector's scans
    and collect the young generation less often; cycles are still collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def create_app(*, engine: Engine | None = None, settings: Settings | None = None) -> FastAPI:
    """Build the ASGI app for an engine (default: SIYU_DATABASE_URL)."""
    settings = settings or get_settings()
    engine = engine or get_engine(settings.database_url)
    domains.load()

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.gc_tuning:
            tune_gc()
        if settings.workers == "in-process":
            runner.start()
        yield
        if settings.workers == "in-process":
            runner.stop()

    app = FastAPI(
        lifespan=lifespan,
        title="Siyu 私域 API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.engine = engine
    app.state.settings = settings
    # All background work (the outbox relay, WeCom callbacks and calls, rule-tag refresh, transfer
    # checks) is jobs; the embedded default runs them in this process, production in `siyu worker`.
    runner = Runner(
        engine,
        threads=settings.worker_threads,
        context={"wecom_api_base": settings.wecom_api_base},
        batch=1,
    )
    app.state.jobs = runner
    app.state.sessionmaker = session_factory(engine)
    app.state.read_sessionmaker = session_factory(read_only_engine(engine))  # routes marked read_only
    for router in (
        sessions.router,
        home_pages.router,
        customer_pages.router,
        order_pages.router,
        settings_pages.router,
        console_segments.router,
        console_wecom.router,
        console_jobs.router,
        console_loyalty.router,
        audit_page.router,
        admin_pages.router,
        code_pages.router,
        customer_actions.router,
        import_pages.router,
        people_pages.router,
        product_pages.router,
        platform_router,
        auth_router,
        org_router,
        customers_router,
        guides_router,
        products_router,
        orders_router,
        reports_router,
        tags_router,
        audiences_router,
        wecom_router,
        loyalty_router,
        payments_router,
    ):
        app.include_router(router)
    app.add_exception_handler(console.SignInRequiredError, console.sign_in_redirect)
    app.add_exception_handler(console_security.CsrfRefusedError, console.csrf_refused)
    # The API answers JSON errors; console addresses answer pages in the person's language.
    app.add_exception_handler(DomainError, console.domain_error)
    app.add_exception_handler(RequestValidationError, console.validation_error)
    app.add_exception_handler(StarletteHTTPException, console.http_error)
    app.add_exception_handler(Exception, console.unhandled_error)
    app.add_middleware(CallbackFastPath, state=app.state)
    app.add_middleware(ControlCharacterGuard, page=console.control_character_page)
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_body_bytes, max_upload_bytes=settings.max_upload_bytes
    )
    app.add_middleware(console_security.SecurityHeaders)  # outermost: every answer carries them

    @app.get("/favicon.ico", include_in_schema=False)
    def favicon() -> Response:
        """No icon yet: say so plainly instead of a 404 in every browser console."""
        return Response(status_code=204)

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        """Swagger UI from the locally installed swagger-ui-dist (no CDN: works offline), started by
        a static script so the page works under the Content-Security-Policy (no inline script)."""
        return HTMLResponse(DOCS_HTML)

    # The console's own files, and the front-end libraries `make run` installs from npm.
    app.mount(
        "/static/vendor/swagger-ui", StaticFiles(directory=NODE_MODULES / "swagger-ui-dist", check_dir=False)
    )
    app.mount(
        "/static/vendor/echarts", StaticFiles(directory=NODE_MODULES / "echarts" / "dist", check_dir=False)
    )
    app.mount(
        "/static/vendor/htmx", StaticFiles(directory=NODE_MODULES / "htmx.org" / "dist", check_dir=False)
    )
    app.mount("/static", StaticFiles(directory=CONSOLE_STATIC), name="static")
    return app
