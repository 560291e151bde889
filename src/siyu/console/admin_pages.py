"""Administration in the console (owner and HQ operator): brand settings, regions and stores (hours
with overnight intervals and holidays, coordinates, status).

Every form goes through the domain's own use case (the API's validation and audit); a refusal comes
back as the same form, filled in, with the problem next to the field.
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError

from siyu.access import Perm, Principal
from siyu.api.deps import MAX_ID
from siyu.api.routing import read_only
from siyu.console.forms import Posted, domain_message, field_errors, text
from siyu.console.rendering import (
    console_router,
    forbidden,
    lang_of,
    not_found_page,
    page_principal,
    redirect_with_toast,
    render,
)
from siyu.console.tables import paging
from siyu.core.errors import DomainError
from siyu.core.inputs import ascii_digits, id_or_none
from siyu.org import schemas as org_schemas
from siyu.org import service as org_service
from siyu.org.models import Store

router = console_router()
WEEKDAYS = range(7)
SLOTS = 2  # intervals a weekday offers in the form (more when a store already has more)
STORE_STATUSES = ("active", "preparing", "suspended", "closed")
HOLIDAY_LINE = re.compile(
    r"^(?P<date>\d{4}-\d{2}-\d{2})\s*(?:(?P<closed>closed|休息|闭店)|(?P<opens>\d{2}:\d{2})\s*[-–~]\s*(?P<closes>\d{2}:\d{2}))?\s*(?P<name>.*)$"
)


def _guard(request: Request, perm: Perm) -> Principal | HTMLResponse:
    principal = page_principal(request)
    return principal if principal.can(perm) else forbidden(request, perm)


# --- brand settings -------------------------------------------------------------------------------
@router.get("/settings/brand", response_class=HTMLResponse)
@read_only
def brand_page(request: Request) -> HTMLResponse:
    """The brand's name, time zone, currency and how long a new exclusive-guide binding is protected."""
    principal = _guard(request, Perm.TENANT_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    tenant = org_service.get_tenant(request.state.db, tenant_id=principal.tenant_id)
    return render(request, "settings_brand.html", t=tenant, values={}, errors={})


@router.post("/settings/brand", response_class=HTMLResponse)
def brand_save(request: Request, form: Posted) -> Response:
    """Save the brand's name and protection days (time zone and currency are fixed at creation)."""
    principal = _guard(request, Perm.TENANT_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    db = request.state.db
    values = {
        "name": text(form, "name", 120),
        "binding_protection_days": text(form, "binding_protection_days", 5),
    }
    try:
        data = org_schemas.TenantUpdate.model_validate(
            {k: v for k, v in values.items() if v is not None}, strict=False
        )
    except ValidationError as exc:
        tenant = org_service.get_tenant(db, tenant_id=principal.tenant_id)
        errors = field_errors(exc, lang_of(request))
        return render(request, "settings_brand.html", status=422, t=tenant, values=values, errors=errors)
    org_service.update_tenant(db, tenant_id=principal.tenant_id, data=data, actor=principal)
    return redirect_with_toast("/settings/brand", "saved")


# --- regions --------------------------------------------------------------------------------------
@router.post("/settings/regions", response_class=HTMLResponse)
def region_create(request: Request, form: Posted) -> Response:
    """Add a region (code and name)."""
    principal = _guard(request, Perm.ORG_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    lang = lang_of(request)
    values = {"code": text(form, "code", 40), "name": text(form, "name", 120)}
    try:
        data = org_schemas.RegionCreate.model_validate(values, strict=False)
        org_service.create_region(request.state.db, tenant_id=principal.tenant_id, data=data, actor=principal)
    except ValidationError as exc:
        return _stores_page(request, principal, region_values=values, region_errors=field_errors(exc, lang))
    except DomainError as exc:
        errors = {"code": domain_message(exc, lang)}
        return _stores_page(request, principal, region_values=values, region_errors=errors)
    return redirect_with_toast("/settings/stores", "created")


# --- stores ---------------------------------------------------------------------------------------
@router.get("/settings/stores", response_class=HTMLResponse)
@read_only
def stores_page(request: Request) -> HTMLResponse:
    """Stores with region, city, status and hours; regions with their stores."""
    principal = _guard(request, Perm.ORG_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    return _stores_page(request, principal, region_values={}, region_errors={})


def _stores_page(
    request: Request, principal: Principal, *, region_values: dict[str, Any], region_errors: dict[str, str]
) -> HTMLResponse:
    db = request.state.db
    regions = org_service.list_regions(db, tenant_id=principal.tenant_id)
    stores = org_service.all_stores(db, tenant_id=principal.tenant_id)
    q = (request.query_params.get("q") or "").strip()
    status = request.query_params.get("status")
    shown = [
        s
        for s in stores
        if (not q or q.lower() in s.name.lower() or q.lower() == s.code.lower() or q == (s.city or ""))
        and (status not in STORE_STATUSES or s.status == status)
    ]
    page = paging(request.query_params.get("page"), request.query_params.get("size"), len(shown))
    counts: dict[int | None, int] = {}
    for s in stores:
        counts[s.region_id] = counts.get(s.region_id, 0) + 1
    return render(
        request,
        "settings_stores.html",
        status=422 if region_errors else 200,
        rows=shown[page.offset : page.offset + page.size],
        page=page,
        regions=regions,
        region_names={r.id: r.name for r in regions},
        counts=counts,
        q=q,
        shown_status=status if status in STORE_STATUSES else "",
        statuses=STORE_STATUSES,
        region_values=region_values,
        region_errors=region_errors,
        hours_summary=hours_summary,
    )


def hours_summary(hours: list[dict[str, Any]], lang: str) -> str:
    """A store's week in one line: "周一至周五 10:00–22:00；周六 10:00–次日 02:00"."""
    names = (
        ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
        if lang == "en"
        else ("周一", "周二", "周三", "周四", "周五", "周六", "周日")
    )
    next_day = "+1 " if lang == "en" else "次日 "
    by_day: dict[int, list[str]] = {}
    for h in sorted(hours, key=lambda h: (h["weekday"], h["opens"])):
        closes = h["closes"] if h["closes"] > h["opens"] else next_day + h["closes"]
        by_day.setdefault(h["weekday"], []).append(f"{h['opens']}–{closes}")
    if not by_day:
        return "—"
    groups: list[tuple[list[int], str]] = []
    for day in range(7):
        label = ", ".join(by_day.get(day, [])) or ("closed" if lang == "en" else "休息")
        if groups and groups[-1][1] == label and groups[-1][0][-1] == day - 1:
            groups[-1][0].append(day)
        else:
            groups.append(([day], label))
    join = "–" if lang == "en" else "至"
    parts = [
        (names[d[0]] if len(d) == 1 else f"{names[d[0]]}{join}{names[d[-1]]}") + " " + label
        for d, label in groups
    ]
    return "; ".join(parts) if lang == "en" else "；".join(parts)


def _hours_rows(store: Store | None, form: Any | None) -> list[list[tuple[str, str]]]:
    """The form's intervals per weekday: from the post when there is one, else from the store."""
    rows: list[list[tuple[str, str]]] = [[] for _ in WEEKDAYS]
    if form is not None:
        for day in WEEKDAYS:
            slot = 0
            while f"h{day}_{slot}_opens" in form:
                rows[day].append(
                    (
                        str(form.get(f"h{day}_{slot}_opens") or ""),
                        str(form.get(f"h{day}_{slot}_closes") or ""),
                    )
                )
                slot += 1
    elif store is not None:
        for h in sorted(store.business_hours, key=lambda h: (h["weekday"], h["opens"])):
            rows[h["weekday"]].append((h["opens"], h["closes"]))
    for day in WEEKDAYS:
        while len(rows[day]) < SLOTS:
            rows[day].append(("", ""))
    return rows


def _holidays_text(store: Store | None) -> str:
    if store is None:
        return ""
    lines = []
    for h in sorted(store.holidays, key=lambda h: h["date"]):
        hours = "休息" if h.get("closed", True) else f"{h['opens']}-{h['closes']}"
        lines.append(f"{h['date']} {hours} {h.get('name') or ''}".rstrip())
    return "\n".join(lines)


def _read_store(form: Any, lang: str, *, new: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The posted store as the domain's fields, and the problems found while reading it."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {
        "name": text(form, "name", 120),
        "city": text(form, "city", 60),
        "address": text(form, "address", 300),
        "status": text(form, "status", 16) or "active",
    }
    if new:
        values["code"] = text(form, "code", 40)
    region = text(form, "region_id", 20)
    values["region_id"] = id_or_none(region)
    for name in ("latitude", "longitude"):
        raw = text(form, name, 30)
        values[name] = raw
    hours: list[dict[str, Any]] = []
    for day in WEEKDAYS:
        slot = 0
        while f"h{day}_{slot}_opens" in form:
            opens = text(form, f"h{day}_{slot}_opens", 5)
            closes = text(form, f"h{day}_{slot}_closes", 5)
            if opens or closes:
                if not (opens and closes):
                    errors[f"h{day}_{slot}"] = "开门和关门时间都要填" if lang != "en" else "Give both times"
                else:
                    hours.append(
                        {"weekday": day, "opens": opens, "closes": closes, "_field": f"h{day}_{slot}"}
                    )
            slot += 1
    values["business_hours"] = hours
    holidays: list[dict[str, Any]] = []
    for number, line in enumerate((text(form, "holidays", 20000) or "").splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        match = HOLIDAY_LINE.match(line)
        if match is None:
            errors["holidays"] = (
                f"Line {number}: write YYYY-MM-DD, then 'closed' or HH:MM-HH:MM, then a name"
                if lang == "en"
                else f"第 {number} 行：请写成“日期 休息”或“日期 10:00-18:00 名称”"
            )
            continue
        opens, closes = match.group("opens"), match.group("closes")
        holidays.append(
            {
                "date": match.group("date"),
                "closed": opens is None,
                "opens": opens,
                "closes": closes,
                "name": match.group("name").strip() or None,
            }
        )
    values["holidays"] = holidays
    return values, errors


def _store_errors(exc: ValidationError, values: dict[str, Any], lang: str) -> dict[str, str]:
    errors: dict[str, str] = {}
    for key, message in field_errors(exc, lang).items():
        parts = key.split(".")
        if parts[0] == "business_hours" and len(parts) > 1 and ascii_digits(parts[1], max_len=3):
            errors.setdefault(values["business_hours"][int(parts[1])]["_field"], message)
        elif parts[0] == "holidays":
            errors.setdefault("holidays", message)
        else:
            errors.setdefault(parts[0], message)
    return errors


def _model_input(values: dict[str, Any]) -> dict[str, Any]:
    data = dict(values)
    data["business_hours"] = [{k: v for k, v in h.items() if k != "_field"} for h in values["business_hours"]]
    for name in ("latitude", "longitude"):
        raw = data.get(name)
        if raw is not None:
            with contextlib.suppress(ValueError):  # else the model refuses the text at the field
                data[name] = float(raw)
    return {k: v for k, v in data.items() if v is not None or k in ("region_id", "latitude", "longitude")}


def _store_form(
    request: Request,
    principal: Principal,
    store: Store | None,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    form: Any | None = None,
) -> HTMLResponse:
    regions = org_service.list_regions(request.state.db, tenant_id=principal.tenant_id)
    shown: dict[str, Any] = {}
    if store is not None:
        shown = {
            c: getattr(store, c)
            for c in ("code", "name", "city", "address", "latitude", "longitude", "status", "region_id")
        }
    if values is not None:
        shown.update({k: v for k, v in values.items() if k not in ("business_hours", "holidays")})
    return render(
        request,
        "settings_store.html",
        status=422 if errors else 200,
        store=store,
        v=shown,
        errors=errors or {},
        regions=[(r.id, f"{r.code} {r.name}") for r in regions],
        statuses=STORE_STATUSES,
        hours=_hours_rows(store, form),
        holidays=str(form.get("holidays") or "") if form is not None else _holidays_text(store),
    )


@router.get("/settings/stores/new", response_class=HTMLResponse)
@read_only
def store_new(request: Request) -> HTMLResponse:
    """The form for a new store."""
    principal = _guard(request, Perm.ORG_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    return _store_form(request, principal, None)


@router.post("/settings/stores/new", response_class=HTMLResponse)
def store_create(request: Request, form: Posted) -> Response:
    """Create a store."""
    principal = _guard(request, Perm.ORG_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    lang = lang_of(request)
    values, errors = _read_store(form, lang, new=True)
    try:
        data = org_schemas.StoreCreate.model_validate(_model_input(values), strict=False)
    except ValidationError as exc:
        errors = {**_store_errors(exc, values, lang), **errors}
        return _store_form(request, principal, None, values=values, errors=errors, form=form)
    if errors:
        return _store_form(request, principal, None, values=values, errors=errors, form=form)
    try:
        store = org_service.create_store(
            request.state.db, tenant_id=principal.tenant_id, data=data, actor=principal
        )
    except DomainError as exc:
        key = "code" if exc.code == "duplicate" else ""
        return _store_form(
            request, principal, None, values=values, errors={key: domain_message(exc, lang)}, form=form
        )
    return redirect_with_toast(f"/settings/stores/{store.id}", "created")


def _load_store(request: Request, principal: Principal, store_id: int) -> Store | None:
    if store_id > MAX_ID:
        return None
    try:
        return org_service.get_store(request.state.db, tenant_id=principal.tenant_id, store_id=store_id)
    except DomainError:
        return None


@router.get("/settings/stores/{store_id}", response_class=HTMLResponse)
@read_only
def store_edit(request: Request, store_id: int) -> HTMLResponse:
    """A store's form."""
    principal = _guard(request, Perm.ORG_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    store = _load_store(request, principal, store_id)
    if store is None:
        return not_found_page(request)
    return _store_form(request, principal, store)


@router.post("/settings/stores/{store_id}", response_class=HTMLResponse)
def store_save(request: Request, store_id: int, form: Posted) -> Response:
    """Save a store (hours and holidays are replaced as a whole)."""
    principal = _guard(request, Perm.ORG_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    store = _load_store(request, principal, store_id)
    if store is None:
        return not_found_page(request)
    lang = lang_of(request)
    values, errors = _read_store(form, lang, new=False)
    try:
        data = org_schemas.StoreUpdate.model_validate(_model_input(values), strict=False)
    except ValidationError as exc:
        errors = {**_store_errors(exc, values, lang), **errors}
        return _store_form(request, principal, store, values=values, errors=errors, form=form)
    if errors:
        return _store_form(request, principal, store, values=values, errors=errors, form=form)
    try:
        org_service.update_store(
            request.state.db, tenant_id=principal.tenant_id, store_id=store.id, data=data, actor=principal
        )
    except DomainError as exc:
        return _store_form(
            request, principal, store, values=values, errors={"": domain_message(exc, lang)}, form=form
        )
    return redirect_with_toast(f"/settings/stores/{store_id}", "saved")
