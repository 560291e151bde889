"""The console as people use it: a real server process on loopback and Debian's Chromium, headless,
driven by Playwright. Screenshots land in test-artifacts/ (kept by CI as artefacts)."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from siyu.access.passwords import hash_password
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, unit_of_work
from siyu.org.models import Staff
from siyu.serving import serve
from tests.factories import World, build_world
from tests.support import _unavailable

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "pw-e2e-2026"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def chromium_path() -> str:
    path = (
        os.environ.get("SIYU_TEST_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    )
    if not path:
        _unavailable(
            "Chromium", "install Debian's chromium (apt-get install chromium) or set SIYU_TEST_CHROMIUM"
        )
    assert path is not None
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, World, str]]:
    """A fixture brand with a day of sales, served by a real server process."""
    url = f"sqlite:///{tmp_path_factory.mktemp('e2e') / 'e2e.db'}"
    engine = make_engine(url)
    upgrade(engine)
    world = build_world(engine)
    with unit_of_work(engine) as db:
        db.execute(
            update(Staff)
            .where(Staff.tenant_id == world.tenant_id)
            .values(password_hash=hash_password(PASSWORD))
        )
    proc, base = serve(url)
    try:
        day = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date().isoformat()
        at = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
        h = world.headers("integration")
        with httpx.Client(base_url=base, headers=h) as api:
            api.post(
                "/api/v1/products/batch",
                json={"products": [{"code": "E-1", "name": "外套", "list_price_fen": 12900}]},
            ).raise_for_status()
            api.post(
                "/api/v1/orders/batch",
                json={
                    "orders": [
                        {
                            "channel": channel,
                            "external_id": f"E2E-{i}",
                            "store_code": "S1" if channel == "pos" else None,
                            "staff_employee_no": "GUIDE",
                            "customer": {"phone": f"1390000{i:04d}"},
                            "status": "paid",
                            "placed_at": at,
                            "paid_at": at,
                            "lines": [{"sku_code": "E-1", "quantity": 1, "unit_price_fen": 12900}],
                            "payments": [{"method": "wechat_pay", "amount_fen": 12900}],
                        }
                        for i, channel in enumerate(["pos", "pos", "guide_share"])
                    ]
                },
            ).raise_for_status()
        yield base, world, day
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        engine.dispose()


class CspWatchingBrowser:
    """Chromium whose pages record every Content-Security-Policy violation; a test fails on any."""

    def __init__(self, browser: Any) -> None:
        self.browser = browser
        self.violations: list[str] = []

    def new_page(self, **kwargs: Any) -> Any:
        page = self.browser.new_page(**kwargs)
        page.on(
            "console",
            lambda msg: self.violations.append(msg.text) if "Content Security Policy" in msg.text else None,
        )
        return page


@pytest.fixture(scope="module")
def chromium_browser() -> Iterator[Any]:
    executable = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def chromium(chromium_browser: Any) -> Iterator[CspWatchingBrowser]:
    """The module's Chromium; after the test, no page may have broken the Content-Security-Policy."""
    watching = CspWatchingBrowser(chromium_browser)
    yield watching
    assert watching.violations == []


def sign_in(page: Any, base: str, world: World, username: str, target: str) -> None:
    page.goto(f"{base}{target}")
    assert "/signin" in page.url  # no session yet: the sign-in page, remembering the target
    page.get_by_label("品牌").fill(world.slug)
    page.get_by_label("用户名").fill(username)
    page.get_by_label("密码").fill(PASSWORD)
    page.get_by_role("button", name="登录").click()
    page.wait_for_url(f"{base}{target}")


def shot(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


CHECKS = """() => {
  const problems = [];
  for (const input of document.querySelectorAll('input:not([type=hidden]), select')) {
    const labelled = input.id && document.querySelector(`label[for="${input.id}"]`);
    if (!labelled && !input.getAttribute('aria-label')) problems.push('unlabelled ' + (input.id || input.name));
  }
  const rgb = s => s.match(/\\d+(\\.\\d+)?/g).slice(0, 3).map(Number);
  const lum = c => { const v = c.map(x => { x /= 255; return x <= 0.03928 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4; });
    return 0.2126 * v[0] + 0.7152 * v[1] + 0.0722 * v[2]; };
  const background = el => { for (let e = el; e; e = e.parentElement) { const b = getComputedStyle(e).backgroundColor;
    if (b && !b.endsWith(', 0)') && b !== 'transparent') return rgb(b); } return [255, 255, 255]; };
  for (const el of document.querySelectorAll('h1, h2, th, td, .label, .small, .muted, a, button, label, p')) {
    if (!el.textContent.trim() || el.offsetParent === null) continue;
    const a = lum(rgb(getComputedStyle(el).color)), b = lum(background(el));
    const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
    if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)} on ${el.tagName}.${el.className}: ${el.textContent.trim().slice(0, 30)}`);
  }
  return problems;
}"""


def test_store_manager_sees_the_daily_report_with_charts(site: tuple[str, World, str], chromium: Any) -> None:
    base, world, day = site
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, base, world, "manager", f"/stores/S1/daily?date={day}")
    # Two coats at the till and one through GUIDE's link (GUIDE works in S1).
    assert page.locator('[data-figure="gmv_fen"]').inner_text() == "¥387.00"
    assert page.locator('[data-figure="orders"]').inner_text() == "3"
    page.wait_for_selector("body[data-charts=drawn]")
    assert page.locator("#chart-hourly canvas").count() == 1
    page.locator("#chart-hourly").hover()  # a tooltip, drawn under the CSP (no inline styles)
    page.locator("#chart-placement").hover()
    assert page.evaluate(CHECKS) == []
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    shot(page, "store-daily-manager-1366")
    page.get_by_label("日期").fill("2026-02-28")
    page.get_by_role("button", name="查看").click()
    page.wait_for_url("**date=2026-02-28")
    assert page.locator('[data-figure="gmv_fen"]').inner_text() == "¥0.00"
    assert page.get_by_text("当日暂无销售。").is_visible()
    with page.expect_download() as download:
        page.get_by_role("link", name="下载 Excel").click()
    assert download.value.suggested_filename == "store-daily-S1-2026-02-28.xlsx"
    page.goto(f"{base}/hq")
    assert "你无权查看此页面" in page.content()
    shot(page, "forbidden-manager")
    page.close()


def test_hq_overview_and_language_switch(site: tuple[str, World, str], chromium: Any) -> None:
    base, world, _ = site
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, base, world, "owner", "/hq")
    # The report opens on the last closed day (yesterday: no sales); today is one click away.
    assert page.locator('[data-figure="gmv_fen"]').inner_text() == "¥0.00"
    page.get_by_role("link", name="今天（进行中）").click()
    page.wait_for_selector('[data-day="in-progress"]')
    assert page.locator('[data-figure="gmv_fen"]').inner_text() == "¥387.00"  # all three orders
    assert page.locator('[data-figure="new_buyers"]').inner_text() == "3"
    assert page.evaluate(CHECKS) == []
    shot(page, "hq-owner-1366")
    page.get_by_role("link", name="English").click()
    page.wait_for_selector("text=Brand overview")
    shot(page, "hq-owner-english")
    page.get_by_role("link", name="中文").click()
    page.wait_for_selector("text=品牌总览")
    page.get_by_role("link", name="企业微信").click()
    page.wait_for_selector("text=企业微信配置")
    assert page.locator('[data-field="verified"]').inner_text().strip() == "未配置"
    assert page.evaluate(CHECKS) == []
    shot(page, "wecom-settings-owner")
    page.goto(f"{base}/docs")  # the API docs render from locally installed assets (no CDN)
    page.wait_for_selector('.opblock-summary-path[data-path="/api/v1/orders/batch"]')
    shot(page, "api-docs")
    page.close()


def test_guide_page_at_phone_width(site: tuple[str, World, str], chromium: Any) -> None:
    base, world, _ = site
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    sign_in(page, base, world, "guide", "/me")
    assert page.locator('[data-figure="today"]').inner_text() == "¥387.00"  # rang up two, shared one
    assert page.locator('[data-figure="customers"]').inner_text() == "1"  # bound through the link
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert page.evaluate(CHECKS) == []
    shot(page, "guide-phone-390")
    page.get_by_role("button", name="退出").click()
    page.wait_for_url("**/signin")
    page.goto(f"{base}/me")
    assert "/signin" in page.url
    page.close()


def test_customers_search_and_360_with_reveal(site: tuple[str, World, str], chromium: Any) -> None:
    base, world, _ = site
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, base, world, "owner", "/customers")
    assert page.locator("#results tbody tr").count() == 3  # the three buyers
    page.get_by_label("搜索", exact=True).fill("13900000001")
    page.wait_for_function("() => document.querySelectorAll('#results tbody tr').length === 1")
    assert page.evaluate(CHECKS) == []
    shot(page, "customers-search-owner")
    page.locator("#results tbody tr a").first.click()
    page.wait_for_url("**/customers/*")
    assert page.locator('[data-figure="phone"]').inner_text() == "139****0001"
    assert page.locator('[data-figure="orders"]').inner_text() == "1"
    page.get_by_role("button", name="查看完整号码（将记录日志）").click()
    page.get_by_role("button", name="确定").click()  # it asks first: the viewing is audited
    page.wait_for_selector("text=仅本次显示")
    assert page.locator('[data-figure="phone"]').inner_text() == "13900000001"
    shot(page, "customer-360-revealed")
    page.close()


def test_analyst_and_guide_customer_views(site: tuple[str, World, str], chromium: Any) -> None:
    base, world, _ = site
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, base, world, "analyst", "/hq")
    page.get_by_role("link", name="今天（进行中）").click()
    page.wait_for_selector('[data-day="in-progress"]')
    assert page.locator('[data-figure="orders"]').inner_text() == "3"
    page.goto(f"{base}/customers")
    page.locator("#results tbody tr a").first.click()
    assert (
        page.get_by_role("button", name="查看完整号码（将记录日志）").count() == 0
    )  # analysts may not reveal
    page.close()
    phone = chromium.new_page(viewport={"width": 390, "height": 844})
    sign_in(phone, base, world, "guide", "/customers")
    assert phone.locator("#results tbody tr").count() == 1  # only the customer bound to this guide
    assert phone.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    assert phone.evaluate(CHECKS) == []
    shot(phone, "guide-customers-phone-390")
    phone.close()


def test_tagging_and_the_audience_builder(site: tuple[str, World, str], chromium: Any) -> None:
    base, world, _ = site
    h = world.headers("integration")
    with httpx.Client(base_url=base, headers=h) as api:
        group = api.post(
            "/api/v1/tag-groups", json={"name_zh": "风格偏好", "name_en": "Style", "open_to_guides": True}
        ).json()
        api.post(
            f"/api/v1/tag-groups/{group['id']}/tags", json={"name_zh": "通勤", "name_en": "Commute"}
        ).raise_for_status()
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, base, world, "owner", "/customers")
    page.locator("#results tbody tr a").first.click()
    page.wait_for_url("**/customers/*")
    page.get_by_label("添加标签").select_option(label="通勤")
    page.locator("#tags").get_by_role("button", name="添加").click()
    page.wait_for_selector("#tags .chips li")
    assert "通勤" in page.locator("#tags .chips").inner_text()
    assert page.evaluate(CHECKS) == []
    page.goto(f"{base}/audiences")
    page.wait_for_function("() => document.body.getAttribute('data-preview') !== null")
    # The first row is a gender condition: pick "unknown" (the fixture's buyers gave no gender).
    page.get_by_label("性别 values").select_option(["unknown"])
    page.wait_for_function("() => document.querySelector('#count').textContent === '3'")
    page.locator("#add-type").select_option("tags")
    page.get_by_role("button", name="添加", exact=True).click()
    # The tag picker: no tag chosen yet is not a valid rule, and the last count is not left standing.
    page.wait_for_function("() => document.querySelector('#count').textContent === '—'")
    assert page.locator("#rule-error").is_visible()
    page.get_by_label("搜索标签").fill("通")
    page.locator(".tag-picker label", has_text="通勤").click()
    assert page.locator(".tag-picker .chips li").inner_text().startswith("通勤")
    page.wait_for_function("() => document.querySelector('#count').textContent === '1'")
    assert page.locator("#chart-stores canvas").count() == 1
    assert '"match": "any"' in (page.locator("#rule-json").text_content() or "")
    assert page.evaluate(CHECKS) == []
    shot(page, "audience-builder")
    page.get_by_label("保存为").fill("通勤顾客")
    page.get_by_role("button", name="保存人群包").click()
    page.wait_for_url(f"{base}/audiences")
    page.wait_for_selector("tr[data-audience] >> text=v1")  # saving froze the first version
    page.get_by_role("button", name="生成快照").click()
    page.wait_for_selector("tr[data-audience] >> text=v2")
    assert page.locator('tr[data-audience] [data-figure="size"]').inner_text() == "1"
    assert page.evaluate(CHECKS) == []
    shot(page, "audiences-saved")
    # Reopened, the builder draws the saved rule again, tag chip included.
    page.get_by_role("link", name="打开").click()
    page.wait_for_function("() => document.querySelector('#count').textContent === '1'")
    assert page.locator(".tag-picker .chips li").inner_text().startswith("通勤")
    assert page.get_by_role("button", name="保存为新版本").is_enabled()
    shot(page, "audience-reopened")
    page.close()


def test_wecom_groups_and_codes_with_charts(site: tuple[str, World, str], chromium: Any) -> None:
    from tests.console.support import seed_wecom

    base, world, _ = site
    seed_wecom(world)
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, base, world, "owner", "/wecom/groups")
    page.wait_for_selector("body[data-charts='drawn']")
    assert page.locator("#group-chart canvas").count() == 1
    assert page.locator('[data-flag="dead"]').count() == 1
    assert page.evaluate(CHECKS) == []
    shot(page, "wecom-groups")
    page.goto(f"{base}/wecom/codes")
    page.wait_for_selector("body[data-charts='drawn']")
    assert page.locator(".chart canvas").count() == 1
    assert page.evaluate(CHECKS) == []
    shot(page, "wecom-codes")
    page.goto(f"{base}/wecom/departures")
    assert page.evaluate(CHECKS) == []
    page.close()


def test_every_page_a_guide_opens_fits_a_phone(site: tuple[str, World, str], chromium: Any) -> None:
    base, world, _ = site
    long_ids = [
        {"type": "wechat_unionid", "value": "oUnion" + "x7Kq9" * 11},
        {"type": "wecom_external_userid", "value": "wmB5vpwBuVc64X8ZL0OlAcksmFaQkFYa" * 2},
        {
            "type": "wechat_openid",
            "value": "oMt4q2epWgvmHmVLaCLvmwHRFoSlx7Kq9",
            "namespace": "wx5d1c8a9b3e7f2a46",
        },
    ]
    with httpx.Client(base_url=base, headers=world.headers("integration")) as api:
        answer = api.post(
            "/api/v1/customers/batch", json={"records": [{"phone": "13900000002", "identities": long_ids}]}
        )
        answer.raise_for_status()
        customer_id = answer.json()["results"][0]["customer_id"]
    page = chromium.new_page(viewport={"width": 390, "height": 844})
    sign_in(page, base, world, "guide", "/me")
    for path in (
        "/me",
        "/customers",
        f"/customers/{customer_id}",
        "/tags",
        "/wecom/friends",
        "/wecom/groups",
        "/orders",
    ):
        page.goto(f"{base}{path}")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, (path, width)
        assert page.evaluate(CHECKS) == [], path
    page.goto(f"{base}/customers/{customer_id}")
    add = page.locator("#tags").get_by_role("button", name="添加")
    if add.count():
        box = add.bounding_box()
        assert box is not None and box["x"] + box["width"] <= 390  # the add-tag button can be tapped
    # A note after a call: the toast says so, the note is listed, the list shows the last contact.
    page.get_by_label("联系客户的情况").fill("电话联系，周六来店试新款")
    page.get_by_role("button", name="添加备注").click()
    page.wait_for_selector("[data-toast]")
    assert page.locator("[data-toast]").inner_text() == "备注已添加。"
    assert "电话联系，周六来店试新款" in page.locator("#notes").inner_text()
    small = page.evaluate(
        "() => Array.from(document.querySelectorAll('main button:not(.def)')).filter(b => b.offsetParent && b.getBoundingClientRect().height < 44).map(b => b.textContent)"
    )
    assert small == []  # every button a thumb can hit (44 px)
    shot(page, "guide-customer-360-phone-390")
    page.goto(f"{base}/customers")
    card = page.locator(f'tr[data-customer="{customer_id}"]')
    assert card.locator('[data-figure="contact"]').inner_text() != "未联系"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "guide-customers-cards-390")
    page.close()


def test_orders_and_customers_lists_as_hq(site: tuple[str, World, str], chromium: Any) -> None:
    """The design language in a browser: filters, a sortable column, the count, definitions on hover
    and focus, the column picker (remembered), an order's detail, the Excel export, and the
    confirmation before an audited action."""
    base, world, _ = site
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, base, world, "owner", "/orders")
    assert page.locator("[data-total]").get_attribute("data-total") == "3"
    page.locator("#channel").select_option("guide_share")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_url("**channel=guide_share**")
    assert page.locator("tr[data-order]").count() == 1
    assert page.locator('nav.side a[aria-current="page"]').inner_text() == "订单"
    assert page.evaluate(CHECKS) == []
    shot(page, "orders-hq-1366")
    page.locator("tr[data-order] a").first.click()
    page.wait_for_selector('[data-field="reason"]')
    assert "导购分享链接下单" in page.locator('[data-field="reason"]').inner_text()
    assert page.locator('[data-field="paid"]').inner_text() == "¥129.00"
    assert page.evaluate(CHECKS) == []
    shot(page, "order-detail-hq-1366")
    page.goto(f"{base}/orders")
    with page.expect_download() as download:
        page.get_by_role("link", name="导出 Excel").click()
    assert download.value.suggested_filename == "orders.xlsx"
    # Customers: sorted by total spend, with the definition of the figure on hover and on focus.
    page.goto(f"{base}/customers")
    page.locator('th[data-col="spend"] a.sort').click()
    page.wait_for_url("**sort=-spend**")
    spend = page.locator('th[data-col="spend"] button.def')
    spend.hover()
    tip = page.locator("#tip")
    assert tip.is_visible() and "已退款金额" in tip.inner_text()
    page.mouse.move(5, 700)
    assert not tip.is_visible()
    spend.focus()
    assert tip.is_visible()
    # The column picker hides a column, and the choice survives a reload.
    page.locator("details.colpick summary").click()
    page.locator("#customers-table-col-city").uncheck()
    assert not page.locator('th[data-col="city"]').is_visible()
    page.reload()
    assert not page.locator('th[data-col="city"]').is_visible()
    assert page.evaluate(CHECKS) == []
    shot(page, "customers-hq-1366")
    # Showing a full phone number asks first (it is audited); cancelling shows nothing.
    page.locator("tr[data-customer] a").first.click()
    page.get_by_role("button", name="查看完整号码（将记录日志）").click()
    dialog = page.locator("#confirm-dialog")
    assert dialog.is_visible() and "操作日志" in dialog.inner_text()
    page.get_by_role("button", name="取消").click()
    assert not dialog.is_visible() and "****" in page.content()
    page.get_by_role("button", name="查看完整号码（将记录日志）").click()
    page.get_by_role("button", name="确定").click()
    page.wait_for_load_state("networkidle")
    assert re.search(r"139 ?0000 ?000\d", page.content())
    page.goto(f"{base}/settings/audit")
    assert "查看完整手机号" in page.locator("#audit-table").inner_text()
    assert "导出订单" in page.locator("#audit-table").inner_text()
    shot(page, "audit-log-owner-1366")
    page.close()


def test_administration_and_imports_as_the_owner(
    site: tuple[str, World, str], chromium: Any, tmp_path: Any
) -> None:
    """The owner runs the brand from the console: a store with hours (a refusal shown at its field,
    then saved), an API key shown once and revoked after a confirmation, a product, and an import
    followed to its end; every page labelled and readable."""
    base, world, _ = site
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    sign_in(page, base, world, "owner", "/settings/stores")
    for path in (
        "/settings/brand",
        "/settings/staff",
        "/settings/staff/new",
        "/settings/roles",
        "/settings/products",
        "/wecom/codes/new",
        "/wecom/departures",
        "/settings/audit",
    ):
        page.goto(f"{base}{path}")
        assert page.evaluate(CHECKS) == [], path
    page.goto(f"{base}/settings/stores/new")
    page.locator("#f-code").fill("S77")
    page.locator("#h0_0_opens").fill("10:00")
    page.locator("#h0_0_closes").fill("02:00")
    page.get_by_role("button", name="创建门店").click()
    assert page.locator("#e-name").inner_text() == "必填"  # the name was left empty
    page.locator("#f-name").fill("夜市店")
    page.get_by_role("button", name="创建门店").click()
    page.wait_for_selector("[data-toast]")
    assert page.locator("#h0_0_closes").input_value() == "02:00"
    assert page.evaluate(CHECKS) == []
    shot(page, "store-form-owner-1366")
    page.goto(f"{base}/settings/api-keys")
    page.locator("#f-name").fill("收银系统")
    page.get_by_role("button", name="创建密钥").click()
    key = page.locator("#new-key").inner_text()
    assert key.startswith("sk_")
    shot(page, "api-key-created")
    page.goto(f"{base}/settings/api-keys")
    assert key not in page.content()
    page.get_by_role("button", name="吊销").first.click()
    page.get_by_role("button", name="确定").click()
    page.wait_for_selector("[data-toast]")
    assert "已吊销" in page.locator("#keys-table").inner_text()
    page.goto(f"{base}/settings/products/new")
    page.locator("#f-code").fill("E2E-SKU")
    page.locator("#f-name").fill("针织衫")
    page.locator("#f-list_price").fill("399")
    page.get_by_role("button", name="创建商品").click()
    page.wait_for_selector("[data-toast]")
    # An import followed to its end on the page.
    sheet = tmp_path / "customers.csv"
    sheet.write_text("姓名,手机号\n导入甲,13900007777\n导入乙,13900008888\n", encoding="utf-8")
    page.goto(f"{base}/imports")
    page.locator("#kind").select_option("customers")
    page.locator("#file").set_input_files(str(sheet))
    page.get_by_role("button", name="上传并检查").click()
    page.wait_for_selector("#mapping-table")
    assert page.evaluate(CHECKS) == []
    shot(page, "import-mapping-owner-1366")
    page.get_by_role("button", name="导入 2 行").click()
    page.wait_for_selector(
        '[data-status="done"], [data-status="rejected"], [data-status="failed"]', timeout=60_000
    )
    assert page.locator("#status").get_attribute("data-status") == "done", page.locator(
        "#status"
    ).inner_text()
    assert page.locator('[data-figure="created"]').inner_text() == "2"
    shot(page, "import-done-owner-1366")
    page.close()
    # A store manager has none of these pages, and no link to them.
    manager = chromium.new_page(viewport={"width": 1366, "height": 768})
    sign_in(manager, base, world, "manager", "/orders")
    assert manager.locator('nav.side a[href="/settings/stores"]').count() == 0
    manager.goto(f"{base}/settings/stores")
    assert "你无权查看此页面" in manager.content()
    manager.close()
