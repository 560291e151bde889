"""Property: for random customers and random rules, the engine's answer equals the reference
evaluator's, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert

from siyu.customers.models import ConsentRecord, Customer, CustomerIdentity, TimelineEvent
from siyu.db.base import table_of
from siyu.db.session import unit_of_work
from siyu.orders.models import Order, OrderLine
from siyu.org.models import Staff, Store, Tenant
from siyu.products.models import Product
from siyu.segments.engine import evaluate
from siyu.tags.models import Tag, TagAssignment, TagGroup
from siyu.wecom.models import WeComFriend
from tests.dialect.audience_reference import CustomerRec, Data, Line, OrderRec, Reference

NOW = dt.datetime(2026, 6, 15, 4, 30, tzinfo=dt.UTC)  # 12:30 in Shanghai
ZONE = ZoneInfo("Asia/Shanghai")
SKUS = {"A": ["女装", "外套"], "B": ["女装"], "C": ["童装"]}
STORES = ["S1", "S2"]
TAGS = 4  # tag positions 0..3, mapped to real ids per tenant
KINDS = ["page_view", "coupon_claimed"]

ago = st.integers(min_value=-2 * 24, max_value=400 * 24).map(lambda h: NOW - dt.timedelta(hours=h))
birthdays = st.one_of(
    st.none(),
    st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2012, 12, 31)),
    # Birthdays around today's date and leap days, where age arithmetic goes wrong.
    st.sampled_from([dt.date(1990, 6, 15), dt.date(1990, 6, 16), dt.date(1996, 6, 14), dt.date(2000, 2, 29)]),
)
customer = st.fixed_dictionaries(
    {
        "active": st.booleans().map(lambda b: b or True) | st.just(False),
        "gender": st.sampled_from(["male", "female", "unknown"]),
        "birthday": birthdays,
        "city": st.sampled_from(["上海", "杭州", None]),
        "tier": st.sampled_from(["金卡", "银卡", None]),
        "store": st.sampled_from([*STORES, None]),
        "has_guide": st.booleans(),
        "phone": st.booleans(),
        "openid": st.booleans(),
        "friend": st.sampled_from([None, "active", "deleted"]),
        # (granted, hours after NOW it was recorded): records are written in list order, so ids and
        # recorded times disagree whenever the hours are not ascending.
        "consents": st.lists(st.tuples(st.booleans(), st.sampled_from([0, -1, 1])), max_size=3),
        "events": st.lists(st.tuples(st.sampled_from(KINDS), ago), max_size=3),
        "tags": st.dictionaries(
            st.integers(0, TAGS - 1),
            st.one_of(st.none(), st.integers(-5, 5).map(lambda d: NOW + dt.timedelta(days=d, minutes=7))),
            max_size=TAGS,
        ),
        "orders": st.lists(
            st.fixed_dictionaries(
                {
                    "paid_at": ago,
                    "paid": st.integers(0, 50_000),
                    "refund_share": st.sampled_from([0, 0, 50, 100]),
                    "channel": st.sampled_from(["pos", "mini_program"]),
                    "store": st.sampled_from([*STORES, None]),
                    "lines": st.lists(
                        st.tuples(
                            st.sampled_from(sorted(SKUS)), st.integers(0, 30_000), st.sampled_from([0, 100])
                        ),
                        min_size=1,
                        max_size=2,
                    ),
                }
            ),
            max_size=4,
        ),
    }
)

ops = st.sampled_from([">=", ">", "<=", "<", "=", "!="])
windows = st.one_of(
    st.integers(1, 400).map(lambda n: {"last_days": n}),
    st.tuples(st.integers(0, 420), st.integers(0, 60)).map(
        lambda t: {
            "from": (NOW.date() - dt.timedelta(days=t[0])).isoformat(),
            "to": (NOW.date() - dt.timedelta(days=t[0]) + dt.timedelta(days=t[1])).isoformat(),
        }
    ),
)
tag_positions = st.lists(st.integers(0, TAGS - 1), min_size=1, max_size=3, unique=True)


def _orders_leaf(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


leaf = st.one_of(
    st.builds(
        lambda m, t: {"type": "tags", "match": m, "tag_ids": t},
        st.sampled_from(["any", "all", "none"]),
        tag_positions,
    ),
    st.builds(lambda t: {"type": "tags", "match": "has", "tag_ids": [t]}, st.integers(0, TAGS - 1)),
    st.builds(
        lambda v: {"type": "gender", "values": v},
        st.lists(st.sampled_from(["male", "female", "unknown"]), min_size=1, max_size=2, unique=True),
    ),
    st.builds(
        lambda a, b: {"type": "age", "min": min(a, b), "max": max(a, b)},
        st.integers(0, 80),
        st.integers(0, 80),
    ),
    st.builds(
        lambda v: {"type": "city", "values": v},
        st.lists(st.sampled_from(["上海", "杭州", "北京"]), min_size=1, max_size=2, unique=True),
    ),
    st.builds(
        lambda m: {"type": "birthday_month", "months": m},
        st.lists(st.integers(1, 12), min_size=1, max_size=3, unique=True),
    ),
    st.builds(
        lambda v: {"type": "member_tier", "values": v},
        st.lists(st.sampled_from(["金卡", "银卡"]), min_size=1, unique=True),
    ),
    st.builds(
        lambda v: {"type": "home_store", "store_codes": v},
        st.lists(st.sampled_from(STORES), min_size=1, unique=True),
    ),
    st.builds(lambda v: {"type": "has_guide", "value": v}, st.booleans()),
    st.builds(
        lambda v: {"type": "reachable", "via": v}, st.sampled_from(["wecom", "phone", "official_account"])
    ),
    st.just({"type": "consent", "purpose": "marketing_sms"}),
    st.builds(
        lambda w, m, o, v, ch, sc, sk, cat: _orders_leaf(
            {
                "type": "orders",
                "window": w,
                "measure": m,
                "op": o,
                "value": v,
                "channels": ch,
                "store_codes": sc,
                "skus": sk,
                "categories": cat,
            }
        ),
        windows,
        st.sampled_from(["count", "gmv_fen", "aov_fen"]),
        ops,
        st.sampled_from([0, 1, 2, 5000, 20000, 40000]),
        st.none() | st.just(["pos"]),
        st.none() | st.just(["S1"]),
        st.none() | st.just(["A"]),
        st.none() | st.sampled_from([["女装"], ["童装"]]),
    ),
    st.builds(lambda o, d: {"type": "last_purchase", "op": o, "days": d}, ops, st.integers(0, 400)),
    st.builds(
        lambda w, o, v, k: {"type": "interactions", "window": w, "kinds": k, "op": o, "value": v},
        windows,
        ops,
        st.integers(0, 2),
        st.lists(st.sampled_from(KINDS), min_size=1, unique=True),
    ),
)
rules = st.recursive(
    leaf,
    lambda inner: st.one_of(
        st.builds(lambda of: {"type": "all", "of": of}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda of: {"type": "any", "of": of}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda r: {"type": "not", "rule": r}, inner),
    ),
    max_leaves=6,
)


def load(engine: Engine, people: list[dict[str, Any]]) -> tuple[int, list[int], Data]:
    """Write the generated customers into a fresh tenant; return it, its tag ids and the reference data."""
    with unit_of_work(engine) as db:
        tenant = Tenant(slug=f"p-{uuid.uuid4().hex[:10]}", name="P", timezone="Asia/Shanghai", currency="CNY")
        db.add(tenant)
        db.flush()
        tid = tenant.id
        stores = {
            code: Store(tenant_id=tid, code=code, name=code, status="active", business_hours=[], holidays=[])
            for code in STORES
        }
        db.add_all(stores.values())
        guide = Staff(tenant_id=tid, employee_no="G", username="g", name="g", role="guide")
        db.add(guide)
        group = TagGroup(tenant_id=tid, name_zh="g", name_en="g", kind="manual", created_at=NOW)
        db.add(group)
        db.flush()
        tags = [
            Tag(tenant_id=tid, group_id=group.id, name_zh=f"t{i}", name_en=f"t{i}", created_at=NOW)
            for i in range(TAGS)
        ]
        products = {
            sku: Product(tenant_id=tid, code=sku, name=sku, category_path=path, list_price_fen=100)
            for sku, path in SKUS.items()
        }
        db.add_all([*tags, *products.values()])
        db.flush()
        tag_ids = [t.id for t in tags]
        records, orders = [], []
        for number, p in enumerate(people, start=1):
            c = Customer(
                tenant_id=tid,
                number=number,
                gender=p["gender"],
                birthday=p["birthday"],
                city=p["city"],
                member_tier=p["tier"],
                store_id=stores[p["store"]].id if p["store"] else None,
                guide_id=guide.id if p["has_guide"] else None,
                phone_e164=f"+86138{number:08d}" if p["phone"] else None,
                status="active" if p["active"] else "merged",
            )
            db.add(c)
            db.flush()
            if p["openid"]:
                db.add(
                    CustomerIdentity(
                        tenant_id=tid,
                        customer_id=c.id,
                        type="wechat_openid",
                        namespace="wx1",
                        value=f"o{number}",
                    )
                )
            if p["friend"]:
                db.add(
                    WeComFriend(
                        tenant_id=tid,
                        staff_id=guide.id,
                        customer_id=c.id,
                        external_userid=f"wm{number}",
                        added_at=NOW,
                        deleted_at=NOW if p["friend"] == "deleted" else None,
                        last_event_at=NOW,
                    )
                )
            for granted, hours in p["consents"]:
                db.add(
                    ConsentRecord(
                        tenant_id=tid,
                        customer_id=c.id,
                        purpose="marketing_sms",
                        granted=granted,
                        source="t",
                        recorded_at=NOW + dt.timedelta(hours=hours),
                    )
                )
                db.flush()
            for kind, at in p["events"]:
                db.add(TimelineEvent(tenant_id=tid, customer_id=c.id, kind=kind, occurred_at=at))
            for position, expires_at in p["tags"].items():
                db.add(
                    TagAssignment(
                        tenant_id=tid,
                        tag_id=tag_ids[position],
                        customer_id=c.id,
                        customer_number=number,
                        source_type="api",
                        assigned_at=NOW,
                        expires_at=expires_at,
                    )
                )
            for k, o in enumerate(p["orders"]):
                refunded = o["paid"] * o["refund_share"] // 100
                lines = [Line(sku, amount, amount * share // 100) for sku, amount, share in o["lines"]]
                order_id = db.execute(
                    insert(table_of(Order)).returning(table_of(Order).c.id),
                    {
                        "tenant_id": tid,
                        "channel": o["channel"],
                        "external_id": f"{number}-{k}",
                        "customer_id": c.id,
                        "store_id": stores[o["store"]].id if o["store"] else None,
                        "attribution_reason": "unattributed",
                        "placement": "off_store",
                        "fulfilment": "express",
                        "status": "paid",
                        "currency": "CNY",
                        "placed_at": o["paid_at"],
                        "paid_at": o["paid_at"],
                        "goods_fen": o["paid"],
                        "discount_fen": 0,
                        "total_fen": o["paid"],
                        "paid_fen": o["paid"],
                        "refunded_fen": refunded,
                        "payload_hash": "x",
                        "created_at": NOW,
                        "updated_at": NOW,
                    },
                ).scalar_one()
                for n, line in enumerate(lines, start=1):
                    db.execute(
                        insert(table_of(OrderLine)),
                        {
                            "tenant_id": tid,
                            "order_id": order_id,
                            "line_no": n,
                            "product_id": products[line.sku].id,
                            "sku_code": line.sku,
                            "quantity": 1,
                            "unit_price_fen": line.amount_fen,
                            "discount_fen": 0,
                            "amount_fen": line.amount_fen,
                            "refunded_fen": line.refunded_fen,
                        },
                    )
                orders.append(
                    OrderRec(number, o["paid_at"], o["paid"], refunded, o["channel"], o["store"], lines)
                )
            records.append(
                CustomerRec(
                    number=number,
                    active=p["active"],
                    gender=p["gender"],
                    birthday=p["birthday"],
                    city=p["city"],
                    tier=p["tier"],
                    store=p["store"],
                    has_guide=p["has_guide"],
                    phone=p["phone"],
                    openid=p["openid"],
                    wecom_friend=p["friend"] == "active",
                    consents=[("marketing_sms", g, NOW + dt.timedelta(hours=h)) for g, h in p["consents"]],
                    events=list(p["events"]),
                    tags={tag_ids[pos]: exp for pos, exp in p["tags"].items()},
                )
            )
    return tid, tag_ids, Data(records, orders, SKUS)


def with_tag_ids(rule: dict[str, Any], tag_ids: list[int]) -> dict[str, Any]:
    """The generated rule with tag positions replaced by the tenant's tag ids."""
    if rule["type"] in ("all", "any"):
        return {**rule, "of": [with_tag_ids(r, tag_ids) for r in rule["of"]]}
    if rule["type"] == "not":
        return {**rule, "rule": with_tag_ids(rule["rule"], tag_ids)}
    if rule["type"] == "tags":
        return {**rule, "tag_ids": [tag_ids[p] for p in rule["tag_ids"]]}
    return rule


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(people=st.lists(customer, min_size=0, max_size=12), generated=st.lists(rules, min_size=1, max_size=6))
def test_engine_matches_reference(
    engine: Engine, people: list[dict[str, Any]], generated: list[dict[str, Any]]
) -> None:
    tenant_id, tag_ids, data = load(engine, people)
    reference = Reference(data, NOW, ZONE)
    with unit_of_work(engine) as db:
        for rule in generated:
            concrete = with_tag_ids(rule, tag_ids)
            got = set(evaluate(db, tenant_id=tenant_id, rule=concrete, now=NOW).members)
            assert got == reference.members(concrete), concrete
