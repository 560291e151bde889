"""Helpers the console tests share."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from http.cookies import SimpleCookie

import httpx
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy import update
from starlette.routing import BaseRoute, Mount

from siyu.console.security import CSRF_COOKIE, SESSION_COOKIE, expected_token
from siyu.customers.models import Customer
from siyu.customers.service import allocate_numbers
from siyu.db.session import unit_of_work
from siyu.org.models import Staff
from siyu.wecom.models import ChannelCode, ChannelCodeDay, CustomerGroup, CustomerGroupDay, WeComFriend
from tests.factories import World

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


def seed_wecom(w: World) -> dict[str, int]:
    """A channel code, friends, and customer groups with daily figures, for the WeCom pages."""
    now = dt.datetime.now(dt.UTC)
    today = (now + dt.timedelta(hours=8)).date()
    with unit_of_work(w.engine) as db:
        db.execute(update(Staff).where(Staff.id == w.staff["guide"]).values(wecom_userid="g1"))
        # The brand's next customer number, taken as every path takes it (the sequence moves on).
        number = allocate_numbers(db, tenant_id=w.tenant_id, count=1)[0]
        c = Customer(tenant_id=w.tenant_id, number=number, name="好友甲", status="active", gender="female")
        db.add(c)
        code = ChannelCode(
            tenant_id=w.tenant_id,
            name="门口海报",
            state="poster",
            source_label="门店海报",
            mode="round_robin",
            guide_ids=[w.staff["guide"]],
            schedule=[],
            tag_ids=[],
            rotation=1,
            active=True,
            current_guide_id=w.staff["guide"],
            qr_code="https://wework.qpic.cn/fake/x/0",
            created_at=now,
            updated_at=now,
        )
        quiet = CustomerGroup(
            tenant_id=w.tenant_id,
            chat_id="wrQUIET",
            name="冷清群",
            owner_staff_id=w.staff["guide"],
            store_id=w.store_ids[0],
            status="active",
            needs_sync=False,
            created_at=now - dt.timedelta(days=40),
            last_event_at=now,
        )
        db.add_all([code, quiet])
        db.flush()
        db.add(
            WeComFriend(
                tenant_id=w.tenant_id,
                staff_id=w.staff["guide"],
                customer_id=c.id,
                external_userid="wmA",
                state="poster",
                added_at=now,
                last_event_at=now,
            )
        )
        db.add(
            ChannelCodeDay(
                tenant_id=w.tenant_id,
                code_id=code.id,
                day=today,
                staff_id=w.staff["guide"],
                adds=5,
                deletes=1,
            )
        )
        db.add(
            CustomerGroupDay(
                tenant_id=w.tenant_id, group_id=quiet.id, day=today, joins=2, quits=0, messages=1
            )
        )
        return {"code": code.id, "group": quiet.id}
