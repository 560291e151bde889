"""The console's defences in the browser: CSRF tokens with an Origin/Referer check on every
state-changing console request, and the security headers every response carries.

CSRF. A random `siyu_csrf` cookie (HttpOnly, SameSite=Lax, so arriving from a link keeps it and
open tabs keep working) is set on the first page; each page's forms carry `csrf_token` =
HMAC(server key, cookie | session cookie), and htmx / fetch requests send it as `X-CSRF-Token`
(read from `<meta name="csrf-token">`). A same-site attacker (another port, a sibling subdomain)
can plant cookies but cannot compute the HMAC without the server's key, and a
token stops working when the session changes. A POST whose Origin (or, without one, Referer) is
another host is refused before the token is even looked at; either way nothing runs and the person
sees a 403 page in their language.

Headers. Every response: `X-Content-Type-Options: nosniff`, `Referrer-Policy: same-origin`,
`X-Frame-Options: DENY` and a Content-Security-Policy that allows the console's own scripts, styles
and connections only (no inline script or style, no eval) with `frame-ancestors 'none'` — the API
docs (Swagger UI) included. ECharts draws its tooltips on the canvas (renderMode richText), since its
HTML tooltips are inline styles. Everything but the static files is `Cache-Control: no-store`:
pages, downloads and API answers carry personal data.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from functools import cache
from urllib.parse import urlsplit

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from siyu.platform.secrets import derive_key

CSRF_COOKIE = "siyu_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SESSION_COOKIE = "siyu_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


class CsrfRefusedError(Exception):
    """A state-changing console request without a valid token, or from another site."""


@cache
def _key() -> bytes:
    return derive_key("console-csrf")


def expected_token(csrf_cookie: str, session: str | None) -> str:
    """The token the forms of a browser (its csrf cookie) in a session (its session cookie) carry."""
    message = f"{csrf_cookie}|{session or ''}".encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def page_token(request: Request) -> tuple[str, str | None]:
    """The token for the page being rendered, and a new csrf cookie to set when there was none."""
    cookie = request.cookies.get(CSRF_COOKIE)
    new_cookie = None
    if not cookie or len(cookie) > 128:
        new_cookie = cookie = secrets.token_urlsafe(24)
    return expected_token(cookie, request.cookies.get(SESSION_COOKIE)), new_cookie


def _same_origin(request: Request, value: str) -> bool:
    """Whether an Origin / Referer names this server (host and port as the request addressed it)."""
    if not value or value == "null":
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and parts.netloc == request.headers.get("host", "")


async def csrf_guard(request: Request) -> None:
    """Router dependency: refuse a state-changing console request that is cross-site or carries no
    valid token. Runs on the event loop; it does no I/O but read the (size-capped) form body."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if origin is not None:
        if not _same_origin(request, origin):
            raise CsrfRefusedError
    elif (referer := request.headers.get("referer")) is not None and not _same_origin(request, referer):
        raise CsrfRefusedError
    token = request.headers.get(CSRF_HEADER)
    content_type = request.headers.get("content-type", "")
    if token is None and content_type.startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await request.form()).get(CSRF_FIELD)
        token = value if isinstance(value, str) else None
    cookie = request.cookies.get(CSRF_COOKIE)
    if not token or not cookie:
        raise CsrfRefusedError
    if not hmac.compare_digest(token, expected_token(cookie, request.cookies.get(SESSION_COOKIE))):
        raise CsrfRefusedError


class SecurityHeaders:
    """ASGI middleware: the security headers above on every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to the response start (headers the route set itself are kept)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        static = path.startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                extra = [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                    (b"x-frame-options", b"DENY"),
                ]
                if not static:
                    extra.append((b"cache-control", b"no-store"))
                headers.extend((k, v) for k, v in extra if k not in present)
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
