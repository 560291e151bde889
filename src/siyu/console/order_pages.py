"""The console's orders: a list in the person's scope (a guide: their own; a manager: their stores')
with filters, search, sorting, numbered pages and an Excel export; and one order's detail."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import Select

from siyu.access import Perm, Principal
from siyu.api.deps import MAX_ID
from siyu.api.downloads import temporary_download
from siyu.api.routing import read_only
from siyu.console import labels
from siyu.console.choices import Choices, day_start, int_or_none, parse_day, scope_choices
from siyu.console.customer_pages import PHONE_ENDING, _names
from siyu.console.rendering import (
    brand_zone,
    console_router,
    forbidden,
    lang_of,
    not_found_page,
    page_principal,
    render,
)
from siyu.console.tables import Sort, paging, parse_sort
from siyu.core.errors import DomainError
from siyu.core.money import format_fen
from siyu.core.phone import mask_phone
from siyu.customers import service as customer_service
from siyu.customers.models import Customer
from siyu.customers.schemas import CustomerSearch
from siyu.orders import service as order_service
from siyu.orders.attribution import REASONS_EXPLAINED
from siyu.orders.models import Order
from siyu.orders.schemas import OrderSearch
from siyu.org import facade as org
from siyu.platform import audit
from siyu.platform.tabular import write_table
from siyu.products.facade import product_names
from siyu.reports.store_daily import CHANNEL_LABELS

router = console_router()
SORTS = {"paid", "amount", "placed"}
EXPORT_LIMIT = 100_000


@dataclass
class OrderQuery:
    """The list's filters as the page reads them (bad values are no filter, never an error)."""

    search: OrderSearch
    values: dict[str, str]  # what the filter form shows
    sort: Sort
    customers: Select[Any] | None = None  # the ids of the customers a search found
    no_customer_found: bool = False  # a search the person may not make: nothing


def _read_filters(request: Request, principal: Principal, choices: Choices) -> OrderQuery:
    q = request.query_params
    tz = brand_zone(request, principal)
    start, end = parse_day(q.get("from")), parse_day(q.get("to"))
    store_id = int_or_none(q.get("store"), {i for i, _ in choices.stores})
    guide_id = int_or_none(q.get("guide"), {i for i, _ in choices.guides})
    channel = q.get("channel") if q.get("channel") in CHANNEL_LABELS else None
    status = q.get("status") if q.get("status") in labels.ORDER_STATUSES else None
    placement = q.get("placement") if q.get("placement") in labels.PLACEMENTS else None
    text = (q.get("q") or "").strip()[:100]
    number, customers, none_found = None, None, False
    if text:
        number, customers, none_found = _read_search(request, principal, text)
    search = OrderSearch(
        store_id=store_id,
        guide_id=guide_id,
        channel=channel,
        status=status,
        placement=placement,
        paid_from=day_start(start, tz) if start else None,
        paid_to=day_start(end + dt.timedelta(days=1), tz) if end else None,
        number=number,
    )
    values = {
        "from": start.isoformat() if start else "",
        "to": end.isoformat() if end else "",
        "store": str(store_id or ""),
        "guide": str(guide_id or ""),
        "channel": channel or "",
        "status": status or "",
        "placement": placement or "",
        "q": text,
    }
    return OrderQuery(search, values, parse_sort(q.get("sort"), SORTS, "-paid"), customers, none_found)


def _read_search(
    request: Request, principal: Principal, text: str
) -> tuple[str | None, Select[Any] | None, bool]:
    """A search is an order number (the channel's, or #id) when an order has it, else a customer
    (phone or its last four digits, name, #number): the orders of every customer found, as a
    subquery (built once: a phone-ending search counts once against the person's limit). The third
    value says the search may not be made (a full phone without the right): nothing is found."""
    db = request.state.db
    found, _ = order_service.search_orders(
        db,
        tenant_id=principal.tenant_id,
        principal=principal,
        filters=OrderSearch(number=text),
        limit=1,
    )
    if found:
        return text, None, False
    search: dict[str, Any] = {"q": text}
    if PHONE_ENDING.fullmatch(text):
        search = {"q": None, "phone_ending": text}
    try:
        customers = customer_service.customers_query(
            db, tenant_id=principal.tenant_id, principal=principal, filters=CustomerSearch(**search)
        )
    except DomainError:  # a search the person may not make (a full phone number without the right)
        return None, None, True
    return None, customers.with_only_columns(Customer.id).order_by(None), False


def _list(
    request: Request,
    principal: Principal,
    query: OrderQuery,
    offset: int,
    limit: int,
    counted: tuple[int, int] | None = None,
) -> tuple[list[Order], int]:
    if query.no_customer_found:
        return [], 0
    return order_service.search_orders(
        request.state.db,
        tenant_id=principal.tenant_id,
        principal=principal,
        filters=query.search,
        sort=query.sort.key,
        desc=query.sort.desc,
        offset=offset,
        limit=limit,
        customers=query.customers,
        counted=counted,
    )


def _people(request: Request, principal: Principal, rows: list[Order]) -> dict[str, dict[Any, Any]]:
    db = request.state.db
    stores, _ = _names(request, principal, {o.store_id for o in rows if o.store_id}, set())
    staff = org.staff_names(db, tenant_id=principal.tenant_id, ids={o.guide_id for o in rows if o.guide_id})
    customers = customer_service.customers_by_id(
        db, tenant_id=principal.tenant_id, ids={o.customer_id for o in rows if o.customer_id}
    )
    return {"stores": stores, "staff": {i: n for i, (n, _) in staff.items()}, "customers": customers}


@router.get("/orders", response_class=HTMLResponse)
@read_only
def orders_page(request: Request) -> HTMLResponse:
    """Orders in the caller's scope with filters, search, sorting and pages."""
    principal = page_principal(request)
    if not principal.can(Perm.ORDERS_READ):
        return forbidden(request, Perm.ORDERS_READ)
    choices = scope_choices(request.state.db, principal)
    query = _read_filters(request, principal, choices)
    # Count first, so that a page past the end shows the last page.
    counted = (
        (0, 0)
        if query.no_customer_found
        else order_service.count_orders(
            request.state.db,
            tenant_id=principal.tenant_id,
            principal=principal,
            filters=query.search,
            sort=query.sort.key,
            customers=query.customers,
        )
    )
    page = paging(request.query_params.get("page"), request.query_params.get("size"), counted[0])
    rows, _ = _list(request, principal, query, page.offset, page.size, counted)
    return render(
        request,
        "orders.html",
        rows=rows,
        page=page,
        sort=query.sort,
        f=query.values,
        choices=choices,
        channels=CHANNEL_LABELS,
        statuses=labels.ORDER_STATUSES,
        placements=labels.PLACEMENTS,
        mask=mask_phone,
        may_export=principal.can(Perm.CUSTOMERS_EXPORT),
        tz=brand_zone(request, principal),
        people=_people(request, principal, rows),
    )


@router.get("/orders.xlsx")
def orders_export(  # writes its audit entry: a writing transaction
    request: Request,
) -> Response:
    """The filtered list as Excel (up to 100,000 orders; customers' phones masked), audited."""
    principal = page_principal(request)
    if not principal.can(Perm.ORDERS_READ):
        return forbidden(request, Perm.ORDERS_READ)
    if not principal.can(Perm.CUSTOMERS_EXPORT):
        return forbidden(request, Perm.CUSTOMERS_EXPORT)
    db = request.state.db
    query = _read_filters(request, principal, scope_choices(db, principal))
    rows, total = _list(request, principal, query, 0, EXPORT_LIMIT)
    people = _people(request, principal, rows)
    tz = brand_zone(request, principal)
    en = lang_of(request) == "en"
    headers = (
        [
            "Order number",
            "Siyu id",
            "Channel",
            "Status",
            "Placed at",
            "Paid at",
            "Store",
            "Guide",
            "Customer number",
            "Customer",
            "Phone",
            "In-store/off-store",
            "Paid (¥)",
            "Refunded (¥)",
            "Attribution",
        ]
        if en
        else [
            "订单号",
            "系统编号",
            "渠道",
            "状态",
            "下单时间",
            "支付时间",
            "门店",
            "导购",
            "客户编号",
            "客户",
            "手机号",
            "到店/离店",
            "实付（元）",
            "已退款（元）",
            "归属原因",
        ]
    )

    def when(value: dt.datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""

    def lines() -> Any:
        for o in rows:
            c = people["customers"].get(o.customer_id)
            yield [
                o.external_id,
                o.id,
                labels.pick(CHANNEL_LABELS.get(o.channel, labels.OTHER), "en" if en else "zh"),
                labels.label(labels.ORDER_STATUSES, o.status, "en" if en else "zh"),
                when(o.placed_at),
                when(o.paid_at),
                people["stores"].get(o.store_id, ""),
                people["staff"].get(o.guide_id, ""),
                c.number if c else "",
                (c.name or "") if c else "",
                mask_phone(c.phone_e164) if c else "",
                labels.label(labels.PLACEMENTS, o.placement, "en" if en else "zh"),
                o.paid_fen / 100,
                o.refunded_fen / 100,
                labels.label(labels.ATTRIBUTION_REASONS, o.attribution_reason, "en" if en else "zh"),
            ]

    response = temporary_download(
        "orders.xlsx", lambda path: write_table(path, headers, lines(), sheet="orders")
    )
    audit.record(
        db,
        tenant_id=principal.tenant_id,
        actor=principal,
        action="order.export",
        object_type="order",
        object_id=None,
        data={"rows": len(rows), "matched": total, "filters": {k: v for k, v in query.values.items() if v}},
    )
    return response


@router.get("/orders/{order_id}", response_class=HTMLResponse)
@read_only
def order_page(request: Request, order_id: int) -> HTMLResponse:
    """One order: amounts, lines, payments, refunds, attribution and its earlier revisions."""
    principal = page_principal(request)
    if not principal.can(Perm.ORDERS_READ):
        return forbidden(request, Perm.ORDERS_READ)
    db = request.state.db
    if order_id > MAX_ID:
        return not_found_page(request)
    try:
        order = order_service.get_order(
            db, tenant_id=principal.tenant_id, order_id=order_id, principal=principal
        )
    except DomainError:
        return not_found_page(request)
    lines, payments, refunds = order_service.order_parts(db, order_id=order.id)
    people = _people(request, principal, [order])
    source_staff: dict[Any, tuple[str, str]] = org.staff_names(
        db, tenant_id=principal.tenant_id, ids={order.source_staff_id} if order.source_staff_id else set()
    )
    stores_sent, _ = _names(
        request, principal, {order.source_store_id} if order.source_store_id else set(), set()
    )
    return render(
        request,
        "order.html",
        o=order,
        lines=lines,
        line_no={x.id: x.line_no for x in lines},
        products=product_names(db, tenant_id=principal.tenant_id, ids={x.product_id for x in lines}),
        payments=payments,
        refunds=refunds,
        revisions=order_service.revisions(db, order_id=order.id),
        customer=people["customers"].get(order.customer_id),
        store=people["stores"].get(order.store_id),
        guide=people["staff"].get(order.guide_id),
        source_store=stores_sent.get(order.source_store_id or 0),
        source_staff=source_staff[order.source_staff_id][0]
        if order.source_staff_id in source_staff
        else None,
        reasons=REASONS_EXPLAINED,
        mask=mask_phone,
        fen=format_fen,
        tz=brand_zone(request, principal),
    )
