"""The console in the browser's threat model: CSRF refusals change nothing, every state-changing
route and form is covered, and every answer carries the security headers."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.app import create_app
from siyu.console.security import CSRF_COOKIE, expected_token
from siyu.db.session import unit_of_work
from siyu.platform.models import AuditEntry
from siyu.wecom.models import WeComConfig
from tests.console.support import TEST_CSRF_COOKIE, api_routes, as_role
from tests.factories import World
from tests.wecom_vectors import AES_KEY, CORP_ID, TOKEN

TEMPLATES = Path(__file__).resolve().parents[2] / "src" / "siyu" / "console" / "templates"
WECOM_FORM = {"corp_id": CORP_ID, "token": TOKEN, "aes_key": AES_KEY, "secret": "attacker-secret"}


def _configs(world: World) -> int:
    with unit_of_work(world.engine) as db:
        return (
            db.scalar(
                select(func.count()).select_from(WeComConfig).where(WeComConfig.tenant_id == world.tenant_id)
            )
            or 0
        )


def _audit_rows(world: World) -> int:
    with unit_of_work(world.engine) as db:
        return (
            db.scalar(
                select(func.count()).select_from(AuditEntry).where(AuditEntry.tenant_id == world.tenant_id)
            )
            or 0
        )


def test_cross_site_posts_are_refused_and_change_nothing(world: World) -> None:
    with TestClient(create_app(engine=world.engine), follow_redirects=False) as client:
        client.cookies.set("siyu_session", world.tokens["owner"])
        client.cookies.set(CSRF_COOKIE, TEST_CSRF_COOKIE)
        token = expected_token(TEST_CSRF_COOKIE, world.tokens["owner"])
        audit_before = _audit_rows(world)
        # Another port or a sibling subdomain: refused on its Origin even with a good token.
        for origin in ("http://testserver:8001", "http://evil.testserver", "null"):
            r = client.post(
                "/settings/wecom", data={**WECOM_FORM, "csrf_token": token}, headers={"Origin": origin}
            )
            assert r.status_code == 403 and "此表单被拒绝" in r.text
        r = client.post(
            "/settings/wecom",
            data={**WECOM_FORM, "csrf_token": token},
            headers={"Referer": "http://testserver:8001/attack.html"},
        )
        assert r.status_code == 403
        # No token, a forged one, or one of another session (cookies planted by a sibling site).
        assert client.post("/settings/wecom", data=WECOM_FORM).status_code == 403
        forged = {**WECOM_FORM, "csrf_token": "0" * 64}
        assert client.post("/settings/wecom", data=forged).status_code == 403
        other = expected_token(TEST_CSRF_COOKIE, world.tokens["guide"])
        assert client.post("/settings/wecom", data={**WECOM_FORM, "csrf_token": other}).status_code == 403
        client.cookies.set(CSRF_COOKIE, "planted-by-a-sibling")
        assert client.post("/settings/wecom", data={**WECOM_FORM, "csrf_token": token}).status_code == 403
        client.cookies.set(CSRF_COOKIE, TEST_CSRF_COOKIE)
        departures = {"from_staff_id": str(world.staff["guide"]), "kind": "resigned"}
        assert client.post("/wecom/departures", data=departures).status_code == 403
        assert client.post("/customers/1/reveal").status_code == 403
        preview = client.post("/audiences/preview", json={"rule": {"type": "gender", "values": ["male"]}})
        assert preview.status_code == 403 and preview.json()["error"]["code"] == "csrf_refused"
        assert _configs(world) == 0 and _audit_rows(world) == audit_before  # nothing changed
        # The same form from the console's own page goes through.
        ok = client.post(
            "/settings/wecom",
            data={**WECOM_FORM, "csrf_token": token},
            headers={"Origin": "http://testserver", "Referer": "http://testserver/settings/wecom"},
        )
        assert ok.status_code == 200 and _configs(world) == 1


def test_every_state_changing_console_route_is_guarded(world: World) -> None:
    app = create_app(engine=world.engine)
    posts = [r for r in api_routes(app.routes) if "POST" in r.methods and not r.path.startswith("/api/")]
    assert len(posts) >= 12
    with TestClient(app, follow_redirects=False) as client:
        client.cookies.set("siyu_session", world.tokens["owner"])
        for route in posts:
            path = re.sub(r"\{[^}]+\}", "1", route.path)
            r = client.post(path, data={"name": "x"}, headers={"Origin": "http://attacker.example"})
            assert r.status_code == 403, route.path


def test_every_post_form_carries_the_token_and_pages_have_no_inline_script() -> None:
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text()
        for form in re.findall(r"<form[^>]*method=\"post\"[^>]*>.{0,120}", text, flags=re.S):
            assert 'name="csrf_token" value="{{ csrf_token }}"' in form, (template.name, form)
        for script in re.findall(r"<script[^>]*>", text):
            assert "src=" in script or 'type="application/json"' in script, (template.name, script)
        assert not re.search(r"\son[a-z]+=", text), template.name  # no inline event handlers
        assert "style=" not in text, template.name


def test_pages_and_downloads_carry_security_headers(browser: TestClient, world: World) -> None:
    browser.cookies.delete(CSRF_COOKIE)
    signin = browser.get("/signin")
    csp = signin.headers["content-security-policy"]
    assert "script-src 'self';" in csp and "frame-ancestors 'none'" in csp and "unsafe" not in csp
    assert signin.headers["x-content-type-options"] == "nosniff"
    assert signin.headers["referrer-policy"] == "same-origin"
    assert signin.headers["cache-control"] == "no-store"
    assert CSRF_COOKIE in signin.cookies  # the first page sets the browser's csrf cookie
    as_role(browser, world, "owner")
    for path in ("/hq", "/customers", "/stores/S1/daily.xlsx?date=2026-03-01", "/api/v1/customers"):
        r = browser.get(path, headers=world.headers("owner") if path.startswith("/api") else None)
        assert r.status_code == 200, path
        assert r.headers["cache-control"] == "no-store", path
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], path
    static = browser.get("/static/app.js")
    assert "no-store" not in static.headers.get("cache-control", "")
    assert static.headers["x-content-type-options"] == "nosniff"
    docs = browser.get("/docs")
    assert "<script>" not in docs.text and "/static/swagger-init.js" in docs.text
    assert "script-src 'self';" in docs.headers["content-security-policy"]
