"""Use cases of orders: batch ingest from every channel (dedupe, history, attribution), reading.

One batch is one transaction and all or nothing: any bad order rejects the batch with a row report.
The same channel + external id never makes a second order; a changed payload updates the order and
keeps the previous one as a revision. A payload whose status is behind the stored one (an old
message delivered late) changes nothing and is answered `stale`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, delete, func, select, update
from sqlalchemy.orm import Session

from siyu import events
from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, RowError, not_found, rejected
from siyu.core.inputs import ascii_digits
from siyu.core.money import allocate
from siyu.customers import facade as customers
from siyu.customers.facade import IdentityIn, IdentityKey
from siyu.db.base import table_of
from siyu.db.bulk import bulk_insert
from siyu.db.expressions import one_of
from siyu.db.pagination import count_rows, newest_first_page, offset_page
from siyu.guides.facade import BindingBook
from siyu.orders import attribution as attr
from siyu.orders import schemas as s
from siyu.orders import stats
from siyu.orders.models import Order, OrderLine, OrderPayment, OrderRevision, Refund, RefundLine
from siyu.org import facade as org
from siyu.org.facade import Tenant
from siyu.products.facade import products_by_code

MAX_BATCH = 1000
STATUS_RANK = {"created": 0, "paid": 1, "fulfilled": 2, "completed": 3, "cancelled": 0}
ORDERS = table_of(Order)
LINES = table_of(OrderLine)
PAYMENTS = table_of(OrderPayment)
REVISIONS = table_of(OrderRevision)
SNAPSHOT_FIELDS = (
    "customer_id",
    "store_id",
    "guide_id",
    "attribution_reason",
    "source_store_id",
    "source_staff_id",
    "placement",
    "during_hours",
    "fulfilment",
    "status",
    "currency",
    "placed_at",
    "paid_at",
    "fulfilled_at",
    "completed_at",
    "cancelled_at",
    "goods_fen",
    "discount_fen",
    "shipping_fen",
    "total_fen",
    "paid_fen",
)


def _err(row: int, column: str | None, code: str, zh: str, en: str) -> RowError:
    return RowError(row, column, code, zh, en)


def unknown_reference(row: int, column: str, code: str, what_zh: str, what_en: str, value: str) -> RowError:
    """A reference to something the brand does not have, named in both languages."""
    return RowError(row, column, code, f"{what_zh}“{value}”不存在", f"unknown {what_en} '{value}'")


@dataclass
class _Row:
    """One order of a batch on its way in."""

    row: int
    data: s.OrderIn
    payload_hash: str
    keys: list[IdentityKey] = field(default_factory=list)
    customer_id: int | None = None
    store: org.StoreInfo | None = None
    staff: org.StaffInfo | None = None
    values: dict[str, Any] = field(default_factory=dict)
    lines: list[dict[str, Any]] = field(default_factory=list)
    payments: list[dict[str, Any]] = field(default_factory=list)
    existing: Order | None = None
    outcome: s.OUTCOME = "created"


# --- pure computation -------------------------------------------------------------------------
def compute_amounts(
    order: s.OrderIn, product_ids: dict[str, int], row: int
) -> tuple[dict[str, int], list[dict[str, Any]], list[RowError]]:
    """Line amounts after discounts (the order discount allocated by line value, remainder last)."""
    errors: list[RowError] = []
    nets = []
    for j, line in enumerate(order.lines):
        gross = line.quantity * line.unit_price_fen
        if line.discount_fen > gross:
            errors.append(
                _err(
                    row,
                    f"lines[{j}].discount_fen",
                    "discount_exceeds_line",
                    f"第 {j + 1} 行折扣 {line.discount_fen} 分超过行金额 {gross} 分",
                    f"line {j + 1} discount {line.discount_fen} fen exceeds the line's {gross} fen",
                )
            )
        nets.append(max(gross - line.discount_fen, 0))
    net_sum = sum(nets)
    if order.order_discount_fen > net_sum:
        errors.append(
            _err(
                row,
                "order_discount_fen",
                "discount_exceeds_order",
                f"整单折扣 {order.order_discount_fen} 分超过商品金额 {net_sum} 分",
                f"order discount {order.order_discount_fen} fen exceeds the goods' {net_sum} fen",
            )
        )
    if errors:
        return {}, [], errors
    shares = allocate(order.order_discount_fen, nets) if net_sum > 0 else [0] * len(nets)
    lines = []
    for j, (line, net, share) in enumerate(zip(order.lines, nets, shares, strict=True)):
        lines.append(
            {
                "line_no": j + 1,
                "product_id": product_ids[line.sku_code],
                "sku_code": line.sku_code,
                "quantity": line.quantity,
                "unit_price_fen": line.unit_price_fen,
                "discount_fen": line.discount_fen + share,
                "amount_fen": net - share,
                "refunded_quantity": 0,
                "refunded_fen": 0,
            }
        )
    goods = sum(line.quantity * line.unit_price_fen for line in order.lines)
    discount = sum(line.discount_fen for line in order.lines) + order.order_discount_fen
    totals = {
        "goods_fen": goods,
        "discount_fen": discount,
        "shipping_fen": order.shipping_fen,
        "total_fen": goods - discount + order.shipping_fen,
        "paid_fen": sum(p.amount_fen for p in order.payments),
    }
    return totals, lines, []


def check_status(order: s.OrderIn, totals: dict[str, int], row: int) -> list[RowError]:
    """Status, times and payments must agree."""
    errors = []
    paid_like = order.status in ("paid", "fulfilled", "completed")
    if paid_like and order.paid_at is None:
        errors.append(
            _err(row, "paid_at", "paid_at_required", "已支付状态需要支付时间", "a paid order needs paid_at")
        )
    if paid_like and totals["paid_fen"] != totals["total_fen"]:
        errors.append(
            _err(
                row,
                "payments",
                "payments_mismatch",
                f"支付合计 {totals['paid_fen']} 分与应付 {totals['total_fen']} 分不一致",
                f"payments add up to {totals['paid_fen']} fen, the order totals {totals['total_fen']} fen",
            )
        )
    if not paid_like and (order.paid_at is not None or order.payments):
        zh = "已支付的订单不能取消，请提交退款" if order.status == "cancelled" else "未支付订单不应有支付记录"
        en = (
            "a paid order is not cancelled; send a refund"
            if order.status == "cancelled"
            else "an unpaid order carries no payment"
        )
        errors.append(_err(row, "status", "status_mismatch", zh, en))
    if order.paid_at is not None and order.paid_at < order.placed_at - dt.timedelta(minutes=5):
        errors.append(
            _err(row, "paid_at", "paid_before_placed", "支付时间早于下单时间", "paid_at is before placed_at")
        )
    return errors


def payload_hash(order: s.OrderIn) -> str:
    """A digest of what the channel sent (same payload → same digest)."""
    return hashlib.sha256(order.model_dump_json().encode()).hexdigest()


# --- ingest -----------------------------------------------------------------------------------
def ingest_orders(
    session: Session,
    *,
    tenant_id: int,
    orders: list[s.OrderIn],
    source: str,
    actor: Principal | None,
) -> s.OrderBatchResult:
    """Create or update up to 1,000 orders; all or nothing with a row-level error report."""
    if len(orders) > MAX_BATCH:
        raise DomainError("batch_too_large", limit=MAX_BATCH, count=len(orders))
    if not orders:
        return s.OrderBatchResult(created=0, updated=0, unchanged=0, stale=0, results=[])
    now = utcnow()
    tenant = session.execute(select(Tenant.currency, Tenant.timezone).where(Tenant.id == tenant_id)).one()
    tz = ZoneInfo(tenant.timezone)
    rows = [_Row(row=i, data=o, payload_hash=payload_hash(o)) for i, o in enumerate(orders, start=1)]
    errors = _check_batch(session, tenant_id, tenant.currency, rows)
    errors += _load_existing(session, tenant_id, rows)
    customer_errors, to_create, owners = _resolve_customers(session, tenant_id, rows)
    errors += customer_errors
    if errors:
        raise rejected(errors)
    _create_customers(session, tenant_id, to_create, owners, source, actor)

    offers = any(
        r.data.channel == "guide_share" and r.data.paid_at is not None and r.outcome in ("created", "updated")
        for r in rows
    )
    book = BindingBook.load(
        session,
        tenant_id=tenant_id,
        customer_ids={r.customer_id for r in rows if r.customer_id},
        for_update=offers,
    )
    binding_stores = org.stores_by_id(
        session,
        tenant_id=tenant_id,
        ids={st.store_id for st in book.states.values() if st.store_id is not None},
    )
    for r in rows:  # in batch order: a link purchase binds the guide for the orders after it
        _attribute(r, book, binding_stores)
        previously_paid = r.existing is not None and r.existing.paid_at is not None
        if r.outcome in ("created", "updated") and r.data.paid_at is not None and not previously_paid:
            _on_first_payment(r, book)
    resolve_hours(session, tenant_id, rows, tz)
    touched = {r.existing.customer_id for r in rows if r.existing is not None and r.outcome == "updated"}
    for r in rows:  # updates first: one refused makes the batch fail before anything new is written
        if r.outcome == "updated":
            _apply_update(session, tenant_id, r, now, source)
    _insert_new(session, tenant_id, [r for r in rows if r.outcome == "created"], now)
    book.flush(session)
    touched |= {r.values["customer_id"] for r in rows if r.outcome in ("created", "updated")}
    stats.refresh(session, tenant_id=tenant_id, customer_ids=touched)
    counts: dict[str, int] = defaultdict(int)
    results = []
    for r in rows:
        counts[r.outcome] += 1
        order_id = r.existing.id if r.existing is not None else r.values["id"]
        v = r.values if r.outcome in ("created", "updated") else _values_of(r.existing)
        results.append(
            s.IngestResult(
                row=r.row,
                order_id=order_id,
                outcome=r.outcome,
                revision=v["revision"],
                store_id=v["store_id"],
                guide_id=v["guide_id"],
                attribution_reason=v["attribution_reason"],
            )
        )
    changed = [x.order_id for x in results if x.outcome in ("created", "updated")]
    if changed:
        events.record(
            session,
            "orders.ingested",
            tenant_id=tenant_id,
            aggregate="orders",
            data={"order_ids": changed, "source": source},
        )
    return s.OrderBatchResult(
        created=counts["created"],
        updated=counts["updated"],
        unchanged=counts["unchanged"],
        stale=counts["stale"],
        results=results,
    )


def _values_of(order: Order | None) -> dict[str, Any]:
    assert order is not None
    return {
        "revision": order.revision,
        "store_id": order.store_id,
        "guide_id": order.guide_id,
        "attribution_reason": order.attribution_reason,
    }


def _check_batch(session: Session, tenant_id: int, currency: str, rows: list[_Row]) -> list[RowError]:  # noqa: C901 - to split (docs/architecture.md)
    """Everything that can be checked before touching customers: references, money, status."""
    errors: list[RowError] = []
    sku_codes = {line.sku_code for r in rows for line in r.data.lines}
    products = products_by_code(session, tenant_id=tenant_id, codes=sku_codes)
    stores = org.stores_by_code(
        session, tenant_id=tenant_id, codes={r.data.store_code for r in rows if r.data.store_code}
    )
    staff = org.staff_by_employee_no(
        session,
        tenant_id=tenant_id,
        numbers={r.data.staff_employee_no for r in rows if r.data.staff_employee_no},
    )
    product_ids = {code: p.id for code, p in products.items()}
    seen: dict[tuple[str, str], int] = {}
    for r in rows:
        o = r.data
        key = (o.channel, o.external_id)
        if key in seen:
            errors.append(
                _err(
                    r.row,
                    "external_id",
                    "duplicate_in_batch",
                    f"订单 {o.channel}/{o.external_id} 与第 {seen[key]} 条重复",
                    f"order {o.channel}/{o.external_id} repeats row {seen[key]}",
                )
            )
        seen.setdefault(key, r.row)
        if o.currency != currency:
            errors.append(
                _err(
                    r.row,
                    "currency",
                    "currency_mismatch",
                    f"币种 {o.currency} 与品牌结算币种 {currency} 不一致",
                    f"currency {o.currency} is not the brand's {currency}",
                )
            )
        unknown = [line.sku_code for line in o.lines if line.sku_code not in products]
        for code in dict.fromkeys(unknown):
            errors.append(unknown_reference(r.row, "lines.sku_code", "unknown_sku", "商品 SKU", "SKU", code))
        if o.store_code is not None:
            r.store = stores.get(o.store_code)
            if r.store is None:
                errors.append(
                    unknown_reference(r.row, "store_code", "unknown_store", "门店", "store", o.store_code)
                )
        elif o.in_store:
            what = "POS 订单" if o.channel == "pos" else "店内订单"
            errors.append(
                _err(
                    r.row,
                    "store_code",
                    "store_required",
                    f"{what}需要门店编码",
                    "an in-store order needs store_code",
                )
            )
        if o.staff_employee_no is not None:
            r.staff = staff.get(o.staff_employee_no)
            if r.staff is None:
                errors.append(
                    unknown_reference(
                        r.row,
                        "staff_employee_no",
                        "unknown_staff",
                        "员工工号",
                        "employee number",
                        o.staff_employee_no,
                    )
                )
        elif o.channel == "guide_share":
            errors.append(
                _err(
                    r.row,
                    "staff_employee_no",
                    "guide_required",
                    "导购分享订单需要导购工号",
                    "a guide_share order needs the guide's employee number",
                )
            )
        if unknown:
            continue
        totals, lines, money_errors = compute_amounts(o, product_ids, r.row)
        errors += money_errors
        if money_errors:
            continue
        errors += check_status(o, totals, r.row)
        r.lines = lines
        r.values = totals
        r.payments = [p.model_dump() for p in o.payments]
    return errors


def _load_existing(session: Session, tenant_id: int, rows: list[_Row]) -> list[RowError]:
    """Find orders already stored under the same channel + external id, and what a resend means."""
    errors: list[RowError] = []
    by_channel: dict[str, list[str]] = defaultdict(list)
    for r in rows:
        by_channel[r.data.channel].append(r.data.external_id)
    found: dict[tuple[str, str], Order] = {}
    for channel, ids in by_channel.items():  # one index range per channel (an OR of them scans)
        for o in session.scalars(
            select(Order).where(
                Order.tenant_id == tenant_id,
                Order.channel == channel,
                one_of(session, Order.external_id, ids),
            )
        ):
            found[(o.channel, o.external_id)] = o
    for r in rows:
        r.existing = found.get((r.data.channel, r.data.external_id))
        if r.existing is None:
            continue
        old, new = r.existing, r.data
        if new.status == "cancelled" and old.paid_at is not None:
            errors.append(
                _err(
                    r.row,
                    "status",
                    "status_mismatch",
                    "订单已支付，不能取消，请提交退款",
                    "the order was paid; it is reversed by refunds, not cancelled",
                )
            )
        if old.payload_hash == r.payload_hash:
            r.outcome = "unchanged"
        elif (old.status == "cancelled" and new.status != "cancelled") or STATUS_RANK[
            new.status
        ] < STATUS_RANK[old.status]:
            r.outcome = "stale"
        else:
            r.outcome = "updated"
    return errors


_Plan = list[tuple[list["_Row"], list[IdentityKey], int | None, int | None]]  # rows, keys, owner, home


def _resolve_customers(  # noqa: C901 - to split (docs/architecture.md)
    session: Session, tenant_id: int, rows: list[_Row]
) -> tuple[list[RowError], _Plan, dict[IdentityKey, int]]:
    """Find each buyer by any identity; plan the new ones (created by one upsert for the batch).

    Orders whose identities overlap are one buyer (union-find over identities).
    """
    errors: list[RowError] = []
    wanted = [r for r in rows if r.data.customer is not None and r.outcome in ("created", "updated")]
    for r in wanted:
        assert r.data.customer is not None
        raw = list(r.data.customer.identities)
        if r.data.customer.phone:
            raw.append(IdentityIn(type="phone", value=r.data.customer.phone))
        for j, ident in enumerate(raw):
            try:
                key = customers.normalise(ident.type, ident.value, ident.namespace)
            except DomainError as exc:
                column = (
                    f"customer.identities[{j}]" if j < len(r.data.customer.identities) else "customer.phone"
                )
                errors.append(_err(r.row, column, exc.code, exc.message(), exc.message("en")))
                continue
            if key not in r.keys:
                r.keys.append(key)
    owners = customers.identity_owners(session, tenant_id=tenant_id, keys=[k for r in wanted for k in r.keys])
    parent = list(range(len(wanted)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_of: dict[IdentityKey, int] = {}
    for i, r in enumerate(wanted):
        for k in r.keys:
            if k in first_of:
                parent[find(i)] = find(first_of[k])
            else:
                first_of[k] = i
    groups: dict[int, list[_Row]] = defaultdict(list)
    for i, r in enumerate(wanted):
        groups[find(i)].append(r)
    plan: _Plan = []
    for members in groups.values():
        keys = list(dict.fromkeys(k for r in members for k in r.keys))
        if not keys:
            continue
        found = {owners[k] for k in keys if k in owners}
        if len(found) > 1:
            for r in members:
                errors.append(
                    _err(
                        r.row,
                        "customer",
                        "identity_conflict",
                        f"买家身份标识分属不同客户 {sorted(found)}，请先合并",
                        f"the buyer's identities belong to different customers {sorted(found)}; merge first",
                    )
                )
            continue
        owner = found.pop() if found else None
        if owner is not None and all(k in owners for k in keys):
            for r in members:
                r.customer_id = owner
        else:
            plan.append((members, keys, owner, next((r.store.id for r in members if r.store), None)))
    return errors, plan, owners


def _create_customers(
    session: Session,
    tenant_id: int,
    plan: _Plan,
    owners: dict[IdentityKey, int],
    source: str,
    actor: Principal | None,
) -> None:
    """Create new buyers, and add new identities to known ones, in one set-based write."""
    if not plan:
        return
    ids = customers.attach_identities(
        session,
        tenant_id=tenant_id,
        groups=[(keys, owner, home) for _, keys, owner, home in plan],
        known=set(owners),
        source=source,
        actor=actor,
    )
    for (members, _, _, _), customer_id in zip(plan, ids, strict=True):
        for r in members:
            r.customer_id = customer_id


def _attribute(r: _Row, book: BindingBook, binding_stores: dict[int, org.StoreInfo]) -> None:
    """Attribution and in-store / hours class of one order (kept on updates unless inputs changed)."""
    if r.outcome not in ("created", "updated"):
        return
    o = r.data
    state = book.active(r.customer_id)
    binding = attr.Binding(state.guide_id, state.store_id) if state else None
    result = attr.attribute(
        channel=o.channel, in_store=o.in_store, store=r.store, staff=r.staff, binding=binding
    )
    old = r.existing
    if (
        old is not None
        and result.reason in ("exclusive_guide", "unattributed")
        and old.attribution_reason in ("exclusive_guide", "unattributed")
        and old.customer_id == r.customer_id
    ):
        # A resent online order keeps the attribution it was given when it arrived.
        result = attr.Attribution(old.store_id, old.guide_id, old.attribution_reason, old.placement)
    if r.store is not None and r.store.id == result.store_id:
        store_for_hours: org.StoreInfo | None = r.store
    else:
        store_for_hours = binding_stores.get(result.store_id) if result.store_id is not None else None
    r.values.update(
        channel=o.channel,
        external_id=o.external_id,
        customer_id=r.customer_id,
        store_id=result.store_id,
        guide_id=result.guide_id,
        attribution_reason=result.reason,
        source_store_id=r.store.id if r.store else None,
        source_staff_id=r.staff.id if r.staff else None,
        placement=result.placement,
        during_hours=None,
        fulfilment=o.fulfilment,
        status=o.status,
        currency=o.currency,
        placed_at=o.placed_at,
        paid_at=o.paid_at,
        fulfilled_at=o.fulfilled_at,
        completed_at=o.completed_at,
        cancelled_at=o.cancelled_at,
        payload_hash=r.payload_hash,
        revision=(old.revision + 1) if old is not None else 1,
    )
    r.values["_store_for_hours"] = store_for_hours


def resolve_hours(session: Session, tenant_id: int, rows: list[_Row], tz: ZoneInfo) -> None:
    """Off-store orders: during or after the attributed store's hours (placed_at, tenant time zone)."""
    missing = {
        r.values["store_id"]
        for r in rows
        if r.outcome in ("created", "updated")
        and r.values["placement"] == "off_store"
        and r.values["store_id"] is not None
        and r.values["_store_for_hours"] is None
    }
    stores = org.stores_by_id(session, tenant_id=tenant_id, ids=missing) if missing else {}
    for r in rows:
        if r.outcome not in ("created", "updated"):
            continue
        store = r.values.pop("_store_for_hours") or stores.get(r.values["store_id"])
        result = attr.Attribution(
            r.values["store_id"], r.values["guide_id"], r.values["attribution_reason"], r.values["placement"]
        )
        r.values["during_hours"] = attr.during_hours(result, store, tz, r.data.placed_at)


def _on_first_payment(r: _Row, book: BindingBook) -> None:
    """A purchase through a guide's link binds (or renews) the customer's exclusive guide.

    Orders are not copied into the customer timeline: they are facts of their own table, read by
    `GET /orders?customer_id=` (measured: a timeline row per order cost a tenth of ingest time).
    """
    o = r.data
    assert o.paid_at is not None
    if r.customer_id is None:
        return
    if o.channel == "guide_share" and r.staff is not None and r.staff.status == "active":
        book.offer(
            customer_id=r.customer_id,
            guide_id=r.staff.id,
            store_id=r.values["store_id"],
            source="guide_share_order",
            at=o.paid_at,
            reference=f"order:{o.channel}:{o.external_id}",
        )


def _order_row(tenant_id: int, r: _Row, now: dt.datetime) -> dict[str, Any]:
    v = r.values
    return {
        "tenant_id": tenant_id,
        **{k: v[k] for k in SNAPSHOT_FIELDS},
        "channel": v["channel"],
        "external_id": v["external_id"],
        "refunded_fen": 0,
        "revision": v["revision"],
        "payload_hash": v["payload_hash"],
        "created_at": now,
        "updated_at": now,
    }


def _insert_new(session: Session, tenant_id: int, rows: list[_Row], now: dt.datetime) -> None:
    """New orders, their lines and payments, each table in one set-based insert."""
    if not rows:
        return
    conn = session.connection()
    returned = bulk_insert(
        conn,
        ORDERS,
        [_order_row(tenant_id, r, now) for r in rows],
        returning=("id", "channel", "external_id"),
    )
    ids: dict[tuple[str, str], int] = {}
    if returned is not None:
        ids = {(channel, ext): oid for oid, channel, ext in returned}
    else:  # SQLite: read the ids back by the unique (channel, external_id)
        by_channel: dict[str, list[str]] = defaultdict(list)
        for r in rows:
            by_channel[r.data.channel].append(r.data.external_id)
        for channel, external_ids in by_channel.items():
            for oid, ext in session.execute(
                select(ORDERS.c.id, ORDERS.c.external_id).where(
                    ORDERS.c.tenant_id == tenant_id,
                    ORDERS.c.channel == channel,
                    one_of(session, ORDERS.c.external_id, external_ids),
                )
            ):
                ids[(channel, ext)] = oid
    lines, payments = [], []
    for r in rows:
        r.values["id"] = order_id = ids[(r.data.channel, r.data.external_id)]
        lines += [{"tenant_id": tenant_id, "order_id": order_id, **line} for line in r.lines]
        payments += [{"tenant_id": tenant_id, "order_id": order_id, **p} for p in r.payments]
    bulk_insert(conn, LINES, lines)
    bulk_insert(conn, PAYMENTS, payments)


def _snapshot(session: Session, order: Order) -> dict[str, Any]:
    """The stored order, its lines and payments, as JSON (for the revision history)."""
    lines = session.scalars(
        select(OrderLine).where(OrderLine.order_id == order.id).order_by(OrderLine.line_no)
    )
    payments = session.scalars(
        select(OrderPayment).where(OrderPayment.order_id == order.id).order_by(OrderPayment.id)
    )
    out: dict[str, Any] = {}
    for name in SNAPSHOT_FIELDS:
        value = getattr(order, name)
        out[name] = value.isoformat() if isinstance(value, dt.datetime) else value
    out["lines"] = [
        {
            "line_no": x.line_no,
            "sku_code": x.sku_code,
            "quantity": x.quantity,
            "unit_price_fen": x.unit_price_fen,
            "discount_fen": x.discount_fen,
            "amount_fen": x.amount_fen,
        }
        for x in lines
    ]
    out["payments"] = [
        {"method": p.method, "amount_fen": p.amount_fen, "transaction_id": p.transaction_id} for p in payments
    ]
    return out


def _apply_update(session: Session, tenant_id: int, r: _Row, now: dt.datetime, source: str) -> None:
    """Keep the previous payload as a revision, then replace the order's fields, lines and payments."""
    order = r.existing
    assert order is not None
    before = _snapshot(session, order)
    new_lines = [{k: line[k] for k in before["lines"][0]} for line in r.lines] if before["lines"] else []
    if order.refunded_fen > 0 and new_lines != before["lines"]:
        raise rejected(
            [
                _err(
                    r.row,
                    "lines",
                    "order_has_refunds",
                    "订单已有退款，不能修改商品行",
                    "the order has refunds; its lines cannot change",
                )
            ]
        )
    if r.values["paid_fen"] < order.refunded_fen:
        raise rejected(
            [
                _err(
                    r.row,
                    "payments",
                    "paid_below_refunded",
                    "支付金额低于已退款金额",
                    "paid is below refunded",
                )
            ]
        )
    after = {k: r.values[k] for k in SNAPSHOT_FIELDS}
    changed = [
        k
        for k in SNAPSHOT_FIELDS
        if (before[k] != (after[k].isoformat() if isinstance(after[k], dt.datetime) else after[k]))
    ]
    if new_lines != before["lines"]:
        changed.append("lines")
    if [
        {"method": p["method"], "amount_fen": p["amount_fen"], "transaction_id": p["transaction_id"]}
        for p in r.payments
    ] != before["payments"]:
        changed.append("payments")
    session.add(
        OrderRevision(
            tenant_id=tenant_id,
            order_id=order.id,
            revision=order.revision,
            snapshot=before,
            changed_fields=changed,
            replaced_at=now,
            source=source,
        )
    )
    for k in SNAPSHOT_FIELDS:
        setattr(order, k, r.values[k])
    if order.refunded_fen > 0:  # refunds count where their order now is
        session.execute(
            update(Refund)
            .where(Refund.tenant_id == tenant_id, Refund.order_id == order.id)
            .values(
                store_id=order.store_id,
                guide_id=order.guide_id,
                placement=order.placement,
                during_hours=order.during_hours,
            )
        )
    order.revision = r.values["revision"]
    order.payload_hash = r.payload_hash
    order.updated_at = now
    if "lines" in changed and order.refunded_fen == 0:
        session.execute(delete(OrderLine).where(OrderLine.order_id == order.id))
        session.flush()
        bulk_insert(
            session.connection(),
            LINES,
            [{"tenant_id": tenant_id, "order_id": order.id, **x} for x in r.lines],
        )
    if "payments" in changed:
        session.execute(delete(OrderPayment).where(OrderPayment.order_id == order.id))
        bulk_insert(
            session.connection(),
            PAYMENTS,
            [{"tenant_id": tenant_id, "order_id": order.id, **p} for p in r.payments],
        )
    session.flush()


# --- reading ----------------------------------------------------------------------------------
def scope_condition(principal: Principal | None) -> Any:
    """Which orders a principal may see: all, their stores', or their own (guide)."""
    if principal is None or principal.scope == "all":
        return None
    if principal.scope == "stores":
        return Order.store_id.in_(sorted(principal.store_ids))
    return Order.guide_id == principal.actor_id


def get_order(session: Session, *, tenant_id: int, order_id: int, principal: Principal | None) -> Order:
    """One order in the tenant and the caller's scope, or not found."""
    stmt = select(Order).where(Order.tenant_id == tenant_id, Order.id == order_id)
    if (cond := scope_condition(principal)) is not None:
        stmt = stmt.where(cond)
    order = session.scalar(stmt)
    if order is None:
        raise not_found("order")
    return order


def order_parts(
    session: Session, *, order_id: int
) -> tuple[list[OrderLine], list[OrderPayment], list[tuple[Refund, list[RefundLine]]]]:
    """Lines, payments and refunds (with their lines) of an order."""
    lines = list(
        session.scalars(select(OrderLine).where(OrderLine.order_id == order_id).order_by(OrderLine.line_no))
    )
    payments = list(
        session.scalars(
            select(OrderPayment).where(OrderPayment.order_id == order_id).order_by(OrderPayment.id)
        )
    )
    refunds = list(session.scalars(select(Refund).where(Refund.order_id == order_id).order_by(Refund.id)))
    refund_lines: dict[int, list[RefundLine]] = defaultdict(list)
    if refunds:
        for rl in session.scalars(
            select(RefundLine)
            .where(RefundLine.refund_id.in_([x.id for x in refunds]))
            .order_by(RefundLine.id)
        ):
            refund_lines[rl.refund_id].append(rl)
    return lines, payments, [(x, refund_lines[x.id]) for x in refunds]


def list_orders(
    session: Session,
    *,
    tenant_id: int,
    principal: Principal | None,
    cursor: str | None,
    limit: int,
    filters: s.OrderFilter | None = None,
) -> tuple[list[Order], str | None]:
    """Orders in the caller's scope, newest paid first (unpaid ones after, newest first); pages are
    stable under inserts (the cursor is the last row's payment time and id)."""
    f = filters or s.OrderFilter()
    store_id, guide_id, customer_id, channel, status = (
        f.store_id,
        f.guide_id,
        f.customer_id,
        f.channel,
        f.status,
    )
    paid_from, paid_to = f.paid_from, f.paid_to
    stmt = select(Order).where(Order.tenant_id == tenant_id)
    if (cond := scope_condition(principal)) is not None:
        stmt = stmt.where(cond)
    for column, value in (
        (Order.store_id, store_id),
        (Order.guide_id, guide_id),
        (Order.customer_id, customer_id),
        (Order.channel, channel),
        (Order.status, status),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if paid_from is not None:
        stmt = stmt.where(Order.paid_at >= paid_from)
    if paid_to is not None:
        stmt = stmt.where(Order.paid_at < paid_to)
    return newest_first_page(session, stmt, Order.paid_at, Order.id, cursor=cursor, limit=limit)


ORDER_SORTS = {"paid": Order.paid_at, "amount": Order.paid_fen, "placed": Order.placed_at}


def search_orders(
    session: Session,
    *,
    tenant_id: int,
    principal: Principal | None,
    filters: s.OrderSearch,
    sort: str = "paid",
    desc: bool = True,
    offset: int = 0,
    limit: int = 20,
    customers: Select[Any] | None = None,
    counted: tuple[int, int] | None = None,
) -> tuple[list[Order], int]:
    """A numbered page of orders in the caller's scope, filtered and sorted, with the total count.

    `number` matches the channel's order number exactly, or `#id` Siyu's id; `customers` (a query of
    customer ids a search found, however many) limits the orders to theirs; `counted` is
    `count_orders` of the same search when the caller counted first to choose the page."""
    stmt = orders_statement(tenant_id=tenant_id, principal=principal, filters=filters, customers=customers)
    return offset_page(
        session, stmt, ORDER_SORTS[sort], Order.id, desc=desc, offset=offset, limit=limit, counted=counted
    )


def count_orders(
    session: Session,
    *,
    tenant_id: int,
    principal: Principal | None,
    filters: s.OrderSearch,
    sort: str = "paid",
    customers: Select[Any] | None = None,
) -> tuple[int, int]:
    """How many orders a search finds, and how many have a value to sort by (for `search_orders`)."""
    stmt = orders_statement(tenant_id=tenant_id, principal=principal, filters=filters, customers=customers)
    return count_rows(session, stmt, ORDER_SORTS[sort])


def orders_statement(
    *, tenant_id: int, principal: Principal | None, filters: s.OrderSearch, customers: Select[Any] | None
) -> Select[Any]:
    """The orders a search finds in the caller's scope, unordered."""
    f = filters
    stmt = select(Order).where(Order.tenant_id == tenant_id)
    if (cond := scope_condition(principal)) is not None:
        stmt = stmt.where(cond)
    for column, value in (
        (Order.store_id, f.store_id),
        (Order.guide_id, f.guide_id),
        (Order.customer_id, f.customer_id),
        (Order.channel, f.channel),
        (Order.status, f.status),
        (Order.placement, f.placement),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    if f.paid_from is not None:
        stmt = stmt.where(Order.paid_at >= f.paid_from)
    if f.paid_to is not None:
        stmt = stmt.where(Order.paid_at < f.paid_to)
    if f.number:
        number = f.number.strip()
        if number.startswith("#") and ascii_digits(number[1:]):
            stmt = stmt.where(Order.id == int(number[1:]))
        else:
            stmt = stmt.where(Order.external_id == number)
    if customers is not None:
        stmt = stmt.where(Order.customer_id.in_(customers))
    return stmt


def customer_totals(session: Session, *, tenant_id: int, customer_id: int) -> tuple[int, int]:
    """A customer's paid orders (all of them, ever) and net spend in fen (paid less refunded)."""
    count, net = session.execute(
        select(
            func.count(Order.paid_at),
            func.coalesce(func.sum(Order.paid_fen - Order.refunded_fen), 0),
        ).where(Order.tenant_id == tenant_id, Order.customer_id == customer_id, Order.paid_at.is_not(None))
    ).one()
    return int(count), int(net)


def revisions(session: Session, *, order_id: int) -> list[OrderRevision]:
    """Earlier payloads of an order, oldest first."""
    return list(
        session.scalars(
            select(OrderRevision).where(OrderRevision.order_id == order_id).order_by(OrderRevision.revision)
        )
    )
