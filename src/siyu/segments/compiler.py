"""Behaviour, reachability and consent conditions compiled to SQLAlchemy Core expressions.

Each compiles to a SELECT of customer numbers built only from portable operations (joins, GROUP BY,
HAVING with count/sum/max, comparisons with bound values), so the same expression runs on SQLite,
PostgreSQL and, through the same Core objects, on an analytics engine later. Nothing is formatted
into SQL text. A condition that also holds for customers with no matching rows (say "fewer than 2
orders") is compiled as its complement: everyone except those whose rows fail it.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, and_, exists, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from siyu.customers.facade import ConsentRecord, Customer, CustomerIdentity, TimelineEvent
from siyu.db.base import table_of
from siyu.orders.facade import Order, OrderLine
from siyu.segments import rules as r
from siyu.wecom.facade import WeComFriend

C = table_of(Customer)
ORD = table_of(Order)
L = table_of(OrderLine)
T = table_of(TimelineEvent)
CONSENTS = table_of(ConsentRecord)
IDENTITIES = table_of(CustomerIdentity)
FRIENDS = table_of(WeComFriend)

COMPARE: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "=": operator.eq,
    "!=": operator.ne,
}
NEGATE = {">=": "<", ">": "<=", "<=": ">", "<": ">=", "=": "!=", "!=": "="}


@dataclass(frozen=True)
class Context:
    """What a rule is evaluated against: tenant, now, zone, and references resolved to ids."""

    tenant_id: int
    now: dt.datetime
    zone: ZoneInfo
    store_ids: dict[str, int]  # store code -> id
    product_ids: dict[str, list[int]]  # "sku:CODE" / "category:NAME" -> product ids

    def bounds(self, window: r.Window) -> tuple[dt.datetime, dt.datetime]:
        """[start, end) of a window in UTC: the last N×24 h, or whole local days inclusive."""
        if window.last_days is not None:
            return self.now - dt.timedelta(days=window.last_days), self.now
        assert window.from_date is not None and window.to_date is not None
        start = dt.datetime.combine(window.from_date, dt.time(), self.zone)
        end = dt.datetime.combine(window.to_date + dt.timedelta(days=1), dt.time(), self.zone)
        return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


@dataclass(frozen=True)
class Compiled:
    """Numbers selected by `query`; when `complement`, the condition is everyone else."""

    query: Select[Any]
    complement: bool = False


def holds_for_zero(op: str, value: int) -> bool:
    """Whether `0 op value` is true (a customer with no rows then matches)."""
    return bool(COMPARE[op](0, value))


def _order_filters(node: r.Orders, ctx: Context, start: dt.datetime, end: dt.datetime) -> list[Any]:
    where: list[Any] = [
        ORD.c.tenant_id == ctx.tenant_id,
        ORD.c.customer_id.is_not(None),
        ORD.c.paid_at.is_not(None),
        ORD.c.paid_at >= start,
        ORD.c.paid_at < end,
    ]
    if node.channels:
        where.append(ORD.c.channel.in_(node.channels))
    if node.store_codes:
        where.append(ORD.c.store_id.in_([ctx.store_ids[code] for code in node.store_codes]))
    return where


def product_filter(node: r.Orders, ctx: Context) -> list[int] | None:
    """Product ids an order line must be one of, or None when the condition names no SKU/category."""
    if not node.skus and not node.categories:
        return None
    ids: set[int] = set()
    for sku in node.skus or []:
        ids.update(ctx.product_ids[f"sku:{sku}"])
    for category in node.categories or []:
        ids.update(ctx.product_ids[f"category:{category}"])
    return sorted(ids)


def compile_orders(node: r.Orders, ctx: Context) -> Compiled:
    """Paid orders in the window; with SKUs/categories only matching lines count (their amounts)."""
    start, end = ctx.bounds(node.window)
    where = _order_filters(node, ctx, start, end)
    products = product_filter(node, ctx)
    if products is None:
        net: ColumnElement[Any] = ORD.c.paid_fen - ORD.c.refunded_fen
        source = ORD.join(C, C.c.id == ORD.c.customer_id)
        count: ColumnElement[Any] = func.count(ORD.c.id)
    else:
        net = L.c.amount_fen - L.c.refunded_fen
        source = ORD.join(L, L.c.order_id == ORD.c.id).join(C, C.c.id == ORD.c.customer_id)
        where.append(L.c.product_id.in_(products) if products else False)
        count = func.count(ORD.c.id.distinct())
    total = func.sum(net)

    def having(op: str) -> ColumnElement[bool]:
        compare = COMPARE[op]
        if node.measure == "count":
            return compare(count, node.value)  # type: ignore[no-any-return]
        if node.measure == "gmv_fen":
            return compare(total, node.value)  # type: ignore[no-any-return]
        # Average without division (exact on every engine): sum op value × count.
        return compare(total, count * node.value)  # type: ignore[no-any-return]

    query = select(C.c.number).select_from(source).where(*where).group_by(C.c.number)
    if node.measure != "aov_fen" and holds_for_zero(node.op, node.value):
        return Compiled(query.having(having(NEGATE[node.op])), complement=True)
    return Compiled(query.having(having(node.op)))


def compile_last_purchase(node: r.LastPurchase, ctx: Context) -> Compiled:
    """Whole days since the newest paid order, as instants: days >= N ⇔ newest <= now − N days."""
    newest = func.max(ORD.c.paid_at)

    def at_least(days: int) -> ColumnElement[bool]:
        return newest <= ctx.now - dt.timedelta(days=days)

    conditions = {
        ">=": at_least(node.days),
        ">": at_least(node.days + 1),
        "<": ~at_least(node.days),
        "<=": ~at_least(node.days + 1),
        "=": and_(at_least(node.days), ~at_least(node.days + 1)),
        "!=": ~and_(at_least(node.days), ~at_least(node.days + 1)),
    }
    query = (
        select(C.c.number)
        .select_from(ORD.join(C, C.c.id == ORD.c.customer_id))
        .where(ORD.c.tenant_id == ctx.tenant_id, ORD.c.customer_id.is_not(None), ORD.c.paid_at.is_not(None))
        .group_by(C.c.number)
        .having(conditions[node.op])
    )
    return Compiled(query)


def compile_interactions(node: r.Interactions, ctx: Context) -> Compiled:
    """Timeline events of the kinds in the window, counted per customer."""
    start, end = ctx.bounds(node.window)
    query = (
        select(C.c.number)
        .select_from(T.join(C, C.c.id == T.c.customer_id))
        .where(
            T.c.tenant_id == ctx.tenant_id,
            T.c.kind.in_(node.kinds),
            T.c.occurred_at >= start,
            T.c.occurred_at < end,
        )
        .group_by(C.c.number)
    )
    count = func.count(T.c.id)
    if holds_for_zero(node.op, node.value):
        return Compiled(query.having(COMPARE[NEGATE[node.op]](count, node.value)), complement=True)
    return Compiled(query.having(COMPARE[node.op](count, node.value)))


def compile_consent(node: r.Consent, ctx: Context) -> Compiled:
    """The latest record for the purpose grants consent: latest by `recorded_at`, ties by id (a merge
    brings another customer's records, whose ids say nothing about when they were recorded)."""
    newer = CONSENTS.alias("newer")
    latest = ~exists(
        select(newer.c.id).where(
            newer.c.customer_id == CONSENTS.c.customer_id,
            newer.c.purpose == CONSENTS.c.purpose,
            or_(
                newer.c.recorded_at > CONSENTS.c.recorded_at,
                and_(newer.c.recorded_at == CONSENTS.c.recorded_at, newer.c.id > CONSENTS.c.id),
            ),
        )
    )
    query = (
        select(C.c.number)
        .select_from(CONSENTS.join(C, C.c.id == CONSENTS.c.customer_id))
        .where(
            CONSENTS.c.tenant_id == ctx.tenant_id,
            CONSENTS.c.purpose == node.purpose,
            CONSENTS.c.granted.is_(True),
            latest,
        )
    )
    return Compiled(query)


def compile_reachable(node: r.Reachable, ctx: Context) -> Compiled:
    """WeCom: a guide has them as a friend now; official account: an openid is known."""
    if node.via == "wecom":
        query = (
            select(C.c.number)
            .select_from(FRIENDS.join(C, C.c.id == FRIENDS.c.customer_id))
            .where(FRIENDS.c.tenant_id == ctx.tenant_id, FRIENDS.c.deleted_at.is_(None))
            .distinct()
        )
    else:
        query = (
            select(C.c.number)
            .select_from(IDENTITIES.join(C, C.c.id == IDENTITIES.c.customer_id))
            .where(IDENTITIES.c.tenant_id == ctx.tenant_id, IDENTITIES.c.type == "wechat_openid")
            .distinct()
        )
    return Compiled(query)


COMPILERS: dict[type, Callable[[Any, Context], Compiled]] = {
    r.Orders: compile_orders,
    r.LastPurchase: compile_last_purchase,
    r.Interactions: compile_interactions,
    r.Consent: compile_consent,
    r.Reachable: compile_reachable,
}
