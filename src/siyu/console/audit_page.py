"""The console's audit log (who may read it: the owner): who did what, when, to which object —
filtered by action, object, person and days, in numbered pages, exportable (the export is audited)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from siyu.access import Perm, Principal
from siyu.api.downloads import temporary_download
from siyu.api.routing import read_only
from siyu.auth import facade as auth
from siyu.console import labels
from siyu.console.choices import day_start, int_or_none, parse_day
from siyu.console.rendering import brand_zone, console_router, forbidden, lang_of, page_principal, render
from siyu.console.tables import paging
from siyu.db.pagination import offset_page
from siyu.org import facade as org
from siyu.platform import audit
from siyu.platform.models import AuditEntry
from siyu.platform.tabular import write_table

router = console_router()
EXPORT_LIMIT = 100_000
# Objects a row links to (the page of that object), by type.
LINKS = {
    "customer": "/customers/{id}",
    "order": "/orders/{id}",
    "store": "/settings/stores/{id}",
    "staff": "/settings/staff/{id}",
    "channel_code": "/wecom/codes/{id}",
    "product": "/settings/products/{id}",
    "import": "/imports/{id}",
}


def _query(request: Request, principal: Principal) -> tuple[Any, dict[str, str]]:
    params = request.query_params
    tz = brand_zone(request, principal)
    stmt = select(AuditEntry).where(AuditEntry.tenant_id == principal.tenant_id)
    action = params.get("action") if params.get("action") in labels.AUDIT_ACTIONS else None
    object_type = params.get("object") if params.get("object") in labels.OBJECT_TYPES else None
    actor = int_or_none(params.get("actor"))
    start, end = parse_day(params.get("from")), parse_day(params.get("to"))
    if action:
        stmt = stmt.where(AuditEntry.action == action)
    if object_type:
        stmt = stmt.where(AuditEntry.object_type == object_type)
    if actor is not None:
        stmt = stmt.where(AuditEntry.actor_type == "staff", AuditEntry.actor_id == actor)
    if start:
        stmt = stmt.where(AuditEntry.created_at >= day_start(start, tz))
    if end:
        stmt = stmt.where(AuditEntry.created_at < day_start(end + dt.timedelta(days=1), tz))
    values = {
        "action": action or "",
        "object": object_type or "",
        "actor": str(actor or ""),
        "from": start.isoformat() if start else "",
        "to": end.isoformat() if end else "",
    }
    return stmt, values


Actors = dict[tuple[str, int], tuple[str, str]]


def _actors(request: Request, principal: Principal, rows: list[AuditEntry]) -> Actors:
    """Who acted, by (kind, id): a staff member's name and employee number, an API key's name and
    prefix — a key and a staff member may share an id, so the kind is part of the key."""
    db, tenant_id = request.state.db, principal.tenant_id
    staff_ids = {r.actor_id for r in rows if r.actor_type == "staff" and r.actor_id}
    key_ids = {r.actor_id for r in rows if r.actor_type == "api_key" and r.actor_id}
    found: Actors = {
        ("staff", i): v for i, v in org.staff_names(db, tenant_id=tenant_id, ids=staff_ids).items()
    }
    found.update(
        {("api_key", i): v for i, v in auth.api_key_names(db, tenant_id=tenant_id, ids=key_ids).items()}
    )
    return found


def _who(actors: Actors, entry: AuditEntry, lang: str) -> tuple[str, str]:
    """The name and number shown for an entry's actor (the kind of actor when it is not known)."""
    known = actors.get((entry.actor_type, entry.actor_id or 0))
    if known is not None:
        return known
    kind = labels.label(labels.ACTOR_TYPES, entry.actor_type, lang)
    return (f"{kind} #{entry.actor_id}" if entry.actor_id else kind), ""


@router.get("/settings/audit", response_class=HTMLResponse)
@read_only
def audit_page(request: Request) -> HTMLResponse:
    """The brand's audit log, newest first."""
    principal = page_principal(request)
    if not principal.can(Perm.AUDIT_READ):
        return forbidden(request, Perm.AUDIT_READ)
    db = request.state.db
    stmt, values = _query(request, principal)
    _, total = offset_page(db, stmt, AuditEntry.id, AuditEntry.id, desc=True, offset=0, limit=0)
    page = paging(request.query_params.get("page"), request.query_params.get("size"), total)
    rows, _ = offset_page(
        db, stmt, AuditEntry.id, AuditEntry.id, desc=True, offset=page.offset, limit=page.size
    )
    staff = [(i, f"{n} {e}") for i, n, e in org.staff_list(db, tenant_id=principal.tenant_id)]
    actors, lang = _actors(request, principal, rows), lang_of(request)
    return render(
        request,
        "audit.html",
        rows=rows,
        page=page,
        f=values,
        who=lambda entry: _who(actors, entry, lang),
        staff=staff,
        actions=labels.AUDIT_ACTIONS,
        objects=labels.OBJECT_TYPES,
        links=LINKS,
        details=lambda data: json.dumps(data, ensure_ascii=False, sort_keys=True, default=str),
        tz=brand_zone(request, principal),
    )


@router.get("/settings/audit.xlsx")
def audit_export(  # writes its audit entry: a writing transaction
    request: Request,
) -> Response:
    """The filtered log as Excel (up to 100,000 entries); the export is itself an entry."""
    principal = page_principal(request)
    if not principal.can(Perm.AUDIT_READ):
        return forbidden(request, Perm.AUDIT_READ)
    db = request.state.db
    stmt, values = _query(request, principal)
    rows, total = offset_page(db, stmt, AuditEntry.id, AuditEntry.id, desc=True, offset=0, limit=EXPORT_LIMIT)
    actors = _actors(request, principal, rows)
    tz = brand_zone(request, principal)
    lang = lang_of(request)
    en = lang == "en"
    headers = (
        ["Time", "Who", "Employee no.", "Action", "Object", "Object id", "Details"]
        if en
        else ["时间", "操作人", "工号", "操作", "对象", "对象编号", "详情"]
    )

    def lines() -> Any:
        for r in rows:
            name, number = _who(actors, r, lang)
            yield [
                r.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
                name,
                number,
                labels.label(labels.AUDIT_ACTIONS, r.action, lang),
                labels.label(labels.OBJECT_TYPES, r.object_type, lang),
                r.object_id or "",
                json.dumps(r.data, ensure_ascii=False, sort_keys=True, default=str),
            ]

    response = temporary_download(
        "audit-log.xlsx", lambda path: write_table(path, headers, lines(), sheet="audit")
    )
    audit.record(
        db,
        tenant_id=principal.tenant_id,
        actor=principal,
        action="audit.export",
        object_type="audit",
        object_id=None,
        data={"rows": len(rows), "matched": total, "filters": {k: v for k, v in values.items() if v}},
    )
    return response
