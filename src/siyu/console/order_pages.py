"""The console's orders list, scoped to the person (a guide: their own; a manager: their stores')."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import HTMLResponse

from siyu.access import Perm
from siyu.api.routing import read_only
from siyu.console.customer_pages import PAGE_SIZE, _names
from siyu.console.rendering import console_router, forbidden, page_principal, render
from siyu.core.errors import DomainError
from siyu.orders import service as order_service
from siyu.orders.models import Order
from siyu.org import facade as org

router = console_router()


@router.get("/orders", response_class=HTMLResponse)
@read_only
def orders_page(request: Request, cursor: str | None = None) -> HTMLResponse:
    """Orders in the caller's scope (a guide: their own; a manager: their stores'), newest first."""
    principal = page_principal(request)
    if not principal.can(Perm.ORDERS_READ):
        return forbidden(request, Perm.ORDERS_READ)

    def page(start: str | None) -> tuple[list[Order], str | None]:
        return order_service.list_orders(
            request.state.db,
            tenant_id=principal.tenant_id,
            principal=principal,
            cursor=start,
            limit=PAGE_SIZE,
        )

    restarted = False
    try:
        rows, next_cursor = page(cursor)
    except DomainError:  # an edited or stale cursor: start again from the first page
        rows, next_cursor = page(None)
        restarted = True
    stores, _ = _names(request, principal, {o.store_id for o in rows if o.store_id}, set())
    return render(
        request,
        "orders.html",
        rows=rows,
        next_cursor=next_cursor,
        restarted=restarted,
        stores=stores,
        tz=org.tenant_zone(request.state.db, tenant_id=principal.tenant_id),
    )
