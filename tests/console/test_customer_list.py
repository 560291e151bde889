"""The customer list: figures from the orders, sorting, filters (tier, tag, last purchase, store,
guide), the count, scope, and the masked, audited export; the audit log page; each role's menu."""

from __future__ import annotations

import datetime as dt
import io
import re

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select, update

from siyu.console import labels, navigation
from siyu.core.clock import utcnow
from siyu.customers.models import Customer
from siyu.db.session import unit_of_work
from siyu.platform.models import AuditEntry
from tests.console.support import as_role
from tests.factories import World

ROW = re.compile(
    r'<tr data-customer="(\d+)">\s*<td[^>]*><a href="/customers/\d+">(\d+)</a></td>\s*<td[^>]*><a[^>]*>([^<]+)<'
)


def _seed(client: TestClient, w: World) -> dict[str, int]:
    h = w.headers("integration")
    client.post(
        "/api/v1/products/batch",
        headers=h,
        json={"products": [{"code": "P", "name": "衬衫", "list_price_fen": 1000}]},
    ).raise_for_status()
    now = utcnow()
    people = {
        "甲": ("13700000001", 3, 5000, 10),
        "乙": ("13700000002", 1, 90000, 100),
        "丙": ("13700000003", 0, 0, 0),
    }
    records = [
        {"name": name, "phone": phone, "store_id": w.store_ids[0]} for name, (phone, *_) in people.items()
    ]
    answer = client.post("/api/v1/customers/batch", headers=h, json={"records": records}).json()
    ids = {name: r["customer_id"] for name, r in zip(people, answer["results"], strict=True)}
    orders = []
    for phone, count, price, days_ago in people.values():
        for i in range(count):
            paid = now - dt.timedelta(days=days_ago, hours=i)
            orders.append(
                {
                    "channel": "mini_program",
                    "external_id": f"{phone}-{i}",
                    "customer": {"phone": phone},
                    "status": "paid",
                    "placed_at": paid.isoformat(),
                    "paid_at": paid.isoformat(),
                    "lines": [{"sku_code": "P", "quantity": 1, "unit_price_fen": price}],
                    "payments": [{"method": "wechat_pay", "amount_fen": price}],
                }
            )
    answer = client.post("/api/v1/orders/batch", headers=h, json={"orders": orders})
    assert answer.status_code == 200, answer.text
    with unit_of_work(w.engine) as db:
        db.execute(update(Customer).where(Customer.id == ids["乙"]).values(member_tier="金卡"))
        db.execute(update(Customer).where(Customer.id == ids["甲"]).values(guide_id=w.staff["guide"]))
    return ids


def _names(page: str) -> list[str]:
    return [n for _, _, n in ROW.findall(page)]


def test_figures_sorting_and_filters(browser: TestClient, world: World) -> None:
    ids = _seed(browser, world)
    owner = as_role(browser, world, "owner")
    page = owner.get("/customers?sort=-spend").text
    assert _names(page) == ["乙", "甲", "丙"]  # never bought: last, whatever the direction
    assert _names(owner.get("/customers?sort=spend").text) == ["甲", "乙", "丙"]
    assert _names(owner.get("/customers?sort=-orders").text) == ["甲", "乙", "丙"]
    row = page[page.index(f'data-customer="{ids["乙"]}"') :]
    assert re.search(r'data-figure="spend"[^>]*>¥900.00<', row) and re.search(
        r'data-figure="orders"[^>]*>1<', row
    )
    assert "金卡" in row
    # Definitions on the figures' headers, from the glossary.
    assert "客户全部已支付订单的金额减去已退款金额" in page
    assert _names(owner.get("/customers?tier=金卡").text) == ["乙"]
    assert _names(owner.get("/customers?last=30").text) == ["甲"]
    assert _names(owner.get("/customers?last=-90").text) == ["乙"]
    assert _names(owner.get("/customers?last=never").text) == ["丙"]
    assert _names(owner.get(f"/customers?guide={world.staff['guide']}").text) == ["甲"]
    assert 'data-total="3"' in owner.get("/customers").text
    # Tags: assign one by the API, filter by it, see it on the row.
    group = owner.post(
        "/api/v1/tag-groups",
        headers=world.headers("owner"),
        json={"name_zh": "偏好", "name_en": "Likes", "kind": "manual"},
    ).json()
    tag = owner.post(
        f"/api/v1/tag-groups/{group['id']}/tags",
        headers=world.headers("owner"),
        json={"name_zh": "爱衬衫", "name_en": "Shirts"},
    ).json()
    owner.post(
        "/api/v1/tag-assignments/batch",
        headers=world.headers("owner"),
        json={"items": [{"customer_id": ids["丙"], "tag_id": tag["id"]}]},
    ).raise_for_status()
    tagged = owner.get(f"/customers?tag={tag['id']}").text
    assert _names(tagged) == ["丙"] and '<span class="badge">爱衬衫</span>' in tagged
    # A guide's list is their own customers; the store and guide filters are not offered.
    guide = as_role(browser, world, "guide").get("/customers").text
    assert _names(guide) == ["甲"] and 'id="guide"' not in guide


def test_export_masks_and_audits(browser: TestClient, world: World) -> None:
    _seed(browser, world)
    owner = as_role(browser, world, "owner")
    answer = owner.get("/customers.xlsx?sort=-spend")
    assert answer.status_code == 200
    rows = list(load_workbook(io.BytesIO(answer.content)).active.iter_rows(values_only=True))
    assert rows[0][:3] == ("客户编号", "姓名", "手机号")
    assert [r[1] for r in rows[1:]] == ["乙", "甲", "丙"]
    assert rows[1][2] == "137****0002" and rows[1][8] == 900 and rows[1][4] == "金卡"
    assert not any("13700000002" in str(c) for r in rows for c in r)
    with unit_of_work(world.engine) as db:
        entry = db.scalars(
            select(AuditEntry).where(
                AuditEntry.tenant_id == world.tenant_id, AuditEntry.action == "customer.export"
            )
        ).one()
        assert entry.data["rows"] == 3 and entry.data["via"] == "console"
    assert as_role(browser, world, "guide").get("/customers.xlsx").status_code == 403


def test_audit_log_page(browser: TestClient, world: World) -> None:
    _seed(browser, world)
    owner = as_role(browser, world, "owner")
    owner.get("/customers.xlsx").raise_for_status()
    page = owner.get("/settings/audit").text
    assert re.search(r'data-action="customer.export">导出客户<', page) and "OWNER" in page
    assert 'data-action="customer.export"' in owner.get("/settings/audit?action=customer.export").text
    assert "data-entry" not in owner.get("/settings/audit?action=store.create").text
    export = owner.get("/settings/audit.xlsx")
    rows = list(load_workbook(io.BytesIO(export.content)).active.iter_rows(values_only=True))
    assert rows[0][0] == "时间" and any(r[3] == "导出客户" for r in rows[1:])
    assert "导出操作日志" in owner.get("/settings/audit").text  # the export is itself an entry
    for role in ("hq_operator", "analyst", "store_manager", "guide"):
        assert as_role(browser, world, role).get("/settings/audit").status_code == 403, role


def test_every_audited_action_has_a_label() -> None:
    """No audit entry reads as a code: every action the code writes is labelled in both languages."""
    from pathlib import Path

    src = Path(__file__).resolve().parents[2] / "src" / "siyu"
    written = set()
    for path in src.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        if "audit" not in text:
            continue
        written |= set(re.findall(r'action="([a-z_]+\.[a-z_.]+)"', text))
        written |= set(re.findall(r'"action": "([a-z_]+\.[a-z_.]+)"', text))
    assert written and written <= set(labels.AUDIT_ACTIONS), written - set(labels.AUDIT_ACTIONS)


def test_each_roles_menu_opens(browser: TestClient, world: World) -> None:
    """Every page in a role's menu opens for that role (no 403 behind a link), and pages a role may
    not open are not in its menu."""
    for role, hidden in (
        ("owner", set()),
        ("hq_operator", {"/settings/audit", "/settings/wecom"}),
        ("analyst", {"/wecom/codes", "/wecom/departures", "/settings/jobs", "/settings/audit"}),
        ("store_manager", {"/hq", "/audiences", "/settings/audit", "/settings/jobs"}),
        ("guide", {"/hq", "/audiences", "/wecom/codes", "/settings/audit"}),
    ):
        page = as_role(browser, world, role)
        home = page.get("/", follow_redirects=True).text
        menu = re.search(r'<nav class="side"[^>]*>(.*?)</nav>', home, flags=re.S)
        assert menu is not None, role
        links = re.findall(r'<a href="([^"]+)"', menu.group(1))
        assert links and not (set(links) & hidden), (role, set(links) & hidden)
        for link in links:
            assert page.get(link, follow_redirects=True).status_code == 200, (role, link)
        principal_items = {i.path for _, items in navigation.SECTIONS for i in items}
        assert set(links) <= principal_items


def test_every_figure_on_the_reports_carries_its_definition(browser: TestClient, world: World) -> None:
    """Each tile and each figure row of the HQ home and the store daily report has the "?" with its
    definition from the glossary; the guide's own figures too."""
    owner = as_role(browser, world, "owner")
    for url in ("/hq", "/stores/S1/daily"):
        page = owner.get(url).text
        labels = re.findall(r'<div class="label">(.*?)</div>', page, flags=re.S)
        assert labels and all('class="def"' in label for label in labels), url
        rows = re.findall(r'<th scope="row">(.*?)</th>', page, flags=re.S)
        assert all('class="def"' in row for row in rows), url
    daily = owner.get("/stores/S1/daily").text
    assert "当天首次在品牌任何渠道支付的购买客户" in daily  # 新客, defined
    assert "离店支付金额 ÷ 全部支付金额" in daily
    guide = as_role(browser, world, "guide").get("/me").text
    assert guide.count('class="def"') >= 2
