"""The console's page of background jobs (HQ): what is queued, running, done and failed for the
brand, the last error of each failure, and a retry button."""

from __future__ import annotations

import datetime as dt

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from siyu.access import Perm
from siyu.api.deps import MAX_ID
from siyu.api.routing import read_only
from siyu.console.rendering import console_router, forbidden, lang_of, not_found_page, page_principal, render
from siyu.core.clock import utcnow
from siyu.events import OUTBOX
from siyu.jobs import JOBS, KINDS, retry
from siyu.org import facade as org

router = console_router()
STATUSES = ("queued", "running", "done", "failed")


@router.get("/settings/jobs", response_class=HTMLResponse)
@read_only
def jobs_page(request: Request, status: str | None = None) -> HTMLResponse:
    """Counts per kind and status (done: last 24 hours), the latest jobs, events waiting."""
    principal = page_principal(request)
    if not principal.can(Perm.JOBS_MANAGE):
        return forbidden(request, Perm.JOBS_MANAGE)
    db = request.state.db
    tenant_id = principal.tenant_id
    since = utcnow() - dt.timedelta(hours=24)
    counts: dict[str, dict[str, int]] = {}
    for kind, state, n in db.execute(
        select(JOBS.c.kind, JOBS.c.status, func.count())
        .where(JOBS.c.tenant_id == tenant_id, (JOBS.c.status != "done") | (JOBS.c.finished_at >= since))
        .group_by(JOBS.c.kind, JOBS.c.status)
    ):
        counts.setdefault(kind, {})[state] = n
    query = select(JOBS).where(JOBS.c.tenant_id == tenant_id)
    if status in STATUSES:
        query = query.where(JOBS.c.status == status)
    rows = db.execute(query.order_by(JOBS.c.id.desc()).limit(50)).all()
    waiting = db.scalar(
        select(func.count()).where(OUTBOX.c.tenant_id == tenant_id, OUTBOX.c.dispatched_at.is_(None))
    )
    lang = lang_of(request)
    labels = {k: (v.label_en if lang == "en" else v.label_zh) for k, v in KINDS.items()}
    return render(
        request,
        "jobs.html",
        counts=counts,
        rows=rows,
        labels=labels,
        shown=status if status in STATUSES else None,
        waiting=waiting or 0,
        tz=org.tenant_zone(db, tenant_id=tenant_id),
    )


@router.post("/settings/jobs/{job_id}/retry", response_model=None)
def retry_job(request: Request, job_id: int) -> Response:
    """Queue one of the brand's failed jobs again."""
    principal = page_principal(request)
    if not principal.can(Perm.JOBS_MANAGE):
        return forbidden(request, Perm.JOBS_MANAGE)
    db = request.state.db
    if not 1 <= job_id <= MAX_ID:
        return not_found_page(request)
    owner = db.scalar(select(JOBS.c.tenant_id).where(JOBS.c.id == job_id))
    if owner != principal.tenant_id:
        return not_found_page(request)
    retry(db, job_id)
    return RedirectResponse("/settings/jobs?status=queued", status_code=303)
