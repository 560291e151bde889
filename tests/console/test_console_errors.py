"""Console searches and errors as a person meets them: four digits are a phone ending, a stale
paging link starts again, and every error is a page in the person's language (the API keeps JSON)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from siyu.app import create_app
from siyu.customers.models import Customer
from siyu.db.session import unit_of_work
from tests.console.support import as_role, same_site_browser
from tests.factories import World


def _customers(client: TestClient, w: World) -> dict[str, int]:
    records = [
        {"name": "尾号客户", "phone": "13800006344", "store_id": w.store_ids[0]},
        {"name": "编号客户", "phone": "13900001111", "store_id": w.store_ids[0]},
    ]
    answer = client.post(
        "/api/v1/customers/batch", headers=w.headers("integration"), json={"records": records}
    )
    ids = [r["customer_id"] for r in answer.json()["results"]]
    with unit_of_work(w.engine) as db:
        db.execute(update(Customer).where(Customer.id == ids[1]).values(number=6344))
    return {"ending": ids[0], "numbered": ids[1]}


def test_four_digits_search_the_phone_ending(browser: TestClient, world: World) -> None:
    _customers(browser, world)
    as_role(browser, world, "owner")
    four = browser.get("/customers?q=6344").text
    assert "尾号客户" in four and "编号客户" not in four and "手机尾号为 6344 的客户" in four
    number = browser.get("/customers?q=%236344").text
    assert "编号客户" in number and "尾号客户" not in number
    full = browser.get("/customers?q=13800006344").text
    assert "尾号客户" in full and "编号客户" not in full


def test_a_bad_page_or_sort_shows_the_first_page(browser: TestClient, world: World) -> None:
    _customers(browser, world)
    as_role(browser, world, "owner")
    page = browser.get("/customers?page=garbage!!&sort=nonsense").text
    assert "尾号客户" in page and "没有符合条件的客户" not in page
    # Numbered pages: a page that is not a number is the first, one past the end the last.
    rows = re.compile(r'<tr data-order="(\d+)">')
    first = rows.findall(browser.get("/orders").text)
    assert browser.get("/orders?page=garbage!!").status_code == 200
    assert rows.findall(browser.get("/orders?page=garbage!!").text) == first
    last = browser.get("/orders?page=999999")
    assert last.status_code == 200 and 'rel="next"' not in last.text


def test_digits_that_are_not_ascii_are_not_numbers(browser: TestClient, world: World) -> None:
    """`²` and `١` pass `str.isdigit` but are no number a person typed: every page that reads a
    number from the address treats them as absent (or as text to search), never as a crash."""
    _customers(browser, world)
    as_role(browser, world, "owner")
    for path in (
        "/customers?page=²",
        "/customers?page_size=²",
        "/orders?page=١",
        "/orders?q=%23²",
        "/customers?q=%23²",
        "/customers?q=²²²²",
        "/customers?store=²",
        "/settings/staff?store=²",
        "/audiences?edit=²",
        "/wecom/departures/preview?from=²&kind=resigned",
    ):
        answer = browser.get(path)
        assert answer.status_code in (200, 303, 404, 422), (path, answer.status_code)
    assert "尾号客户" in browser.get("/customers?page=²").text


def test_console_errors_are_pages_in_the_persons_language(browser: TestClient, world: World) -> None:
    as_role(browser, world, "owner")
    for path in ("/customers/abc", "/no-such-page", "/customers/1/tags/xyz/remove"):
        r = browser.post(path) if path.endswith("remove") else browser.get(path)
        assert r.status_code == 404, path
        assert r.headers["content-type"].startswith("text/html") and "页面不存在" in r.text, path
        assert "Route not found" not in r.text and "detail" not in r.text
    missing = browser.post("/settings/wecom", data={"corp_id": "ww1"})
    assert missing.status_code == 422 and "以下字段缺失或无效" in missing.text and "aes_key" in missing.text
    wrong_method = browser.get("/signout")
    assert wrong_method.status_code == 405 and "此地址不接受这种请求" in wrong_method.text
    browser.cookies.set("siyu_lang", "en")
    english = browser.get("/customers/abc")
    assert english.status_code == 404 and "Not found" in english.text and 'lang="en"' in english.text
    # The API keeps its JSON errors.
    api = browser.get("/api/v1/customers/abc", headers=world.headers("owner"))
    assert api.status_code == 422 and api.json()["error"]["code"] == "validation_error"
    assert browser.get("/api/v1/nope").json()["error"]["code"] == "not_found"


def test_a_console_form_holding_a_control_character_is_refused_with_a_page(
    browser: TestClient, world: World
) -> None:
    """The guard refuses a console form holding a control character with a page in the person's
    language; the API keeps JSON."""
    as_role(browser, world, "owner")
    refused = browser.post("/tags/groups", data={"name_zh": "坏\x01名", "kind": "manual"})
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("text/html")
    assert "控制字符 U+0001" in refused.text
    # Multipart: a field holding one is refused; a file's bytes are the file's (an image holds some).
    field = browser.post(
        "/tags/groups",
        data={"name_zh": "坏\x01名", "kind": "manual"},
        files={"f": ("a.png", b"\x89PNG\x1a", "image/png")},
    )
    assert field.status_code == 422 and "控制字符 U+0001" in field.text
    binary = browser.post(
        "/tags/groups",
        data={"name_zh": "好名字", "kind": "manual"},
        files={"f": ("a.png", b"\x89PNG\r\n\x1a\n\x00", "image/png")},
    )
    assert binary.status_code != 422 or "控制字符" not in binary.text
    api = browser.post(
        "/api/v1/tag-groups", json={"name_zh": "坏\x01名", "kind": "manual"}, headers=world.headers("owner")
    )
    assert api.status_code == 422 and api.json()["error"]["code"] == "validation_error"


def test_an_unexpected_failure_on_a_console_address_is_a_page(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A defect on a console page answers the error page (logged, no trace shown), not JSON."""
    import siyu.orders.service as order_service

    def broken(*_: object, **__: object) -> None:
        raise RuntimeError("a defect with a secret inside")

    monkeypatch.setattr(order_service, "list_orders", broken)
    monkeypatch.setattr(order_service, "search_orders", broken)
    app = create_app(engine=world.engine)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as client:
        browser = same_site_browser(client)
        as_role(browser, world, "owner")
        page = browser.get("/orders")
        api = browser.get("/api/v1/orders", headers=world.headers("owner"))
    assert page.status_code == 500 and page.headers["content-type"].startswith("text/html")
    assert "服务器出错了，已记录" in page.text and "secret" not in page.text
    assert api.status_code == 500 and api.json()["error"]["code"] == "internal_error"


def test_a_phone_ending_search_on_the_list_counts_once(browser: TestClient, world: World) -> None:
    """The list counts and pages one statement: a phone-ending search spends one of the person's
    searches a minute, not two (the 30th search still answers, the 31st is refused)."""
    from siyu.customers.service import PHONE_TAIL_SEARCHES_PER_MINUTE

    _customers(browser, world)
    as_role(browser, world, "store_manager")  # sees masked phones: searches by their ending
    for n in range(PHONE_TAIL_SEARCHES_PER_MINUTE):
        page = browser.get(f"/customers?q=6344&page={n % 3 + 1}").text
        assert "尾号客户" in page or 'rel="prev"' in page, n
    refused = browser.get("/customers?q=6344").text
    assert "尝试次数过多" in refused and ">尾号客户<" not in refused
