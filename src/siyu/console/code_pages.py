"""Channel codes in the console (owner, HQ operator): create and edit a code — guides and how they
take turns, a schedule, a daily cap and a backup guide, the store and source, auto-tags, and a welcome
message with text, an image, a link card and a mini-program card — and its QR image, shown and
downloadable."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import httpx
from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from starlette.datastructures import FormData, UploadFile

from siyu.access import Perm, Principal
from siyu.api.deps import MAX_ID
from siyu.api.routing import read_only
from siyu.console.forms import Posted, domain_message, field_errors, text, texts
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
from siyu.core.inputs import ascii_digits, id_or_none
from siyu.org import facade as org
from siyu.org.models import Staff
from siyu.tags import service as tag_service
from siyu.wecom import codes, media
from siyu.wecom.models import ChannelCode
from siyu.wecom.schemas import ChannelCodeCreate

router = console_router()
SCHEDULE_ROWS = 3
MODES = ("round_robin", "random", "schedule")
# Hosts a code's QR image may be fetched from: WeCom's image hosts (and the configured API's host,
# which in tests and the demo is the fake WeCom on loopback).
QR_HOSTS = (".qpic.cn", ".weixin.qq.com", ".qq.com")
QR_MAX_BYTES = 1024 * 1024


def _guard(request: Request) -> Principal | HTMLResponse:
    principal = page_principal(request)
    return principal if principal.can(Perm.WECOM_CODES) else forbidden(request, Perm.WECOM_CODES)


def _choices(request: Request, principal: Principal) -> dict[str, Any]:
    db = request.state.db
    people = list(
        db.scalars(
            select(Staff)
            .where(
                Staff.tenant_id == principal.tenant_id,
                Staff.status == "active",
                Staff.role.in_(("guide", "store_manager")),
            )
            .order_by(Staff.employee_no)
        )
    )
    en = lang_of(request) == "en"
    tag_groups = [
        (g.name_en if en else g.name_zh, [(t.id, t.name_en if en else t.name_zh) for t in tags])
        for g, tags in tag_service.list_groups(db, tenant_id=principal.tenant_id, principal=principal)
        if g.kind not in ("rule", "guide_private") and tags
    ]
    return {
        "guides": [(m.id, f"{m.name} {m.employee_no}", bool(m.wecom_userid)) for m in people],
        "stores": [(s.code, f"{s.code} {s.name}") for s in org.stores_of(db, tenant_id=principal.tenant_id)],
        "tag_groups": tag_groups,
    }


def _values_of(code: ChannelCode, store_codes: dict[int, str]) -> dict[str, Any]:
    attachments = {a["type"]: a for a in code.welcome_attachments}
    link, mini = attachments.get("link", {}), attachments.get("miniprogram", {})
    return {
        "name": code.name,
        "source_label": code.source_label,
        "store_code": store_codes.get(code.store_id or 0, ""),
        "mode": code.mode,
        "guide_ids": list(code.guide_ids),
        "schedule": [
            {"weekdays": s["weekdays"], "from": s["from"], "to": s["to"], "guide_ids": s["guide_ids"]}
            for s in code.schedule
        ],
        "backup_guide_id": code.backup_guide_id,
        "daily_cap": code.daily_cap,
        "tag_ids": list(code.tag_ids),
        "welcome_text": code.welcome_text or "",
        "image_media": attachments.get("image", {}).get("media"),
        "link_title": link.get("title", ""),
        "link_url": link.get("url", ""),
        "link_desc": link.get("desc") or "",
        "mp_appid": mini.get("appid", ""),
        "mp_page": mini.get("page", ""),
        "mp_title": mini.get("title", ""),
        "mp_media": mini.get("media"),
    }


def _ids(values: list[str]) -> list[int]:
    return [i for v in values if (i := id_or_none(v)) is not None]


def _upload(request: Request, principal: Principal, form: FormData, name: str) -> int | None:
    """An image posted in field `name`, stored (None when no file was chosen)."""
    upload = form.get(name)
    if not isinstance(upload, UploadFile) or not upload.filename:
        return None
    content = upload.file.read(media.MAX_BYTES + 1)
    stored = media.store_image(
        request.state.db, tenant_id=principal.tenant_id, filename=upload.filename, content=content
    )
    return stored.id


def _read(request: Request, principal: Principal, form: FormData, previous: dict[str, Any]) -> dict[str, Any]:
    """The posted code as the form shows it again (`values`), images stored as they arrive."""
    schedule = []
    for row in range(SCHEDULE_ROWS):
        days = _ids(texts(form, f"s{row}_weekdays"))
        slot = {
            "weekdays": [d for d in days if d <= 6],
            "from": text(form, f"s{row}_from", 5) or "",
            "to": text(form, f"s{row}_to", 5) or "",
            "guide_ids": _ids(texts(form, f"s{row}_guides")),
        }
        if slot["weekdays"] or slot["from"] or slot["to"] or slot["guide_ids"]:
            schedule.append(slot)
    cap = text(form, "daily_cap", 6)
    backup = text(form, "backup_guide_id", 20)
    values: dict[str, Any] = {
        "name": text(form, "name", 60),
        "source_label": text(form, "source_label", 40),
        "store_code": text(form, "store_code", 64) or "",
        "mode": text(form, "mode", 12) or "round_robin",
        "guide_ids": _ids(texts(form, "guide_ids")),
        "schedule": schedule,
        "backup_guide_id": id_or_none(backup),
        "daily_cap": cap,
        "tag_ids": _ids(texts(form, "tag_ids")),
        "welcome_text": text(form, "welcome_text", 1000) or "",
        "link_title": text(form, "link_title", 64) or "",
        "link_url": text(form, "link_url", 500) or "",
        "link_desc": text(form, "link_desc", 120) or "",
        "mp_appid": text(form, "mp_appid", 40) or "",
        "mp_page": text(form, "mp_page", 200) or "",
        "mp_title": text(form, "mp_title", 64) or "",
    }
    for field, media_key in (("welcome_image", "image_media"), ("mp_cover", "mp_media")):
        new = _upload(request, principal, form, field)
        keep = previous.get(media_key) if text(form, f"{field}_remove", 3) is None else None
        values[media_key] = new if new is not None else keep
    return values


def _model(values: dict[str, Any]) -> dict[str, Any]:
    attachments: list[dict[str, Any]] = []
    if values.get("image_media"):
        attachments.append({"type": "image", "media_id": values["image_media"]})
    if values["link_title"] or values["link_url"]:
        link = {"type": "link", "title": values["link_title"] or None, "url": values["link_url"] or None}
        attachments.append(link | ({"desc": values["link_desc"]} if values["link_desc"] else {}))
    if values["mp_appid"] or values["mp_page"] or values["mp_title"] or values.get("mp_media"):
        attachments.append(
            {
                "type": "miniprogram",
                "appid": values["mp_appid"] or None,
                "page": values["mp_page"] or None,
                "title": values["mp_title"] or None,
                "media_id": values.get("mp_media"),
            }
        )
    return {
        "name": values["name"],
        "source_label": values["source_label"],
        "store_code": values["store_code"] or None,
        "mode": values["mode"],
        "guide_ids": values["guide_ids"],
        "schedule": values["schedule"],
        "backup_guide_id": values["backup_guide_id"],
        "daily_cap": values["daily_cap"] or None,
        "tag_ids": values["tag_ids"],
        "welcome_text": values["welcome_text"] or None,
        "welcome_attachments": attachments,
    }


PREFIX = {"link": "link_", "miniprogram": "mp_"}


def _errors(exc: ValidationError, lang: str, attachments: list[dict[str, Any]]) -> dict[str, str]:
    """Problems by form field: a schedule row, an attachment's own field, or the code's."""
    out: dict[str, str] = {}
    for key, message in field_errors(exc, lang).items():
        parts = key.split(".")
        if parts[0] == "schedule" and len(parts) > 1:
            out.setdefault(f"s{parts[1]}", message)
        elif parts[0] == "welcome_attachments" and len(parts) > 2 and ascii_digits(parts[1], max_len=3):
            kind = attachments[int(parts[1])]["type"]
            field = parts[2]
            named = (
                f"{PREFIX[kind]}{field}"
                if kind in PREFIX and field in ("appid", "page", "title", "url")
                else ""
            )
            out.setdefault(named or "attachments", message)
        elif parts[0] == "welcome_attachments":
            out.setdefault("attachments", message)
        else:
            out.setdefault(parts[0], message)
    return out


def _form(
    request: Request,
    principal: Principal,
    code: ChannelCode | None,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    schedule = list(values.get("schedule", []))
    schedule += [{"weekdays": [], "from": "", "to": "", "guide_ids": []}] * (SCHEDULE_ROWS - len(schedule))
    return render(
        request,
        "wecom_code.html",
        status=422 if errors else 200,
        code=code,
        v=values,
        schedule=schedule[:SCHEDULE_ROWS],
        errors=errors or {},
        modes=MODES,
        **_choices(request, principal),
    )


@router.get("/wecom/codes/new", response_class=HTMLResponse)
@read_only
def code_new(request: Request) -> HTMLResponse:
    """The form for a new channel code."""
    principal = _guard(request)
    if isinstance(principal, HTMLResponse):
        return principal
    return _form(
        request, principal, None, {"mode": "round_robin", "guide_ids": [], "tag_ids": [], "schedule": []}
    )


def _save(request: Request, principal: Principal, code: ChannelCode | None, form: FormData) -> Response:
    lang = lang_of(request)
    db = request.state.db
    store_codes = {s.id: s.code for s in org.stores_of(db, tenant_id=principal.tenant_id)}
    previous = _values_of(code, store_codes) if code is not None else {}
    # Images are stored as they arrive; a refusal below undoes them with everything else.
    attempt = db.begin_nested()

    def refuse(values: dict[str, Any], errors: dict[str, str]) -> HTMLResponse:
        attempt.rollback()
        for key in ("image_media", "mp_media"):  # a new upload is gone: the form keeps the saved one
            values[key] = previous.get(key)
        return _form(request, principal, code, values, errors)

    try:
        values = _read(request, principal, form, previous)
    except DomainError as exc:  # an upload that is not an image, or too large
        values = {**previous, "mode": text(form, "mode", 12) or "round_robin"}
        return refuse(values, {"attachments": domain_message(exc, lang)})
    model = _model(values)
    try:
        data = ChannelCodeCreate.model_validate(model, strict=False)
    except ValidationError as exc:
        return refuse(values, _errors(exc, lang, model["welcome_attachments"]))
    api_base = request.app.state.settings.wecom_api_base
    try:
        if code is None:
            saved = codes.create_code(
                request.state.db,
                tenant_id=principal.tenant_id,
                data=data,
                principal=principal,
                api_base=api_base,
            )
        else:
            saved = codes.update_code(
                request.state.db,
                tenant_id=principal.tenant_id,
                code_id=code.id,
                data=data,
                principal=principal,
                api_base=api_base,
            )
    except DomainError as exc:
        return refuse(values, {"": domain_message(exc, lang)})
    attempt.commit()
    return redirect_with_toast(f"/wecom/codes/{saved.id}", "created" if code is None else "saved")


@router.post("/wecom/codes/new", response_class=HTMLResponse)
def code_create(request: Request, form: Posted) -> Response:
    """Create the code here and in WeCom (a WeCom refusal saves nothing and says why)."""
    principal = _guard(request)
    if isinstance(principal, HTMLResponse):
        return principal
    return _save(request, principal, None, form)


def _load(request: Request, principal: Principal, code_id: int) -> ChannelCode | None:
    if code_id > MAX_ID:
        return None
    try:
        return codes.get_code(request.state.db, tenant_id=principal.tenant_id, code_id=code_id)
    except DomainError:
        return None


@router.get("/wecom/codes/{code_id}", response_class=HTMLResponse)
@read_only
def code_edit(request: Request, code_id: int) -> HTMLResponse:
    """A code's form, with its QR image."""
    principal = _guard(request)
    if isinstance(principal, HTMLResponse):
        return principal
    code = _load(request, principal, code_id)
    if code is None:
        return not_found_page(request)
    store_codes = {s.id: s.code for s in org.stores_of(request.state.db, tenant_id=principal.tenant_id)}
    return _form(request, principal, code, _values_of(code, store_codes))


@router.post("/wecom/codes/{code_id}", response_class=HTMLResponse)
def code_save(request: Request, code_id: int, form: Posted) -> Response:
    """Save a code (WeCom is pointed at the guide on duty now)."""
    principal = _guard(request)
    if isinstance(principal, HTMLResponse):
        return principal
    code = _load(request, principal, code_id)
    if code is None:
        return not_found_page(request)
    return _save(request, principal, code, form)


def qr_allowed(url: str, api_base: str) -> bool:
    """Whether a code's image address may be fetched: https on WeCom's hosts, or the configured API's
    own host (the fake WeCom)."""
    parts, api = urlsplit(url), urlsplit(api_base)
    if parts.netloc and parts.netloc == api.netloc and parts.scheme == api.scheme:
        return True
    host = parts.hostname or ""
    return parts.scheme == "https" and any(host.endswith(suffix) for suffix in QR_HOSTS)


@router.get("/wecom/codes/{code_id}/qr.png")
@read_only
def code_qr(request: Request, code_id: int, download: int = 0) -> Response:
    """The code's QR image as WeCom made it (fetched from WeCom's address for it); `download=1`
    saves it as a file named after the code."""
    principal = _guard(request)
    if isinstance(principal, HTMLResponse):
        return principal
    code = _load(request, principal, code_id)
    if code is None or not code.qr_code:
        return not_found_page(request)
    if not qr_allowed(code.qr_code, request.app.state.settings.wecom_api_base):
        return not_found_page(request)
    try:
        with httpx.Client(timeout=5, follow_redirects=False) as http:
            answer = http.get(code.qr_code)
    except httpx.HTTPError:
        return Response(status_code=502)
    kind = media.image_type(answer.content)
    if answer.status_code != 200 or kind is None or len(answer.content) > QR_MAX_BYTES:
        return Response(status_code=502)
    headers = {"Cache-Control": "private, max-age=300"}
    if download:
        headers["Content-Disposition"] = f'attachment; filename="channel-code-{code.state}.png"'
    return Response(answer.content, media_type=kind, headers=headers)
