"""Orders over HTTP: attribution rules, dedupe with history, refunds, bad input (nothing written)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from siyu.db.session import unit_of_work
from siyu.orders.models import Order, OrderLine, Refund
from siyu.org.models import Store
from tests.factories import World

T = "2026-06-18T12:00:00+08:00"


def setup_products(client: TestClient, w: World) -> None:
    client.post(
        "/api/v1/products/batch",
        headers=w.headers("integration"),
        json={
            "products": [
                {
                    "code": "A",
                    "name": "外套",
                    "list_price_fen": 10000,
                    "floor_prices_fen": {"mini_program": 8000},
                },
                {"code": "B", "name": "衬衫", "list_price_fen": 5990},
            ]
        },
    ).raise_for_status()


def o(ext: str, channel: str = "mini_program", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "channel": channel,
        "external_id": ext,
        "status": "paid",
        "placed_at": T,
        "paid_at": T,
        "lines": [{"sku_code": "A", "quantity": 2, "unit_price_fen": 10000}],
        "payments": [{"method": "wechat_pay", "amount_fen": 20000}],
    }
    body.update(extra)
    return body


def count_orders(w: World) -> int:
    with unit_of_work(w.engine) as db:
        return db.scalar(select(func.count()).select_from(Order).where(Order.tenant_id == w.tenant_id)) or 0


def post(client: TestClient, w: World, orders: list[dict[str, Any]], lang: str = "zh-CN") -> Any:
    return client.post(
        "/api/v1/orders/batch",
        headers={**w.headers("integration"), "Accept-Language": lang},
        json={"orders": orders},
    )


def test_attribution_rules_and_binding_protection(client: TestClient, world: World) -> None:
    w = world
    setup_products(client, w)
    buyer = {"identities": [{"type": "wechat_unionid", "value": "oUNION-attribution-01"}]}
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    r = post(
        client,
        w,
        [
            {**x, "placed_at": now, "paid_at": now}
            for x in [
                o("p1", "pos", store_code="S1", staff_employee_no="GUIDE", customer={"phone": "13900000001"}),
                o("m0", customer=buyer),  # no binding yet: unattributed
                o("g1", "guide_share", staff_employee_no="GUIDE", customer=buyer),  # binds the buyer to GUIDE
                o("m1", customer=buyer),  # now the exclusive guide
                o(
                    "g2", "guide_share", staff_employee_no="GUIDE2", customer=buyer
                ),  # GUIDE2's own link, no takeover
                o("m2", customer=buyer),  # still GUIDE: protection window
                o("s1", in_store=True, store_code="S2", customer=buyer),  # scan-to-buy in S2
            ]
        ],
    )
    assert r.status_code == 200, r.text
    res = {x["row"]: x for x in r.json()["results"]}
    s1, s2 = w.store_ids
    assert (res[1]["attribution_reason"], res[1]["store_id"], res[1]["guide_id"]) == (
        "pos_till",
        s1,
        w.staff["guide"],
    )
    assert (res[2]["attribution_reason"], res[2]["store_id"], res[2]["guide_id"]) == (
        "unattributed",
        None,
        None,
    )
    assert (res[3]["attribution_reason"], res[3]["guide_id"], res[3]["store_id"]) == (
        "guide_share_link",
        w.staff["guide"],
        s1,
    )
    assert (res[4]["attribution_reason"], res[4]["guide_id"]) == ("exclusive_guide", w.staff["guide"])
    assert (res[5]["attribution_reason"], res[5]["guide_id"], res[5]["store_id"]) == (
        "guide_share_link",
        w.staff["guide2"],
        s2,
    )
    assert (res[6]["attribution_reason"], res[6]["guide_id"]) == ("exclusive_guide", w.staff["guide"])
    assert (res[7]["attribution_reason"], res[7]["store_id"]) == ("in_store_scan", s2)
    order = client.get(f"/api/v1/orders/{res[4]['order_id']}", headers=w.headers("owner")).json()
    assert order["placement"] == "off_store" and "专属导购" in order["attribution_explained"]
    customer_id = order["customer_id"]
    binding = client.get(
        f"/api/v1/customers/{customer_id}/exclusive-guide", headers=w.headers("owner")
    ).json()
    assert binding["guide_id"] == w.staff["guide"] and binding["source"] == "guide_share_order"
    # Manual takeover by another guide inside the window: 409, nothing changed.
    r = client.post(
        f"/api/v1/customers/{customer_id}/exclusive-guide",
        headers=w.headers("owner"),
        json={"guide_id": w.staff["guide2"]},
    )
    assert r.status_code == 409 and r.json()["error"]["code"] == "binding_protected"
    after = client.get(f"/api/v1/customers/{customer_id}/exclusive-guide", headers=w.headers("owner")).json()
    assert after == binding
    # Scope: guide2 sees only their own attributed order; the store manager only S1's.
    mine = client.get("/api/v1/orders", headers=w.headers("guide2")).json()["items"]
    assert [x["external_id"] for x in mine] == ["g2"]
    managed = client.get("/api/v1/orders", headers=w.headers("store_manager")).json()["items"]
    assert {x["store_id"] for x in managed} == {s1}


def set_hours(w: World, opens: str, closes: str, holidays: list[dict[str, Any]] | None = None) -> None:
    """The same hours every day for store S1 (and optional holidays)."""
    with unit_of_work(w.engine) as db:
        db.execute(
            update(Store)
            .where(Store.id == w.store_ids[0])
            .values(
                business_hours=[{"weekday": d, "opens": opens, "closes": closes} for d in range(7)],
                holidays=holidays or [],
            )
        )


def test_hours_boundaries_overnight(client: TestClient, world: World) -> None:
    w = world
    setup_products(client, w)
    set_hours(w, "10:00", "02:00")
    times = {"t0959": "09:59", "t1000": "10:00", "t0159": "01:59", "t0200": "02:00"}
    orders = [
        o(
            ext,
            staff_employee_no="GUIDE",
            channel="guide_share",
            placed_at=f"2026-06-18T{hm}:00+08:00",
            paid_at=f"2026-06-18T{hm}:30+08:00",
        )
        for ext, hm in times.items()
    ]
    r = post(client, w, orders)
    assert r.status_code == 200, r.text
    during = {}
    for x in r.json()["results"]:
        during[x["row"]] = client.get(f"/api/v1/orders/{x['order_id']}", headers=w.headers("owner")).json()[
            "during_hours"
        ]
    assert during == {1: False, 2: True, 3: True, 4: False}


def test_same_external_id_updates_with_history_never_a_second_order(client: TestClient, world: World) -> None:
    w = world
    setup_products(client, w)
    assert post(client, w, [o("x1")]).json()["results"][0]["outcome"] == "created"
    assert post(client, w, [o("x1")]).json()["results"][0]["outcome"] == "unchanged"
    changed = o(
        "x1",
        lines=[{"sku_code": "A", "quantity": 3, "unit_price_fen": 10000}],
        payments=[{"method": "wechat_pay", "amount_fen": 30000}],
    )
    res = post(client, w, [changed]).json()["results"][0]
    assert (res["outcome"], res["revision"]) == ("updated", 2)
    assert count_orders(w) == 1
    order = client.get(f"/api/v1/orders/{res['order_id']}", headers=w.headers("owner")).json()
    assert (order["total_fen"], order["lines"][0]["quantity"]) == (30000, 3)
    history = client.get(f"/api/v1/orders/{res['order_id']}/revisions", headers=w.headers("owner")).json()
    assert len(history) == 1 and history[0]["snapshot"]["total_fen"] == 20000
    assert set(history[0]["changed_fields"]) >= {"goods_fen", "total_fen", "lines", "payments"}
    # An older status arriving late changes nothing.
    stale = o("x1", status="created", paid_at=None, payments=[])
    assert post(client, w, [stale]).json()["results"][0]["outcome"] == "stale"
    # Cancelling an order that was paid is refused: money goes back through refunds.
    cancel = o("x1", status="cancelled", paid_at=None, payments=[])
    r = post(client, w, [cancel])
    assert r.status_code == 422 and r.json()["error"]["details"]["errors"][0]["code"] == "status_mismatch"
    assert (
        client.get(f"/api/v1/orders/{res['order_id']}", headers=w.headers("owner")).json()["status"] == "paid"
    )


def test_refunds_partial_full_replay_and_never_above_paid(client: TestClient, world: World) -> None:
    w = world
    setup_products(client, w)
    oid = post(
        client,
        w,
        [o("r1", order_discount_fen=1000, payments=[{"method": "wechat_pay", "amount_fen": 19000}])],
    ).json()["results"][0]["order_id"]
    h = w.headers("integration")
    one = {
        "channel": "mini_program",
        "order_external_id": "r1",
        "external_id": "RF1",
        "refunded_at": T,
        "lines": [{"line_no": 1, "quantity": 1}],
    }
    r = client.post("/api/v1/refunds", headers=h, json={"refunds": [one]})
    assert r.status_code == 200 and r.json()["results"][0]["amount_fen"] == 9500  # half of 19000
    assert (
        client.post("/api/v1/refunds", headers=h, json={"refunds": [one]}).json()["results"][0]["replayed"]
        is True
    )
    too_much = {**one, "external_id": "RF2", "lines": [{"line_no": 1, "quantity": 1, "amount_fen": 9501}]}
    r = client.post("/api/v1/refunds", headers={**h, "Accept-Language": "en"}, json={"refunds": [too_much]})
    assert r.status_code == 422 and r.json()["error"]["details"]["errors"][0]["code"] == "refund_exceeds_paid"
    rest = {**one, "external_id": "RF3"}
    assert (
        client.post("/api/v1/refunds", headers=h, json={"refunds": [rest]}).json()["results"][0]["amount_fen"]
        == 9500
    )
    with unit_of_work(w.engine) as db:
        order = db.get(Order, oid)
        assert order is not None and (order.refunded_fen, order.paid_fen) == (19000, 19000)
        line = db.scalar(select(OrderLine).where(OrderLine.order_id == oid))
        assert line is not None and (line.refunded_quantity, line.refunded_fen) == (2, 19000)
        assert db.scalar(select(func.count()).select_from(Refund).where(Refund.order_id == oid)) == 2
    again = {**one, "external_id": "RF4"}
    r = client.post("/api/v1/refunds", headers=h, json={"refunds": [again]})
    assert r.status_code == 422


def test_bad_input_is_refused_precisely_and_writes_nothing(client: TestClient, world: World) -> None:
    w = world
    setup_products(client, w)
    before = count_orders(w)
    r = post(
        client, w, [o("b1", lines=[{"sku_code": "NOPE-9", "quantity": 1, "unit_price_fen": 100}]), o("b2")]
    )
    assert r.status_code == 422
    errors = r.json()["error"]["details"]["errors"]
    assert errors[0]["code"] == "unknown_sku" and "NOPE-9" in errors[0]["message"]
    r = post(client, w, [o("b3", lines=[{"sku_code": "A", "quantity": -1, "unit_price_fen": 100}])])
    assert r.status_code == 422 and "quantity" in r.text
    r = post(client, w, [o("b4", currency="USD")], lang="en")
    assert r.status_code == 422 and r.json()["error"]["details"]["errors"][0]["code"] == "currency_mismatch"
    r = post(client, w, [o("b5", "pos", store_code="NOWHERE")])
    assert r.json()["error"]["details"]["errors"][0]["code"] == "unknown_store"
    r = post(client, w, [o("b6", placed_at="2026-06-18T12:00:00", paid_at="2026-06-18T12:00:00")])
    # A time without its zone is a row problem like the others: row 1, the field named.
    assert r.status_code == 422 and r.json()["error"]["code"] == "batch_rejected"
    assert sorted((e["row"], e["column"]) for e in r.json()["error"]["details"]["errors"]) == [
        (1, "paid_at"),
        (1, "placed_at"),
    ]
    r = post(client, w, [o("b7", payments=[{"method": "cash", "amount_fen": 1}])])
    assert r.json()["error"]["details"]["errors"][0]["code"] == "payments_mismatch"
    r = post(client, w, [o("b8", status="cancelled")])
    assert r.json()["error"]["details"]["errors"][0]["code"] == "status_mismatch"
    naive = client.get(
        "/api/v1/orders", params={"paid_from": "2026-06-18T00:00:00"}, headers=w.headers("owner")
    )
    assert naive.status_code == 422 and naive.json()["error"]["code"] == "validation_error"
    r = post(client, w, [o("b9"), o("b9")])
    assert r.json()["error"]["details"]["errors"][0]["code"] == "duplicate_in_batch"
    assert count_orders(w) == before


def test_store_daily_api_xlsx_scope_and_invalid_date(client: TestClient, world: World) -> None:
    w = world
    setup_products(client, w)
    post(client, w, [o("d1", "pos", store_code="S1")]).raise_for_status()
    r = client.get(
        "/api/v1/reports/store-daily",
        params={"store_code": "S1", "date": "2026-06-18"},
        headers=w.headers("store_manager"),
    )
    assert r.status_code == 200 and r.json()["figures"]["gmv_fen"]["value"] == 20000
    r = client.get(
        "/api/v1/reports/store-daily",
        params={"store_code": "S2", "date": "2026-06-18"},
        headers=w.headers("store_manager"),
    )
    assert r.status_code == 404  # not the manager's store
    r = client.get(
        "/api/v1/reports/store-daily",
        params={"store_code": "S1", "date": "2026-02-30"},
        headers=w.headers("owner"),
    )
    assert r.status_code == 422
    r = client.get(
        "/api/v1/reports/store-daily.xlsx",
        params={"store_code": "S1", "date": "2026-06-18"},
        headers=w.headers("owner"),
    )
    assert r.status_code == 200 and r.content[:2] == b"PK"
    from io import BytesIO

    from openpyxl import load_workbook

    sheet = load_workbook(BytesIO(r.content)).worksheets[0]
    assert sheet.cell(row=5, column=2).value == 200  # GMV in yuan, formatted as ¥
    assert sheet.cell(row=5, column=2).number_format.startswith('"¥"')
    roll = client.get(
        "/api/v1/reports/rollup", params={"date": "2026-06-18"}, headers=w.headers("owner")
    ).json()
    assert roll["total"]["figures"]["gmv_fen"]["value"] == 20000


def test_manager_binds_only_own_store_guides_and_departed_guides_do_not_bind(
    client: TestClient, world: World
) -> None:
    w = world
    setup_products(client, w)
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    buyer = {"phone": "13900000077"}
    r = post(
        client, w, [{**o("k1", "pos", store_code="S1", customer=buyer), "placed_at": now, "paid_at": now}]
    )
    customer_id = client.get(
        f"/api/v1/orders/{r.json()['results'][0]['order_id']}", headers=w.headers("owner")
    ).json()["customer_id"]
    manager = w.headers("store_manager")
    other = client.post(
        f"/api/v1/customers/{customer_id}/exclusive-guide",
        headers=manager,
        json={"guide_id": w.staff["guide2"]},
    )
    assert other.status_code == 404  # guide2 works in S2, not the manager's store
    own = client.post(
        f"/api/v1/customers/{customer_id}/exclusive-guide",
        headers=manager,
        json={"guide_id": w.staff["guide"]},
    )
    assert own.status_code == 200 and own.json()["guide_id"] == w.staff["guide"]
    # guide2 leaves; a later purchase through their old link is theirs, but binds nobody.
    client.delete(f"/api/v1/staff/{w.staff['guide2']}", headers=w.headers("owner")).raise_for_status()
    fresh = {"phone": "13900000078"}
    r = post(
        client,
        w,
        [
            {
                **o("k2", "guide_share", staff_employee_no="GUIDE2", customer=fresh),
                "placed_at": now,
                "paid_at": now,
            }
        ],
    )
    assert r.json()["results"][0]["guide_id"] == w.staff["guide2"]
    oid = r.json()["results"][0]["order_id"]
    cid = client.get(f"/api/v1/orders/{oid}", headers=w.headers("owner")).json()["customer_id"]
    assert client.get(f"/api/v1/customers/{cid}/exclusive-guide", headers=w.headers("owner")).json() is None


def upload(client: TestClient, w: World, kind: str, name: str, content: bytes) -> Any:
    return client.post(f"/api/v1/imports/{kind}", files={"file": (name, content)}, headers=w.headers("owner"))


def test_product_and_order_imports_group_lines_and_report_sheet_rows(
    client: TestClient, world: World
) -> None:
    w = world
    products = "code,name,category,list_price,cost\nIMP-A,外套,服装/外套,199.00,80\nIMP-B,袜子,配饰/袜子,¥19.90,5.5\n"
    r = upload(client, w, "products", "p.csv", products.encode("utf-8-sig"))
    assert r.status_code == 200 and r.json()["created"] == 2
    item = client.get("/api/v1/products", params={"q": "IMP-B"}, headers=w.headers("owner")).json()["items"][
        0
    ]
    assert (item["list_price_fen"], item["cost_fen"], item["category_path"]) == (1990, 550, ["配饰", "袜子"])
    sheet = (
        "channel,external_id,status,placed_at,paid_at,store_code,customer_phone,sku_code,quantity,unit_price,"
        "line_discount,order_discount,payment_method\n"
        "pos,IMP-1,paid,2026-06-18T10:00:00+08:00,2026-06-18T10:01:00+08:00,S1,13900000101,IMP-A,1,199.00,,10,cash\n"
        "pos,IMP-1,paid,2026-06-18T10:00:00+08:00,2026-06-18T10:01:00+08:00,S1,13900000101,IMP-B,2,19.90,1.80,,cash\n"
        "mini_program,IMP-2,created,2026-06-18T11:00:00+08:00,,,13900000102,IMP-B,1,19.90,,,\n"
    )
    r = upload(client, w, "orders", "o.csv", sheet.encode())
    assert r.status_code == 200, r.text
    assert (r.json()["rows"], r.json()["created"]) == (3, 2)
    orders = client.get("/api/v1/orders", params={"channel": "pos"}, headers=w.headers("owner")).json()[
        "items"
    ]
    imported = next(x for x in orders if x["external_id"] == "IMP-1")
    # 199.00 + 2 × 19.90 − 1.80 − 10 order discount = 227.00
    assert (imported["total_fen"], imported["paid_fen"], imported["discount_fen"]) == (22700, 22700, 1180)
    bad = (
        sheet.replace("IMP-1,paid", "IMP-3,paid")
        .replace("IMP-2", "IMP-4")
        .replace(",1,199.00,", ",1,19.999,")
    )
    bad = bad.replace("IMP-B,1,19.90", "NOPE-SKU,1,19.90")
    r = upload(client, w, "orders", "bad.csv", bad.encode())
    assert r.status_code == 422
    errors = r.json()["error"]["details"]["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(2, "unit_price")]  # amounts are checked first
    before = client.get("/api/v1/orders", headers=w.headers("owner")).json()["items"]
    fixed = bad.replace("19.999", "19.99")
    r = upload(client, w, "orders", "bad.csv", fixed.encode())
    assert r.status_code == 422
    errors = r.json()["error"]["details"]["errors"]
    assert [(e["row"], e["code"]) for e in errors] == [(4, "unknown_sku")]  # the sheet's row of that order
    assert client.get("/api/v1/orders", headers=w.headers("owner")).json()["items"] == before


def test_protection_window_is_a_brand_setting(client: TestClient, world: World) -> None:
    w = world
    setup_products(client, w)
    r = client.patch("/api/v1/tenant", headers=w.headers("owner"), json={"binding_protection_days": 0})
    assert r.status_code == 200 and r.json()["binding_protection_days"] == 0
    assert (
        client.patch("/api/v1/tenant", headers=w.headers("hq_operator"), json={"name": "x"}).status_code
        == 403
    )
    r = client.patch("/api/v1/tenant", headers=w.headers("owner"), json={"binding_protection_days": -1})
    assert r.status_code == 422
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    buyer = {"phone": "13900000088"}
    first = {
        **o("w1", "guide_share", staff_employee_no="GUIDE", customer=buyer),
        "placed_at": now,
        "paid_at": now,
    }
    second = {
        **o("w2", "guide_share", staff_employee_no="GUIDE2", customer=buyer),
        "placed_at": now,
        "paid_at": now,
    }
    third = {**o("w3", customer=buyer), "placed_at": now, "paid_at": now}
    res = post(client, w, [first, second, third]).json()["results"]
    # With no protection, GUIDE2's link takes the customer over at once; the next online order is theirs.
    assert (res[2]["attribution_reason"], res[2]["guide_id"]) == ("exclusive_guide", w.staff["guide2"])


def test_holiday_closes_the_store_for_the_hours_split(client: TestClient, world: World) -> None:
    w = world
    setup_products(client, w)
    set_hours(
        w,
        "10:00",
        "22:00",
        [{"date": "2026-06-19", "closed": True, "opens": None, "closes": None, "name": "端午"}],
    )
    orders = [
        o(
            "h1",
            "guide_share",
            staff_employee_no="GUIDE",
            placed_at="2026-06-18T15:00:00+08:00",
            paid_at="2026-06-18T15:00:00+08:00",
        ),
        o(
            "h2",
            "guide_share",
            staff_employee_no="GUIDE",
            placed_at="2026-06-19T15:00:00+08:00",
            paid_at="2026-06-19T15:00:00+08:00",
        ),
    ]
    res = post(client, w, orders).json()["results"]
    during = [
        client.get(f"/api/v1/orders/{x['order_id']}", headers=w.headers("owner")).json()["during_hours"]
        for x in res
    ]
    assert during == [True, False]


def test_an_order_discount_never_drives_a_line_below_zero(client: TestClient, world: World) -> None:
    """Hardening 11: lines 10000 / 99 / 99 and an order discount of 10150 land, and add up."""
    w = world
    client.post(
        "/api/v1/products/batch",
        headers=w.headers("integration"),
        json={"products": [{"code": c, "name": c, "list_price_fen": 99} for c in ("S1", "S2")]},
    ).raise_for_status()
    setup_products(client, w)
    order = o(
        "alloc-1",
        channel="pos",
        store_code="S1",
        lines=[
            {"sku_code": "A", "quantity": 1, "unit_price_fen": 10000},
            {"sku_code": "S1", "quantity": 1, "unit_price_fen": 99},
            {"sku_code": "S2", "quantity": 1, "unit_price_fen": 99},
        ],
        order_discount_fen=10150,
        payments=[{"method": "cash", "amount_fen": 48}],
    )
    answer = post(client, w, [order])
    assert answer.status_code == 200, answer.text
    detail = client.get(
        f"/api/v1/orders/{answer.json()['results'][0]['order_id']}", headers=w.headers("owner")
    ).json()
    amounts = [line["amount_fen"] for line in detail["lines"]]
    assert amounts == [47, 1, 0] and sum(amounts) == 48
    assert [line["discount_fen"] for line in detail["lines"]] == [9953, 98, 99]


def test_share_changes_are_percentage_points_in_api_excel_console_and_cli(
    client: TestClient, world: World, sqlite_engine: Any, monkeypatch: Any
) -> None:
    """A day whose refunds exceed its sales: shares of gross paid sales, changes in pp, everywhere."""
    from io import BytesIO

    from openpyxl import load_workbook
    from rich.console import Console
    from typer.testing import CliRunner

    import siyu.cli
    import siyu.cli.reports
    from siyu.db.session import get_engine
    from siyu.settings import get_settings

    w = world
    setup_products(client, w)
    d1, d2 = "2026-06-17T12:00:00+08:00", "2026-06-18T12:00:00+08:00"
    line = lambda n: {"lines": [{"sku_code": "A", "quantity": n, "unit_price_fen": 10000}]}  # noqa: E731
    pay = lambda n: {"payments": [{"method": "wechat_pay", "amount_fen": n * 10000}]}  # noqa: E731
    post(
        client,
        w,
        [
            # 06-17: in-store 20000 of 50000 paid (40 %).
            o("s1", "pos", store_code="S1", placed_at=d1, paid_at=d1, **line(2), **pay(2)),
            o("s2", "guide_share", staff_employee_no="GUIDE", placed_at=d1, paid_at=d1, **line(3), **pay(3)),
            # 06-18: in-store 10000 of 30000 paid (33.33… %): −6.666… pp.
            o("s3", "pos", store_code="S1", placed_at=d2, paid_at=d2, **line(1), **pay(1)),
            o("s4", "guide_share", staff_employee_no="GUIDE", placed_at=d2, paid_at=d2, **line(2), **pay(2)),
        ],
    ).raise_for_status()
    # 06-18: both of yesterday's orders refunded in full, 50000 > the day's 30000 of sales.
    refunds = [
        {"channel": ch, "order_external_id": ext, "external_id": f"R-{ext}", "refunded_at": d2, "lines": [q]}
        for ch, ext, q in (
            ("pos", "s1", {"line_no": 1, "quantity": 2}),
            ("guide_share", "s2", {"line_no": 1, "quantity": 3}),
        )
    ]
    client.post(
        "/api/v1/refunds", headers=w.headers("integration"), json={"refunds": refunds}
    ).raise_for_status()
    params = {"store_code": "S1", "date": "2026-06-18"}
    data = client.get("/api/v1/reports/store-daily", params=params, headers=w.headers("owner")).json()
    fig = data["figures"]
    assert (fig["gmv_fen"]["value"], fig["in_store_gmv_fen"]["value"]) == (-20000, -10000)
    assert fig["in_store_share"]["value"] == 0.3333 and fig["off_store_share"]["value"] == 0.6667
    assert fig["in_store_share"]["vs"]["yesterday"] == {"value": 0.4, "delta_pp": -6.67}
    assert fig["off_store_share"]["vs"]["yesterday"] == {"value": 0.6, "delta_pp": 6.67}
    assert {c["channel"]: c["paid_share"] for c in data["channels"]} == {"guide_share": 0.6667, "pos": 0.3333}
    # Excel: the share as 33.33 %, its change in the Δ column in pp, no relative % for it.
    xlsx = client.get("/api/v1/reports/store-daily.xlsx", params=params, headers=w.headers("owner"))
    sheet = load_workbook(BytesIO(xlsx.content)).worksheets[0]
    row = next(r for r in sheet.iter_rows(min_row=5) if str(r[0].value).startswith("到店占比"))
    assert (row[1].value, row[1].number_format) == (0.3333, "0.00%")
    assert (row[2].value, row[3].value, row[4].value) == (0.4, -6.67, None)
    assert row[3].number_format == '+0.00" pp";-0.00" pp";0.00" pp"'
    # Console, both languages.
    client.cookies.set("siyu_session", w.tokens["owner"])
    try:
        page = client.get("/stores/S1/daily?date=2026-06-18").text
        client.cookies.set("siyu_lang", "en")
        page_en = client.get("/stores/S1/daily?date=2026-06-18").text
    finally:
        client.cookies.clear()
    assert "33.33%" in page and "▼ -6.67 个百分点" in page and "▲ +6.67 个百分点" in page
    assert "▼ -6.67 pp" in page_en
    # CLI.
    monkeypatch.setenv("SIYU_DATABASE_URL", str(sqlite_engine.url))
    monkeypatch.setattr(siyu.cli.reports, "console", Console(width=400))
    get_settings.cache_clear()
    get_engine.cache_clear()
    try:
        out = CliRunner().invoke(
            siyu.cli.app,
            [
                "report",
                "store-daily",
                "--store",
                "S1",
                "--date",
                "2026-06-18",
                "--tenant",
                w.slug,
                "--no-xlsx",
            ],
        )
    finally:
        get_settings.cache_clear()
        get_engine.cache_clear()
    assert out.exit_code == 0, out.output
    in_store = next(line for line in out.output.splitlines() if "到店占比" in line)
    assert "33.33%" in in_store and "40.00% ▼6.67 pp" in in_store
