"""Tags and audiences over HTTP: catalogue, tagging rules, rule tags, preview, packages, bad input."""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from siyu.core.clock import FixedClock, set_clock
from siyu.db.session import unit_of_work
from siyu.tags.models import TagAssignment, TagEvent
from tests.factories import World


def make_customers(client: TestClient, w: World, n: int = 6) -> list[int]:
    """n customers: odd ones belong to the guide (store 1), even ones to guide2 (store 2)."""
    records = [
        {
            "phone": f"1380013{i:04d}",
            "name": f"客户{i}",
            "gender": "female" if i % 2 else "male",
            "birthday": f"{1980 + i}-0{1 + i % 9}-15",
            "city": "上海" if i < 4 else "杭州",
            "member_tier": "金卡" if i % 3 == 0 else "银卡",
            "store_id": w.store_ids[0] if i % 2 else w.store_ids[1],
            "guide_id": w.staff["guide"] if i % 2 else w.staff["guide2"],
        }
        for i in range(1, n + 1)
    ]
    answer = client.post(
        "/api/v1/customers/batch", headers=w.headers("integration"), json={"records": records}
    )
    answer.raise_for_status()
    return [r["customer_id"] for r in answer.json()["results"]]


def group(client: TestClient, w: World, role: str = "hq_operator", **body: Any) -> dict[str, Any]:
    answer = client.post("/api/v1/tag-groups", headers=w.headers(role), json=body)
    assert answer.status_code == 201, answer.text
    result: dict[str, Any] = answer.json()
    return result


def tag(
    client: TestClient, w: World, group_id: int, name: str, role: str = "hq_operator", **extra: Any
) -> int:
    body = {"name_zh": name, "name_en": name, **extra}
    answer = client.post(f"/api/v1/tag-groups/{group_id}/tags", headers=w.headers(role), json=body)
    assert answer.status_code == 201, answer.text
    return int(answer.json()["id"])


def assign(
    client: TestClient,
    w: World,
    pairs: list[tuple[int, int]],
    role: str = "hq_operator",
    action: str = "assign",
) -> Any:
    return client.post(
        "/api/v1/tag-assignments/batch",
        headers=w.headers(role),
        json={"action": action, "items": [{"customer_id": c, "tag_id": t} for c, t in pairs]},
    )


def preview(client: TestClient, w: World, rule: dict[str, Any], role: str = "hq_operator") -> Any:
    return client.post("/api/v1/audiences/preview", headers=w.headers(role), json={"rule": rule})


def counts(w: World) -> tuple[int, int]:
    with unit_of_work(w.engine) as db:
        a = db.scalar(
            select(func.count()).select_from(TagAssignment).where(TagAssignment.tenant_id == w.tenant_id)
        )
        e = db.scalar(select(func.count()).select_from(TagEvent).where(TagEvent.tenant_id == w.tenant_id))
    return a or 0, e or 0


def test_catalogue_tagging_history_and_preview(client: TestClient, world: World) -> None:
    w = world
    ids = make_customers(client, w)
    style = group(client, w, name_zh="风格偏好", name_en="Style", open_to_guides=True)
    age = group(client, w, name_zh="年龄段", name_en="Age band", exclusive=True, open_to_guides=True)
    commute, casual = tag(client, w, style["id"], "通勤"), tag(client, w, style["id"], "休闲")
    young, middle = tag(client, w, age["id"], "25-34"), tag(client, w, age["id"], "35-44")

    answer = assign(client, w, [(ids[0], commute), (ids[1], commute), (ids[2], casual), (ids[0], young)])
    assert answer.json() == {"assigned": 4, "renewed": 0, "unchanged": 0, "replaced": 0, "removed": 0}
    # The same again changes nothing; an exclusive group replaces the customer's other tag.
    assert assign(client, w, [(ids[0], commute)]).json()["unchanged"] == 1
    assert assign(client, w, [(ids[0], middle)]).json() == {
        "assigned": 1,
        "renewed": 0,
        "unchanged": 0,
        "replaced": 1,
        "removed": 0,
    }
    held = client.get(f"/api/v1/customers/{ids[0]}/tags", headers=w.headers("hq_operator")).json()
    assert sorted(t["name_zh"] for t in held) == ["35-44", "通勤"]
    assert {t["source_type"] for t in held} == {"staff"}
    history = client.get(f"/api/v1/customers/{ids[0]}/tag-history", headers=w.headers("hq_operator")).json()
    assert [(h["tag_name_zh"], h["action"]) for h in history] == [
        ("35-44", "assigned"),
        ("25-34", "replaced"),
        ("25-34", "assigned"),
        ("通勤", "assigned"),
    ]
    catalogue = client.get("/api/v1/tag-groups", headers=w.headers("hq_operator")).json()
    members = {t["name_zh"]: t["members"] for g in catalogue for t in g["tags"]}
    assert members == {"通勤": 2, "休闲": 1, "25-34": 0, "35-44": 1}

    rule = {
        "type": "all",
        "of": [
            {"type": "tags", "match": "any", "tag_ids": [commute, casual]},
            {"type": "not", "rule": {"type": "tags", "match": "has", "tag_ids": [middle]}},
        ],
    }
    result = preview(client, w, rule).json()
    assert result["count"] == 2  # customers 2 and 3
    assert {b["label"]: b["count"] for b in result["by_store"]} == {"门店1": 1, "门店2": 1}
    assert {b["label"]: b["count"] for b in result["by_tier"]} == {"金卡": 1, "银卡": 1}
    again = preview(client, w, rule).json()
    assert again["count"] == 2 and again["cached"] is True
    # A change to tags invalidates the cached answer.
    assign(client, w, [(ids[3], casual)]).raise_for_status()
    after = preview(client, w, rule).json()
    assert after["count"] == 3 and after["cached"] is False
    # Removing takes the tag off and says so in history.
    assert assign(client, w, [(ids[3], casual)], action="remove").json()["removed"] == 1
    assert preview(client, w, rule).json()["count"] == 2

    attrs = preview(
        client,
        w,
        {
            "type": "any",
            "of": [
                {"type": "gender", "values": ["female"]},
                {"type": "city", "values": ["杭州"]},
            ],
        },
    ).json()
    assert attrs["count"] == 5  # 1, 3, 5 female; 4, 6 in 杭州


def test_guides_tag_only_their_customers_with_open_groups(client: TestClient, world: World) -> None:
    w = world
    ids = make_customers(client, w)
    open_group = group(client, w, name_zh="尺码", name_en="Size", open_to_guides=True)
    hq_only = group(client, w, name_zh="价值分层", name_en="Value tier")
    size_m, vip = tag(client, w, open_group["id"], "M"), tag(client, w, hq_only["id"], "VIP")
    before = counts(w)
    # ids[1] (customer 2) belongs to guide2.
    answer = assign(client, w, [(ids[0], size_m), (ids[1], size_m)], role="guide")
    assert answer.status_code == 422
    assert answer.json()["error"]["details"]["errors"][0]["code"] == "unknown_customer"
    # To a guide, a group not open to guides does not exist; a store manager sees it but may not use it.
    answer = assign(client, w, [(ids[0], vip)], role="guide")
    assert (
        answer.status_code == 422 and answer.json()["error"]["details"]["errors"][0]["code"] == "unknown_tag"
    )
    answer = assign(client, w, [(ids[0], vip)], role="store_manager")
    assert answer.status_code == 403 and "VIP" in answer.json()["error"]["message"]
    single = client.post(
        f"/api/v1/customers/{ids[1]}/tags", headers=w.headers("guide"), json={"tag_id": size_m}
    )
    assert single.status_code == 404
    assert counts(w) == before
    assert assign(client, w, [(ids[0], size_m)], role="guide").json()["assigned"] == 1
    # A guide's private group: theirs alone.
    mine = group(client, w, role="guide", name_zh="我的标签", name_en="Mine", kind="guide_private")
    liked = tag(client, w, mine["id"], "喜欢新品", role="guide")
    assert assign(client, w, [(ids[0], liked)], role="guide").json()["assigned"] == 1
    seen = client.get("/api/v1/tag-groups", headers=w.headers("guide2")).json()
    assert mine["id"] not in [g["id"] for g in seen] and hq_only["id"] not in [g["id"] for g in seen]
    hq_view = client.get(f"/api/v1/customers/{ids[0]}/tags", headers=w.headers("hq_operator")).json()
    assert [t["name_zh"] for t in hq_view] == ["M"]
    refused = preview(client, w, {"type": "tags", "match": "has", "tag_ids": [liked]})
    assert refused.status_code == 422 and refused.json()["error"]["code"] == "unknown_reference"
    # HQ (not a guide) cannot create a guide-private group for itself either way round: guides
    # cannot create HQ groups.
    answer = client.post(
        "/api/v1/tag-groups",
        headers=w.headers("guide"),
        json={"name_zh": "x", "name_en": "x", "kind": "manual"},
    )
    assert answer.status_code == 403


def test_expiry_renewal_and_sweep(client: TestClient, world: World) -> None:
    w = world
    ids = make_customers(client, w, 2)
    g = group(client, w, name_zh="活动", name_en="Campaign")
    hot = tag(client, w, g["id"], "双11意向", expires_after_days=7)
    start = dt.datetime(2026, 11, 1, 12, tzinfo=dt.UTC)
    set_clock(FixedClock(start))
    try:
        assert assign(client, w, [(ids[0], hot)]).json()["assigned"] == 1
        rule = {"type": "tags", "match": "has", "tag_ids": [hot]}
        assert preview(client, w, rule).json()["count"] == 1
        set_clock(FixedClock(start + dt.timedelta(days=6)))
        assert assign(client, w, [(ids[0], hot)]).json()["renewed"] == 1
        set_clock(FixedClock(start + dt.timedelta(days=12)))
        assert preview(client, w, rule).json()["count"] == 1  # renewed until day 13
        set_clock(FixedClock(start + dt.timedelta(days=13, minutes=1)))
        # Lapsed even before the sweep runs; the sweep then writes the history.
        assert preview(client, w, rule).json()["count"] == 0
        assert client.get(f"/api/v1/customers/{ids[0]}/tags", headers=w.headers("hq_operator")).json() == []
        from siyu.tags.service import sweep_expired

        with unit_of_work(w.engine) as db:
            assert sweep_expired(db, tenant_id=w.tenant_id) == 1
        history = client.get(
            f"/api/v1/customers/{ids[0]}/tag-history", headers=w.headers("hq_operator")
        ).json()
        assert [h["action"] for h in history] == ["expired", "renewed", "assigned"]
        assert preview(client, w, rule).json()["count"] == 0
    finally:
        set_clock(FixedClock(dt.datetime.now(dt.UTC)))
        from siyu.core.clock import SystemClock

        set_clock(SystemClock())


def test_rule_tags_packages_snapshots_export_overlap(client: TestClient, world: World) -> None:
    w = world
    ids = make_customers(client, w)
    rules_group = group(client, w, name_zh="自动标签", name_en="Automatic", kind="rule")
    women = tag(client, w, rules_group["id"], "女性", rule={"type": "gender", "values": ["female"]})
    refreshed = client.post(f"/api/v1/tags/{women}/refresh", headers=w.headers("hq_operator")).json()
    assert refreshed == {"tag_id": women, "members": 3, "added": 3, "removed": 0}
    assert client.post(f"/api/v1/tags/{women}/refresh", headers=w.headers("hq_operator")).json()["added"] == 0
    # Rule tags are kept by their rule only.
    answer = assign(client, w, [(ids[1], women)])
    assert answer.status_code == 422 and answer.json()["error"]["details"]["errors"][0]["code"] == "rule_tag"

    body = {
        "name": "女性金卡",
        "rule": {
            "type": "all",
            "of": [
                {"type": "tags", "match": "has", "tag_ids": [women]},
                {"type": "member_tier", "values": ["金卡"]},
            ],
        },
    }
    created = client.post("/api/v1/audiences", headers=w.headers("hq_operator"), json=body)
    assert created.status_code == 201, created.text
    audience = created.json()
    assert client.post("/api/v1/audiences", headers=w.headers("hq_operator"), json=body).status_code == 409
    snap = client.post(
        f"/api/v1/audiences/{audience['id']}/snapshots", headers=w.headers("hq_operator")
    ).json()
    assert (snap["version"], snap["size"]) == (1, 1)  # customer 3
    # The customer changes tier: the live audience follows, the frozen version does not.
    client.patch(
        f"/api/v1/customers/{ids[4]}", headers=w.headers("hq_operator"), json={"member_tier": "金卡"}
    ).raise_for_status()
    snap2 = client.post(
        f"/api/v1/audiences/{audience['id']}/snapshots", headers=w.headers("hq_operator")
    ).json()
    assert (snap2["version"], snap2["size"]) == (2, 2)
    exported = client.get(
        f"/api/v1/audiences/{audience['id']}/snapshots/1/export?format=csv", headers=w.headers("hq_operator")
    )
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert len(rows) == 2 and rows[1][1] == "客户3" and rows[1][2] == "138****0003"
    xlsx = client.get(
        f"/api/v1/audiences/{audience['id']}/snapshots/2/export", headers=w.headers("hq_operator")
    )
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    assert [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)] == ["客户3", "客户5"]
    overlap = client.post(
        "/api/v1/audiences/overlap",
        headers=w.headers("hq_operator"),
        json={
            "a": {"audience_id": audience["id"], "version": 1},
            "b": {"rule": {"type": "city", "values": ["杭州"]}},
        },
    ).json()
    assert overlap == {"a": 1, "b": 3, "both": 0, "only_a": 1, "only_b": 3, "either": 4, "jaccard": 0.0}
    listed = client.get("/api/v1/audiences", headers=w.headers("analyst")).json()
    assert listed[0]["latest_snapshot"]["version"] == 2


BAD_RULES: list[tuple[dict[str, Any], str, str]] = [
    ({"type": "tags", "match": "has", "tag_ids": [999999]}, "unknown_reference", ""),
    ({"type": "shoe_size", "values": ["42"]}, "invalid_rule", ""),
    ({"type": "gender", "values": ["female"], "extra": 1}, "invalid_rule", "gender/extra"),
    ({"type": "age", "min": "thirty"}, "invalid_rule", "age/min"),
    ({"type": "age", "min": 40, "max": 30}, "invalid_rule", "age"),
    (
        {
            "type": "orders",
            "window": {"from": "2026-03-01", "to": "2026-02-01"},
            "measure": "count",
            "op": ">=",
            "value": 1,
        },
        "invalid_rule",
        "orders/window",
    ),
    ({"type": "home_store", "store_codes": ["NOPE"]}, "unknown_reference", ""),
    (
        {
            "type": "orders",
            "window": {"last_days": 30},
            "measure": "count",
            "op": ">=",
            "value": 1,
            "skus": ["NOPE"],
        },
        "unknown_reference",
        "",
    ),
]


def test_bad_rules_are_refused_with_where_and_why(client: TestClient, world: World) -> None:
    w = world
    make_customers(client, w, 2)
    for rule, code, path in BAD_RULES:
        answer = preview(client, w, rule)
        assert answer.status_code == 422, (rule, answer.text)
        error = answer.json()["error"]
        assert error["code"] == code, (rule, error)
        if path:
            assert path in [d["path"] for d in error["details"]], error
    deep: dict[str, Any] = {"type": "gender", "values": ["male"]}
    for _ in range(12):
        deep = {"type": "not", "rule": deep}
    answer = preview(client, w, deep)
    assert answer.status_code == 422 and "8" in answer.json()["error"]["message"]
    english = client.post(
        "/api/v1/audiences/preview",
        headers={**w.headers("hq_operator"), "Accept-Language": "en"},
        json={"rule": {"type": "home_store", "store_codes": ["NOPE"]}},
    )
    assert english.json()["error"]["message"] == "The rule refers to an unknown Store: NOPE"
    assert client.get("/api/v1/audiences", headers=w.headers("hq_operator")).json() == []


def test_another_tenants_tags_are_unknown(client: TestClient, world: World, make_world: Any) -> None:
    w, other = world, make_world(world.engine)
    ids = make_customers(client, w, 2)
    theirs = tag(client, other, group(client, other, name_zh="别家", name_en="Theirs")["id"], "X")
    before = counts(w)
    answer = assign(client, w, [(ids[0], theirs)])
    assert (
        answer.status_code == 422 and answer.json()["error"]["details"]["errors"][0]["code"] == "unknown_tag"
    )
    assert preview(client, w, {"type": "tags", "match": "has", "tag_ids": [theirs]}).status_code == 422
    assert client.get(f"/api/v1/tags/{theirs}", headers=w.headers("hq_operator")).status_code == 404
    assert counts(w) == before


def test_bulk_limit(client: TestClient, world: World) -> None:
    w = world
    ids = make_customers(client, w, 1)
    g = group(client, w, name_zh="批量", name_en="Bulk")
    t = tag(client, w, g["id"], "A")
    answer = assign(client, w, [(ids[0], t)] * 10_001)
    assert answer.status_code == 413


def test_tag_import_creates_imported_tags_and_refuses_bad_rows(client: TestClient, world: World) -> None:
    w = world
    ids = make_customers(client, w, 3)
    group(client, w, name_zh="CRM标签", name_en="CRM", kind="imported")
    fixed = group(client, w, name_zh="固定", name_en="Fixed")
    tag(client, w, fixed["id"], "已有")
    number = client.get(f"/api/v1/customers/{ids[2]}", headers=w.headers("hq_operator")).json()["number"]
    good = (
        "tag_group,tag,phone,customer_number\n"
        "CRM标签,高潜,13800130001,\n"
        "CRM标签,高潜,13800130002,\n"
        f"固定,已有,,{number}\n"
    )
    answer = client.post(
        "/api/v1/imports/tags",
        headers=w.headers("integration"),
        files={"file": ("t.csv", good.encode(), "text/csv")},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"kind": "tags", "rows": 3, "created": 3, "updated": 0}
    held = client.get(f"/api/v1/customers/{ids[0]}/tags", headers=w.headers("hq_operator")).json()
    assert [(t["name_zh"], t["source_type"]) for t in held] == [("高潜", "import")]
    before = counts(w)
    bad = "tag_group,tag,phone\n固定,没有这个,13800130001\n不存在的组,x,13800130001\nCRM标签,新,13899999999\n"
    answer = client.post(
        "/api/v1/imports/tags",
        headers=w.headers("integration"),
        files={"file": ("t.csv", bad.encode(), "text/csv")},
    )
    assert answer.status_code == 422
    problems = [(e["row"], e["column"], e["code"]) for e in answer.json()["error"]["details"]["errors"]]
    assert problems == [(2, "tag", "not_found"), (3, "tag_group", "not_found"), (4, "phone", "not_found")]
    assert counts(w) == before


def test_rule_tags_follow_orders_through_the_scheduled_refresh(client: TestClient, world: World) -> None:
    from sqlalchemy import select, update

    from siyu.jobs import JOBS
    from siyu.segments.jobs import refresh_tenant

    w = world
    ids = make_customers(client, w, 2)
    client.post(
        "/api/v1/products/batch",
        headers=w.headers("integration"),
        json={"products": [{"code": "SKU1", "name": "外套", "list_price_fen": 300000}]},
    ).raise_for_status()
    g = group(client, w, name_zh="价值", name_en="Value", kind="rule")
    rule = {"type": "orders", "window": {"last_days": 365}, "measure": "gmv_fen", "op": ">=", "value": 200000}
    high = tag(client, w, g["id"], "高价值", rule=rule)
    assert refresh_tenant(w.engine, w.tenant_id) == (1, 0)
    assert client.get(f"/api/v1/tags/{high}", headers=w.headers("hq_operator")).json()["members"] == 0
    now = dt.datetime.now(dt.UTC).isoformat()
    order = {
        "channel": "mini_program",
        "external_id": "BIG-1",
        "customer": {"phone": "13800130001"},
        "status": "paid",
        "placed_at": now,
        "paid_at": now,
        "lines": [{"sku_code": "SKU1", "quantity": 1, "unit_price_fen": 300000}],
        "payments": [{"method": "wechat_pay", "amount_fen": 300000}],
    }
    client.post(
        "/api/v1/orders/batch", headers=w.headers("integration"), json={"orders": [order]}
    ).raise_for_status()
    # The batch recorded `orders.ingested`; dispatched after its commit, it queued this brand's
    # refresh two seconds on (a burst of batches shares one refresh).
    runner = client.app.state.jobs  # type: ignore[attr-defined]
    runner.drain()
    key = f"segments.refresh:{w.tenant_id}"
    with w.engine.begin() as conn:
        queued = conn.execute(
            select(JOBS.c.tenant_id, JOBS.c.run_at).where(JOBS.c.key == key, JOBS.c.status == "queued")
        ).all()
        assert [(t, r > dt.datetime.now(dt.UTC)) for t, r in queued] == [(w.tenant_id, True)]
        conn.execute(update(JOBS).where(JOBS.c.key == key).values(run_at=dt.datetime.now(dt.UTC)))
    assert client.get(f"/api/v1/tags/{high}", headers=w.headers("hq_operator")).json()["members"] == 0
    runner.drain()  # the two seconds have passed: the refresh runs
    assert client.get(f"/api/v1/tags/{high}", headers=w.headers("hq_operator")).json()["members"] == 1
    held = client.get(f"/api/v1/customers/{ids[0]}/tags", headers=w.headers("hq_operator")).json()
    assert [(t["name_zh"], t["source_type"], t["source_id"]) for t in held] == [("高价值", "rule", high)]
