"""The console's rendering helper: pages in the person's language with their brand, the session
(who is signed in), error pages for every failure, and the router every page family uses.

Pages authenticate with an HttpOnly session cookie holding a staff token (the same tokens the API
accepts), run in one transaction each like API routes, and answer HTML — a sign-in redirect when
the session is missing or expired, a 403 page when the role may not see a page, never a trace.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from siyu.access import Perm, Principal
from siyu.api import errors as api_errors
from siyu.api.routing import TransactionalRoute
from siyu.auth import service as auth
from siyu.console import labels, navigation
from siyu.console.glossary import term
from siyu.console.i18n import LANGUAGES, pick, translations
from siyu.console.security import CSRF_COOKIE, SESSION_COOKIE, csrf_guard, page_token
from siyu.console.tables import url_with
from siyu.core.errors import DomainError
from siyu.core.money import format_fen
from siyu.db.session import set_session_tenant
from siyu.org.models import Tenant
from siyu.reports import store_daily as report


def console_router() -> APIRouter:
    """A router of console pages: one transaction per request, and every state-changing request
    checked for its CSRF token and origin (siyu.console.security)."""
    return APIRouter(
        route_class=TransactionalRoute, include_in_schema=False, dependencies=[Depends(csrf_guard)]
    )


TEMPLATES = Path(__file__).parent / "templates"
LANG_COOKIE = "siyu_lang"
HQ_ROLES = ("owner", "hq_operator", "analyst")


class SignInRequiredError(Exception):
    """No valid session: go to sign-in, then come back to `next_path`."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


def sign_in_redirect(_: Request, exc: Exception) -> Response:
    """Exception handler: to the sign-in page, remembering where the person was going."""
    assert isinstance(exc, SignInRequiredError)
    response = RedirectResponse(f"/signin?next={quote(exc.next_path)}", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


# --- rendering --------------------------------------------------------------------------------
def _pct(value: float | None) -> str:
    """A share (a fraction to 4 places) exactly as the report gives it."""
    return "—" if value is None else f"{value * 100:.2f}%"


def _signed_pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:+.1f}%"


@cache
def _env(lang: str) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(["html"]),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]
    env.filters["fen"] = lambda v: "—" if v is None else format_fen(int(v))
    env.filters["pct"] = _pct
    env.filters["signed_pct"] = _signed_pct
    env.filters["num"] = lambda v: "—" if v is None else f"{v:,}"
    env.filters["channel"] = lambda c: report.channel_label(c, "en" if lang == "en" else "zh-CN")
    env.filters["identity_type"] = lambda c: labels.label(labels.IDENTITY_TYPES, c, lang)
    env.filters["source"] = lambda c: labels.source(c, lang)
    env.filters["timeline_kind"] = lambda c: labels.label(labels.TIMELINE_KINDS, c, lang)
    env.filters["platform"] = lambda c: labels.platform(c, lang)
    env.filters["rule"] = lambda r, tag_names=None: labels.describe_rule(r, lang, tag_names)
    for name, table in (
        ("order_status", labels.ORDER_STATUSES),
        ("placement", labels.PLACEMENTS),
        ("fulfilment", labels.FULFILMENTS),
        ("payment_method", labels.PAYMENT_METHODS),
        ("attribution", labels.ATTRIBUTION_REASONS),
        ("order_field", labels.ORDER_FIELDS),
        ("audit_action", labels.AUDIT_ACTIONS),
        ("object_type", labels.OBJECT_TYPES),
        ("actor_type", labels.ACTOR_TYPES),
        ("store_status", labels.STORE_STATUSES),
        ("role", labels.ROLES),
        ("staff_status", labels.STAFF_STATUSES),
        ("scope", labels.SCOPES),
        ("consent_purpose", labels.CONSENT_PURPOSES),
        ("merge_table", labels.MERGE_TABLES),
        ("profile_field", labels.PROFILE_FIELDS),
        ("import_kind", labels.IMPORT_KINDS),
        ("import_status", labels.IMPORT_STATUSES),
    ):
        env.filters[name] = lambda c, t=table: labels.label(t, c, lang)
    env.filters["store_status_pair"] = lambda c: (c, labels.label(labels.STORE_STATUSES, c, lang))
    env.filters["role_pair"] = lambda c: (c, labels.label(labels.ROLES, c, lang))
    env.globals["weekday_names"] = [labels.pick(d, lang) for d in labels.WEEKDAYS]
    env.filters["first_two"] = lambda t: (t[0], t[1])
    env.filters["pp"] = lambda v: "—" if v is None else f"{v:+.2f}"
    env.globals["glossary"] = lambda key: term(key, lang)
    env.filters["field"] = lambda f: labels.import_field(f, lang)
    return env


# --- toasts -------------------------------------------------------------------------------------
TOAST_COOKIE = "siyu_toast"
N_ = navigation.N_
# What a finished action says on the next page (the cookie carries the key, never free text).
TOASTS = {
    "saved": N_("Saved."),
    "created": N_("Created."),
    "deleted": N_("Deleted."),
    "revoked": N_("Revoked."),
    "retried": N_("Queued to run again."),
    "merged": N_("The customers were merged."),
    "unmerged": N_("The merge was undone."),
    "note_added": N_("Note added."),
    "transfer_started": N_("The transfer was sent to WeCom."),
    "uploaded": N_("Uploaded: check the columns, then start the import."),
    "import_started": N_("The import has started."),
    "decided": N_("Decided; the member's balance is updated."),
    "refund_requested": N_("The refund was sent for approval; the principal is frozen until then."),
}


def redirect_with_toast(url: str, toast: str) -> RedirectResponse:
    """After a form did its work: back to a page (303), which shows a toast saying what happened."""
    assert toast in TOASTS, toast
    response = RedirectResponse(url, status_code=303)
    response.set_cookie(TOAST_COOKIE, toast, max_age=60, httponly=True, samesite="lax")
    return response


def brand_zone(request: Request, principal: Principal) -> ZoneInfo:
    """The brand's time zone, from the brand row every page loads anyway (one query per page)."""
    tenant = request.state.db.get(Tenant, principal.tenant_id)
    return ZoneInfo(tenant.timezone if tenant is not None else "Asia/Shanghai")


def lang_of(request: Request) -> str:
    """The page language: the switch's cookie, else Chinese."""
    return pick(request.cookies.get(LANG_COOKIE))


def render(request: Request, template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page in the request's language, with the signed-in person and their brand when known."""
    lang = lang_of(request)
    principal: Principal | None = getattr(request.state, "principal", None)
    tenant = None
    if principal is not None:
        tenant = request.state.db.get(Tenant, principal.tenant_id)
    csrf_token, new_cookie = page_token(request)
    toast_key = request.cookies.get(TOAST_COOKIE)
    toast = translations(lang).gettext(TOASTS[toast_key]) if toast_key in TOASTS else None
    path = request.url.path
    html = (
        _env(lang)
        .get_template(template)
        .render(
            request=request,
            lang=lang,
            languages=LANGUAGES,
            principal=principal,
            tenant=tenant,
            path=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            hq=principal is not None and principal.role in HQ_ROLES,
            csrf_token=csrf_token,
            menu=navigation.menu(principal) if principal is not None else [],
            current=navigation.current_item(principal, path) if principal is not None else None,
            link=lambda _path=None, **changes: url_with(request, _path, **changes),
            toast=toast,
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status)
    if toast_key is not None:
        response.delete_cookie(TOAST_COOKIE)
    if new_cookie is not None:
        response.set_cookie(
            CSRF_COOKIE,
            new_cookie,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
    return response


def page_principal(request: Request) -> Principal:
    """The signed-in staff member, or SignInRequiredError (an expired session included)."""
    token = request.cookies.get(SESSION_COOKIE)
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not token:
        raise SignInRequiredError(target)
    try:
        principal = auth.resolve_bearer(request.state.db, token)
    except DomainError:
        raise SignInRequiredError(target) from None
    if principal.actor_type != "staff":
        raise SignInRequiredError(target)
    request.state.principal = principal
    set_session_tenant(request.state.db, principal.tenant_id)
    return principal


def forbidden(request: Request, permission: Perm) -> HTMLResponse:
    """The 403 page."""
    return render(request, "error.html", status=403, code=403, permission=permission.value)


def not_found_page(request: Request) -> HTMLResponse:
    """The 404 page: absent, or outside the caller's scope (the same answer for both)."""
    return render(request, "error.html", status=404, code=404, permission=None)


def is_console_request(request: Request) -> bool:
    """Whether a request is for the console (a person's browser) rather than the API or its docs."""
    return not request.url.path.startswith(("/api/", "/openapi.json", "/static/"))


def _error_page(request: Request, status: int, message: str | None = None) -> HTMLResponse:
    request.state.principal = None  # no database in an error handler: the page without the menu
    if status == 404:
        return render(request, "error.html", status=404, code=404, permission=None)
    return render(request, "error.html", status=status, code=status, permission=None, message=message)


async def http_error(request: Request, exc: Exception) -> Response:
    """Exception handler: an unknown console address (or a wrong method) is a page in the person's
    language; the API keeps its JSON errors."""
    assert isinstance(exc, StarletteHTTPException)
    if not is_console_request(request):
        return await api_errors.http_error_handler(request, exc)
    en = lang_of(request) == "en"
    message = "This address does not take that request." if en else "此地址不接受这种请求。"
    return await run_in_threadpool(_error_page, request, exc.status_code, message)


async def validation_error(request: Request, exc: Exception) -> Response:
    """Exception handler: a console address with a malformed id (/customers/abc) is the 404 page, a
    form with missing or invalid fields a page saying which; the API keeps its JSON errors."""
    assert isinstance(exc, RequestValidationError)
    if not is_console_request(request):
        return await api_errors.validation_error_handler(request, exc)
    problems = exc.errors()
    if any(p.get("loc", ("",))[0] == "path" for p in problems):
        return await run_in_threadpool(_error_page, request, 404)
    fields = ", ".join(sorted({str(p.get("loc", ("", "?"))[-1]) for p in problems}))
    en = lang_of(request) == "en"
    message = f"Missing or invalid: {fields}." if en else f"以下字段缺失或无效：{fields}。"
    return await run_in_threadpool(_error_page, request, 422, message)


async def control_character_page(request: Request, message: str) -> Response | None:
    """The guard's refusal of a console form holding a control character: a page (None for the API)."""
    if not is_console_request(request):
        return None
    return await run_in_threadpool(_error_page, request, 422, message)


async def unhandled_error(request: Request, exc: Exception) -> Response:
    """Exception handler: anything unexpected on a console address is a page (logged, with no
    trace shown); the API keeps its JSON answer (503 for an overloaded database, else 500)."""
    answer = await api_errors.unhandled_error_handler(request, exc)
    if not is_console_request(request):
        return answer
    en = lang_of(request) == "en"
    if answer.status_code == 503:
        message = "The server is busy; try again in a few seconds." if en else "服务器繁忙，请几秒后重试。"
    else:
        message = "Something went wrong on our side; it has been logged." if en else "服务器出错了，已记录。"
    page = await run_in_threadpool(_error_page, request, answer.status_code, message)
    if "retry-after" in answer.headers:
        page.headers["Retry-After"] = answer.headers["retry-after"]
    return page


async def domain_error(request: Request, exc: Exception) -> Response:
    """Exception handler: a domain error that reaches a console page is a page, not JSON."""
    assert isinstance(exc, DomainError)
    if not is_console_request(request):
        return await api_errors.domain_error_handler(request, exc)
    message = exc.message("en" if lang_of(request) == "en" else "zh-CN")
    return await run_in_threadpool(_error_page, request, exc.status, message)


def csrf_refused(request: Request, _: Exception) -> Response:
    """Exception handler: a cross-site or token-less console post is refused; nothing ran."""
    if request.headers.get("content-type", "").startswith("application/json"):
        message = (
            "请求来源无效，请刷新页面后重试"
            if lang_of(request) != "en"
            else "Refused: reload the page and try again"
        )
        return JSONResponse({"error": {"code": "csrf_refused", "message": message}}, status_code=403)
    return render(request, "error.html", status=403, code=403, permission=None, csrf=True)


def _safe_next(target: str | None) -> str:
    return target if target and target.startswith("/") and not target.startswith("//") else "/"
