"""No code reaches a person: the Chinese console shows labels for identity types, sources,
timeline kinds, channels, platforms, channel codes and rules (amounts in ¥), never the codes."""

from __future__ import annotations

import datetime as dt
import html
import re

from fastapi.testclient import TestClient

from siyu.console.labels import IDENTITY_TYPES, SOURCES, TIMELINE_KINDS
from siyu.orders.models import FIXED_CHANNELS
from siyu.tags.models import SOURCE_TYPES
from tests.console.support import as_role, seed_wecom
from tests.factories import World

KNOWN_CODES = (
    set(IDENTITY_TYPES)
    | set(SOURCES)
    | set(TIMELINE_KINDS)
    | set(FIXED_CHANNELS)
    | set(SOURCE_TYPES)
    | {"tmall", "jd", "douyin", "platform:tmall", "gmv_fen", "last_days", "poster", "round_robin"}
) - {"phone"}  # 'phone' is also an identity's masked value column header in English only


def visible_text(page: str) -> str:
    """What a person can read: text outside tags and scripts, plus hover titles and labels."""
    page = re.sub(r"<script.*?</script>", " ", page, flags=re.S)
    shown = re.findall(r'(?:title|aria-label|placeholder)="([^"]*)"', page)
    text = re.sub(r"<[^>]+>", " ", page)
    return html.unescape(text + " " + " ".join(shown))


def shown_codes(page: str) -> set[str]:
    text = visible_text(page)
    return {code for code in KNOWN_CODES if re.search(rf"(?<![\w:-]){re.escape(code)}(?![\w-])", text)}


def test_chinese_pages_show_labels_not_codes(browser: TestClient, world: World) -> None:
    h = world.headers("integration")
    records = [
        {
            "name": "标签顾客",
            "phone": "13800001234",
            "identities": [
                {"type": "wechat_unionid", "value": "oUnion-0123456789abcdef"},
                {"type": "platform_buyer_id", "value": "tb-9", "namespace": "tmall"},
                {"type": "pos_customer_id", "value": "P-1"},
            ],
        }
    ]
    answer = browser.post("/api/v1/customers/batch", headers=h, json={"records": records, "source": "pos"})
    assert answer.status_code == 200, answer.text
    customer_id = answer.json()["results"][0]["customer_id"]
    seed_wecom(world)  # after the batch: it numbers its customer by hand
    browser.post(
        "/api/v1/products/batch",
        headers=h,
        json={"products": [{"code": "P-1", "name": "帽子", "list_price_fen": 5000}]},
    ).raise_for_status()
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).replace(microsecond=0).isoformat()
    browser.post(
        "/api/v1/orders/batch",
        headers=h,
        json={
            "orders": [
                {
                    "channel": "platform:tmall",
                    "external_id": "TM-1",
                    "customer": {"phone": "13800001234"},
                    "status": "paid",
                    "placed_at": at,
                    "paid_at": at,
                    "lines": [{"sku_code": "P-1", "quantity": 1, "unit_price_fen": 5000}],
                    "payments": [{"method": "alipay", "amount_fen": 5000}],
                }
            ]
        },
    ).raise_for_status()
    group = browser.post(
        "/api/v1/tag-groups",
        headers=world.headers("owner"),
        json={"name_zh": "价值", "name_en": "Value", "kind": "rule"},
    ).json()
    rule = {"type": "orders", "window": {"last_days": 365}, "measure": "gmv_fen", "op": ">=", "value": 200000}
    browser.post(
        f"/api/v1/tag-groups/{group['id']}/tags",
        headers=world.headers("owner"),
        json={"name_zh": "高价值", "name_en": "High value", "rule": rule},
    ).raise_for_status()
    as_role(browser, world, "owner")
    yesterday = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8) - dt.timedelta(days=1)).date().isoformat()
    pages = {
        "360": browser.get(f"/customers/{customer_id}").text,
        "orders": browser.get("/orders").text,
        "tags": browser.get("/tags").text,
        "friends": browser.get(f"/wecom/friends?guide={world.staff['guide']}").text,
        "codes": browser.get("/wecom/codes").text,
        "hq": browser.get("/hq").text,
        "store": browser.get(f"/stores/S1/daily?date={yesterday}").text,
        "customers": browser.get("/customers").text,
    }
    for name, page in pages.items():
        assert shown_codes(page) == set(), name
    profile = visible_text(pages["360"])
    assert (
        "微信 UnionID" in profile
        and "平台买家账号" in profile
        and "天猫" in profile
        and "门店收银" in profile
    )
    assert "建档" in profile and "平台·天猫" in profile
    tags = visible_text(pages["tags"])
    assert "近 365 天消费净额 ≥ ¥2,000.00" in tags and "200000" not in tags
    assert "门口海报" in visible_text(pages["friends"])
    nav = re.search(r"<nav class=\"side\" aria-label=\"主导航\">(.*?)</nav>", pages["hq"], flags=re.S)
    assert nav is not None and ">订单<" in nav.group(1) and "订单数" not in nav.group(1)
    assert "<title>订单" in browser.get("/orders").text
