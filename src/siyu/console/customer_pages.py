"""Console customer pages: the list with its search (phones masked), the customer 360, phone reveal."""

from __future__ import annotations

import re
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from siyu.access import Perm, Principal
from siyu.api.deps import MAX_ID
from siyu.api.routing import read_only
from siyu.console.rendering import console_router, forbidden, lang_of, not_found_page, page_principal, render
from siyu.core.errors import DomainError
from siyu.core.phone import mask_phone, national_display
from siyu.customers import service as customer_service
from siyu.customers.models import Customer
from siyu.customers.schemas import CustomerSearch
from siyu.guides import service as guide_service
from siyu.orders import service as order_service
from siyu.orders.schemas import OrderFilter
from siyu.org import facade as org
from siyu.tags import service as tag_service

router = console_router()


# --- customers --------------------------------------------------------------------------------
PAGE_SIZE = 20
PHONE_ENDING = re.compile(r"\d{4}")
CUSTOMER_NUMBER = re.compile(r"#\d{1,18}")


def _names(
    request: Request, principal: Principal, store_ids: set[int], staff_ids: set[int]
) -> tuple[dict[int, str], dict[int, str]]:
    db = request.state.db
    stores = org.stores_by_id(db, tenant_id=principal.tenant_id, ids=store_ids) if store_ids else {}
    staff = org.staff_by_id(db, tenant_id=principal.tenant_id, ids=staff_ids) if staff_ids else {}
    return {i: f"{s.code} {s.name}" for i, s in stores.items()}, {i: m.name for i, m in staff.items()}


@router.get("/customers", response_class=HTMLResponse)
@read_only
def customers_page(
    request: Request,
    q: str | None = None,
    city: str | None = None,
    gender: str | None = None,
    cursor: str | None = None,
) -> HTMLResponse:
    """Customers in the caller's scope: search by phone, name or any identity; filters; pages."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_READ):
        return forbidden(request, Perm.CUSTOMERS_READ)
    q = (q or "").strip()[:128] or None
    search: dict[str, Any] = {"q": q}
    if q and PHONE_ENDING.fullmatch(q):  # four digits: the end of a phone number
        search = {"q": None, "phone_ending": q}
    elif q and CUSTOMER_NUMBER.fullmatch(q):  # "#6344": the customer number (the service reads "#")
        search = {"q": q}

    def page(start: str | None) -> tuple[list[Customer], str | None]:
        return customer_service.list_customers(
            request.state.db,
            tenant_id=principal.tenant_id,
            principal=principal,
            cursor=start,
            limit=PAGE_SIZE,
            filters=CustomerSearch(
                city=(city or "").strip()[:60] or None,
                gender=gender if gender in ("male", "female", "unknown") else None,
                **search,
            ),
        )

    restarted = False
    try:
        rows, next_cursor = page(cursor)
    except DomainError:  # a cursor from an edited or stale URL: start again from the first page
        rows, next_cursor = page(None)
        restarted = True
    stores, staff = _names(
        request,
        principal,
        {c.store_id for c in rows if c.store_id},
        {c.guide_id for c in rows if c.guide_id},
    )
    return render(
        request,
        "customers.html",
        rows=rows,
        next_cursor=next_cursor,
        q=q or "",
        city=city or "",
        gender=gender or "",
        stores=stores,
        staff=staff,
        mask=mask_phone,
        restarted=restarted,
        phone_ending=search.get("phone_ending"),
        partial=request.headers.get("hx-request") == "true",
    )


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
@read_only
def customer_page(request: Request, customer_id: int, revealed: str | None = None) -> HTMLResponse:
    """Customer 360: profile (masked phone), identities, exclusive guide, orders, timeline."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_READ):
        return forbidden(request, Perm.CUSTOMERS_READ)
    return _customer_360(request, principal, customer_id, phone=None)


@router.post("/customers/{customer_id}/reveal", response_class=HTMLResponse)
def reveal_customer_phone(request: Request, customer_id: int) -> HTMLResponse:
    """Show the full phone number once (only roles that may; every reveal is in the audit log)."""
    principal = page_principal(request)
    if not principal.can(Perm.PHONE_REVEAL):
        return forbidden(request, Perm.PHONE_REVEAL)
    if customer_id > MAX_ID:
        return not_found_page(request)
    try:
        customer = customer_service.reveal_phone(
            request.state.db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal
        )
    except DomainError:
        return not_found_page(request)
    return _customer_360(request, principal, customer_id, phone=national_display(customer.phone_e164))


def _customer_360(
    request: Request, principal: Principal, customer_id: int, phone: str | None
) -> HTMLResponse:
    db = request.state.db
    if customer_id > MAX_ID:
        return not_found_page(request)
    try:
        customer = customer_service.get_customer(
            db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal
        )
    except DomainError:
        return not_found_page(request)
    identities = customer_service.identities_of(
        db, tenant_id=principal.tenant_id, customer_ids=[customer.id]
    )[customer.id]
    binding = guide_service.binding_of(db, tenant_id=principal.tenant_id, customer_id=customer.id)
    orders, _ = order_service.list_orders(
        db,
        tenant_id=principal.tenant_id,
        principal=None,
        cursor=None,
        limit=20,
        filters=OrderFilter(customer_id=customer.id),
    )
    events, _ = customer_service.timeline(
        db, tenant_id=principal.tenant_id, customer_id=customer.id, principal=principal, cursor=None, limit=30
    )
    stores, staff = _names(
        request,
        principal,
        {
            x
            for x in [customer.store_id, binding.store_id if binding else None] + [o.store_id for o in orders]
            if x
        },
        {x for x in [customer.guide_id, binding.guide_id if binding else None] if x},
    )
    tz = org.tenant_zone(db, tenant_id=principal.tenant_id)
    held = tag_service.customer_tags(
        db, tenant_id=principal.tenant_id, customer_id=customer.id, principal=principal
    )
    assignable: list[tuple[str, list[Any]]] = []
    if principal.can(Perm.TAGS_ASSIGN):
        have = {t.id for _, t, _ in held}
        for group, group_tags in tag_service.list_groups(
            db, tenant_id=principal.tenant_id, principal=principal
        ):
            if tag_service.may_assign(group, principal):
                free = [t for t in group_tags if t.id not in have]
                if free:
                    assignable.append((group.name_en if lang_of(request) == "en" else group.name_zh, free))
    paid_orders, net_fen = order_service.customer_totals(
        db, tenant_id=principal.tenant_id, customer_id=customer.id
    )
    totals = {"orders": paid_orders, "gmv_fen": net_fen}
    return render(
        request,
        "customer.html",
        c=customer,
        phone=phone or mask_phone(customer.phone_e164),
        revealed=phone is not None,
        may_reveal=principal.can(Perm.PHONE_REVEAL) and customer.phone_e164 is not None,
        identities=identities,
        mask=mask_phone,
        binding=binding,
        orders=orders,
        events=events,
        stores=stores,
        staff=staff,
        tz=tz,
        totals=totals,
        held=held,
        assignable=assignable,
        may_tag=principal.can(Perm.TAGS_ASSIGN),
    )
