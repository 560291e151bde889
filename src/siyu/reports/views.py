"""HTTP routes of reports: the store daily report (JSON and .xlsx), the roll-up, guide ranking."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from siyu.access import Perm, Principal
from siyu.api.deps import DB, DateQuery, QueryId, allow
from siyu.api.routing import TransactionalRoute
from siyu.core.errors import DomainError, not_found
from siyu.org import facade as org
from siyu.reports import schemas as rs
from siyu.reports import store_daily as report
from siyu.reports.periods import day_bounds
from siyu.reports.xlsx import store_daily_xlsx
from siyu.schemas import Day

router = APIRouter(prefix="/api/v1/reports", route_class=TransactionalRoute, tags=["reports 报表"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class StoreQuery:
    """Which store a report is for: its id or its code (one of them)."""

    store_id: QueryId = None
    store_code: str | None = Query(default=None, max_length=40)


def _store(db: DB, principal: Principal, which: StoreQuery) -> org.StoreInfo:
    """The store asked for, inside the caller's scope (else 404, like an absent store)."""
    if (which.store_id is None) == (which.store_code is None):
        raise DomainError(
            "validation_error", summary="请给出 store_id 或 store_code 之一 / give store_id or store_code"
        )
    store = report.store_for_report(db, principal=principal, store_id=which.store_id, code=which.store_code)
    if store is None:
        raise not_found("store")
    return store


@router.get("/store-daily", response_model=rs.StoreDailyReport, summary="Store daily report 门店日报")
def store_daily(
    db: DB,
    date: DateQuery,
    which: StoreQuery = Depends(),
    principal: Principal = allow(Perm.REPORTS_READ),
) -> rs.StoreDailyReport:
    """GMV, orders, AOV, in-store / off-store, hours split, channels, footfall, fans, cards, new vs
    repeat buyers — each compared with yesterday, last week, last month and last year."""
    store = _store(db, principal, which)
    return rs.StoreDailyReport.model_validate(
        report.store_daily(db, tenant_id=principal.tenant_id, store=store, day=date), strict=False
    )


@router.get("/store-daily.xlsx", summary="Store daily report as Excel 门店日报导出", response_class=Response)
def store_daily_excel(
    db: DB,
    date: DateQuery,
    which: StoreQuery = Depends(),
    principal: Principal = allow(Perm.REPORTS_READ),
) -> Response:
    """The same report as an .xlsx workbook."""
    store = _store(db, principal, which)
    data = report.store_daily(db, tenant_id=principal.tenant_id, store=store, day=date)
    name = f"store-daily-{store.code}-{date.isoformat()}.xlsx"
    return Response(
        store_daily_xlsx(data),
        media_type=XLSX,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.get("/rollup", response_model=rs.Rollup, summary="Region and HQ roll-up 区域/总部汇总")
def rollup(
    db: DB,
    date: DateQuery,
    region_id: QueryId = None,
    principal: Principal = allow(Perm.REPORTS_READ),
) -> rs.Rollup:
    """Every store in scope for a day, summed per region and for the brand, with comparisons."""
    store_ids = None if principal.scope == "all" else sorted(principal.store_ids)
    data = report.rollup(
        db, tenant_id=principal.tenant_id, day=date, store_ids=store_ids, region_id=region_id
    )
    return rs.Rollup.model_validate(data, strict=False)


@router.get("/guide-ranking", response_model=rs.GuideRanking, summary="Guide ranking of a store 导购排行")
def guide_ranking(
    db: DB,
    date_from: DateQuery,
    date_to: Annotated[Day | None, Query(description="inclusive; defaults to date_from")] = None,
    which: StoreQuery = Depends(),
    principal: Principal = allow(Perm.REPORTS_READ),
) -> rs.GuideRanking:
    """The store's guides by GMV over local days [date_from, date_to]: orders, GMV, new customers."""
    store = _store(db, principal, which)
    last = date_to or date_from
    if last < date_from:
        raise DomainError("validation_error", summary="date_to 早于 date_from / date_to is before date_from")
    if (last - date_from).days > 366:
        raise DomainError("validation_error", summary="最长 366 天 / at most 366 days")
    tz = org.tenant_zone(db, tenant_id=principal.tenant_id)
    start, _ = day_bounds(date_from, tz)
    _, end = day_bounds(last, tz)
    guides = report.guide_ranking(db, tenant_id=principal.tenant_id, store_id=store.id, start=start, end=end)
    return rs.GuideRanking(
        store=rs.StoreRef(id=store.id, code=store.code, name=store.name),
        date_from=date_from,
        date_to=last,
        guides=[rs.GuideRow.model_validate(g, strict=False) for g in guides],
    )
