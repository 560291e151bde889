"""The console's pages, server-side: sessions, role homes, permissions, numbers, languages."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import update

from siyu.access.passwords import hash_password
from siyu.auth.models import AuthToken
from siyu.core.clock import FixedClock, get_clock, set_clock
from siyu.db.session import unit_of_work
from siyu.org.models import Staff
from tests.console.support import as_role
from tests.factories import World
from tests.wecom_vectors import AES_KEY, CORP_ID, TOKEN, VECTOR_QUERY


def seed_sales(client: TestClient, w: World) -> str:
    day = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date().isoformat()
    h = w.headers("integration")
    client.post(
        "/api/v1/products/batch",
        headers=h,
        json={"products": [{"code": "C-1", "name": "外套", "list_price_fen": 10000}]},
    ).raise_for_status()
    at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    client.post(
        "/api/v1/orders/batch",
        headers=h,
        json={
            "orders": [
                {
                    "channel": "pos",
                    "external_id": "CON-1",
                    "store_code": "S1",
                    "staff_employee_no": "GUIDE",
                    "status": "paid",
                    "placed_at": at,
                    "paid_at": at,
                    "lines": [{"sku_code": "C-1", "quantity": 2, "unit_price_fen": 10000}],
                    "payments": [{"method": "cash", "amount_fen": 20000}],
                }
            ]
        },
    ).raise_for_status()
    return day


def test_no_session_goes_to_sign_in_and_back(browser: TestClient, world: World) -> None:
    r = browser.get("/stores/S1/daily?date=2026-06-18")
    assert (
        r.status_code == 303 and r.headers["location"] == "/signin?next=/stores/S1/daily%3Fdate%3D2026-06-18"
    )
    with unit_of_work(world.engine) as db:
        db.execute(
            update(Staff)
            .where(Staff.id == world.staff["manager"])
            .values(password_hash=hash_password("pw-12345678"))
        )
    form = {
        "tenant": world.slug,
        "username": "manager",
        "password": "wrong",
        "next": "/stores/S1/daily?date=2026-06-18",
    }
    r = browser.post("/signin", data=form)
    assert r.status_code == 401 and "品牌、用户名或密码错误" in r.text and "siyu_session" not in r.cookies
    r = browser.post("/signin", data={**form, "password": "pw-12345678"})
    assert r.status_code == 303 and r.headers["location"] == "/stores/S1/daily?date=2026-06-18"
    assert "siyu_session" in r.cookies
    page = browser.get("/stores/S1/daily?date=2026-06-18")
    assert page.status_code == 200 and "门店日报" in page.text and world.slug in page.text
    # An open redirect is refused: only local paths.
    r = browser.post("/signin", data={**form, "password": "pw-12345678", "next": "//evil.example/x"})
    assert r.headers["location"] == "/"


def test_expired_session_returns_to_sign_in(browser: TestClient, world: World) -> None:
    as_role(browser, world, "owner")
    assert browser.get("/hq").status_code == 200
    with unit_of_work(world.engine) as db:
        db.execute(update(AuthToken).values(expires_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)))
    r = browser.get("/hq")
    assert r.status_code == 303 and r.headers["location"] == "/signin?next=/hq"


def test_each_role_lands_on_its_home(browser: TestClient, world: World) -> None:
    assert as_role(browser, world, "owner").get("/").headers["location"] == "/hq"
    assert as_role(browser, world, "store_manager").get("/").headers["location"] == "/stores/S1/daily"
    assert as_role(browser, world, "guide").get("/").headers["location"] == "/me"


def test_forbidden_and_out_of_scope_pages_are_pages_not_traces(browser: TestClient, world: World) -> None:
    r = as_role(browser, world, "guide").get("/hq")
    assert r.status_code == 403 and "你无权查看此页面" in r.text and "reports:read" in r.text
    r = as_role(browser, world, "store_manager").get("/stores/S2/daily")
    assert r.status_code == 404 and "不在你负责的门店范围内" in r.text
    r = as_role(browser, world, "store_manager").get("/hq")
    assert r.status_code == 403


def test_store_page_shows_real_numbers_and_invalid_dates_get_a_message(
    browser: TestClient, world: World
) -> None:
    day = seed_sales(browser, world)
    as_role(browser, world, "store_manager")
    page = browser.get(f"/stores/S1/daily?date={day}")
    assert page.status_code == 200
    assert '<div class="big" data-figure="gmv_fen">¥200.00' in page.text
    assert '<div class="big" data-figure="orders">1' in page.text
    assert 'id="chart-data"' in page.text and "/static/vendor/echarts/echarts.min.js" in page.text
    bad = browser.get("/stores/S1/daily?date=2026-02-30")
    assert bad.status_code == 200 and "日历上没有“2026-02-30”这一天" in bad.text
    assert "请使用 YYYY-MM-DD" not in bad.text  # the shape was right; the day does not exist
    shape = browser.get("/stores/S1/daily?date=30.02.2026")
    assert "“30.02.2026”不是有效日期，请使用 YYYY-MM-DD 格式" in shape.text
    xlsx = browser.get(f"/stores/S1/daily.xlsx?date={day}")
    assert xlsx.status_code == 200 and xlsx.content[:2] == b"PK"
    assert browser.get("/stores/S1/daily.xlsx?date=nope").status_code == 422
    hq = as_role(browser, world, "owner").get(f"/hq?date={day}")
    assert '<div class="big" data-figure="gmv_fen">¥200.00' in hq.text
    me = as_role(browser, world, "guide").get("/me")
    assert '<div class="big" data-figure="today">¥200.00' in me.text


def test_language_switch(browser: TestClient, world: World) -> None:
    as_role(browser, world, "owner")
    r = browser.get("/lang/en?next=/hq")
    assert r.status_code == 303 and r.headers["location"] == "/hq"
    page = browser.get("/hq")
    assert "Brand overview" in page.text and "品牌总览" not in page.text and 'lang="en"' in page.text
    browser.get("/lang/zh_CN?next=/hq")
    assert "品牌总览" in browser.get("/hq").text


def test_sign_out_revokes_the_session(browser: TestClient, world: World) -> None:
    as_role(browser, world, "owner")
    r = browser.post("/signout")
    assert r.status_code == 303 and r.headers["location"] == "/signin"
    browser.cookies.set("siyu_session", world.tokens["owner"])  # the old token no longer works
    assert browser.get("/hq").status_code == 303


def test_customers_search_scope_360_and_reveal(browser: TestClient, world: World) -> None:
    seed_sales(browser, world)
    h = world.headers("integration")
    browser.post(
        "/api/v1/customers/batch",
        headers=h,
        json={
            "records": [
                {"name": "王小美", "phone": "13812345678", "city": "上海", "store_id": world.store_ids[0]},
                {"name": "李大壮", "phone": "13912345678", "city": "北京", "store_id": world.store_ids[1]},
            ]
        },
    ).raise_for_status()
    as_role(browser, world, "store_manager")
    page = browser.get("/customers")
    assert "王小美" in page.text and "李大壮" not in page.text  # the manager's store only
    assert "138****5678" in page.text and "13812345678" not in page.text
    # A manager may not reveal phones, so the whole number finds nothing; its last four digits do.
    assert "王小美" not in browser.get("/customers?q=13812345678").text
    hit = browser.get("/customers?q=5678")
    assert "王小美" in hit.text and "李大壮" not in hit.text
    none = browser.get("/customers?q=nobody-at-all")
    assert "没有符合条件的客户" in none.text
    customer_id = int(hit.text.split('href="/customers/')[1].split('"')[0])
    profile = browser.get(f"/customers/{customer_id}")
    assert profile.status_code == 200 and "138****5678" in profile.text and "查看完整号码" not in profile.text
    assert browser.post(f"/customers/{customer_id}/reveal").status_code == 403  # managers may not reveal
    other = browser.get("/customers?q=13912345678")
    assert "李大壮" not in other.text
    as_role(browser, world, "owner")
    profile = browser.get(f"/customers/{customer_id}")
    assert "查看完整号码" in profile.text
    revealed = browser.post(f"/customers/{customer_id}/reveal")
    assert revealed.status_code == 200 and "13812345678" in revealed.text and "仅本次显示" in revealed.text
    audit = browser.get(
        "/api/v1/audit-log", params={"action": "customer.phone_reveal"}, headers=world.headers("owner")
    ).json()["items"]
    assert [a["object_id"] for a in audit] == [customer_id]
    assert browser.get("/customers/999999999").status_code == 404


def test_orders_page_is_scoped(browser: TestClient, world: World) -> None:
    seed_sales(browser, world)
    mine = as_role(browser, world, "guide").get("/orders")
    assert (
        mine.status_code == 200
        and "我的订单" in mine.text
        and "¥200.00" in mine.text
        and "门店收银" in mine.text
    )
    theirs = as_role(browser, world, "guide2").get("/orders")
    assert "暂无订单" in theirs.text  # guide2 sold nothing
    assert as_role(browser, world, "store_manager").get("/orders?cursor=garbage").status_code == 200


def test_wecom_settings_page_shows_verification(browser: TestClient, world: World) -> None:
    assert as_role(browser, world, "hq_operator").get("/settings/wecom").status_code == 403
    as_role(browser, world, "owner")
    page = browser.get("/settings/wecom")
    assert (
        page.status_code == 200
        and "未配置" in page.text
        and f"/api/v1/wecom/{world.slug}/callback" in page.text
    )
    bad = browser.post(
        "/settings/wecom", data={"corp_id": "ww1", "token": "tok", "aes_key": "short", "secret": ""}
    )
    assert bad.status_code == 422 and "企业微信配置无效" in bad.text
    good = browser.post(
        "/settings/wecom",
        data={
            "corp_id": CORP_ID,
            "token": TOKEN,
            "aes_key": AES_KEY,
        },
    )
    assert good.status_code == 200 and "已保存" in good.text and "尚未验证" in good.text
    assert AES_KEY not in good.text  # never shown again
    previous = get_clock()
    set_clock(FixedClock(dt.datetime.fromtimestamp(1411443790, tz=dt.UTC)))
    try:
        browser.get(
            f"/api/v1/wecom/{world.slug}/callback",
            params=VECTOR_QUERY,
        ).raise_for_status()
    finally:
        set_clock(previous)
    assert "已于" in browser.get("/settings/wecom").text


def test_daily_reports_open_on_the_last_closed_day(browser: TestClient, world: World) -> None:
    previous = get_clock()
    # 01:30 in Shanghai on 18 June: the 18th has barely begun, the 17th is the last closed day.
    set_clock(FixedClock(dt.datetime(2026, 6, 17, 17, 30, tzinfo=dt.UTC)))
    try:
        hq = as_role(browser, world, "owner").get("/hq")
        assert "品牌总览 — 2026-06-17" in hq.text and 'data-day="in-progress"' not in hq.text
        assert '<a href="/hq?date=2026-06-18" data-day-link="today">今天（进行中）</a>' in hq.text
        today = browser.get("/hq?date=2026-06-18")
        assert "品牌总览 — 2026-06-18" in today.text and "进行中" in today.text
        assert 'data-day="in-progress"' in today.text and "今天尚未结束" in today.text
        store = as_role(browser, world, "store_manager").get("/stores/S1/daily")
        assert 'value="2026-06-17"' in store.text and 'data-day="in-progress"' not in store.text
        link = '<a href="/stores/S1/daily?date=2026-06-18" data-day-link="today">今天（进行中）</a>'
        assert link in store.text
    finally:
        set_clock(previous)
