"""Hardening 13: a corpus of bad inputs that once answered 500 (or were stored silently).

Every input is sent to the route it broke, on SQLite and on PostgreSQL, and must answer the exact
4xx in the one error shape — and change nothing: the tenant's rows are the same before and after.
The inputs come from schemathesis runs (NUL bytes, control characters, dates in year 1 or 9999,
ids above 2^63, versions above 2^31, numbers where times belong, booleans where numbers belong).
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import Engine, func, select, update

from siyu.app import create_app
from siyu.core.pagination import encode_cursor
from siyu.customers.models import Customer
from siyu.db.base import Base
from siyu.db.session import unit_of_work
from siyu.org.models import Store, Tenant
from siyu.settings import Settings
from tests.factories import World, build_world

BIG_ID = 2**63  # one above the largest BIGINT
BIG_VERSION = 2**31  # one above the largest INTEGER


@dataclass
class Env:
    client: TestClient
    world: World
    customer_id: int
    audience_id: int
    tag_group_id: int
    code_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def env(request: pytest.FixtureRequest) -> Iterator[Env]:
    """An app and a tenant with one customer, one audience (one snapshot) and one tag group."""
    engine: Engine = request.getfixturevalue("sqlite_engine" if request.param == "sqlite" else "pg_engine")
    world = build_world(engine)
    app = create_app(engine=engine, settings=Settings(rule_tag_refresh_minutes=0))
    with TestClient(app) as client:
        owner = world.headers("owner")
        made = client.post(
            "/api/v1/customers/batch",
            headers=owner,
            json={"records": [{"phone": "13800138000", "name": "王小美", "store_id": world.store_ids[0]}]},
        )
        assert made.status_code == 200, made.text
        audience = client.post(
            "/api/v1/audiences",
            headers=owner,
            json={"name": "女性", "rule": {"type": "gender", "values": ["female"]}},
        )
        assert audience.status_code == 201, audience.text
        snap = client.post(f"/api/v1/audiences/{audience.json()['id']}/snapshots", headers=owner)
        assert snap.status_code == 201, snap.text
        group = client.post(
            "/api/v1/tag-groups", headers=owner, json={"name_zh": "规则", "name_en": "Rules", "kind": "rule"}
        )
        assert group.status_code == 201, group.text
        yield Env(
            client=client,
            world=world,
            customer_id=made.json()["results"][0]["customer_id"],
            audience_id=audience.json()["id"],
            tag_group_id=group.json()["id"],
        )


def fingerprint(world: World) -> dict[str, Any]:
    """Row counts of every tenant table for the tenant, and the tenant's own row."""
    counts: dict[str, Any] = {}
    with unit_of_work(world.engine) as db:
        for table in Base.metadata.sorted_tables:
            if "tenant_id" in table.c:
                counts[table.name] = db.scalar(
                    select(func.count()).select_from(table).where(table.c.tenant_id == world.tenant_id)
                )
        tenant = db.get(Tenant, world.tenant_id)
        assert tenant is not None
        counts["tenant"] = (tenant.name, tenant.binding_protection_days)
        counts["customer_names"] = sorted(
            str(n) for n in db.scalars(select(Customer.name).where(Customer.tenant_id == world.tenant_id))
        )
    return counts


@dataclass(frozen=True)
class Bad:
    """One bad input: the request, the status and code it must answer, the field it must name."""

    name: str
    method: str
    path: str
    json: Any = None
    status: int = 422
    code: str = "validation_error"
    field: str | None = None


NUL = "a\u0000b"
SOH = "a\u0001b"
STX = "x\u0002"
TAG_RULE_BIG = {"type": "tags", "match": "has", "tag_ids": [BIG_ID]}

CORPUS: list[Bad] = [
    # NUL and control characters: query strings, path segments, JSON strings and keys.
    Bad("search NUL", "GET", "/api/v1/customers?q=a%00", field="q"),
    Bad("search SOH", "GET", "/api/v1/customers?q=a%01", field="q"),
    Bad("city filter NUL", "GET", "/api/v1/customers?city=%00", field="city"),
    Bad("product search NUL", "GET", "/api/v1/products?q=a%00", field="q"),
    Bad("store search NUL", "GET", "/api/v1/stores?q=a%00", field="q"),
    Bad("lookup value NUL", "GET", "/api/v1/customers/lookup?type=member_card&value=a%00", field="value"),
    Bad(
        "report store code NUL",
        "GET",
        "/api/v1/reports/store-daily?store_code=S1%00&date=2026-01-01",
        field="store_code",
    ),
    Bad("cursor NUL", "GET", "/api/v1/orders?cursor=%00", field="cursor"),
    # Cursors we never made: ids past BIGINT, a time in year 1, a deeply nested or huge document.
    Bad(
        "customers cursor id 2^64",
        "GET",
        f"/api/v1/customers?cursor={encode_cursor(2**64)}",
        code="invalid_cursor",
    ),
    Bad(
        "orders cursor year 1",
        "GET",
        f"/api/v1/orders?cursor={encode_cursor(['0001-01-01T00:00:00+14:00', 1])}",
        code="invalid_cursor",
    ),
    Bad(
        "orders cursor id 2^64",
        "GET",
        f"/api/v1/orders?cursor={encode_cursor(['2026-01-01T00:00:00+00:00', 2**64])}",
        code="invalid_cursor",
    ),
    Bad(
        "orders cursor undated id 2^64",
        "GET",
        f"/api/v1/orders?cursor={encode_cursor([None, 2**64])}",
        code="invalid_cursor",
    ),
    Bad(
        "customers cursor nested",
        "GET",
        "/api/v1/customers?cursor=" + base64.urlsafe_b64encode(b"[" * 360).decode(),
        code="invalid_cursor",
    ),
    Bad(
        "orders cursor huge",
        "GET",
        "/api/v1/orders?cursor=" + base64.urlsafe_b64encode(b"[" * 5000).decode(),
        code="invalid_cursor",
    ),
    Bad(
        "path NUL",
        "GET",
        "/api/v1/wecom/a%00b/callback?msg_signature=a&timestamp=1&nonce=n&echostr=e",
        field="path",
    ),
    Bad("customer name NUL", "PATCH", "/api/v1/customers/{customer_id}", {"name": NUL}, field="name"),
    Bad("customer city SOH", "PATCH", "/api/v1/customers/{customer_id}", {"city": SOH}, field="city"),
    Bad(
        "custom field key NUL",
        "PATCH",
        "/api/v1/customers/{customer_id}",
        {"custom_fields": {NUL: 1}},
        field="custom_fields",
    ),
    Bad("store name STX", "POST", "/api/v1/stores", {"code": "S9", "name": STX}, field="name"),
    Bad("region name NUL", "POST", "/api/v1/regions", {"code": "R9", "name": NUL}, field="name"),
    Bad(
        "tag group name NUL", "POST", "/api/v1/tag-groups", {"name_zh": NUL, "name_en": "x"}, field="name_zh"
    ),
    Bad(
        "audience name SOH",
        "POST",
        "/api/v1/audiences",
        {"name": SOH, "rule": {"type": "gender", "values": ["female"]}},
        field="name",
    ),
    Bad(
        "rule city NUL",
        "POST",
        "/api/v1/audiences/preview",
        {"rule": {"type": "city", "values": [NUL]}},
        field="rule.values.0",
    ),
    Bad("tenant name NUL", "PATCH", "/api/v1/tenant", {"name": NUL}, field="name"),
    Bad(
        "consent source NUL",
        "POST",
        "/api/v1/customers/{customer_id}/consents",
        {"purpose": "profiling", "granted": True, "source": NUL},
        field="source",
    ),
    # customers/batch: a bad row is reported by row, nothing is written.
    Bad(
        "batch name NUL",
        "POST",
        "/api/v1/customers/batch",
        {"records": [{"phone": "13800138001", "name": "ok"}, {"phone": "13800138002", "name": NUL}]},
        code="batch_rejected",
        field="2:name",
    ),
    Bad(
        "batch city SOH",
        "POST",
        "/api/v1/customers/batch",
        {"records": [{"phone": "13800138003", "city": SOH}]},
        code="batch_rejected",
        field="1:city",
    ),
    Bad(
        "batch identity NUL",
        "POST",
        "/api/v1/customers/batch",
        {"records": [{"identities": [{"type": "member_card", "value": NUL}]}]},
        code="batch_rejected",
        field="1:identities.0.value",
    ),
    Bad(
        "batch birthday unparseable",
        "POST",
        "/api/v1/customers/batch",
        {"records": [{"phone": "13800138004"}, {"phone": "13800138005", "birthday": "not a date"}]},
        code="batch_rejected",
        field="2:birthday",
    ),
    Bad(
        "batch birthday number",
        "POST",
        "/api/v1/customers/batch",
        {"records": [{"phone": "13800138006", "birthday": 0}]},
        code="batch_rejected",
        field="1:birthday",
    ),
    Bad(
        "batch birthday year 1",
        "POST",
        "/api/v1/customers/batch",
        {"records": [{"phone": "13800138007", "birthday": "0001-01-01"}]},
        code="batch_rejected",
        field="1:birthday",
    ),
    Bad(
        "batch store id above 2^63",
        "POST",
        "/api/v1/customers/batch",
        {"records": [{"phone": "13800138008", "store_id": BIG_ID}]},
        code="batch_rejected",
        field="1:store_id",
    ),
    # Dates and times out of range, and loose parsing.
    Bad(
        "report date year 1", "GET", "/api/v1/reports/store-daily?store_code=S1&date=0001-01-01", field="date"
    ),
    Bad("report date 9999", "GET", "/api/v1/reports/store-daily?store_code=S1&date=9999-12-31", field="date"),
    Bad("report date 0", "GET", "/api/v1/reports/store-daily?store_code=S1&date=0", field="date"),
    Bad(
        "report xlsx date 9999",
        "GET",
        "/api/v1/reports/store-daily.xlsx?store_code=S1&date=9999-12-31",
        field="date",
    ),
    Bad("rollup date year 1", "GET", "/api/v1/reports/rollup?date=0001-01-01", field="date"),
    Bad("rollup date 9999", "GET", "/api/v1/reports/rollup?date=9999-12-31", field="date"),
    Bad(
        "ranking date 9999",
        "GET",
        "/api/v1/reports/guide-ranking?store_code=S1&date_from=9999-12-31",
        field="date_from",
    ),
    Bad(
        "ranking date_to 9999",
        "GET",
        "/api/v1/reports/guide-ranking?store_code=S1&date_from=2026-01-01&date_to=9999-12-31",
        field="date_to",
    ),
    Bad(
        "channel stats from year 1",
        "GET",
        "/api/v1/wecom/channel-codes/1/stats?from=0001-01-01",
        field="from",
    ),
    Bad(
        "footfall year 1",
        "POST",
        "/api/v1/footfall",
        {"counts": [{"store_code": "S1", "hour_start": "0001-01-01T00:00:00Z", "visitors": 1}]},
        field="counts.0.hour_start",
    ),
    Bad(
        "footfall 9999",
        "POST",
        "/api/v1/footfall",
        {"counts": [{"store_code": "S1", "hour_start": "9999-12-31T23:00:00+08:00", "visitors": 1}]},
        field="counts.0.hour_start",
    ),
    Bad(
        "footfall number",
        "POST",
        "/api/v1/footfall",
        {"counts": [{"store_code": "S1", "hour_start": 1700000000, "visitors": 1}]},
        field="counts.0.hour_start",
    ),
    Bad(
        "footfall visitors bool",
        "POST",
        "/api/v1/footfall",
        {"counts": [{"store_code": "S1", "hour_start": "2026-01-01T10:00:00+08:00", "visitors": True}]},
        field="counts.0.visitors",
    ),
    Bad(
        "order placed year 1",
        "POST",
        "/api/v1/orders/batch",
        {
            "orders": [
                {
                    "channel": "pos",
                    "external_id": "X1",
                    "status": "paid",
                    "placed_at": "0001-01-01T00:00:00Z",
                    "lines": [{"sku_code": "A", "quantity": 1, "unit_price_fen": 100}],
                }
            ]
        },
        code="batch_rejected",
        field="1:placed_at",
    ),
    Bad(
        "order placed number",
        "POST",
        "/api/v1/orders/batch",
        {
            "orders": [
                {
                    "channel": "pos",
                    "external_id": "X2",
                    "status": "paid",
                    "placed_at": 1700000000,
                    "lines": [{"sku_code": "A", "quantity": 1, "unit_price_fen": 100}],
                }
            ]
        },
        code="batch_rejected",
        field="1:placed_at",
    ),
    Bad(
        "refund year 9999",
        "POST",
        "/api/v1/refunds",
        {
            "refunds": [
                {
                    "channel": "pos",
                    "order_external_id": "X",
                    "external_id": "R",
                    "refunded_at": "9999-12-31T23:59:59+14:00",
                    "lines": [{"line_no": 1, "quantity": 1}],
                }
            ]
        },
        code="batch_rejected",
        field="1:refunded_at",
    ),
    Bad(
        "paid_from year 1 +14",
        "GET",
        "/api/v1/orders?paid_from=0001-01-01T00:00:00%2B14:00",
        field="paid_from",
    ),
    Bad("paid_to 9999 -14", "GET", "/api/v1/orders?paid_to=9999-12-31T23:59:59-14:00", field="paid_to"),
    Bad("paid_to number", "GET", "/api/v1/orders?paid_to=0.5", field="paid_to"),
    Bad(
        "created_from year 1",
        "GET",
        "/api/v1/customers?created_from=0001-01-01T00:00:00Z",
        field="created_from",
    ),
    Bad(
        "birthday year 1",
        "PATCH",
        "/api/v1/customers/{customer_id}",
        {"birthday": "0001-01-01"},
        field="birthday",
    ),
    Bad(
        "holiday year 9999",
        "POST",
        "/api/v1/stores",
        {"code": "S8", "name": "店", "holidays": [{"date": "9999-12-31"}]},
        field="holidays.0.date",
    ),
    Bad(
        "rule window year 1",
        "POST",
        "/api/v1/audiences/preview",
        {
            "rule": {
                "type": "orders",
                "window": {"from": "0001-01-01", "to": "0001-01-02"},
                "measure": "count",
                "op": ">=",
                "value": 1,
            }
        },
        code="invalid_rule",
    ),
    Bad(
        "binding days bool",
        "PATCH",
        "/api/v1/tenant",
        {"binding_protection_days": True},
        field="binding_protection_days",
    ),
    Bad(
        "binding days string",
        "PATCH",
        "/api/v1/tenant",
        {"binding_protection_days": "5"},
        field="binding_protection_days",
    ),
    # Ids above 2^63 and versions above 2^31.
    Bad("customers store_id 2^63", "GET", f"/api/v1/customers?store_id={BIG_ID}", field="store_id"),
    Bad("orders customer_id 2^63", "GET", f"/api/v1/orders?customer_id={BIG_ID}", field="customer_id"),
    Bad("audit object_id 2^63", "GET", f"/api/v1/audit-log?object_id={BIG_ID}", field="object_id"),
    Bad(
        "transfers customer_id 2^63",
        "GET",
        f"/api/v1/wecom/transfers?customer_id={BIG_ID}",
        field="customer_id",
    ),
    Bad(
        "merges customer_id 2^63", "GET", f"/api/v1/customer-merges?customer_id={BIG_ID}", field="customer_id"
    ),
    Bad(
        "report store_id 2^63",
        "GET",
        f"/api/v1/reports/store-daily?store_id={BIG_ID}&date=2026-01-01",
        field="store_id",
    ),
    Bad("path id 2^63", "GET", f"/api/v1/customers/{BIG_ID}", field="customer_id"),
    Bad("rule tag id 2^63", "POST", "/api/v1/audiences/preview", {"rule": TAG_RULE_BIG}, code="invalid_rule"),
    Bad(
        "rule tag id 0",
        "POST",
        "/api/v1/audiences/preview",
        {"rule": {"type": "tags", "match": "has", "tag_ids": [0]}},
        code="invalid_rule",
    ),
    Bad(
        "rule tag id bool",
        "POST",
        "/api/v1/audiences/preview",
        {"rule": {"type": "tags", "match": "has", "tag_ids": [True]}},
        code="invalid_rule",
    ),
    Bad(
        "audience rule tag 2^63",
        "POST",
        "/api/v1/audiences",
        {"name": "big", "rule": TAG_RULE_BIG},
        code="invalid_rule",
    ),
    Bad(
        "rule tag 2^63",
        "POST",
        "/api/v1/tag-groups/{tag_group_id}/tags",
        {"name_zh": "大", "name_en": "big", "rule": TAG_RULE_BIG},
        code="invalid_rule",
    ),
    Bad(
        "snapshot version 2^31",
        "GET",
        f"/api/v1/audiences/{{audience_id}}/snapshots/{BIG_VERSION}/export",
        field="version",
    ),
    Bad(
        "overlap version 2^31",
        "POST",
        "/api/v1/audiences/overlap",
        {
            "a": {"audience_id": "{audience_id}", "version": BIG_VERSION},
            "b": {"rule": {"type": "gender", "values": ["male"]}},
        },
        field="a.version",
    ),
    Bad(
        "binding guide 2^63",
        "POST",
        "/api/v1/customers/{customer_id}/exclusive-guide",
        {"guide_id": BIG_ID},
        field="guide_id",
    ),
]


def _fill(value: Any, env: Env) -> Any:
    names = {"customer_id": env.customer_id, "audience_id": env.audience_id, "tag_group_id": env.tag_group_id}
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in names:
            return names[value[1:-1]]
        return value.format(**names) if "{" in value and "}" in value else value
    if isinstance(value, dict):
        return {k: _fill(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, env) for v in value]
    return value


@pytest.mark.parametrize("bad", CORPUS, ids=[b.name for b in CORPUS])
def test_bad_input_is_refused_and_nothing_is_stored(env: Env, bad: Bad) -> None:
    before = fingerprint(env.world)
    path = bad.path.format(
        customer_id=env.customer_id, audience_id=env.audience_id, tag_group_id=env.tag_group_id
    )
    answer = env.client.request(
        bad.method,
        path,
        headers={**env.world.headers("owner"), "Accept-Language": "en"},
        json=_fill(bad.json, env),
    )
    assert answer.status_code == bad.status, answer.text
    body = answer.json()
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert body["error"]["code"] == bad.code, body
    if bad.field is not None and bad.code == "validation_error":
        assert bad.field in [d["field"] for d in body["error"]["details"]], body
        assert bad.field in body["error"]["message"], body
    if bad.field is not None and bad.code == "batch_rejected":
        row, column = bad.field.split(":")
        errors = body["error"]["details"]["errors"]
        assert (int(row), column) in [(e["row"], e["column"]) for e in errors], body
        assert all(e["message"] and e["message_en"] for e in errors), body
    assert fingerprint(env.world) == before


def test_control_character_messages_are_bilingual(env: Env) -> None:
    path = f"/api/v1/customers/{env.customer_id}"
    zh = env.client.patch(path, headers=env.world.headers("owner"), json={"name": NUL})
    en = env.client.patch(
        path, headers={**env.world.headers("owner"), "Accept-Language": "en"}, json={"name": NUL}
    )
    assert zh.status_code == en.status_code == 422
    assert "控制字符" in zh.json()["error"]["message"] and "U+0000" in zh.json()["error"]["message"]
    assert "control character" in en.json()["error"]["message"]
    assert "name" in en.json()["error"]["message"]


def test_multi_line_text_keeps_tabs_and_newlines(env: Env) -> None:
    """Tab, newline and carriage return are text, not control characters, in JSON bodies."""
    answer = env.client.post(
        "/api/v1/customers/batch",
        headers=env.world.headers("owner"),
        json={"records": [{"phone": "13800138099", "custom_fields": None, "city": "上海"}]},
    )
    assert answer.status_code == 200, answer.text
    store = env.client.post(
        "/api/v1/stores",
        headers=env.world.headers("owner"),
        json={"code": "SML", "name": "门店", "address": "上海市\n黄浦区\t南京东路 1 号"},
    )
    assert store.status_code == 201, store.text
    assert store.json()["address"] == "上海市\n黄浦区\t南京东路 1 号"


def test_bounds_at_the_edges_are_accepted(env: Env) -> None:
    """The first and last day of the range, and the largest id, pass validation."""
    owner = env.world.headers("owner")
    for day in ("2000-01-01", "2100-12-31"):
        answer = env.client.get(f"/api/v1/reports/store-daily?store_code=S1&date={day}", headers=owner)
        assert answer.status_code == 200, answer.text
    answer = env.client.get(f"/api/v1/customers?store_id={BIG_ID - 1}", headers=owner)
    assert answer.status_code == 200 and answer.json()["items"] == []
    answer = env.client.get(
        "/api/v1/orders?paid_from=2000-01-01T00:00:00Z&paid_to=2100-12-31T23:59:59%2B08:00", headers=owner
    )
    assert answer.status_code == 200, answer.text
    answer = env.client.get(
        f"/api/v1/audiences/{env.audience_id}/snapshots/{BIG_VERSION - 1}/export", headers=owner
    )
    assert answer.status_code == 404, answer.text


def test_exports_survive_control_characters_stored_before_the_edge_refused_them(env: Env) -> None:
    """Rows written before this rule (or by a direct import) still export: cells are sanitised."""
    world = env.world
    with unit_of_work(world.engine) as db:
        db.execute(update(Customer).where(Customer.id == env.customer_id).values(name="王\x01小\x02美"))
        db.execute(update(Store).where(Store.id == world.store_ids[0]).values(name="门店\x01一"))
    try:
        owner = world.headers("owner")
        export = env.client.get("/api/v1/customers/export?format=xlsx", headers=owner)
        assert export.status_code == 200, export.text
        sheet = load_workbook(io.BytesIO(export.content)).active
        assert "王小美" in {cell for row in sheet.iter_rows(values_only=True) for cell in row}
        daily = env.client.get(
            "/api/v1/reports/store-daily.xlsx?store_code=S1&date=2026-01-01", headers=owner
        )
        assert daily.status_code == 200, daily.text
        load_workbook(io.BytesIO(daily.content))
    finally:
        with unit_of_work(world.engine) as db:
            db.execute(update(Customer).where(Customer.id == env.customer_id).values(name="王小美"))
            db.execute(update(Store).where(Store.id == world.store_ids[0]).values(name="门店1"))


@pytest.mark.parametrize("kind", ["customers", "stores"])
def test_imports_refuse_control_characters_by_row(env: Env, kind: str) -> None:
    """A CSV/Excel cell holding NUL or another control character is a row error; nothing is written."""
    before = fingerprint(env.world)
    content = {
        "customers": "name,phone\n好客户,13800138050\n坏\x00客户,13800138051\n",
        "stores": "code,name\nS50,好门店\nS51,坏\x01门店\n",
    }[kind]
    answer = env.client.post(
        f"/api/v1/imports/{kind}",
        headers={**env.world.headers("owner"), "Accept-Language": "en"},
        files={"file": (f"{kind}.csv", content.encode(), "text/csv")},
    )
    assert answer.status_code == 422, answer.text
    error = answer.json()["error"]
    assert error["code"] == "import_rejected"
    assert [(e["row"], e["column"], e["code"]) for e in error["details"]["errors"]] == [
        (3, "name", "control_character")
    ]
    assert fingerprint(env.world) == before


def test_utf16_json_and_multipart_forms_cannot_smuggle_control_characters(env: Env) -> None:
    """A JSON body in UTF-16 (which parsers accept) or a console form sent as multipart carries the
    NUL past a scan of escapes; both are refused and nothing is stored."""
    before = fingerprint(env.world)
    path = f"/api/v1/customers/{env.customer_id}"
    for encoding in ("utf-16", "utf-32"):
        smuggled = env.client.patch(
            path,
            headers={**env.world.headers("owner"), "Content-Type": "application/json"},
            content=json.dumps({"name": "u\u0000v"}).encode(encoding),
        )
        assert smuggled.status_code == 422, (encoding, smuggled.text)
        assert smuggled.json()["error"]["code"] == "validation_error"
    form = env.client.post(
        "/tags/groups",
        headers=env.world.headers("owner"),
        files={"name_zh": (None, "a\x00b"), "kind": (None, "manual")},
    )
    assert form.status_code == 422
    assert fingerprint(env.world) == before
