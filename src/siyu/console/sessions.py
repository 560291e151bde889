"""Console sessions: sign-in (a session cookie holding a staff token), sign-out, the language switch."""

from __future__ import annotations

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from siyu.api.routing import read_only, sign_in_admission
from siyu.auth import service as auth
from siyu.console.i18n import LANGUAGES
from siyu.console.rendering import LANG_COOKIE, _safe_next, console_router, lang_of, render
from siyu.console.security import SESSION_COOKIE
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.platform.limits import get_limiter
from siyu.settings import get_settings

router = console_router()


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
