"""HTTP routes of the platform: health and bulk imports."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, File, UploadFile
from sqlalchemy import text

from siyu.access import Perm, Principal
from siyu.api.deps import DB, Limit, QueryId, allow
from siyu.api.routing import TransactionalRoute
from siyu.core.errors import DomainError
from siyu.customers.imports import import_customers
from siyu.orders.imports import import_orders, import_products
from siyu.org.imports import import_staff, import_stores
from siyu.platform import audit
from siyu.platform.tabular import read_table
from siyu.schemas import Strict
from siyu.tags.imports import import_tags

router = APIRouter(route_class=TransactionalRoute)


class Health(Strict):
    status: str
    database: str


class AuditRead(Strict):
    id: int
    actor_type: str
    actor_id: int | None
    action: str
    object_type: str
    object_id: int | None
    data: dict[str, Any]
    created_at: dt.datetime


class AuditPage(Strict):
    items: list[AuditRead]
    next_cursor: str | None


class ImportResult(Strict):
    kind: str
    rows: int
    created: int
    updated: int


@router.get("/health", response_model=Health, tags=["platform 平台"], summary="Health 健康检查")
@router.get("/api/v1/health", response_model=Health, tags=["platform 平台"], summary="Health 健康检查")
def health(db: DB) -> Health:
    """The server answers and the database responds."""
    db.execute(text("SELECT 1"))
    return Health(status="ok", database=db.get_bind().dialect.name)


@router.get(
    "/api/v1/audit-log", response_model=AuditPage, tags=["platform 平台"], summary="Audit log 审计日志"
)
def audit_log(
    db: DB,
    limit: Limit,
    cursor: str | None = None,
    object_type: str | None = None,
    object_id: QueryId = None,
    action: str | None = None,
    principal: Principal = allow(Perm.AUDIT_READ),
) -> AuditPage:
    """Who did what, newest first (merges, phone reveals, exports, key and staff changes)."""
    rows, next_cursor = audit.list_entries(
        db,
        tenant_id=principal.tenant_id,
        cursor=cursor,
        limit=limit,
        object_type=object_type,
        object_id=object_id,
        action=action,
    )
    return AuditPage(items=[AuditRead.model_validate(r) for r in rows], next_cursor=next_cursor)


IMPORTERS = {
    "stores": (import_stores, Perm.ORG_WRITE),
    "staff": (import_staff, Perm.STAFF_WRITE),
    "customers": (import_customers, Perm.CUSTOMERS_UPSERT),
    "products": (import_products, Perm.PRODUCTS_WRITE),
    "orders": (import_orders, Perm.ORDERS_WRITE),
    "tags": (import_tags, Perm.TAGS_ASSIGN),
}


@router.post(
    "/api/v1/imports/{kind}",
    response_model=ImportResult,
    tags=["platform 平台"],
    summary="Import CSV/Excel 批量导入 (stores | staff | customers | products | orders | tags)",
)
def run_import(
    kind: Literal["stores", "staff", "customers", "products", "orders", "tags"],
    db: DB,
    file: UploadFile = File(...),
    principal: Principal = allow(Perm.IMPORT),
) -> ImportResult:
    """Import a sheet: every row is written, or none is and the answer lists each row's problem."""
    importer, needed = IMPORTERS[kind]
    if not principal.can(needed):
        raise DomainError("forbidden", permission=needed.value)
    table = read_table(file.filename or "upload.csv", file.file.read())
    counts = importer(db, tenant_id=principal.tenant_id, table=table, actor=principal)
    return ImportResult(kind=kind, rows=len(table.rows), **counts)
