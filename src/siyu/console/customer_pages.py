"""Console customer pages: the list with its search (phones masked), the customer 360, phone reveal."""

from __future__ import annotations

import datetime as dt
import re
import secrets
from typing import Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response

from siyu.access import Perm, Principal
from siyu.api.deps import MAX_ID
from siyu.api.downloads import temporary_download
from siyu.api.routing import read_only
from siyu.audiences import service as audience_service
from siyu.console.choices import Choices, int_or_none, scope_choices
from siyu.console.customer_list import (
    SORTS,
    WINDOWS,
    CustomerListQuery,
    customer_figures,
    list_page,
    list_statement,
)
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
from siyu.console.tables import paging, parse_sort
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.core.phone import mask_phone, national_display
from siyu.customers import service as customer_service
from siyu.customers.models import CONSENT_PURPOSES, Customer
from siyu.customers.schemas import CustomerSearch
from siyu.db.pagination import count_rows
from siyu.guides import service as guide_service
from siyu.loyalty import facade as loyalty
from siyu.orders import service as order_service
from siyu.orders.schemas import OrderFilter
from siyu.org import facade as org
from siyu.platform import audit
from siyu.platform.tabular import write_table
from siyu.tags import service as tag_service

router = console_router()


# --- customers --------------------------------------------------------------------------------
PAGE_SIZE = 20
EXPORT_LIMIT = 100_000
PHONE_ENDING = re.compile(r"\d{4}")
CUSTOMER_NUMBER = re.compile(r"#\d{1,18}")


def _names(
    request: Request, principal: Principal, store_ids: set[int], staff_ids: set[int]
) -> tuple[dict[int, str], dict[int, str]]:
    db = request.state.db
    stores = org.stores_by_id(db, tenant_id=principal.tenant_id, ids=store_ids) if store_ids else {}
    staff = org.staff_by_id(db, tenant_id=principal.tenant_id, ids=staff_ids) if staff_ids else {}
    return {i: f"{s.code} {s.name}" for i, s in stores.items()}, {i: m.name for i, m in staff.items()}


def _read_list_query(
    request: Request, principal: Principal, choices: Choices, tiers: list[str], tag_ids: set[int]
) -> tuple[CustomerListQuery, dict[str, str], str | None]:
    """The list's filters as the page reads them (a value that cannot apply is no filter)."""
    params = request.query_params
    q = (params.get("q") or "").strip()[:128] or None
    search: dict[str, Any] = {"q": q}
    if q and PHONE_ENDING.fullmatch(q):  # four digits: the end of a phone number
        search = {"q": None, "phone_ending": q}
    gender = params.get("gender")
    gender = gender if gender in ("male", "female", "unknown") else None
    city = (params.get("city") or "").strip()[:60] or None
    store_id = int_or_none(params.get("store"), {i for i, _ in choices.stores})
    guide_id = int_or_none(params.get("guide"), {i for i, _ in choices.guides})
    tier = params.get("tier") if params.get("tier") in tiers else None
    tag_id = int_or_none(params.get("tag"), tag_ids)
    window = params.get("last") if params.get("last") in WINDOWS else None
    query = CustomerListQuery(
        CustomerSearch(
            city=city, gender=gender, store_id=store_id, guide_id=guide_id, member_tier=tier, **search
        ),
        tag_id=tag_id,
        window=window,
    )
    values = {
        "q": q or "",
        "city": city or "",
        "gender": gender or "",
        "store": str(store_id or ""),
        "guide": str(guide_id or ""),
        "tier": tier or "",
        "tag": str(tag_id or ""),
        "last": window or "",
    }
    return query, values, search.get("phone_ending")


def _tag_choices(request: Request, principal: Principal) -> list[tuple[str, list[Any]]]:
    groups = tag_service.list_groups(request.state.db, tenant_id=principal.tenant_id, principal=principal)
    en = lang_of(request) == "en"
    return [(g.name_en if en else g.name_zh, tags) for g, tags in groups if tags]


@router.get("/customers", response_class=HTMLResponse)
@read_only
def customers_page(request: Request) -> HTMLResponse:
    """Customers in the caller's scope: search by phone, name or any identity; filters on who they
    are and what they bought; sorted by any figure; numbered pages with the count."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_READ):
        return forbidden(request, Perm.CUSTOMERS_READ)
    db = request.state.db
    choices = scope_choices(db, principal)
    tiers = customer_service.member_tiers(db, tenant_id=principal.tenant_id)
    tag_groups = _tag_choices(request, principal)
    query, values, phone_ending = _read_list_query(
        request, principal, choices, tiers, {t.id for _, tags in tag_groups for t in tags}
    )
    sort = parse_sort(request.query_params.get("sort"), set(SORTS), "-created")
    refused = None
    try:
        stmt = list_statement(db, principal, query, sort=sort.key)
        counted = count_rows(db, stmt, SORTS[sort.key])
        page = paging(request.query_params.get("page"), request.query_params.get("size"), counted[0])
        rows, _ = list_page(
            db,
            principal,
            stmt,
            sort=sort.key,
            desc=sort.desc,
            offset=page.offset,
            limit=page.size,
            counted=counted,
        )
    except DomainError as exc:  # a search the person may not make (too many phone-ending searches)
        refused = exc.message("en" if lang_of(request) == "en" else "zh-CN")
        rows, page = [], paging(None, None, 0)
    stores, staff = _names(
        request,
        principal,
        {c.store_id for c, _ in rows if c.store_id},
        {c.guide_id for c, _ in rows if c.guide_id},
    )
    tags = tag_service.tags_of_customers(
        db, tenant_id=principal.tenant_id, customer_ids=[c.id for c, _ in rows], principal=principal
    )
    contacts = customer_service.last_contacts(
        db, tenant_id=principal.tenant_id, customer_ids=[c.id for c, _ in rows]
    )
    return render(
        request,
        "customers.html",
        rows=rows,
        page=page,
        sort=sort,
        f=values,
        choices=choices,
        tiers=tiers,
        tag_groups=tag_groups,
        tags=tags,
        contacts=contacts,
        stores=stores,
        staff=staff,
        mask=mask_phone,
        refused=refused,
        phone_ending=phone_ending,
        may_export=principal.can(Perm.CUSTOMERS_EXPORT),
        tz=brand_zone(request, principal),
        partial=request.headers.get("hx-request") == "true",
    )


@router.get("/customers.xlsx")
def customers_export(  # writes its audit entry: a writing transaction
    request: Request,
) -> Response:
    """The filtered list as Excel (up to 100,000 customers, phones masked), audited."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_EXPORT):
        return forbidden(request, Perm.CUSTOMERS_EXPORT)
    db = request.state.db
    choices = scope_choices(db, principal)
    tiers = customer_service.member_tiers(db, tenant_id=principal.tenant_id)
    tag_groups = _tag_choices(request, principal)
    query, values, _ = _read_list_query(
        request, principal, choices, tiers, {t.id for _, tags in tag_groups for t in tags}
    )
    sort = parse_sort(request.query_params.get("sort"), set(SORTS), "-created")
    stmt = list_statement(db, principal, query, sort=sort.key)
    rows, total = list_page(db, principal, stmt, sort=sort.key, desc=sort.desc, offset=0, limit=EXPORT_LIMIT)
    stores, staff = _names(
        request,
        principal,
        {c.store_id for c, _ in rows if c.store_id},
        {c.guide_id for c, _ in rows if c.guide_id},
    )
    tz = brand_zone(request, principal)
    en = lang_of(request) == "en"
    headers = (
        [
            "Customer number",
            "Name",
            "Phone",
            "City",
            "Tier",
            "Home store",
            "Exclusive guide",
            "Orders",
            "Total spend (¥)",
            "Last purchase",
            "Created",
        ]
        if en
        else [
            "客户编号",
            "姓名",
            "手机号",
            "城市",
            "会员等级",
            "所属门店",
            "专属导购",
            "订单数",
            "累计消费（元）",
            "最近消费",
            "建档时间",
        ]
    )

    def lines() -> Any:
        for c, fig in rows:
            yield [
                c.number,
                c.name or "",
                mask_phone(c.phone_e164) or "",
                c.city or "",
                c.member_tier or "",
                stores.get(c.store_id or 0, ""),
                staff.get(c.guide_id or 0, ""),
                fig.paid_orders if fig else 0,
                fig.net_fen / 100 if fig else 0,
                fig.last_paid_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if fig else "",
                c.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if c.created_at else "",
            ]

    response = temporary_download("customers.xlsx", lambda path: write_table(path, headers, lines()))
    audit.record(
        db,
        tenant_id=principal.tenant_id,
        actor=principal,
        action="customer.export",
        object_type="customer",
        object_id=None,
        data={
            "rows": len(rows),
            "matched": total,
            "format": "xlsx",
            "via": "console",
            "filters": {k: v for k, v in values.items() if v},
        },
    )
    return response


@router.get("/customers/{customer_id}", response_class=HTMLResponse)
@read_only
def customer_page(request: Request, customer_id: int, revealed: str | None = None) -> HTMLResponse:
    """Customer 360: profile (masked phone), identities, exclusive guide, orders, timeline."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_READ):
        return forbidden(request, Perm.CUSTOMERS_READ)
    return _customer_360(request, principal, customer_id, phone=None)


@router.post("/customers/{customer_id}/reveal", response_class=HTMLResponse)
def reveal_customer_phone(request: Request, customer_id: int) -> HTMLResponse:
    """Show the full phone number once (only roles that may; every reveal is in the audit log)."""
    principal = page_principal(request)
    if not principal.can(Perm.PHONE_REVEAL):
        return forbidden(request, Perm.PHONE_REVEAL)
    if customer_id > MAX_ID:
        return not_found_page(request)
    try:
        customer = customer_service.reveal_phone(
            request.state.db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal
        )
    except DomainError:
        return not_found_page(request)
    return _customer_360(request, principal, customer_id, phone=national_display(customer.phone_e164))


def _loyalty_of(db: Any, principal: Principal, customer_id: int) -> dict[str, Any] | None:
    """The member card, tier and balances for the 360 and the guide's customer card (None: the
    role may not see them)."""
    if not principal.can(Perm.LOYALTY_READ):
        return None
    have = loyalty.balances(db, tenant_id=principal.tenant_id, customer_id=customer_id)

    def available(asset: str) -> int:
        balance, held = have.get(asset, (0, 0))
        return balance - held

    # Each query only when there is something to show (a customer with no account has no history).
    entries = (
        loyalty.history(db, tenant_id=principal.tenant_id, customer_id=customer_id, cursor=None, limit=10)[0]
        if have
        else []
    )
    held = any(h for _, h in have.values())
    return {
        "standing": loyalty.standing(db, tenant_id=principal.tenant_id, customer_id=customer_id),
        "points": available("points"),
        "points_pending": have.get("points_pending", (0, 0))[0],
        "sv_principal_fen": available("sv_principal"),
        "sv_bonus_fen": available("sv_bonus"),
        "history": entries,
        "labels": loyalty.KIND_LABELS,
        "holds": loyalty.active_holds(db, tenant_id=principal.tenant_id, customer_id=customer_id)
        if held
        else [],
        "expiring": loyalty.expiring(
            db, tenant_id=principal.tenant_id, customer_id=customer_id, within=dt.timedelta(days=90)
        )
        if have.get("points", (0, 0))[0]
        else [],
        "may_adjust": principal.can(Perm.LOYALTY_ADJUST),
        "may_open": principal.can(Perm.LOYALTY_CARDS),
        "may_request_refund": principal.can(Perm.LOYALTY_WRITE),
        "form_key": secrets.token_urlsafe(12),
    }


def _customer_360(
    request: Request,
    principal: Principal,
    customer_id: int,
    phone: str | None,
    note_error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    db = request.state.db
    if customer_id > MAX_ID:
        return not_found_page(request)
    try:
        customer = customer_service.get_customer(
            db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal
        )
    except DomainError:
        return not_found_page(request)
    identities = customer_service.identities_of(
        db, tenant_id=principal.tenant_id, customer_ids=[customer.id]
    )[customer.id]
    binding = guide_service.binding_of(db, tenant_id=principal.tenant_id, customer_id=customer.id)
    orders, _ = order_service.list_orders(
        db,
        tenant_id=principal.tenant_id,
        principal=None,
        cursor=None,
        limit=20,
        filters=OrderFilter(customer_id=customer.id),
    )
    events, _ = customer_service.timeline(
        db, tenant_id=principal.tenant_id, customer_id=customer.id, principal=principal, cursor=None, limit=30
    )
    stores, staff = _names(
        request,
        principal,
        {
            x
            for x in [customer.store_id, binding.store_id if binding else None] + [o.store_id for o in orders]
            if x
        },
        {x for x in [customer.guide_id, binding.guide_id if binding else None] if x},
    )
    tz = org.tenant_zone(db, tenant_id=principal.tenant_id)
    held = tag_service.customer_tags(
        db, tenant_id=principal.tenant_id, customer_id=customer.id, principal=principal
    )
    assignable: list[tuple[str, list[Any]]] = []
    if principal.can(Perm.TAGS_ASSIGN):
        have = {t.id for _, t, _ in held}
        for group, group_tags in tag_service.list_groups(
            db, tenant_id=principal.tenant_id, principal=principal
        ):
            if tag_service.may_assign(group, principal):
                free = [t for t in group_tags if t.id not in have]
                if free:
                    assignable.append((group.name_en if lang_of(request) == "en" else group.name_zh, free))
    paid_orders, net_fen = order_service.customer_totals(
        db, tenant_id=principal.tenant_id, customer_id=customer.id
    )
    totals = {"orders": paid_orders, "gmv_fen": net_fen}
    today = utcnow().astimezone(tz).date()
    notes = customer_service.notes_of(db, tenant_id=principal.tenant_id, customer_id=customer.id)
    figures = customer_figures(db, principal.tenant_id, [customer.id]).get(customer.id)
    reminders = _reminders(customer, binding, figures, today, tz)
    consents, consent_history = customer_service.consent_state(
        db, tenant_id=principal.tenant_id, customer_id=customer.id, principal=principal
    )
    merges = customer_service.list_merges(db, tenant_id=principal.tenant_id, customer_id=customer.id)
    member_of = (
        audience_service.audiences_of(db, tenant_id=principal.tenant_id, customer_number=customer.number)
        if principal.can(Perm.AUDIENCES_READ)
        else None
    )
    loyalty = _loyalty_of(db, principal, customer.id)
    note_authors = org.staff_names(
        db,
        tenant_id=principal.tenant_id,
        ids={n.actor_id for n in notes if n.actor_type == "staff" and n.actor_id},
    )
    return render(
        request,
        "customer.html",
        status=status,
        c=customer,
        phone=phone or mask_phone(customer.phone_e164),
        revealed=phone is not None,
        may_reveal=principal.can(Perm.PHONE_REVEAL) and customer.phone_e164 is not None,
        identities=identities,
        loyalty=loyalty,
        mask=mask_phone,
        binding=binding,
        orders=orders,
        events=events,
        stores=stores,
        staff=staff,
        tz=tz,
        totals=totals,
        held=held,
        assignable=assignable,
        may_tag=principal.can(Perm.TAGS_ASSIGN),
        notes=notes,
        note_authors={i: n for i, (n, _) in note_authors.items()},
        may_note=principal.can(Perm.CUSTOMERS_WRITE),
        reminders=reminders,
        figures=figures,
        note_error=note_error,
        consents=consents,
        consent_history=consent_history[:10],
        purposes=CONSENT_PURPOSES,
        may_consent=principal.can(Perm.CONSENT_WRITE),
        merges=merges,
        merge_counts=customer_service.merge_counts,
        may_merge=principal.can(Perm.CUSTOMERS_MERGE),
        member_of=member_of,
    )


def _reminders(
    customer: Customer, binding: Any, figures: Any, today: dt.date, tz: Any
) -> list[tuple[str, str]]:
    """What a guide should know before contacting the customer: (kind, date or number)."""
    found: list[tuple[str, str]] = []
    if customer.birthday is not None:
        for year in (today.year, today.year + 1):
            try:
                day = customer.birthday.replace(year=year)
            except ValueError:
                day = dt.date(year, 2, 28)
            if 0 <= (day - today).days < 7:
                found.append(("birthday", day.isoformat()))
                break
    if figures is not None:
        idle = (today - figures.last_paid_at.astimezone(tz).date()).days
        if idle >= 90:
            found.append(("dormant", str(idle)))
    else:
        found.append(("never_bought", ""))
    if binding is not None:
        ends = binding.protected_until.astimezone(tz).date()
        if 0 <= (ends - today).days < 7:
            found.append(("protection_ends", ends.isoformat()))
    return found


@router.post("/customers/{customer_id}/notes", response_class=HTMLResponse)
def add_note(request: Request, customer_id: int, text: str = Form("", max_length=2000)) -> Response:
    """Write a note on the customer (a contact record), then back to their page."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_WRITE):
        return forbidden(request, Perm.CUSTOMERS_WRITE)
    if customer_id > MAX_ID:
        return not_found_page(request)
    try:
        customer_service.add_note(
            request.state.db,
            tenant_id=principal.tenant_id,
            customer_id=customer_id,
            text=text,
            principal=principal,
        )
    except DomainError as exc:
        if exc.status == 404:
            return not_found_page(request)
        message = exc.message("en" if lang_of(request) == "en" else "zh-CN")
        return _customer_360(request, principal, customer_id, phone=None, note_error=message, status=422)
    return redirect_with_toast(f"/customers/{customer_id}#notes", "note_added")
