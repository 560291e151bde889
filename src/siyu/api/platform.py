"""HTTP routes of the platform: health and the audit log; the import route every domain adds."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, File, UploadFile
from sqlalchemy import text

from siyu.access import Perm, Principal
from siyu.api.deps import DB, Limit, QueryId, allow
from siyu.api.routing import TransactionalRoute
from siyu.platform import audit
from siyu.platform.tabular import read_table
from siyu.schemas import Strict

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


Importer = Callable[..., dict[str, int]]
# kind -> (importer, the permission its rows need): the routes below and `siyu import …` use it.
IMPORTERS: dict[str, tuple[Importer, Perm]] = {}


# kind -> (required columns, optional columns): what the console's column mapping offers.
IMPORT_COLUMNS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {}


def add_import_route(
    router: APIRouter,
    kind: str,
    importer: Importer,
    needed: Perm,
    *,
    required: tuple[str, ...] = (),
    optional: tuple[str, ...] = (),
) -> None:
    """`POST /api/v1/imports/{kind}` on a domain's router (prefix /api/v1): a CSV/Excel sheet
    imported whole or not at all, the answer listing each row's problem. The caller needs `needed`
    (the permission the same rows need through the API) and the import permission."""

    def run_import(
        db: DB, file: UploadFile = File(...), principal: Principal = allow(needed, Perm.IMPORT)
    ) -> ImportResult:
        table = read_table(file.filename or "upload.csv", file.file.read())
        counts = importer(db, tenant_id=principal.tenant_id, table=table, actor=principal)
        return ImportResult(kind=kind, rows=len(table.rows), **counts)

    IMPORTERS[kind] = (importer, needed)
    IMPORT_COLUMNS[kind] = (tuple(required), tuple(optional))
    run_import.__doc__ = f"Import {kind} from a sheet: every row is written, or none is."
    router.add_api_route(
        f"/imports/{kind}",
        run_import,
        methods=["POST"],
        response_model=ImportResult,
        name=f"import_{kind}",
        tags=["imports 导入"],
        summary=f"Import {kind} (CSV/Excel) 批量导入",
    )
