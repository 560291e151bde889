"""Console pages for tags and audiences: the tag catalogue, tagging a customer, the audience builder.

The builder is a page of plain JavaScript (static/audiences.js) that edits a rule in the audience rule
language and asks `POST /audiences/preview` (this module, session cookie) for the live size and its
breakdown after every change; the same service answers the API's preview.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from sqlalchemy import select

from siyu.access import Perm, Principal
from siyu.api.deps import MAX_ID
from siyu.api.routing import read_only
from siyu.audiences import schemas as audience_schemas
from siyu.audiences import service as audiences
from siyu.audiences.views import snapshot_download
from siyu.console.rendering import (
    console_router,
    forbidden,
    lang_of,
    not_found_page,
    page_principal,
    redirect_with_toast,
    render,
)
from siyu.core.errors import DomainError
from siyu.core.inputs import id_or_none
from siyu.customers.models import CONSENT_PURPOSES
from siyu.orders.models import FIXED_CHANNELS
from siyu.org import facade as org
from siyu.org.models import Store
from siyu.segments.index import engine_of, index_for
from siyu.tags import schemas as tag_schemas
from siyu.tags import service as tags

router = console_router()


def _message(request: Request, exc: DomainError) -> str:
    return exc.message("en" if lang_of(request) == "en" else "zh-CN")


# --- tag catalogue -----------------------------------------------------------------------------
@router.get("/tags", response_class=HTMLResponse)
@read_only
def tags_page(request: Request, error: str | None = None) -> HTMLResponse:
    """Groups and tags the person can see, with how many customers hold each tag now."""
    principal = page_principal(request)
    if not principal.can(Perm.TAGS_READ):
        return forbidden(request, Perm.TAGS_READ)
    return _tags_page(request, principal, error=None)


def _tags_page(
    request: Request, principal: Principal, *, error: str | None, status: int = 200
) -> HTMLResponse:
    db = request.state.db
    groups = tags.list_groups(db, tenant_id=principal.tenant_id, principal=principal)
    counts = tags.member_counts(db, tenant_id=principal.tenant_id)
    en = lang_of(request) == "en"
    tag_names = {t.id: (t.name_en if en else t.name_zh) for _, group_tags in groups for t in group_tags}
    return render(
        request,
        "tags.html",
        status=status,
        groups=groups,
        counts=counts,
        error=error,
        may_manage=principal.can(Perm.TAGS_MANAGE),
        may_own=principal.scope == "own",
        tz=org.tenant_zone(db, tenant_id=principal.tenant_id),
        tag_names=tag_names,
    )


@router.post("/tags/groups", response_class=HTMLResponse)
def create_group(
    request: Request,
    name_zh: str = Form(..., max_length=40),
    name_en: str = Form("", max_length=60),
    kind: str = Form("manual", max_length=16),
    exclusive: str = Form(""),
    open_to_guides: str = Form(""),
) -> Response:
    """A new group (guides: their private group)."""
    principal = page_principal(request)
    if not principal.can(Perm.TAGS_ASSIGN):
        return forbidden(request, Perm.TAGS_ASSIGN)
    try:
        data = tag_schemas.TagGroupCreate.model_validate(
            {
                "name_zh": name_zh.strip(),
                "name_en": name_en.strip() or name_zh.strip(),
                "kind": kind,
                "exclusive": bool(exclusive),
                "open_to_guides": bool(open_to_guides),
            }
        )
        tags.create_group(request.state.db, tenant_id=principal.tenant_id, data=data, principal=principal)
    except DomainError as exc:
        return _tags_page(request, principal, error=_message(request, exc), status=exc.status)
    except ValueError:
        return _tags_page(request, principal, error="名称无效 / invalid name", status=422)
    return RedirectResponse("/tags", status_code=303)


@router.post("/tags/groups/{group_id}/tags", response_class=HTMLResponse)
def create_tag(
    request: Request,
    group_id: int,
    name_zh: str = Form(..., max_length=40),
    name_en: str = Form("", max_length=60),
    expires_after_days: str = Form(""),
    rule: str = Form(""),
) -> Response:
    """A new tag in a group (rule groups take the rule as JSON)."""
    principal = page_principal(request)
    if not principal.can(Perm.TAGS_ASSIGN):
        return forbidden(request, Perm.TAGS_ASSIGN)
    if group_id > MAX_ID:
        return not_found_page(request)
    try:
        data = tag_schemas.TagCreate.model_validate(
            {
                "name_zh": name_zh.strip(),
                "name_en": name_en.strip() or name_zh.strip(),
                "expires_after_days": int(expires_after_days) if expires_after_days.strip() else None,
                "rule": json.loads(rule) if rule.strip() else None,
            }
        )
        tags.create_tag(
            request.state.db, tenant_id=principal.tenant_id, group_id=group_id, data=data, principal=principal
        )
    except DomainError as exc:
        return _tags_page(request, principal, error=_message(request, exc), status=exc.status)
    except ValueError:
        return _tags_page(
            request,
            principal,
            error="输入无效（名称、天数或规则 JSON） / invalid name, days or rule JSON",
            status=422,
        )
    return RedirectResponse("/tags", status_code=303)


# --- tagging on the customer page --------------------------------------------------------------
@router.post("/customers/{customer_id}/tags", response_class=HTMLResponse)
def tag_customer(request: Request, customer_id: int, tag_id: int = Form(..., ge=1, le=MAX_ID)) -> Response:
    """Put a tag on the customer, then back to their page."""
    return _change(request, customer_id, tag_id, "assign")


@router.post("/customers/{customer_id}/tags/{tag_id}/remove", response_class=HTMLResponse)
def untag_customer(request: Request, customer_id: int, tag_id: int) -> Response:
    """Take a tag off the customer, then back to their page."""
    return _change(request, customer_id, tag_id, "remove")


def _change(request: Request, customer_id: int, tag_id: int, action: str) -> Response:
    principal = page_principal(request)
    if not principal.can(Perm.TAGS_ASSIGN):
        return forbidden(request, Perm.TAGS_ASSIGN)
    if customer_id > MAX_ID or tag_id > MAX_ID:
        return not_found_page(request)
    batch = tag_schemas.AssignmentBatch(
        action="assign" if action == "assign" else "remove",
        items=[tag_schemas.AssignmentItem(customer_id=customer_id, tag_id=tag_id)],
    )
    try:
        tags.customer_tags(
            request.state.db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal
        )
        tags.change_assignments(
            request.state.db, tenant_id=principal.tenant_id, batch=batch, principal=principal
        )
    except DomainError as exc:
        if exc.status == 404:
            return not_found_page(request)
        return render(
            request,
            "error.html",
            status=exc.status,
            code=exc.status,
            permission=None,
            message=_message(request, exc),
        )
    return RedirectResponse(f"/customers/{customer_id}#tags", status_code=303)


# --- audiences ---------------------------------------------------------------------------------
def _builder_options(request: Request, principal: Principal) -> dict[str, Any]:
    """What the builder offers: tags (not guide-private), stores, tiers, purposes, channels."""
    db = request.state.db
    groups = [
        {
            "name": g.name_en if lang_of(request) == "en" else g.name_zh,
            "tags": [{"id": t.id, "name": t.name_en if lang_of(request) == "en" else t.name_zh} for t in ts],
        }
        for g, ts in tags.list_groups(db, tenant_id=principal.tenant_id, principal=principal)
        if g.kind != "guide_private"
    ]
    stores = [
        {"code": code, "name": name}
        for code, name in db.execute(
            select(Store.code, Store.name).where(Store.tenant_id == principal.tenant_id).order_by(Store.code)
        )
    ]
    index = index_for(engine_of(db), principal.tenant_id)
    with index.lock:
        tiers = sorted(index.tiers.codes)
        cities = sorted(
            index.cities.codes, key=lambda c: -len(index.city.bitmaps.get(index.cities.codes[c], ()))
        )[:50]
    return {
        "groups": groups,
        "stores": stores,
        "tiers": tiers,
        "cities": cities,
        "purposes": list(CONSENT_PURPOSES),
        "channels": list(FIXED_CHANNELS),
    }


@router.get("/audiences", response_class=HTMLResponse)
@read_only
def audiences_page(request: Request) -> HTMLResponse:
    """The audience builder (live count, breakdown charts; `?edit=ID` reopens a saved audience), the
    saved audiences with their size now and their last frozen version, and the overlap of two."""
    principal = page_principal(request)
    if not principal.can(Perm.AUDIENCES_READ):
        return forbidden(request, Perm.AUDIENCES_READ)
    return _audiences_page(request, principal, error=None)


def _id_param(request: Request, name: str) -> int | None:
    raw = request.query_params.get(name) or ""
    return id_or_none(raw)


def _overlap(request: Request, principal: Principal, ids: dict[int, Any]) -> dict[str, Any] | None:
    """The overlap of the two audiences chosen (?a=&b=), with the circles that draw it."""
    a, b = _id_param(request, "a"), _id_param(request, "b")
    if a is None or b is None or a not in ids or b not in ids:
        return None
    try:
        result = audiences.overlap(
            request.state.db,
            tenant_id=principal.tenant_id,
            body=audience_schemas.OverlapBody(
                a=audience_schemas.Operand(audience_id=a), b=audience_schemas.Operand(audience_id=b)
            ),
        )
    except DomainError:
        return None
    return {"a": ids[a], "b": ids[b], "r": result, "circles": venn(result.a, result.b, result.both)}


def venn(a: int, b: int, both: int, width: float = 360, height: float = 220) -> dict[str, float]:
    """Two circles whose areas are the audiences' sizes and whose overlap is about their common part
    (the distance between the centres found by bisection on the lens area)."""
    biggest = max(a, b, 1)
    scale = (height / 2 - 10) / math.sqrt(biggest / math.pi)
    ra, rb = math.sqrt(a / math.pi) * scale, math.sqrt(b / math.pi) * scale

    def lens(d: float) -> float:
        if d >= ra + rb:
            return 0.0
        if d <= abs(ra - rb):
            return math.pi * min(ra, rb) ** 2
        x = (d * d + ra * ra - rb * rb) / (2 * d * ra)
        y = (d * d + rb * rb - ra * ra) / (2 * d * rb)
        k = (-d + ra + rb) * (d + ra - rb) * (d - ra + rb) * (d + ra + rb)
        return (
            ra * ra * math.acos(max(-1, min(1, x)))
            + rb * rb * math.acos(max(-1, min(1, y)))
            - 0.5 * math.sqrt(max(k, 0))
        )

    target = both * scale * scale
    low, high = abs(ra - rb), ra + rb
    for _ in range(60):
        mid = (low + high) / 2
        if lens(mid) > target:
            low = mid
        else:
            high = mid
    d = (low + high) / 2 if both else ra + rb + 12
    span = ra + d + rb
    left = (width - span) / 2 + ra
    return {
        "ax": round(left, 1),
        "bx": round(left + d, 1),
        "cy": height / 2,
        "ra": round(ra, 1),
        "rb": round(rb, 1),
        "w": width,
        "h": height,
    }


def _audiences_page(
    request: Request, principal: Principal, *, error: str | None, status: int = 200
) -> HTMLResponse:
    db = request.state.db
    tz = org.tenant_zone(db, tenant_id=principal.tenant_id)
    saved = audiences.list_audiences(db, tenant_id=principal.tenant_id)
    sizes = audiences.live_sizes(db, tenant_id=principal.tenant_id, audiences=[a for a, _ in saved])
    editing = None
    edit_id = _id_param(request, "edit")
    if edit_id is not None:
        editing = next((a for a, _ in saved if a.id == edit_id), None)
        if editing is None:
            return not_found_page(request)
    return render(
        request,
        "audiences.html",
        status=status,
        options=_builder_options(request, principal),
        saved=saved,
        sizes=sizes,
        editing=editing,
        overlap=_overlap(request, principal, {a.id: a for a, _ in saved}),
        chosen={"a": _id_param(request, "a"), "b": _id_param(request, "b")},
        may_write=principal.can(Perm.AUDIENCES_WRITE),
        may_export=principal.can(Perm.CUSTOMERS_EXPORT),
        error=error,
        tz=tz,
    )


async def request_body(request: Request) -> bytes:
    """The raw body (size-capped by BodySizeLimit), read on the event loop; no other I/O here."""
    return await request.body()


@router.post("/audiences/preview")
@read_only
def preview(request: Request, raw: bytes = Depends(request_body)) -> Response:
    """Live size for the builder: the rule as JSON in, count and breakdown as JSON out (in the
    thread pool, in a read-only transaction: a save running at the same time never stalls it)."""
    return _preview(request, raw)


def _preview(request: Request, raw: bytes) -> Response:
    principal = page_principal(request)
    if not principal.can(Perm.AUDIENCES_READ):
        return JSONResponse({"error": {"code": "forbidden"}}, status_code=403)
    try:
        body = json.loads(raw or b"null")
        if not isinstance(body, dict) or not isinstance(body.get("rule"), dict):
            raise ValueError
    except ValueError:
        return JSONResponse(
            {
                "error": {
                    "code": "invalid_rule",
                    "message": "规则须为 JSON 对象 / the rule must be a JSON object",
                }
            },
            status_code=422,
        )
    try:
        result = audiences.preview(request.state.db, tenant_id=principal.tenant_id, rule=body["rule"])
    except DomainError as exc:
        return JSONResponse(
            {"error": {"code": exc.code, "message": _message(request, exc), "details": exc.details}},
            status_code=exc.status,
        )
    return JSONResponse(result.model_dump())


@router.post("/audiences", response_class=HTMLResponse)
def save_audience(
    request: Request, name: str = Form(..., max_length=80), rule: str = Form(..., max_length=200_000)
) -> Response:
    """Save the builder's rule as an audience package, and freeze its first version."""
    principal = page_principal(request)
    if not principal.can(Perm.AUDIENCES_WRITE):
        return forbidden(request, Perm.AUDIENCES_WRITE)
    try:
        data = audience_schemas.AudienceCreate.model_validate(
            {"name": name.strip(), "rule": json.loads(rule)}
        )
        created = audiences.create_audience(
            request.state.db, tenant_id=principal.tenant_id, data=data, principal=principal
        )
        audiences.snapshot(
            request.state.db, tenant_id=principal.tenant_id, audience_id=created.id, principal=principal
        )
    except DomainError as exc:
        return _audiences_page(request, principal, error=_message(request, exc), status=exc.status)
    except ValueError:
        return _audiences_page(request, principal, error="名称或规则无效 / invalid name or rule", status=422)
    return redirect_with_toast("/audiences", "created")


@router.post("/audiences/{audience_id}", response_class=HTMLResponse)
def edit_audience(
    request: Request,
    audience_id: int,
    name: str = Form(..., max_length=80),
    rule: str = Form(..., max_length=200_000),
) -> Response:
    """Save an edited rule (and name) as the audience's next version: the rule changes and its
    members are frozen at once; earlier versions keep the rule they had."""
    principal = page_principal(request)
    if not principal.can(Perm.AUDIENCES_WRITE):
        return forbidden(request, Perm.AUDIENCES_WRITE)
    if audience_id > MAX_ID:
        return not_found_page(request)
    db = request.state.db
    try:
        audiences.get_audience(db, tenant_id=principal.tenant_id, audience_id=audience_id)
    except DomainError:
        return not_found_page(request)
    try:
        data = audience_schemas.AudienceUpdate.model_validate(
            {"name": name.strip(), "rule": json.loads(rule)}
        )
        audiences.update_audience(db, tenant_id=principal.tenant_id, audience_id=audience_id, data=data)
        audiences.snapshot(db, tenant_id=principal.tenant_id, audience_id=audience_id, principal=principal)
    except DomainError as exc:
        return _audiences_page(request, principal, error=_message(request, exc), status=exc.status)
    except ValueError:
        return _audiences_page(request, principal, error="名称或规则无效 / invalid name or rule", status=422)
    return redirect_with_toast(f"/audiences?edit={audience_id}", "saved")


@router.post("/audiences/{audience_id}/duplicate", response_class=HTMLResponse)
def duplicate_audience(request: Request, audience_id: int) -> Response:
    """A copy of an audience under a free name ("… 副本"), opened in the builder."""
    principal = page_principal(request)
    if not principal.can(Perm.AUDIENCES_WRITE):
        return forbidden(request, Perm.AUDIENCES_WRITE)
    if audience_id > MAX_ID:
        return not_found_page(request)
    db = request.state.db
    try:
        source = audiences.get_audience(db, tenant_id=principal.tenant_id, audience_id=audience_id)
        suffix = "copy" if lang_of(request) == "en" else "副本"
        copy = audiences.create_audience(
            db,
            tenant_id=principal.tenant_id,
            data=audience_schemas.AudienceCreate(
                name=audiences.copy_name(db, tenant_id=principal.tenant_id, name=source.name, suffix=suffix),
                rule=source.rule,
                description=source.description,
            ),
            principal=principal,
        )
    except DomainError as exc:
        if exc.status == 404:
            return not_found_page(request)
        return _audiences_page(request, principal, error=_message(request, exc), status=exc.status)
    return redirect_with_toast(f"/audiences?edit={copy.id}", "created")


@router.post("/audiences/{audience_id}/delete", response_class=HTMLResponse)
def delete_audience(request: Request, audience_id: int) -> Response:
    """Delete an audience with its frozen versions (confirmed in the page; audited)."""
    principal = page_principal(request)
    if not principal.can(Perm.AUDIENCES_WRITE):
        return forbidden(request, Perm.AUDIENCES_WRITE)
    if audience_id > MAX_ID:
        return not_found_page(request)
    try:
        audiences.delete_audience(
            request.state.db, tenant_id=principal.tenant_id, audience_id=audience_id, principal=principal
        )
    except DomainError:
        return not_found_page(request)
    return redirect_with_toast("/audiences", "deleted")


@router.post("/audiences/{audience_id}/snapshots", response_class=HTMLResponse)
def snapshot(request: Request, audience_id: int) -> Response:
    """Freeze the audience's members now as its next version."""
    principal = page_principal(request)
    if not principal.can(Perm.AUDIENCES_WRITE):
        return forbidden(request, Perm.AUDIENCES_WRITE)
    if audience_id > MAX_ID:
        return not_found_page(request)
    try:
        audiences.snapshot(
            request.state.db, tenant_id=principal.tenant_id, audience_id=audience_id, principal=principal
        )
    except DomainError:
        return not_found_page(request)
    return redirect_with_toast("/audiences", "saved")


@router.get("/audiences/{audience_id}/snapshots/{version}.xlsx")
def export_snapshot(request: Request, audience_id: int, version: int) -> Response:
    """A frozen version as Excel (phones masked; the export is audited)."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_EXPORT):
        return forbidden(request, Perm.CUSTOMERS_EXPORT)
    if audience_id > MAX_ID or version > 2**31:
        return not_found_page(request)
    db = request.state.db
    try:
        row = audiences.get_snapshot(
            db, tenant_id=principal.tenant_id, audience_id=audience_id, version=version
        )
    except DomainError:
        return not_found_page(request)
    return snapshot_download(db, principal, row, "xlsx", via="console")
