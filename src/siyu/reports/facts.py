"""The reports' read model: everything reports read of orders, refunds, footfall, bindings and
customers is read here, with a handful of grouped queries (reports read no other table).

What happened at stores in a time range, read with a handful of grouped queries.

Each query is one SQLAlchemy Core expression that runs unchanged on SQLite and PostgreSQL (the
dialect tests compare both). Facts are additive, so a region or the whole brand is a sum of stores.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Select, distinct, func, select
from sqlalchemy.orm import Session

from siyu.customers.facade import Customer, TimelineEvent
from siyu.guides.facade import GuideBindingEvent
from siyu.loyalty.facade import MemberCard, cards_opened
from siyu.orders.facade import Footfall, Order, Refund

UNATTRIBUTED = 0  # key of orders with no store in a brand-wide read
CHUNK = 2000


@dataclass
class Bucket:
    """Orders and money of one slice (a channel, in-store, off-store during or after hours)."""

    orders: int = 0
    paid_fen: int = 0
    refund_fen: int = 0

    @property
    def gmv_fen(self) -> int:
        """Paid minus refunded."""
        return self.paid_fen - self.refund_fen

    def add(self, other: Bucket) -> None:
        """Sum another bucket into this one."""
        self.orders += other.orders
        self.paid_fen += other.paid_fen
        self.refund_fen += other.refund_fen


@dataclass
class StoreFacts:
    """One store's (or a sum of stores') facts for one time range."""

    total: Bucket = field(default_factory=Bucket)
    in_store: Bucket = field(default_factory=Bucket)
    off_open: Bucket = field(default_factory=Bucket)
    off_closed: Bucket = field(default_factory=Bucket)
    off_unknown: Bucket = field(default_factory=Bucket)  # off-store with no attributed store
    channels: dict[str, Bucket] = field(default_factory=lambda: defaultdict(Bucket))
    visitors: int = 0
    new_fans: int = 0
    new_member_cards: int = 0
    buyers: int = 0
    new_buyers: int = 0
    guest_orders: int = 0

    def add(self, other: StoreFacts) -> None:
        """Sum another store's facts into these (buyers are summed store by store)."""
        for name in ("total", "in_store", "off_open", "off_closed", "off_unknown"):
            getattr(self, name).add(getattr(other, name))
        for channel, bucket in other.channels.items():
            self.channels[channel].add(bucket)
        for name in ("visitors", "new_fans", "new_member_cards", "buyers", "new_buyers", "guest_orders"):
            setattr(self, name, getattr(self, name) + getattr(other, name))

    def slice_of(self, placement: str, during_hours: bool | None) -> Bucket:
        """The in-store / hours bucket an order falls in."""
        if placement == "in_store":
            return self.in_store
        if during_hours is None:
            return self.off_unknown
        return self.off_open if during_hours else self.off_closed


def _stores(stmt: Select, column: object, store_ids: list[int] | None) -> Select:  # type: ignore[type-arg]
    return stmt if store_ids is None else stmt.where(column.in_(store_ids))  # type: ignore[attr-defined]


def read_facts(
    session: Session, *, tenant_id: int, store_ids: list[int] | None, start: dt.datetime, end: dt.datetime
) -> dict[int, StoreFacts]:
    """Facts per store id in [start, end); store_ids None reads every store (no store → key 0)."""
    facts: dict[int, StoreFacts] = defaultdict(StoreFacts)
    o = Order
    # Paid orders by store, channel and in-store / hours class.
    stmt = select(
        o.store_id, o.channel, o.placement, o.during_hours, func.count(), func.sum(o.paid_fen)
    ).where(o.tenant_id == tenant_id, o.paid_at >= start, o.paid_at < end)
    stmt = _stores(stmt, o.store_id, store_ids).group_by(o.store_id, o.channel, o.placement, o.during_hours)
    for store_id, channel, placement, during, count, paid in session.execute(stmt):
        f = facts[store_id or UNATTRIBUTED]
        for bucket in (f.total, f.slice_of(placement, during), f.channels[channel]):
            bucket.orders += count
            bucket.paid_fen += int(paid or 0)
    # Refunds made in the range, counted where their order was (store, channel, class).
    r = Refund
    refunds = select(r.store_id, r.channel, r.placement, r.during_hours, func.sum(r.amount_fen)).where(
        r.tenant_id == tenant_id, r.refunded_at >= start, r.refunded_at < end
    )
    refunds = _stores(refunds, r.store_id, store_ids).group_by(
        r.store_id, r.channel, r.placement, r.during_hours
    )
    for store_id, channel, placement, during, amount in session.execute(refunds):
        f = facts[store_id or UNATTRIBUTED]
        for bucket in (f.total, f.slice_of(placement, during), f.channels[channel]):
            bucket.refund_fen += int(amount or 0)
    # Footfall.
    footfall = select(Footfall.store_id, func.sum(Footfall.visitors)).where(
        Footfall.tenant_id == tenant_id, Footfall.hour_start >= start, Footfall.hour_start < end
    )
    footfall = _stores(footfall, Footfall.store_id, store_ids).group_by(Footfall.store_id)
    for store_id, visitors in session.execute(footfall):
        facts[store_id].visitors = int(visitors or 0)
    # New fans: timeline events that the WeCom capability writes with the store they came through.
    event_store = TimelineEvent.data["store_id"].as_integer()
    fans = select(event_store, func.count(distinct(TimelineEvent.customer_id))).where(
        TimelineEvent.tenant_id == tenant_id,
        TimelineEvent.kind == "new_fan",
        TimelineEvent.occurred_at >= start,
        TimelineEvent.occurred_at < end,
    )
    for store_id, count in session.execute(_stores(fans, event_store, store_ids).group_by(event_store)):
        if store_id is not None:
            facts[store_id].new_fans = count
    # Member cards opened at each store (loyalty's cards: where each was opened).
    for store_id, count in cards_opened(
        session, tenant_id=tenant_id, start=start, end=end, store_ids=store_ids
    ).items():
        facts[store_id].new_member_cards = count
    _buyers(session, tenant_id, store_ids, start, end, facts)
    return facts


def _buyers(
    session: Session,
    tenant_id: int,
    store_ids: list[int] | None,
    start: dt.datetime,
    end: dt.datetime,
    facts: dict[int, StoreFacts],
) -> None:
    """Buyers per store, and which were new to the brand (no paid order anywhere before `start`)."""
    o = Order
    stmt = select(o.store_id, o.customer_id, func.count()).where(
        o.tenant_id == tenant_id, o.paid_at >= start, o.paid_at < end
    )
    pairs = session.execute(_stores(stmt, o.store_id, store_ids).group_by(o.store_id, o.customer_id)).all()
    customer_ids = sorted({c for _, c, _ in pairs if c is not None})
    repeat: set[int] = set()
    for i in range(0, len(customer_ids), CHUNK):
        chunk = customer_ids[i : i + CHUNK]
        repeat.update(
            session.scalars(
                select(o.customer_id)
                .where(o.tenant_id == tenant_id, o.customer_id.in_(chunk), o.paid_at < start)
                .distinct()
            )
        )
    for store_id, customer_id, count in pairs:
        f = facts[store_id or UNATTRIBUTED]
        if customer_id is None:
            f.guest_orders += count
            continue
        f.buyers += 1
        if customer_id not in repeat:
            f.new_buyers += 1


# --- the rest of what reports read of other domains ---------------------------------------------
def store_hours(
    session: Session, *, tenant_id: int, store_id: int, start: dt.datetime, end: dt.datetime
) -> tuple[list[tuple[dt.datetime, int]], list[tuple[dt.datetime, int]]]:
    """A store's paid orders (payment time, amount) and footfall (hour, visitors) in [start, end)."""
    paid = [
        (at, amount)
        for at, amount in session.execute(
            select(Order.paid_at, Order.paid_fen).where(
                Order.tenant_id == tenant_id,
                Order.store_id == store_id,
                Order.paid_at >= start,
                Order.paid_at < end,
            )
        )
        if at is not None
    ]
    visitors = [
        (hour, count)
        for hour, count in session.execute(
            select(Footfall.hour_start, Footfall.visitors).where(
                Footfall.tenant_id == tenant_id,
                Footfall.store_id == store_id,
                Footfall.hour_start >= start,
                Footfall.hour_start < end,
            )
        )
    ]
    return paid, visitors


@dataclass
class GuideFacts:
    """One guide's figures in a range: orders and paid by the payment time, refunds by the refund
    time, customers newly bound to them."""

    orders: int = 0
    paid_fen: int = 0
    refund_fen: int = 0
    new_customers: int = 0


def guide_facts(
    session: Session, *, tenant_id: int, store_id: int | None, start: dt.datetime, end: dt.datetime
) -> dict[int, GuideFacts]:
    """Per guide (of one store's orders, refunds and bindings, or the brand's: store_id None)."""
    out: dict[int, GuideFacts] = defaultdict(GuideFacts)
    orders = select(Order.guide_id, func.count(), func.sum(Order.paid_fen)).where(
        Order.tenant_id == tenant_id, Order.paid_at >= start, Order.paid_at < end, Order.guide_id.is_not(None)
    )
    refunds = select(Refund.guide_id, func.sum(Refund.amount_fen)).where(
        Refund.tenant_id == tenant_id,
        Refund.refunded_at >= start,
        Refund.refunded_at < end,
        Refund.guide_id.is_not(None),
    )
    bound = select(
        GuideBindingEvent.guide_id, func.count(func.distinct(GuideBindingEvent.customer_id))
    ).where(
        GuideBindingEvent.tenant_id == tenant_id,
        GuideBindingEvent.kind.in_(("bound", "taken_over")),
        GuideBindingEvent.occurred_at >= start,
        GuideBindingEvent.occurred_at < end,
    )
    if store_id is not None:
        orders = orders.where(Order.store_id == store_id)
        refunds = refunds.where(Refund.store_id == store_id)
        bound = bound.where(GuideBindingEvent.store_id == store_id)
    for guide_id, count, paid in session.execute(orders.group_by(Order.guide_id)):
        out[guide_id or 0].orders, out[guide_id or 0].paid_fen = count, int(paid or 0)
    if store_id is not None:
        for guide_id, amount in session.execute(refunds.group_by(Refund.guide_id)):
            out[guide_id or 0].refund_fen = int(amount or 0)
        for guide_id, count in session.execute(bound.group_by(GuideBindingEvent.guide_id)):
            out[guide_id or 0].new_customers = count
    return dict(out)


def _utc_hour(session: Session, column: Any) -> Any:
    """The UTC hour an instant falls in, as the engine can group by it."""
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))
    return func.substr(column, 1, 13)  # SQLite stores 'YYYY-MM-DD HH:MM:SS.ffffff' in UTC


def _as_utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        return dt.datetime.strptime(value, "%Y-%m-%d %H").replace(tzinfo=dt.UTC)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC)


def hourly_totals(
    session: Session, *, tenant_id: int, start: dt.datetime, end: dt.datetime
) -> dict[str, list[tuple[dt.datetime, int, int]]]:
    """Brand totals per UTC hour in [start, end): paid (amount, orders), refunds, new customers, new
    member cards — one grouped query each, whatever the number of stores."""

    def rows(column: Any, value: Any, count: Any, *where: Any) -> list[tuple[dt.datetime, int, int]]:
        hour = _utc_hour(session, column)
        stmt = select(hour, value, count).where(*where, column >= start, column < end).group_by(hour)
        return [(_as_utc(h), int(v or 0), int(n or 0)) for h, v, n in session.execute(stmt)]

    return {
        "paid_fen": rows(Order.paid_at, func.sum(Order.paid_fen), func.count(), Order.tenant_id == tenant_id),
        "refund_fen": rows(
            Refund.refunded_at, func.sum(Refund.amount_fen), func.count(), Refund.tenant_id == tenant_id
        ),
        "new_customers": rows(
            Customer.created_at, func.count(), func.count(), Customer.tenant_id == tenant_id
        ),
        "new_member_cards": rows(
            MemberCard.opened_at, func.count(), func.count(), MemberCard.tenant_id == tenant_id
        ),
    }
