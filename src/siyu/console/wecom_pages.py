"""Console pages for WeCom: channel codes with their statistics, a guide's friend list, customer
groups with activity charts and the dead-group flag, departures and transfers."""

from __future__ import annotations

import datetime as dt
from typing import Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select

from siyu.access import Perm, Principal
from siyu.api.routing import read_only
from siyu.console.rendering import (
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
from siyu.core.inputs import id_or_none
from siyu.customers.models import Customer
from siyu.org import facade as org
from siyu.org.models import Staff
from siyu.wecom import codes, groups, transfers
from siyu.wecom.models import CustomerGroupMember, Transfer, WeComFriend

router = console_router()


def _today(request: Request, principal: Principal) -> tuple[dt.date, Any]:
    tz = org.tenant_zone(request.state.db, tenant_id=principal.tenant_id)
    return utcnow().astimezone(tz).date(), tz


def _staff_names(request: Request, principal: Principal) -> dict[int, str]:
    return dict(
        request.state.db.execute(
            select(Staff.id, Staff.name).where(Staff.tenant_id == principal.tenant_id)
        ).all()
    )


@router.get("/wecom/codes", response_class=HTMLResponse)
@read_only
def codes_page(request: Request) -> HTMLResponse:
    """Channel codes: who each points at now, adds / deletions / net over 30 days, and a daily chart."""
    principal = page_principal(request)
    if not principal.can(Perm.WECOM_CODES):
        return forbidden(request, Perm.WECOM_CODES)
    db = request.state.db
    today, _ = _today(request, principal)
    start = today - dt.timedelta(days=29)
    rows = []
    for code in codes.list_codes(db, tenant_id=principal.tenant_id):
        days = codes.code_stats(db, tenant_id=principal.tenant_id, code_id=code.id, start=start, end=today)
        rows.append(
            {
                "code": code,
                "adds": sum(a for _, a, _ in days),
                "deletes": sum(x for _, _, x in days),
                "series": {
                    "days": [d.isoformat()[5:] for d, _, _ in days],
                    "adds": [a for _, a, _ in days],
                    "deletes": [x for _, _, x in days],
                },
            }
        )
    return render(request, "wecom_codes.html", rows=rows, staff=_staff_names(request, principal))


@router.get("/wecom/friends", response_class=HTMLResponse)
@read_only
def friends_page(request: Request, guide: int | None = None) -> HTMLResponse:
    """A guide's WeCom friends (a guide sees their own; HQ and managers pick a guide in scope)."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_READ):
        return forbidden(request, Perm.CUSTOMERS_READ)
    db = request.state.db
    if principal.scope == "own":
        guide = principal.actor_id
    guides = [
        (m.id, m.name)
        for m in db.scalars(
            select(Staff)
            .where(Staff.tenant_id == principal.tenant_id, Staff.wecom_userid.is_not(None))
            .order_by(Staff.name)
        )
    ]
    if principal.scope == "stores":
        allowed = {
            sid
            for sid, info in org.staff_by_id(
                db, tenant_id=principal.tenant_id, ids={g for g, _ in guides}
            ).items()
            if set(info.store_ids) & set(principal.store_ids)
        }
        guides = [(g, n) for g, n in guides if g in allowed]
    if guide is not None and guide not in {g for g, _ in guides} and guide != principal.actor_id:
        return not_found_page(request)
    friends: list[Any] = []
    if guide is not None:
        friends = list(
            db.execute(
                select(WeComFriend, Customer.name, Customer.number)
                .join(Customer, Customer.id == WeComFriend.customer_id)
                .where(WeComFriend.tenant_id == principal.tenant_id, WeComFriend.staff_id == guide)
                .order_by(WeComFriend.deleted_at.is_not(None), WeComFriend.added_at.desc())
                .limit(500)
            ).all()
        )
    _, tz = _today(request, principal)
    code_names = {c.state: c.name for c in codes.list_codes(db, tenant_id=principal.tenant_id)}
    return render(
        request,
        "wecom_friends.html",
        guides=guides,
        guide=guide,
        friends=friends,
        tz=tz,
        code_names=code_names,
    )


@router.get("/wecom/groups", response_class=HTMLResponse)
@read_only
def groups_page(request: Request, group: int | None = None) -> HTMLResponse:
    """Customer groups in scope with members, 30-day activity, the dead-group flag and a trend chart."""
    principal = page_principal(request)
    if not principal.can(Perm.GROUPS_READ):
        return forbidden(request, Perm.GROUPS_READ)
    db = request.state.db
    today, tz = _today(request, principal)
    store_ids = set(principal.store_ids) if principal.scope == "stores" else None
    rows = groups.summaries(db, tenant_id=principal.tenant_id, today=today, store_ids=store_ids)
    if principal.scope == "own":
        rows = [r for r in rows if r.group.owner_staff_id == principal.actor_id]
    chosen = next((r for r in rows if r.group.id == group), rows[0] if rows else None)
    if group is not None and (chosen is None or chosen.group.id != group):
        return not_found_page(request)
    trend = (
        groups.trend(db, tenant_id=principal.tenant_id, group_id=chosen.group.id, today=today)
        if chosen
        else []
    )
    series = {
        "days": [d["day"].isoformat()[5:] for d in trend],
        "joins": [d["joins"] for d in trend],
        "quits": [d["quits"] for d in trend],
        "messages": [d["messages"] for d in trend],
    }
    rows.sort(key=lambda r: (not r.dead, -r.messages_30d))
    members: list[Any] = []
    if chosen is not None:
        members = list(
            db.execute(
                select(CustomerGroupMember, Customer.name, Customer.number, Staff.name)
                .outerjoin(Customer, Customer.id == CustomerGroupMember.customer_id)
                .outerjoin(
                    Staff,
                    (Staff.tenant_id == CustomerGroupMember.tenant_id)
                    & (Staff.wecom_userid == CustomerGroupMember.member_key)
                    & (CustomerGroupMember.kind == "staff"),
                )
                .where(
                    CustomerGroupMember.tenant_id == principal.tenant_id,
                    CustomerGroupMember.group_id == chosen.group.id,
                )
                .order_by(CustomerGroupMember.left_at.is_not(None), CustomerGroupMember.joined_at.desc())
                .limit(500)
            ).all()
        )
    return render(
        request,
        "wecom_groups.html",
        rows=rows,
        chosen=chosen,
        members=members,
        series=series,
        staff=_staff_names(request, principal),
        tz=tz,
    )


@router.get("/wecom/departures", response_class=HTMLResponse)
@read_only
def departures_page(request: Request, result: str | None = None) -> HTMLResponse:
    """Hand a leaving or moving guide's customers to others; recent transfers."""
    principal = page_principal(request)
    if not principal.can(Perm.WECOM_TRANSFER):
        return forbidden(request, Perm.WECOM_TRANSFER)
    return _departures(request, principal, error=None)


def _departures(
    request: Request, principal: Principal, *, error: str | None, status: int = 200
) -> HTMLResponse:
    db = request.state.db
    counts = dict(
        db.execute(
            select(WeComFriend.staff_id, func.count())
            .where(WeComFriend.tenant_id == principal.tenant_id, WeComFriend.deleted_at.is_(None))
            .group_by(WeComFriend.staff_id)
        ).all()
    )
    staff = list(
        db.scalars(
            select(Staff)
            .where(Staff.tenant_id == principal.tenant_id, Staff.wecom_userid.is_not(None))
            .order_by(Staff.name)
        )
    )
    recent = list(
        db.execute(
            select(
                Transfer.batch,
                Transfer.kind,
                Transfer.from_staff_id,
                Transfer.status,
                func.count(),
                func.max(Transfer.requested_at),
            )
            .where(Transfer.tenant_id == principal.tenant_id)
            .group_by(Transfer.batch, Transfer.kind, Transfer.from_staff_id, Transfer.status)
            .order_by(func.max(Transfer.requested_at).desc())
            .limit(60)
        ).all()
    )
    _, tz = _today(request, principal)
    return render(
        request,
        "wecom_departures.html",
        status=status,
        staff=staff,
        counts=counts,
        recent=recent,
        names={m.id: m.name for m in staff} | _staff_names(request, principal),
        error=error,
        tz=tz,
    )


def _transfer_form(
    raw_from: str | None, kind: str | None, takeover: str | None
) -> tuple[int, str, int | None] | None:
    if not raw_from or id_or_none(raw_from) is None or kind not in ("resigned", "on_job"):
        return None
    take = id_or_none(takeover)
    return int(raw_from), kind, take


@router.get("/wecom/departures/preview", response_class=HTMLResponse)
@read_only
def preview_transfer(
    request: Request, from_staff_id: str | None = None, kind: str | None = None, takeover_staff_id: str = ""
) -> HTMLResponse:
    """Who would take each customer — nothing is sent until the confirming button below it."""
    principal = page_principal(request)
    if not principal.can(Perm.WECOM_TRANSFER):
        return forbidden(request, Perm.WECOM_TRANSFER)
    return _preview(request, principal, from_staff_id, kind, takeover_staff_id, changed=False)


def _preview(
    request: Request,
    principal: Principal,
    raw_from: str | None,
    kind: str | None,
    takeover: str | None,
    *,
    changed: bool,
) -> HTMLResponse:
    lang = lang_of(request)
    parsed = _transfer_form(raw_from, kind, takeover)
    if parsed is None:
        message = "Choose who leaves and the kind of transfer" if lang == "en" else "请选择员工和转接类型"
        return _departures(request, principal, error=message, status=422)
    from_id, kind_, take = parsed
    db = request.state.db
    try:
        plan = transfers.plan_transfer(
            db,
            tenant_id=principal.tenant_id,
            from_staff_id=from_id,
            kind=kind_,
            takeover_staff_id=take,
            customer_ids=None,
        )
    except DomainError as exc:
        return _departures(
            request, principal, error=exc.message("en" if lang == "en" else "zh-CN"), status=exc.status
        )
    groups = plan.by_takeover()
    customer_ids = {f.customer_id for f in plan.friends}
    names = (
        dict(
            db.execute(
                select(Customer.id, Customer.name).where(
                    Customer.tenant_id == principal.tenant_id, Customer.id.in_(sorted(customer_ids))
                )
            ).all()
        )
        if customer_ids
        else {}
    )
    return render(
        request,
        "wecom_transfer_preview.html",
        status=409 if changed else 200,
        plan=plan,
        groups=sorted(groups.items(), key=lambda g: -len(g[1])),
        staff=_staff_names(request, principal),
        names=names,
        kind=kind_,
        takeover=take,
        total=len(plan.friends),
        changed=changed,
        fingerprint=transfers.fingerprint(plan),
    )


@router.post("/wecom/departures", response_class=HTMLResponse)
def run_transfer(
    request: Request,
    from_staff_id: str = Form(""),
    kind: str = Form(""),
    takeover_staff_id: str = Form(""),
    expected: str = Form(""),
) -> Response:
    """Run the transfer the preview showed; when the customers changed since (a new friend, a
    deletion), show the new preview instead of sending."""
    principal = page_principal(request)
    if not principal.can(Perm.WECOM_TRANSFER):
        return forbidden(request, Perm.WECOM_TRANSFER)
    parsed = _transfer_form(from_staff_id, kind, takeover_staff_id)
    if parsed is None:
        return _preview(request, principal, from_staff_id, kind, takeover_staff_id, changed=False)
    from_id, kind_, take = parsed
    db = request.state.db
    try:
        now_plan = transfers.plan_transfer(
            db,
            tenant_id=principal.tenant_id,
            from_staff_id=from_id,
            kind=kind_,
            takeover_staff_id=take,
            customer_ids=None,
        )
        fingerprint = transfers.fingerprint(now_plan)
        if expected != fingerprint:
            return _preview(request, principal, from_staff_id, kind, takeover_staff_id, changed=True)
        transfers.transfer_customers(
            db,
            tenant_id=principal.tenant_id,
            from_staff_id=from_id,
            kind=kind_,
            takeover_staff_id=take,
            customer_ids=None,
            principal=principal,
            api_base=request.app.state.settings.wecom_api_base,
        )
    except DomainError as exc:
        message = exc.message("en" if lang_of(request) == "en" else "zh-CN")
        return _departures(request, principal, error=message, status=exc.status)
    return redirect_with_toast("/wecom/departures", "transfer_started")


@router.post("/wecom/departures/check", response_class=HTMLResponse)
def check_transfers(request: Request) -> Response:
    """Ask WeCom how requested transfers went, then show the page again."""
    principal = page_principal(request)
    if not principal.can(Perm.WECOM_TRANSFER):
        return forbidden(request, Perm.WECOM_TRANSFER)
    db = request.state.db
    try:
        client = codes.client_for(
            db, tenant_id=principal.tenant_id, api_base=request.app.state.settings.wecom_api_base
        )
        db.commit()
        transfers.check_transfers(request.app.state.engine, tenant_id=principal.tenant_id, client=client)
    except DomainError as exc:
        message = exc.message("en" if lang_of(request) == "en" else "zh-CN")
        return _departures(request, principal, error=message, status=exc.status)
    except Exception as exc:  # WeCom unreachable: said on the page, nothing changed
        failed = codes.wecom_failed(exc)
        return _departures(
            request,
            principal,
            error=failed.message("en" if lang_of(request) == "en" else "zh-CN"),
            status=502,
        )
    return RedirectResponse("/wecom/departures", status_code=303)
