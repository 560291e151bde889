"""HTTP routes of the platform: health and bulk imports."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, File, UploadFile
from sqlalchemy import text

from siyu.api.deps import DB, allow
from siyu.api.routing import TransactionalRoute
from siyu.auth.permissions import Perm, Principal
from siyu.customers.imports import import_customers
from siyu.org.imports import import_staff, import_stores
from siyu.org.schemas import Strict
from siyu.platform.tabular import read_table

router = APIRouter(route_class=TransactionalRoute)


class Health(Strict):
    status: str
    database: str


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


IMPORTERS = {
    "stores": (import_stores, Perm.ORG_WRITE),
    "staff": (import_staff, Perm.STAFF_WRITE),
    "customers": (import_customers, Perm.CUSTOMERS_UPSERT),
}


@router.post(
    "/api/v1/imports/{kind}",
    response_model=ImportResult,
    tags=["platform 平台"],
    summary="Import CSV/Excel 批量导入 (stores | staff | customers)",
)
def run_import(
    kind: Literal["stores", "staff", "customers"],
    db: DB,
    file: UploadFile = File(...),
    principal: Principal = allow(Perm.IMPORT),
) -> ImportResult:
    """Import a sheet: every row is written, or none is and the answer lists each row's problem."""
    importer, needed = IMPORTERS[kind]
    if not principal.can(needed):
        from siyu.core.errors import DomainError

        raise DomainError("forbidden", permission=needed.value)
    table = read_table(file.filename or "upload.csv", file.file.read())
    counts = importer(db, tenant_id=principal.tenant_id, table=table, actor=principal)
    return ImportResult(kind=kind, rows=len(table.rows), **counts)
