"""A year of orders for the demo brand, shaped like a real apparel brand's.

Weekly seasonality (weekends busier), 618 and 双11 peaks, an in-store curve over opening hours,
mini-program orders after closing, livestream bursts on Tuesday and Thursday evenings, about 5%
refunds, and repeat purchasing that varies from customer to customer (a heavy-tailed propensity).
Orders go through the same ingest use case as the API, so attribution and bindings are real.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, select

from siyu.core.clock import utcnow
from siyu.customers.models import Customer, CustomerIdentity, TimelineEvent
from siyu.db.base import table_of
from siyu.db.bulk import bulk_insert
from siyu.db.session import unit_of_work
from siyu.demo.loyalty import open_member_cards
from siyu.guides.models import GuideBinding, GuideBindingEvent
from siyu.orders import refunds as refund_service
from siyu.orders import schemas as s
from siyu.orders import service as orders
from siyu.orders.models import Footfall
from siyu.org.facade import StoreInfo, stores_by_id
from siyu.org.models import Staff, StaffStore, Store
from siyu.products import service as products
from siyu.products.schemas import ProductUpsert

CATALOGUE = [
    (("服装", "上衣", "T恤"), "T恤", 9900, 12),
    (("服装", "上衣", "衬衫"), "衬衫", 25900, 8),
    (("服装", "上衣", "卫衣"), "卫衣", 29900, 8),
    (("服装", "外套", "夹克"), "夹克", 49900, 6),
    (("服装", "外套", "羽绒服"), "羽绒服", 89900, 6),
    (("服装", "下装", "牛仔裤"), "牛仔裤", 35900, 8),
    (("服装", "下装", "半身裙"), "半身裙", 29900, 6),
    (("配饰", "包袋"), "托特包", 19900, 4),
    (("配饰", "袜子"), "袜子三双装", 3900, 2),
]
COLOURS = ["黑", "白", "灰", "藏青", "燕麦", "橄榄"]
ONLINE_CHANNELS = [
    ("mini_program", 36),
    ("guide_share", 20),
    ("community_group", 10),
    ("official_account", 4),
    ("platform:tmall", 14),
    ("platform:jd", 8),
    ("platform:douyin", 8),
]
WEEKDAY_FACTOR = (0.85, 0.8, 0.85, 0.9, 1.1, 1.55, 1.4)
HOUR_CURVE = {
    10: 3,
    11: 5,
    12: 7,
    13: 7,
    14: 8,
    15: 9,
    16: 9,
    17: 8,
    18: 8,
    19: 10,
    20: 10,
    21: 7,
    22: 3,
    23: 2,
    0: 1,
    1: 1,
}
ONLINE_HOURS = {
    h: w for h, w in enumerate((3, 2, 1, 1, 1, 1, 2, 3, 4, 5, 5, 6, 7, 6, 5, 5, 5, 5, 6, 8, 10, 12, 12, 8))
}


@dataclass
class _Store:
    info: StoreInfo
    guides: list[str]
    weight: float


def day_factor(day: dt.date) -> float:
    """Weekly rhythm × season × the 618 and 双11 build-ups."""
    factor = WEEKDAY_FACTOR[day.weekday()]
    factor *= {1: 1.25, 2: 0.9, 7: 0.85, 8: 0.85, 10: 1.1, 12: 1.2}.get(day.month, 1.0)
    if day.month == 6 and 1 <= day.day <= 18:
        factor *= 1.3 + (2.5 if day.day == 18 else 0.0)
    if day.month == 11 and 1 <= day.day <= 11:
        factor *= 1.4 + (4.0 if day.day == 11 else 0.0)
    return factor


def _local_time(rng: random.Random, day: dt.date, hours: dict[int, int], tz: ZoneInfo) -> dt.datetime:
    hour = rng.choices(list(hours), weights=list(hours.values()))[0]
    local_day = day + dt.timedelta(days=1) if hour < 6 and hours is HOUR_CURVE else day
    return dt.datetime.combine(local_day, dt.time(hour, rng.randrange(60), rng.randrange(60)), tzinfo=tz)


def build_orders(  # noqa: C901 - to split (docs/architecture.md)
    engine: Engine,
    tenant_id: int,
    *,
    seed: int,
    days: int = 365,
    orders_per_store_day: float = 9.0,
    progress: Callable[[str, int, int], None] | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Generate `days` days of orders up to yesterday (of `now`, by default the real clock); returns
    how many orders were ingested."""
    now = now or utcnow()
    rng = random.Random(seed + 7)
    report = progress or (lambda _stage, _done, _total: None)
    tz = ZoneInfo("Asia/Shanghai")
    today = now.astimezone(tz).date()
    first = today - dt.timedelta(days=days)
    skus: list[tuple[str, int]] = []
    with unit_of_work(engine) as session:
        items = []
        for i, (path, name, price, variants) in enumerate(CATALOGUE):
            for v in range(variants):
                code = f"SKU{i + 1:02d}{v + 1:02d}"
                items.append(
                    ProductUpsert(
                        code=code,
                        name=f"{COLOURS[v % len(COLOURS)]}色{name}",
                        category_path=list(path),
                        list_price_fen=price,
                        cost_fen=price * 38 // 100,
                        floor_prices_fen={
                            "mini_program": price * 70 // 100,
                            "platform:tmall": price * 60 // 100,
                        },
                    )
                )
                skus.append((code, price))
        products.upsert_products(session, tenant_id=tenant_id, products=items, actor=None)
        store_ids = list(
            session.scalars(select(Store.id).where(Store.tenant_id == tenant_id).order_by(Store.id))
        )
        infos = stores_by_id(session, tenant_id=tenant_id, ids=set(store_ids))
        guides: dict[int, list[str]] = {sid: [] for sid in store_ids}
        for store_id, number in session.execute(
            select(StaffStore.store_id, Staff.employee_no)
            .join(Staff, Staff.id == StaffStore.staff_id)
            .where(StaffStore.tenant_id == tenant_id, Staff.role == "guide")
            .order_by(Staff.employee_no)
        ):
            guides[store_id].append(number)
        stores = [_Store(infos[sid], guides[sid], rng.uniform(0.6, 1.6)) for sid in store_ids]
        # One identity per customer to buy with, and a heavy-tailed propensity to buy again.
        buyer_ids: dict[int, tuple[str, str, str]] = {}
        for cid, type_, ns, value in session.execute(
            select(
                CustomerIdentity.customer_id,
                CustomerIdentity.type,
                CustomerIdentity.namespace,
                CustomerIdentity.value,
            )
            .where(
                CustomerIdentity.tenant_id == tenant_id,
                CustomerIdentity.type.in_(("phone", "wechat_unionid")),
            )
            .order_by(CustomerIdentity.id)
        ):
            buyer_ids.setdefault(cid, (type_, ns, value))
        home = dict(
            session.execute(
                select(Customer.id, Customer.store_id).where(Customer.tenant_id == tenant_id)
            ).all()
        )
        _bind_guides(session, tenant_id, first, today, rng, tz)
        open_member_cards(session, tenant_id, first, today, rng, tz, random.Random(seed + 11))
    customers = sorted(buyer_ids)
    propensity = [rng.paretovariate(1.6) for _ in customers]
    by_store: dict[int | None, list[int]] = {}
    for i, cid in enumerate(customers):
        by_store.setdefault(home.get(cid), []).append(i)
    store_pick = [st.weight for st in stores]
    total_days = days
    made = 0
    batch: list[s.OrderIn] = []
    paid: list[tuple[str, str, dt.datetime, int]] = []
    serial = 0

    def flush() -> None:
        nonlocal made
        if batch:
            with unit_of_work(engine) as session:
                orders.ingest_orders(session, tenant_id=tenant_id, orders=batch, source="demo", actor=None)
            made += len(batch)
            batch.clear()

    everyone = list(range(len(customers)))
    cumulative: dict[int | None, list[float]] = {}
    for key, members in [*by_store.items(), (-1, everyone)]:
        running, acc = 0.0, []
        for i in members:
            running += propensity[i]
            acc.append(running)
        cumulative[key] = acc

    def buyer(store_id: int | None) -> dict[str, object] | None:
        """A customer of the store, most often one with a high propensity to buy again."""
        key = store_id if by_store.get(store_id) else -1
        pool = by_store.get(store_id) or everyone
        if not pool:
            return None
        index = rng.choices(pool, cum_weights=cumulative[key])[0]
        type_, ns, value = buyer_ids[customers[index]]
        if type_ == "phone":
            return {"phone": value}
        return {"identities": [{"type": type_, "value": value, "namespace": ns or None}]}

    for offset in range(total_days):
        day = first + dt.timedelta(days=offset)
        factor = day_factor(day)
        footfall_rows = []
        for st in stores:
            expected = orders_per_store_day * factor * st.weight
            n_store = int(rng.gauss(expected, expected**0.5 / 2)) if expected > 0 else 0
            for _ in range(max(0, n_store)):
                at = _local_time(rng, day, HOUR_CURVE, tz)
                if not st.info.is_open(tz, at):
                    continue
                serial += 1
                staff = rng.choice(st.guides) if st.guides and rng.random() < 0.8 else None
                customer = buyer(st.info.id) if rng.random() < 0.75 else None
                batch.append(
                    _order(
                        rng,
                        serial,
                        "pos",
                        at,
                        skus,
                        store=st.info.code,
                        staff=staff,
                        customer=customer,
                        now=now,
                    )
                )
                paid.append(("pos", f"D{serial:08d}", at, len(batch[-1].lines)))
            for hour in range(24):
                moment = dt.datetime.combine(day, dt.time(hour), tzinfo=tz)
                if st.info.is_open(tz, moment):
                    visitors = max(
                        0, int(HOUR_CURVE.get(hour, 1) * factor * st.weight * rng.uniform(2.5, 4.0))
                    )
                    footfall_rows.append(
                        {
                            "tenant_id": tenant_id,
                            "store_id": st.info.id,
                            "hour_start": moment.astimezone(dt.UTC),
                            "visitors": visitors,
                            "updated_at": moment.astimezone(dt.UTC),
                        }
                    )
        online = int(
            orders_per_store_day
            * len(stores)
            * 0.45
            * factor
            * (2.2 if day.month == 11 and day.day == 11 else 1)
        )
        for _ in range(online):
            channel = rng.choices([c for c, _ in ONLINE_CHANNELS], weights=[w for _, w in ONLINE_CHANNELS])[0]
            at = _local_time(rng, day, ONLINE_HOURS, tz)
            st = rng.choices(stores, weights=store_pick)[0]
            staff = rng.choice(st.guides) if channel == "guide_share" and st.guides else None
            if channel == "guide_share" and staff is None:
                channel = "mini_program"
            serial += 1
            batch.append(
                _order(
                    rng,
                    serial,
                    channel,
                    at,
                    skus,
                    store=None,
                    staff=staff,
                    customer=buyer(st.info.id),
                    now=now,
                )
            )
            paid.append((channel, f"D{serial:08d}", at, len(batch[-1].lines)))
        if day.weekday() in (1, 3):  # livestream evenings: a burst between 20:00 and 22:00
            for _ in range(int(len(stores) * 2.5 * factor)):
                at = dt.datetime.combine(day, dt.time(20 + rng.randrange(2), rng.randrange(60)), tzinfo=tz)
                st = rng.choices(stores, weights=store_pick)[0]
                serial += 1
                batch.append(
                    _order(
                        rng,
                        serial,
                        "livestream",
                        at,
                        skus,
                        store=None,
                        staff=None,
                        customer=buyer(st.info.id),
                        now=now,
                    )
                )
                paid.append(("livestream", f"D{serial:08d}", at, len(batch[-1].lines)))
        if len(batch) >= 1000:
            while len(batch) >= 1000:
                head, rest = batch[:1000], batch[1000:]
                batch[:] = head
                flush()
                batch.extend(rest)
        with unit_of_work(engine) as session:
            bulk_insert(session.connection(), table_of(Footfall), footfall_rows)
        report("orders", offset + 1, total_days)
    flush()
    _refunds(engine, tenant_id, rng, paid, now)
    return made


def _order(
    rng: random.Random,
    serial: int,
    channel: str,
    at: dt.datetime,
    skus: list[tuple[str, int]],
    *,
    store: str | None,
    staff: str | None,
    customer: dict[str, object] | None,
    now: dt.datetime | None = None,
) -> s.OrderIn:
    lines: list[dict[str, int | str]] = []
    for _ in range(rng.choices((1, 2, 3, 4), weights=(45, 30, 17, 8))[0]):
        code, price = rng.choice(skus)
        quantity = rng.choices((1, 2, 3), weights=(80, 15, 5))[0]
        discount = price * quantity * rng.choice((0, 0, 0, 10, 20, 30)) // 100
        lines.append(
            {"sku_code": code, "quantity": quantity, "unit_price_fen": price, "discount_fen": discount}
        )
    goods = sum(int(x["quantity"]) * int(x["unit_price_fen"]) - int(x["discount_fen"]) for x in lines)
    shipping = 1000 if channel != "pos" and goods < 19900 else 0
    method = (
        rng.choice(("wechat_pay", "wechat_pay", "alipay", "bank_card")) if channel == "pos" else "wechat_pay"
    )
    if channel.startswith("platform:"):
        method = "platform"
    # A till sale is complete at once; one shipped or picked up completes three days later — an
    # order of the last three days is still only paid (no completion time in the future).
    completed = at + dt.timedelta(minutes=5) if channel == "pos" else at + dt.timedelta(days=3)
    done = now is None or completed <= now
    return s.OrderIn.model_validate(
        {
            "channel": channel,
            "external_id": f"D{serial:08d}",
            "customer": customer,
            "store_code": store,
            "staff_employee_no": staff,
            "status": "completed" if done else "paid",
            "fulfilment": "in_store"
            if channel == "pos"
            else rng.choice(("express", "express", "pickup", "same_city")),
            "placed_at": at,
            "paid_at": at + dt.timedelta(seconds=rng.randrange(5, 90)),
            "completed_at": completed if done else None,
            "lines": lines,
            "shipping_fen": shipping,
            "payments": [{"method": method, "amount_fen": goods + shipping}],
        }
    )


def _refunds(
    engine: Engine,
    tenant_id: int,
    rng: random.Random,
    paid: list[tuple[str, str, dt.datetime, int]],
    now: dt.datetime,
) -> None:
    """About 5% of orders get a refund of one line within a week (never in the future)."""
    wanted = []
    for channel, ext, at, line_count in paid:
        if rng.random() >= 0.05:
            continue
        when = at + dt.timedelta(days=rng.randint(0, 7), hours=rng.randint(1, 20))
        if when >= now:
            continue
        wanted.append(
            s.RefundIn(
                channel=channel,
                order_external_id=ext,
                external_id=f"R{ext}",
                refunded_at=when,
                lines=[s.RefundLineIn(line_no=rng.randint(1, line_count), quantity=1)],
                reason=rng.choice(("尺码不合适", "颜色与图片不符", "不想要了", "质量问题")),
            )
        )
    for i in range(0, len(wanted), 1000):
        with unit_of_work(engine) as session:
            refund_service.refund_orders(
                session, tenant_id=tenant_id, refunds=wanted[i : i + 1000], actor=None
            )


def _bind_guides(
    session: object, tenant_id: int, first: dt.date, today: dt.date, rng: random.Random, tz: ZoneInfo
) -> None:
    """Customers who have a guide were added as that guide's WeCom friend at some point in the year:
    an exclusive binding, its history, and a 'new_fan' timeline event at their store."""
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    rows = session.execute(
        select(Customer.id, Customer.guide_id, Customer.store_id).where(
            Customer.tenant_id == tenant_id, Customer.guide_id.is_not(None)
        )
    ).all()
    span = (today - first).days
    bindings, events, timeline = [], [], []
    for cid, guide_id, store_id in rows:
        local = dt.datetime.combine(
            first + dt.timedelta(days=rng.randrange(span)),
            dt.time(rng.randint(10, 21), rng.randrange(60)),
            tzinfo=tz,
        )
        at = local.astimezone(dt.UTC)
        until = at + dt.timedelta(days=30)
        bindings.append(
            {
                "tenant_id": tenant_id,
                "customer_id": cid,
                "guide_id": guide_id,
                "store_id": store_id,
                "source": "friend_add",
                "started_at": at,
                "protected_until": until,
                "renewed_at": at,
            }
        )
        events.append(
            {
                "tenant_id": tenant_id,
                "customer_id": cid,
                "kind": "bound",
                "guide_id": guide_id,
                "previous_guide_id": None,
                "store_id": store_id,
                "source": "friend_add",
                "occurred_at": at,
                "reference": "demo",
            }
        )
        timeline.append(
            {
                "tenant_id": tenant_id,
                "customer_id": cid,
                "kind": "new_fan",
                "occurred_at": at,
                "actor_type": "system",
                "actor_id": None,
                "data": {"store_id": store_id, "guide_id": guide_id, "channel": "wecom"},
            }
        )
    conn = session.connection()
    bulk_insert(conn, table_of(GuideBinding), bindings)
    bulk_insert(conn, table_of(GuideBindingEvent), events)
    bulk_insert(conn, table_of(TimelineEvent), timeline)
