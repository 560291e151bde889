"""The web console: server-rendered pages (Jinja2) on the same server as the API.

Pages authenticate with an HttpOnly session cookie holding a staff token (the same tokens the API
accepts), run in one transaction each like API routes, and answer HTML — a sign-in redirect when
the session is missing or expired, a 403 page when the role may not see a page, never a trace.
"""

from __future__ import annotations

import datetime as dt
import re
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import func, select
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from siyu.access import Perm, Principal
from siyu.api import errors as api_errors
from siyu.api.deps import MAX_ID
from siyu.api.routing import TransactionalRoute, read_only, sign_in_admission
from siyu.auth import service as auth
from siyu.console import labels
from siyu.console.i18n import LANGUAGES, pick, translations
from siyu.console.security import CSRF_COOKIE, SESSION_COOKIE, csrf_guard, page_token
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.core.money import format_fen
from siyu.core.phone import mask_phone, national_display
from siyu.customers import service as customer_service
from siyu.customers.models import Customer
from siyu.customers.schemas import CustomerFilter
from siyu.db.session import set_session_tenant
from siyu.guides import service as guide_service
from siyu.orders import service as order_service
from siyu.orders.models import Order
from siyu.orders.schemas import OrderFilter
from siyu.org import facade as org
from siyu.org.models import Tenant
from siyu.platform.limits import get_limiter
from siyu.reports import store_daily as report
from siyu.reports import trends
from siyu.reports.periods import COMPARISONS, day_bounds
from siyu.reports.xlsx import store_daily_xlsx
from siyu.settings import get_settings
from siyu.tags import service as tag_service
from siyu.wecom import service as wecom_service


def console_router() -> APIRouter:
    """A router of console pages: one transaction per request, and every state-changing request
    checked for its CSRF token and origin (siyu.console.security)."""
    return APIRouter(
        route_class=TransactionalRoute, include_in_schema=False, dependencies=[Depends(csrf_guard)]
    )


router = console_router()
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
    return env


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
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status)
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


# --- sign-in ----------------------------------------------------------------------------------
@router.get("/signin")
@read_only
def signin_page(request: Request, next: str = "/", tenant: str = "") -> HTMLResponse:
    """The sign-in form."""
    return render(request, "signin.html", next=_safe_next(next), tenant_slug=tenant, error=None)


@router.post("/signin")
@sign_in_admission
def signin_submit(
    request: Request,
    tenant: str = Form(..., max_length=40),
    username: str = Form(..., max_length=64),
    password: str = Form(..., max_length=200),
    next: str = Form("/"),
) -> Response:
    """Check the password; set the session cookie and go on, or show the form with the reason."""
    settings = get_settings()
    try:
        token, row, _ = auth.sign_in(
            request.state.db,
            tenant_slug=tenant.strip(),
            username=username.strip(),
            password=password,
            ttl_hours=settings.token_ttl_hours,
            limiter=get_limiter(settings.redis_url),
            max_failures=settings.sign_in_attempts,
            window_s=settings.sign_in_window_s,
        )
    except DomainError as exc:
        lang = lang_of(request)
        message = exc.message("en" if lang == "en" else "zh-CN")
        return render(
            request,
            "signin.html",
            status=exc.status,
            next=_safe_next(next),
            tenant_slug=tenant,
            error=message,
        )
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int((row.expires_at - utcnow()).total_seconds()),
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


@router.post("/signout")
def signout(request: Request) -> Response:
    """End the session (the token is revoked) and go back to sign-in."""
    token = request.cookies.get(SESSION_COOKIE)
    if token:
        try:
            principal = auth.resolve_bearer(request.state.db, token)
            auth.sign_out(request.state.db, principal=principal, token=token)
        except DomainError:
            pass
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{code}")
def switch_language(code: str, next: str = "/") -> Response:
    """Switch the console's language (remembered for a year)."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, max_age=365 * 86400, samesite="lax")
    return response


# --- homes ------------------------------------------------------------------------------------
@router.get("/")
def home(request: Request) -> Response:
    """Each role's home: HQ → the brand, a store manager → their store's day, a guide → their own."""
    principal = page_principal(request)
    if principal.role in HQ_ROLES:
        return RedirectResponse("/hq", status_code=303)
    if principal.role == "store_manager" and principal.store_ids:
        stores = org.stores_by_id(
            request.state.db, tenant_id=principal.tenant_id, ids=set(principal.store_ids)
        )
        first = sorted(stores.values(), key=lambda s: s.code)[0]
        return RedirectResponse(f"/stores/{first.code}/daily", status_code=303)
    return RedirectResponse("/me", status_code=303)


def _today(request: Request, principal: Principal) -> dt.date:
    tz = org.tenant_zone(request.state.db, tenant_id=principal.tenant_id)
    return utcnow().astimezone(tz).date()


DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(raw: str) -> tuple[dt.date | None, str | None]:
    """A YYYY-MM-DD date, or why not: 'format' (not YYYY-MM-DD) or 'calendar' (no such day)."""
    if not DATE_SHAPE.fullmatch(raw):
        return None, "format"
    try:
        return dt.date.fromisoformat(raw), None
    except ValueError:
        return None, "calendar"


def _report_day(request: Request, raw: str | None, principal: Principal) -> dict[str, Any]:
    """The day a daily report shows: the one asked for, else the last closed day (yesterday in the
    brand's zone; today is still in progress). Also today, and what was wrong with a bad date."""
    today = _today(request, principal)
    day, problem = parse_day(raw) if raw else (None, None)
    day = day or today - dt.timedelta(days=1)
    return {
        "day": day,
        "today": today,
        "yesterday": today - dt.timedelta(days=1),
        "in_progress": day == today,
        "bad_date": raw if problem else None,
        "bad_date_kind": problem,
    }


@router.get("/hq", response_class=HTMLResponse)
@read_only
def hq_home(request: Request, date: str | None = None) -> HTMLResponse:
    """HQ home: the brand's day so far — GMV, orders, new customers, new members — and the stores."""
    principal = page_principal(request)
    if not principal.can(Perm.REPORTS_READ) or principal.scope != "all":
        return forbidden(request, Perm.REPORTS_READ)
    dates = _report_day(request, date, principal)
    day = dates["day"]
    db = request.state.db
    data = report.rollup(db, tenant_id=principal.tenant_id, day=day, store_ids=None)
    stores = sorted(data["stores"], key=lambda s: -s["figures"]["gmv_fen"]["value"])
    tz = org.tenant_zone(db, tenant_id=principal.tenant_id)
    start, end = day_bounds(day, tz)
    trend = trends.daily_series(db, tenant_id=principal.tenant_id, last_day=day, days=30, tz=tz)
    return render(
        request,
        "hq.html",
        **dates,
        data=data,
        stores=stores,
        comparisons=COMPARISONS,
        guides=trends.top_guides(db, tenant_id=principal.tenant_id, start=start, end=end),
        trend=trend,
        new_customers_today=trend["new_customers"][-1],
    )


def _report_store(request: Request, principal: Principal, code: str) -> org.StoreInfo | HTMLResponse:
    """The store whose report is asked for, or the 403 / 404 page to answer instead."""
    if not principal.can(Perm.REPORTS_READ):
        return forbidden(request, Perm.REPORTS_READ)
    store = report.store_for_report(request.state.db, principal=principal, code=code)
    return store if store is not None else not_found_page(request)


@router.get("/stores/{code}/daily", response_class=HTMLResponse)
@read_only
def store_daily_page(request: Request, code: str, date: str | None = None) -> HTMLResponse:
    """The store daily report with charts, a date picker and the Excel download."""
    principal = page_principal(request)
    store = _report_store(request, principal, code)
    if not isinstance(store, org.StoreInfo):
        return store
    dates = _report_day(request, date, principal)
    day = dates["day"]
    data = report.store_daily(request.state.db, tenant_id=principal.tenant_id, store=store, day=day)
    my_stores = org.stores_by_id(
        request.state.db,
        tenant_id=principal.tenant_id,
        ids=set(principal.store_ids) if principal.scope != "all" else set(),
    )
    return render(
        request,
        "store_daily.html",
        **dates,
        store=store,
        data=data,
        figures=report.FIGURES,
        labels=report.FIGURE_LABELS,
        money=report.MONEY,
        shares=report.SHARES,
        comparisons=COMPARISONS,
        my_stores=sorted(my_stores.values(), key=lambda s: s.code),
        chart=_chart_data(data),
    )


def _share_pct(share: Any) -> float:
    """A share (0..1, or None when nothing was paid) as a percentage for a pie slice."""
    return 0.0 if share is None else round(float(share) * 100, 2)


def _chart_data(data: dict[str, Any]) -> dict[str, Any]:
    f = data["figures"]
    return {
        # The pies draw the shares themselves (of gross paid sales, in %), so they always agree with
        # the table — GMV by class can be negative on a day of refunds, and a pie cannot be.
        "placement": [
            {"name": "in_store", "value": _share_pct(f["in_store_share"]["value"])},
            {"name": "off_store", "value": _share_pct(f["off_store_share"]["value"])},
        ],
        "hours": [
            {"name": "open", "value": _share_pct(f["off_store_open_share"]["value"])},
            {"name": "closed", "value": _share_pct(f["off_store_closed_share"]["value"])},
        ],
        "channels": [
            {"name": c["label"], "name_en": c["label_en"], "value": c["gmv_fen"] / 100}
            for c in data["channels"]
        ],
        "hourly": data["hourly"],
    }


@router.get("/stores/{code}/daily.xlsx")
def store_daily_excel(request: Request, code: str, date: str) -> Response:
    """The same report as .xlsx."""
    principal = page_principal(request)
    store = _report_store(request, principal, code)
    if not isinstance(store, org.StoreInfo):
        return store
    day, problem = parse_day(date)
    if day is None:
        return render(
            request, "error.html", status=422, code=422, permission=None, bad_date=date, bad_date_kind=problem
        )
    data = report.store_daily(request.state.db, tenant_id=principal.tenant_id, store=store, day=day)
    return Response(
        store_daily_xlsx(data),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="store-daily-{code}-{day.isoformat()}.xlsx"'},
    )


@router.get("/me", response_class=HTMLResponse)
@read_only
def guide_home(request: Request) -> HTMLResponse:
    """A guide's own numbers: customers, and attributed orders and GMV today and this month."""
    principal = page_principal(request)
    db = request.state.db
    tz = org.tenant_zone(db, tenant_id=principal.tenant_id)
    today = utcnow().astimezone(tz).date()
    day_start, day_end = day_bounds(today, tz)
    month_start, _ = day_bounds(today.replace(day=1), tz)
    customers = db.scalar(
        select(func.count())
        .select_from(Customer)
        .where(
            Customer.tenant_id == principal.tenant_id,
            Customer.guide_id == principal.actor_id,
            Customer.status == "active",
        )
    )

    def window(start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
        count, paid = db.execute(
            select(func.count(), func.coalesce(func.sum(Order.paid_fen), 0)).where(
                Order.tenant_id == principal.tenant_id,
                Order.guide_id == principal.actor_id,
                Order.paid_at >= start,
                Order.paid_at < end,
            )
        ).one()
        return int(count), int(paid)

    recent, _ = order_service.list_orders(
        db,
        tenant_id=principal.tenant_id,
        principal=None,
        cursor=None,
        limit=10,
        filters=OrderFilter(guide_id=principal.actor_id),
    )
    return render(
        request,
        "guide.html",
        customers=customers or 0,
        today=window(day_start, day_end),
        month=window(month_start, day_end),
        recent=recent,
        tz=tz,
    )


# --- customers --------------------------------------------------------------------------------
PAGE_SIZE = 20
PHONE_ENDING = re.compile(r"\d{4}")
CUSTOMER_NUMBER = re.compile(r"#\d{1,18}")


def _names(
    request: Request, principal: Principal, store_ids: set[int], staff_ids: set[int]
) -> tuple[dict[int, str], dict[int, str]]:
    db = request.state.db
    stores = org.stores_by_id(db, tenant_id=principal.tenant_id, ids=store_ids) if store_ids else {}
    staff = org.staff_by_id(db, tenant_id=principal.tenant_id, ids=staff_ids) if staff_ids else {}
    return {i: f"{s.code} {s.name}" for i, s in stores.items()}, {i: m.name for i, m in staff.items()}


@router.get("/customers", response_class=HTMLResponse)
@read_only
def customers_page(
    request: Request,
    q: str | None = None,
    city: str | None = None,
    gender: str | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    """Customers in the caller's scope: search by phone, name or any identity; filters; pages."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_READ):
        return forbidden(request, Perm.CUSTOMERS_READ)
    q = (q or "").strip()[:128] or None
    search: dict[str, Any] = {"q": q}
    if q and PHONE_ENDING.fullmatch(q):  # four digits: the end of a phone number
        search = {"q": None, "phone_ending": q}
    elif q and CUSTOMER_NUMBER.fullmatch(q):  # "#6344": the customer number (the service reads "#")
        search = {"q": q}

    def page(start: str | None) -> tuple[list[Customer], str | None]:
        return customer_service.list_customers(
            request.state.db,
            tenant_id=principal.tenant_id,
            principal=principal,
            cursor=start,
            limit=PAGE_SIZE,
            filters=CustomerFilter(
                city=(city or "").strip()[:60] or None,
                gender=gender if gender in ("male", "female", "unknown") else None,
                **search,
            ),
        )

    restarted = False
    try:
        rows, next_cursor = page(cursor)
    except DomainError:  # a cursor from an edited or stale URL: start again from the first page
        rows, next_cursor = page(None)
        restarted = True
    stores, staff = _names(
        request,
        principal,
        {c.store_id for c in rows if c.store_id},
        {c.guide_id for c in rows if c.guide_id},
    )
    return render(
        request,
        "customers.html",
        rows=rows,
        next_cursor=next_cursor,
        q=q or "",
        city=city or "",
        gender=gender or "",
        stores=stores,
        staff=staff,
        mask=mask_phone,
        restarted=restarted,
        phone_ending=search.get("phone_ending"),
        partial=request.headers.get("hx-request") == "true",
    )


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
@read_only
def customer_page(request: Request, customer_id: int, revealed: str | None = None) -> HTMLResponse:
    """Customer 360: profile (masked phone), identities, exclusive guide, orders, timeline."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_READ):
        return forbidden(request, Perm.CUSTOMERS_READ)
    return _customer_360(request, principal, customer_id, phone=None)


@router.post("/customers/{customer_id}/reveal", response_class=HTMLResponse)
def reveal_customer_phone(request: Request, customer_id: int) -> HTMLResponse:
    """Show the full phone number once (only roles that may; every reveal is in the audit log)."""
    principal = page_principal(request)
    if not principal.can(Perm.PHONE_REVEAL):
        return forbidden(request, Perm.PHONE_REVEAL)
    if customer_id > MAX_ID:
        return not_found_page(request)
    try:
        customer = customer_service.reveal_phone(
            request.state.db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal
        )
    except DomainError:
        return not_found_page(request)
    return _customer_360(request, principal, customer_id, phone=national_display(customer.phone_e164))


def _customer_360(
    request: Request, principal: Principal, customer_id: int, phone: str | None
) -> HTMLResponse:
    db = request.state.db
    if customer_id > MAX_ID:
        return not_found_page(request)
    try:
        customer = customer_service.get_customer(
            db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal
        )
    except DomainError:
        return not_found_page(request)
    identities = customer_service.identities_of(
        db, tenant_id=principal.tenant_id, customer_ids=[customer.id]
    )[customer.id]
    binding = guide_service.binding_of(db, tenant_id=principal.tenant_id, customer_id=customer.id)
    orders, _ = order_service.list_orders(
        db,
        tenant_id=principal.tenant_id,
        principal=None,
        cursor=None,
        limit=20,
        filters=OrderFilter(customer_id=customer.id),
    )
    events, _ = customer_service.timeline(
        db, tenant_id=principal.tenant_id, customer_id=customer.id, principal=principal, cursor=None, limit=30
    )
    stores, staff = _names(
        request,
        principal,
        {
            x
            for x in [customer.store_id, binding.store_id if binding else None] + [o.store_id for o in orders]
            if x
        },
        {x for x in [customer.guide_id, binding.guide_id if binding else None] if x},
    )
    tz = org.tenant_zone(db, tenant_id=principal.tenant_id)
    held = tag_service.customer_tags(
        db, tenant_id=principal.tenant_id, customer_id=customer.id, principal=principal
    )
    assignable: list[tuple[str, list[Any]]] = []
    if principal.can(Perm.TAGS_ASSIGN):
        have = {t.id for _, t, _ in held}
        for group, group_tags in tag_service.list_groups(
            db, tenant_id=principal.tenant_id, principal=principal
        ):
            if tag_service.may_assign(group, principal):
                free = [t for t in group_tags if t.id not in have]
                if free:
                    assignable.append((group.name_en if lang_of(request) == "en" else group.name_zh, free))
    paid_orders, net_fen = order_service.customer_totals(
        db, tenant_id=principal.tenant_id, customer_id=customer.id
    )
    totals = {"orders": paid_orders, "gmv_fen": net_fen}
    return render(
        request,
        "customer.html",
        c=customer,
        phone=phone or mask_phone(customer.phone_e164),
        revealed=phone is not None,
        may_reveal=principal.can(Perm.PHONE_REVEAL) and customer.phone_e164 is not None,
        identities=identities,
        mask=mask_phone,
        binding=binding,
        orders=orders,
        events=events,
        stores=stores,
        staff=staff,
        tz=tz,
        totals=totals,
        held=held,
        assignable=assignable,
        may_tag=principal.can(Perm.TAGS_ASSIGN),
    )


@router.get("/orders", response_class=HTMLResponse)
@read_only
def orders_page(request: Request, cursor: str | None = None) -> HTMLResponse:
    """Orders in the caller's scope (a guide: their own; a manager: their stores'), newest first."""
    principal = page_principal(request)
    if not principal.can(Perm.ORDERS_READ):
        return forbidden(request, Perm.ORDERS_READ)

    def page(start: str | None) -> tuple[list[Order], str | None]:
        return order_service.list_orders(
            request.state.db,
            tenant_id=principal.tenant_id,
            principal=principal,
            cursor=start,
            limit=PAGE_SIZE,
        )

    restarted = False
    try:
        rows, next_cursor = page(cursor)
    except DomainError:  # an edited or stale cursor: start again from the first page
        rows, next_cursor = page(None)
        restarted = True
    stores, _ = _names(request, principal, {o.store_id for o in rows if o.store_id}, set())
    return render(
        request,
        "orders.html",
        rows=rows,
        next_cursor=next_cursor,
        restarted=restarted,
        stores=stores,
        tz=org.tenant_zone(request.state.db, tenant_id=principal.tenant_id),
    )


# --- WeCom settings ---------------------------------------------------------------------------
@router.get("/settings/wecom", response_class=HTMLResponse)
@read_only
def wecom_settings_page(request: Request) -> HTMLResponse:
    """The brand's WeCom settings: corp id, the callback URL to give WeCom, verification status."""
    principal = page_principal(request)
    if not principal.can(Perm.WECOM_MANAGE):
        return forbidden(request, Perm.WECOM_MANAGE)
    try:
        config = wecom_service.get_config(request.state.db, tenant_id=principal.tenant_id)
    except DomainError:
        config = None
    return _wecom_page(request, principal, config, error=None, saved=False)


@router.post("/settings/wecom", response_class=HTMLResponse)
def wecom_settings_save(
    request: Request,
    corp_id: str = Form(..., max_length=64),
    token: str = Form(..., max_length=64),
    aes_key: str = Form(..., max_length=64),
    secret: str = Form("", max_length=200),
) -> HTMLResponse:
    """Store new settings (secrets sealed); WeCom then has to verify the URL again."""
    principal = page_principal(request)
    if not principal.can(Perm.WECOM_MANAGE):
        return forbidden(request, Perm.WECOM_MANAGE)
    try:
        config = wecom_service.configure(
            request.state.db,
            tenant_id=principal.tenant_id,
            corp_id=corp_id.strip(),
            token=token.strip(),
            aes_key=aes_key.strip(),
            secret=secret.strip() or None,
            actor=principal,
        )
    except DomainError as exc:
        message = exc.message("en" if lang_of(request) == "en" else "zh-CN")
        return _wecom_page(request, principal, None, error=message, saved=False, status=422)
    return _wecom_page(request, principal, config, error=None, saved=True)


def _wecom_page(
    request: Request, principal: Principal, config: Any, *, error: str | None, saved: bool, status: int = 200
) -> HTMLResponse:
    tz = org.tenant_zone(request.state.db, tenant_id=principal.tenant_id)
    callback_url = f"{request.base_url}api/v1/wecom/{principal.tenant_slug}/callback"
    return render(
        request,
        "wecom_settings.html",
        status=status,
        config=config,
        error=error,
        saved=saved,
        tz=tz,
        callback_url=callback_url,
    )
