"""Helpers the console tests share."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from http.cookies import SimpleCookie

import httpx
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from starlette.routing import BaseRoute, Mount

from siyu.console.security import CSRF_COOKIE, SESSION_COOKIE, expected_token
from tests.conftest import World

TEST_CSRF_COOKIE = "test-browser-csrf-cookie"


def _send_csrf_token(request: httpx.Request) -> None:
    """Sign each request as the console's own pages do: the X-CSRF-Token for the cookies it sends."""
    if request.method in ("GET", "HEAD") or "x-csrf-token" in request.headers:
        return
    jar = SimpleCookie()
    jar.load(request.headers.get("cookie", ""))
    csrf = jar[CSRF_COOKIE].value if CSRF_COOKIE in jar else None
    session = jar[SESSION_COOKIE].value if SESSION_COOKIE in jar else None
    if csrf:
        request.headers["X-CSRF-Token"] = expected_token(csrf, session)


def same_site_browser(client: TestClient) -> TestClient:
    """The client behaves like a page of the console: a csrf cookie, and the token on every post."""
    client.cookies.set(CSRF_COOKIE, TEST_CSRF_COOKIE)
    if _send_csrf_token not in client.event_hooks["request"]:
        client.event_hooks["request"].append(_send_csrf_token)
    return client


def as_role(client: TestClient, w: World, role: str) -> TestClient:
    """The client signed in (session cookie) as one of the world's roles, posting like the console's pages."""
    client.cookies.set("siyu_session", w.tokens[role])
    return same_site_browser(client)


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every APIRoute of an app, looking inside included routers."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif (inner := getattr(route, "original_router", None)) is not None:
            yield from api_routes(inner.routes)
        elif (inner := getattr(route, "routes", None)) is not None and not isinstance(route, Mount):
            yield from api_routes(inner)
