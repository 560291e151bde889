"""Console homes and daily reports: where each role lands, the HQ home, a store's daily report (and
its Excel), a guide's own page."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from siyu.access import Perm, Principal
from siyu.api.routing import read_only
from siyu.console.rendering import HQ_ROLES, console_router, forbidden, not_found_page, page_principal, render
from siyu.core.clock import utcnow
from siyu.customers import service as customer_service
from siyu.customers.models import Customer
from siyu.orders import service as order_service
from siyu.orders.facade import CustomerOrderStats
from siyu.orders.models import Order
from siyu.orders.schemas import OrderFilter
from siyu.org import facade as org
from siyu.reports import store_daily as report
from siyu.reports import trends
from siyu.reports.periods import COMPARISONS, day_bounds
from siyu.reports.xlsx import store_daily_xlsx

router = console_router()


# --- homes ------------------------------------------------------------------------------------
@router.get("/")
def home(request: Request) -> Response:
    """Each role's home: HQ → the brand, a store manager → their store's day, a guide → their own."""
    principal = page_principal(request)
    if principal.role in HQ_ROLES:
        return RedirectResponse("/hq", status_code=303)
    if principal.role == "store_manager" and principal.store_ids:
        stores = org.stores_by_id(
            request.state.db, tenant_id=principal.tenant_id, ids=set(principal.store_ids)
        )
        first = sorted(stores.values(), key=lambda s: s.code)[0]
        return RedirectResponse(f"/stores/{first.code}/daily", status_code=303)
    return RedirectResponse("/me", status_code=303)


def _today(request: Request, principal: Principal) -> dt.date:
    tz = org.tenant_zone(request.state.db, tenant_id=principal.tenant_id)
    return utcnow().astimezone(tz).date()


DATE_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_day(raw: str) -> tuple[dt.date | None, str | None]:
    """A YYYY-MM-DD date, or why not: 'format' (not YYYY-MM-DD) or 'calendar' (no such day)."""
    if not DATE_SHAPE.fullmatch(raw):
        return None, "format"
    try:
        return dt.date.fromisoformat(raw), None
    except ValueError:
        return None, "calendar"


def _report_day(request: Request, raw: str | None, principal: Principal) -> dict[str, Any]:
    """The day a daily report shows: the one asked for, else the last closed day (yesterday in the
    brand's zone; today is still in progress). Also today, and what was wrong with a bad date."""
    today = _today(request, principal)
    day, problem = parse_day(raw) if raw else (None, None)
    day = day or today - dt.timedelta(days=1)
    return {
        "day": day,
        "today": today,
        "yesterday": today - dt.timedelta(days=1),
        "in_progress": day == today,
        "bad_date": raw if problem else None,
        "bad_date_kind": problem,
    }


@router.get("/hq", response_class=HTMLResponse)
@read_only
def hq_home(request: Request, date: str | None = None) -> HTMLResponse:
    """HQ home: the brand's day so far — GMV, orders, new customers, new members — and the stores."""
    principal = page_principal(request)
    if not principal.can(Perm.REPORTS_READ) or principal.scope != "all":
        return forbidden(request, Perm.REPORTS_READ)
    dates = _report_day(request, date, principal)
    day = dates["day"]
    db = request.state.db
    data = report.rollup(db, tenant_id=principal.tenant_id, day=day, store_ids=None)
    stores = sorted(data["stores"], key=lambda s: -s["figures"]["gmv_fen"]["value"])
    tz = org.tenant_zone(db, tenant_id=principal.tenant_id)
    start, end = day_bounds(day, tz)
    trend = trends.daily_series(db, tenant_id=principal.tenant_id, last_day=day, days=30, tz=tz)
    return render(
        request,
        "hq.html",
        **dates,
        data=data,
        stores=stores,
        comparisons=COMPARISONS,
        guides=trends.top_guides(db, tenant_id=principal.tenant_id, start=start, end=end),
        trend=trend,
        new_customers_today=trend["new_customers"][-1],
    )


def _report_store(request: Request, principal: Principal, code: str) -> org.StoreInfo | HTMLResponse:
    """The store whose report is asked for, or the 403 / 404 page to answer instead."""
    if not principal.can(Perm.REPORTS_READ):
        return forbidden(request, Perm.REPORTS_READ)
    store = report.store_for_report(request.state.db, principal=principal, code=code)
    return store if store is not None else not_found_page(request)


@router.get("/stores/{code}/daily", response_class=HTMLResponse)
@read_only
def store_daily_page(request: Request, code: str, date: str | None = None) -> HTMLResponse:
    """The store daily report with charts, a date picker and the Excel download."""
    principal = page_principal(request)
    store = _report_store(request, principal, code)
    if not isinstance(store, org.StoreInfo):
        return store
    dates = _report_day(request, date, principal)
    day = dates["day"]
    data = report.store_daily(request.state.db, tenant_id=principal.tenant_id, store=store, day=day)
    my_stores = org.stores_by_id(
        request.state.db,
        tenant_id=principal.tenant_id,
        ids=set(principal.store_ids) if principal.scope != "all" else set(),
    )
    return render(
        request,
        "store_daily.html",
        **dates,
        store=store,
        data=data,
        figures=report.FIGURES,
        labels=report.FIGURE_LABELS,
        money=report.MONEY,
        shares=report.SHARES,
        comparisons=COMPARISONS,
        my_stores=sorted(my_stores.values(), key=lambda s: s.code),
        chart=_chart_data(data),
    )


def _share_pct(share: Any) -> float:
    """A share (0..1, or None when nothing was paid) as a percentage for a pie slice."""
    return 0.0 if share is None else round(float(share) * 100, 2)


def _chart_data(data: dict[str, Any]) -> dict[str, Any]:
    f = data["figures"]
    return {
        # The pies draw the shares themselves (of gross paid sales, in %), so they always agree with
        # the table — GMV by class can be negative on a day of refunds, and a pie cannot be.
        "placement": [
            {"name": "in_store", "value": _share_pct(f["in_store_share"]["value"])},
            {"name": "off_store", "value": _share_pct(f["off_store_share"]["value"])},
        ],
        "hours": [
            {"name": "open", "value": _share_pct(f["off_store_open_share"]["value"])},
            {"name": "closed", "value": _share_pct(f["off_store_closed_share"]["value"])},
        ],
        "channels": [
            {"name": c["label"], "name_en": c["label_en"], "value": c["gmv_fen"] / 100}
            for c in data["channels"]
        ],
        "hourly": data["hourly"],
    }


@router.get("/stores/{code}/daily.xlsx")
def store_daily_excel(request: Request, code: str, date: str) -> Response:
    """The same report as .xlsx."""
    principal = page_principal(request)
    store = _report_store(request, principal, code)
    if not isinstance(store, org.StoreInfo):
        return store
    day, problem = parse_day(date)
    if day is None:
        return render(
            request, "error.html", status=422, code=422, permission=None, bad_date=date, bad_date_kind=problem
        )
    data = report.store_daily(request.state.db, tenant_id=principal.tenant_id, store=store, day=day)
    return Response(
        store_daily_xlsx(data),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers={"Content-Disposition": f'attachment; filename="store-daily-{code}-{day.isoformat()}.xlsx"'},
    )


@router.get("/me", response_class=HTMLResponse)
@read_only
def guide_home(request: Request) -> HTMLResponse:
    """A guide's own numbers: customers, and attributed orders and GMV today and this month."""
    principal = page_principal(request)
    db = request.state.db
    tz = org.tenant_zone(db, tenant_id=principal.tenant_id)
    today = utcnow().astimezone(tz).date()
    day_start, day_end = day_bounds(today, tz)
    month_start, _ = day_bounds(today.replace(day=1), tz)
    customers = db.scalar(
        select(func.count())
        .select_from(Customer)
        .where(
            Customer.tenant_id == principal.tenant_id,
            Customer.guide_id == principal.actor_id,
            Customer.status == "active",
        )
    )

    def window(start: dt.datetime, end: dt.datetime) -> tuple[int, int]:
        count, paid = db.execute(
            select(func.count(), func.coalesce(func.sum(Order.paid_fen), 0)).where(
                Order.tenant_id == principal.tenant_id,
                Order.guide_id == principal.actor_id,
                Order.paid_at >= start,
                Order.paid_at < end,
            )
        ).one()
        return int(count), int(paid)

    recent, _ = order_service.list_orders(
        db,
        tenant_id=principal.tenant_id,
        principal=None,
        cursor=None,
        limit=10,
        filters=OrderFilter(guide_id=principal.actor_id),
    )
    birthdays = customer_service.birthdays_soon(
        db, tenant_id=principal.tenant_id, principal=principal, today=today, days=7
    )
    dormant_since = utcnow() - dt.timedelta(days=90)
    dormant = db.scalar(
        select(func.count())
        .select_from(Customer)
        .join(CustomerOrderStats, CustomerOrderStats.customer_id == Customer.id)
        .where(
            Customer.tenant_id == principal.tenant_id,
            Customer.guide_id == principal.actor_id,
            Customer.status == "active",
            CustomerOrderStats.last_paid_at < dormant_since,
        )
    )
    return render(
        request,
        "guide.html",
        birthdays=birthdays,
        dormant=dormant or 0,
        customers=customers or 0,
        today=window(day_start, day_end),
        month=window(month_start, day_end),
        recent=recent,
        tz=tz,
    )
