"""Imports in the console: upload a CSV or Excel sheet, check how its columns map to the fields (and
the first rows), run it in the background, follow its progress, and read — or download — the report
of every refused row; the history of imports with who and when."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import UploadFile

from siyu.access import Perm, Principal
from siyu.api.deps import MAX_ID
from siyu.api.downloads import temporary_download
from siyu.api.routing import read_only
from siyu.console.forms import Posted, text
from siyu.console.rendering import (
    brand_zone,
    console_router,
    forbidden,
    lang_of,
    not_found_page,
    page_principal,
    redirect_with_toast,
    render,
)
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.imports import service as imports
from siyu.imports.models import ImportRun
from siyu.org import facade as org
from siyu.platform.tabular import write_table

router = console_router()
REPORT_ROWS = 200  # refused rows shown on the page (the download has them all)


def _guard(request: Request) -> Principal | HTMLResponse:
    principal = page_principal(request)
    return principal if principal.can(Perm.IMPORT) else forbidden(request, Perm.IMPORT)


@router.get("/imports", response_class=HTMLResponse)
@read_only
def imports_page(request: Request) -> HTMLResponse:
    """Upload a sheet; the brand's latest imports."""
    principal = _guard(request)
    if isinstance(principal, HTMLResponse):
        return principal
    return _imports_page(request, principal, error=None)


def _imports_page(
    request: Request, principal: Principal, *, error: str | None, status: int = 200
) -> HTMLResponse:
    db = request.state.db
    runs = imports.history(db, tenant_id=principal.tenant_id)
    names = org.staff_names(db, tenant_id=principal.tenant_id, ids={r.actor_id for r in runs if r.actor_id})
    return render(
        request,
        "imports.html",
        status=status,
        kinds=imports.kinds_for(principal),
        runs=runs,
        names={i: n for i, (n, _) in names.items()},
        error=error,
        tz=brand_zone(request, principal),
    )


@router.post("/imports", response_class=HTMLResponse)
def upload(request: Request, form: Posted) -> Response:
    """Keep the sheet and show its column mapping and first rows (nothing is imported yet)."""
    principal = _guard(request)
    if isinstance(principal, HTMLResponse):
        return principal
    kind = text(form, "kind", 20) or ""
    file = form.get("file")
    lang = lang_of(request)
    if not isinstance(file, UploadFile) or not file.filename:
        message = "Choose a CSV or Excel file" if lang == "en" else "请选择一个 CSV 或 Excel 文件"
        return _imports_page(request, principal, error=message, status=422)
    try:
        run = imports.upload(
            request.state.db,
            tenant_id=principal.tenant_id,
            kind=kind,
            filename=file.filename,
            content=file.file.read(imports.MAX_BYTES + 1),
            principal=principal,
        )
    except DomainError as exc:
        if exc.code == "forbidden":
            return forbidden(request, Perm.IMPORT)
        return _imports_page(request, principal, error=_refusal(exc, lang), status=exc.status)
    return redirect_with_toast(f"/imports/{run.id}", "uploaded")


def _refusal(exc: DomainError, lang: str) -> str:
    message = exc.message("en" if lang == "en" else "zh-CN")
    details = exc.details if isinstance(exc.details, dict) else {}
    rows = [e.get("message_en" if lang == "en" else "message", "") for e in details.get("errors", [])[:5]]
    return message + (("：" if lang != "en" else ": ") + "；".join(rows) if rows else "")


def _load(request: Request, principal: Principal, run_id: int) -> ImportRun | None:
    if run_id > MAX_ID:
        return None
    try:
        run = imports.get_run(request.state.db, tenant_id=principal.tenant_id, run_id=run_id)
    except DomainError:
        return None
    return run if run.kind in imports.kinds_for(principal) else None


@router.get("/imports/{run_id}", response_class=HTMLResponse)
@read_only
def import_page(request: Request, run_id: int) -> HTMLResponse:
    """One import: its mapping and first rows before it runs; its progress; its outcome."""
    principal = _guard(request)
    if isinstance(principal, HTMLResponse):
        return principal
    run = _load(request, principal, run_id)
    if run is None:
        return not_found_page(request)
    return _run_page(request, principal, run, mapping=run.mapping, problems=None)


def _run_page(
    request: Request,
    principal: Principal,
    run: ImportRun,
    *,
    mapping: dict[str, Any],
    problems: list[tuple[str, str, str]] | None,
    status: int = 200,
) -> HTMLResponse:
    required, optional = imports.columns(run.kind)
    preview: list[tuple[int, dict[str, str]]] = []
    if run.status == "uploaded":
        preview = imports.preview_rows(run)
        problems = problems if problems is not None else imports.check_mapping(run.kind, mapping)
    names = org.staff_names(
        request.state.db, tenant_id=principal.tenant_id, ids={run.actor_id} if run.actor_id else set()
    )
    elapsed = None
    if run.started_at is not None:
        elapsed = int(((run.finished_at or utcnow()) - run.started_at).total_seconds())
    return render(
        request,
        "import.html",
        status=status,
        run=run,
        mapping=mapping,
        required=required,
        optional=optional,
        preview=preview,
        problems=problems or [],
        errors=run.errors[:REPORT_ROWS],
        who=names.get(run.actor_id or 0, ("—", ""))[0],
        elapsed=elapsed,
        polling=run.status in ("queued", "running"),
        partial=request.headers.get("hx-request") == "true",
        tz=brand_zone(request, principal),
    )


@router.post("/imports/{run_id}/run", response_class=HTMLResponse)
def start(request: Request, run_id: int, form: Posted) -> Response:
    """Confirm the column mapping and run the import in the background."""
    principal = _guard(request)
    if isinstance(principal, HTMLResponse):
        return principal
    run = _load(request, principal, run_id)
    if run is None:
        return not_found_page(request)
    mapping = {h: text(form, f"map{i}", 40) or "" for i, h in enumerate(run.headers)}
    problems = imports.check_mapping(run.kind, mapping)
    if problems:
        return _run_page(request, principal, run, mapping=mapping, problems=problems, status=422)
    imports.start(
        request.state.db, tenant_id=principal.tenant_id, run_id=run.id, mapping=mapping, principal=principal
    )
    return redirect_with_toast(f"/imports/{run.id}", "import_started")


@router.get("/imports/{run_id}/errors.xlsx")
@read_only
def error_report(request: Request, run_id: int) -> Response:
    """Every refused row with its column and reason, in both languages."""
    principal = _guard(request)
    if isinstance(principal, HTMLResponse):
        return principal
    run = _load(request, principal, run_id)
    if run is None or not run.errors:
        return not_found_page(request)
    headers = ["行 row", "列 column", "原因", "reason", "代码 code"]
    rows = [
        [
            e.get("row"),
            e.get("column") or "",
            e.get("message", ""),
            e.get("message_en", ""),
            e.get("code", ""),
        ]
        for e in run.errors
    ]
    stamp = (run.finished_at or run.created_at).astimezone(dt.UTC).strftime("%Y%m%d-%H%M")
    return temporary_download(
        f"import-{run.kind}-{run.id}-{stamp}-errors.xlsx",
        lambda path: write_table(path, headers, rows, sheet="errors"),
    )


@router.get("/imports/template/{kind}.xlsx")
@read_only
def template(request: Request, kind: str) -> Response:
    """An empty sheet with the kind's columns (required first) to fill in."""
    principal = _guard(request)
    if isinstance(principal, HTMLResponse):
        return principal
    if kind not in imports.kinds_for(principal):
        return not_found_page(request)
    required, optional = imports.columns(kind)
    return temporary_download(
        f"{kind}-template.xlsx", lambda path: write_table(path, [*required, *optional], [], sheet=kind)
    )
