"""The console's membership pages (HQ): the liability dashboard (what the brand owes its members,
30 days drawn, today by region, the rules in force) and the approvals inbox for refunds of unused
stored value."""

from __future__ import annotations

import datetime as dt

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from siyu.access import Perm
from siyu.api.deps import MAX_ID
from siyu.api.routing import read_only
from siyu.console.forms import Posted, domain_message, field_errors, text, yuan
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
from siyu.customers.models import Customer
from siyu.customers.service import get_customer
from siyu.loyalty import liability, membership, paid, service, storedvalue
from siyu.loyalty import schemas as s
from siyu.loyalty.models import MemberCard, Membership, StoredValueRefund
from siyu.org import facade as org

router = console_router()


@router.get("/loyalty", response_class=HTMLResponse)
@read_only
def loyalty_page(request: Request) -> HTMLResponse:
    """Today's liability with its definitions, 30 days drawn, by region; the programme in force."""
    principal = page_principal(request)
    if not principal.can(Perm.LOYALTY_LIABILITY):
        return forbidden(request, Perm.LOYALTY_LIABILITY)
    db = request.state.db
    tenant_id = principal.tenant_id
    zone = org.tenant_zone(db, tenant_id=tenant_id)
    today = utcnow().astimezone(zone).date()
    days = liability.daily(
        db, tenant_id=tenant_id, first=today - dt.timedelta(days=29), last=today, zone=zone
    )
    brand = {day: liability.roll_up(groups).get("brand") for day, groups in sorted(days.items())}
    series = {
        "dates": [d.isoformat() for d in brand],
        **{
            key: [(f.as_dict()[key] if f else 0) for f in brand.values()]
            for key in (
                "points_value_fen",
                "sv_principal_fen",
                "sv_bonus_fen",
                "membership_deferred_fen",
                "liability_fen",
            )
        },
    }
    stores = {st.id: st for st in org.stores_of(db, tenant_id=tenant_id)}
    regions = org.regions_of(db, tenant_id=tenant_id)
    by_region = liability.roll_up(days[today], {sid: st.region_id for sid, st in stores.items()})
    region_rows = sorted(
        (
            (regions.get(rid, ("", "—"))[1] if rid is not None else None, f.as_dict())
            for rid, f in by_region.items()
        ),
        key=lambda r: -r[1]["liability_fen"],
    )
    now_figures = (brand.get(today) or liability.Figures()).as_dict()
    cards = db.scalar(select(func.count()).select_from(MemberCard).where(MemberCard.tenant_id == tenant_id))
    members = db.scalar(
        select(func.count(func.distinct(Membership.customer_id))).where(
            Membership.tenant_id == tenant_id, Membership.status == "active"
        )
    )
    pending = db.scalar(
        select(func.count())
        .select_from(StoredValueRefund)
        .where(StoredValueRefund.tenant_id == tenant_id, StoredValueRefund.status == "pending")
    )
    return render(
        request,
        "loyalty.html",
        figures=now_figures,
        series=series,
        region_rows=region_rows,
        today=today,
        cards=cards or 0,
        members=members or 0,
        pending=pending or 0,
        program=membership.program(db, tenant_id=tenant_id),
        tiers=membership.tiers(db, tenant_id=tenant_id),
        offers=storedvalue.rules(db, tenant_id=tenant_id),
        plans=paid.plans(db, tenant_id=tenant_id),
        cohorts=paid.renewal_rates(db, tenant_id=tenant_id)[-6:],
        may_approve=principal.can(Perm.LOYALTY_ADJUST),
    )


@router.get("/loyalty/approvals", response_class=HTMLResponse)
@read_only
def approvals_page(request: Request) -> HTMLResponse:
    """Refunds of unused stored value waiting for a decision, oldest first, and the latest decided."""
    principal = page_principal(request)
    if not principal.can(Perm.LOYALTY_ADJUST):
        return forbidden(request, Perm.LOYALTY_ADJUST)
    db = request.state.db
    tenant_id = principal.tenant_id
    rows = list(
        db.execute(
            select(StoredValueRefund, Customer.name, Customer.number)
            .join(Customer, Customer.id == StoredValueRefund.customer_id)
            .where(StoredValueRefund.tenant_id == tenant_id)
            .order_by(StoredValueRefund.status != "pending", StoredValueRefund.id.desc())
            .limit(100)
        )
    )
    names = org.staff_names(
        db,
        tenant_id=tenant_id,
        ids={r.requested_by for r, _, _ in rows if r.requested_by}
        | {r.decided_by for r, _, _ in rows if r.decided_by},
    )
    return render(
        request,
        "loyalty_approvals.html",
        rows=rows,
        staff={i: n for i, (n, _) in names.items()},
        me=principal.actor_id,
        tz=org.tenant_zone(db, tenant_id=tenant_id),
    )


@router.post("/loyalty/approvals/{request_id}", response_class=HTMLResponse)
def decide(
    request: Request,
    request_id: int,
    decision: str = Form(""),
    comment: str = Form("", max_length=200),
) -> Response:
    """Approve or reject one request (not one's own); back to the inbox."""
    principal = page_principal(request)
    if not principal.can(Perm.LOYALTY_ADJUST):
        return forbidden(request, Perm.LOYALTY_ADJUST)
    if not 1 <= request_id <= MAX_ID or decision not in ("approve", "reject"):
        return not_found_page(request)
    try:
        storedvalue.decide_refund(
            request.state.db,
            tenant_id=principal.tenant_id,
            refund_id=request_id,
            approve=decision == "approve",
            comment=comment.strip() or None,
            actor=principal,
        )
    except DomainError as exc:
        if exc.code == "not_found":
            return not_found_page(request)
        request.state.db.rollback()
        return render(
            request,
            "error.html",
            status=exc.status,
            code=exc.status,
            permission=None,
            message=exc.message(lang_of(request)),
        )
    return redirect_with_toast("/loyalty/approvals", "decided")


@router.post("/customers/{customer_id}/points", response_class=HTMLResponse)
def adjust_points(
    request: Request,
    customer_id: int,
    points: int = Form(0, ge=-1_000_000, le=1_000_000),
    reason: str = Form("", max_length=200),
    key: str = Form("", max_length=40),
) -> Response:
    """Add or take away points by hand with a reason (audited); the form's key makes a double
    submit harmless."""
    principal = page_principal(request)
    if not principal.can(Perm.LOYALTY_ADJUST):
        return forbidden(request, Perm.LOYALTY_ADJUST)
    if not 1 <= customer_id <= MAX_ID:
        return not_found_page(request)
    db = request.state.db
    try:
        get_customer(db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal)
        if points == 0 or len(reason.strip()) < 2 or len(key) < 8:
            raise DomainError(
                "validation_error",
                summary="请填写非零的积分和至少两个字的原因 / points must not be 0; give a reason",
            )
        service.adjust_points(
            db,
            tenant_id=principal.tenant_id,
            customer_id=customer_id,
            points=points,
            reason=reason.strip(),
            key=f"console:{key}",
            actor=principal,
        )
    except DomainError as exc:
        if exc.code == "not_found":
            return not_found_page(request)
        db.rollback()
        return render(
            request,
            "error.html",
            status=exc.status,
            code=exc.status,
            permission=None,
            message=exc.message(lang_of(request)),
        )
    return redirect_with_toast(f"/customers/{customer_id}#loyalty-history", "saved")


@router.post("/customers/{customer_id}/stored-value/refund", response_class=HTMLResponse)
def request_refund(
    request: Request,
    customer_id: int,
    reason: str = Form("", max_length=200),
    key: str = Form("", max_length=40),
) -> Response:
    """Ask to pay back the customer's unused principal: frozen until someone else approves."""
    principal = page_principal(request)
    if not principal.can(Perm.LOYALTY_WRITE):
        return forbidden(request, Perm.LOYALTY_WRITE)
    if not 1 <= customer_id <= MAX_ID:
        return not_found_page(request)
    db = request.state.db
    try:
        customer = get_customer(
            db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal
        )
        if len(reason.strip()) < 2 or len(key) < 8:
            raise DomainError("validation_error", summary="请填写至少两个字的原因 / give a reason")
        storedvalue.request_refund(
            db,
            tenant_id=principal.tenant_id,
            customer_id=customer_id,
            principal_fen=None,
            reason=reason.strip(),
            key=f"console-refund:{key}",
            store_id=customer.store_id,
            actor=principal,
        )
    except DomainError as exc:
        if exc.code == "not_found":
            return not_found_page(request)
        db.rollback()
        return _refused(request, exc.message(lang_of(request)), exc.status)
    return redirect_with_toast(f"/customers/{customer_id}#loyalty-history", "refund_requested")


@router.post("/customers/{customer_id}/member-card", response_class=HTMLResponse)
def open_card(request: Request, customer_id: int) -> Response:
    """Open the customer's member card where they belong: their home store, by the guide opening
    it (or their guide)."""
    principal = page_principal(request)
    if not principal.can(Perm.LOYALTY_CARDS):
        return forbidden(request, Perm.LOYALTY_CARDS)
    if not 1 <= customer_id <= MAX_ID:
        return not_found_page(request)
    db = request.state.db
    try:
        customer = get_customer(
            db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal
        )
    except DomainError:
        return not_found_page(request)
    guide_id = principal.actor_id if principal.role == "guide" else customer.guide_id
    membership.open_card(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        where=membership.CardSource(
            source="guide" if principal.role == "guide" else "store",
            store_id=customer.store_id,
            guide_id=guide_id,
        ),
        actor=principal,
    )
    return redirect_with_toast(f"/customers/{customer_id}#membership", "created")


# --- the programme's rules and tiers -----------------------------------------------------------------
PROGRAM_FIELDS = (
    "points_per_yuan",
    "growth_per_yuan",
    "refund_window_days",
    "points_expiry",
    "points_expiry_months",
    "points_per_yuan_burn",
    "burn_min_points",
    "burn_max_points",
    "burn_max_share_pct",
    "sv_spend_order",
    "sv_refund_fee_pct",
    "downgrade_rule",
    "downgrade_period_months",
    "downgrade_after_days",
    "card_prefix",
)
TIER_FIELDS = (
    "code",
    "name_zh",
    "name_en",
    "threshold",
    "points_multiplier_pct",
    "discount_pct",
    "birthday_gift",
)


def _rules_page(
    request: Request,
    *,
    status: int = 200,
    program_values: dict[str, object] | None = None,
    program_errors: dict[str, str] | None = None,
    tier_rows: list[dict[str, object]] | None = None,
    tier_errors: dict[str, str] | None = None,
) -> HTMLResponse:
    principal = page_principal(request)
    db = request.state.db
    program = membership.program(db, tenant_id=principal.tenant_id)
    current = {name: getattr(program, name) for name in PROGRAM_FIELDS} if program else {}
    tiers = membership.tiers(db, tenant_id=principal.tenant_id)
    rows = tier_rows or [
        {
            "code": t.code,
            "name_zh": t.name_zh,
            "name_en": t.name_en,
            "threshold": t.threshold,
            "points_multiplier_pct": t.points_multiplier_pct,
            "discount_pct": (t.benefits or {}).get("discount_pct", 0),
            "free_shipping": bool((t.benefits or {}).get("free_shipping")),
            "birthday_gift": (t.benefits or {}).get("birthday_gift") or "",
            "requires_approval": t.requires_approval,
        }
        for t in tiers
    ]
    while len(rows) < len(tiers) + 2 or len(rows) < 3:
        rows.append({})
    offers = storedvalue.rules(db, tenant_id=principal.tenant_id)
    plans = paid.plans(db, tenant_id=principal.tenant_id)
    return render(
        request,
        "loyalty_rules.html",
        status=status,
        offers=[*offers, None, None],
        plans=[*plans, None],
        tier_codes=[t.code for t in tiers],
        values={**current, **(program_values or {})},
        errors=program_errors or {},
        rows=rows,
        tier_errors=tier_errors or {},
    )


@router.get("/loyalty/rules", response_class=HTMLResponse)
@read_only
def rules_page(request: Request) -> HTMLResponse:
    """The programme's rules and the tier ladder, as forms (HQ)."""
    principal = page_principal(request)
    if not principal.can(Perm.LOYALTY_CONFIGURE):
        return forbidden(request, Perm.LOYALTY_CONFIGURE)
    return _rules_page(request)


@router.post("/loyalty/rules/program", response_class=HTMLResponse)
def save_program(request: Request, form: Posted) -> Response:
    """Save the programme's rules (validated as the API validates them; audited)."""
    principal = page_principal(request)
    if not principal.can(Perm.LOYALTY_CONFIGURE):
        return forbidden(request, Perm.LOYALTY_CONFIGURE)
    db = request.state.db
    values: dict[str, object] = {name: text(form, name, 20) for name in PROGRAM_FIELDS}
    current = membership.program(db, tenant_id=principal.tenant_id)
    kept = {"excluded_categories", "excluded_sku_codes", "action_rules", "campaigns", "burn_covers_shipping"}
    base = {k: getattr(current, k) for k in kept} if current else {}
    base["burn_covers_shipping"] = form.get("burn_covers_shipping") == "yes"
    try:
        data = s.ProgramIn.model_validate(
            {**base, **{k: v for k, v in values.items() if v is not None}}, strict=False
        )
    except ValidationError as exc:
        return _rules_page(
            request, status=422, program_values=values, program_errors=field_errors(exc, lang_of(request))
        )
    saved = data.model_dump()
    saved["campaigns"] = [c.model_dump(mode="json") for c in data.campaigns]
    membership.save_program(db, tenant_id=principal.tenant_id, values=saved, actor=principal)
    return redirect_with_toast("/loyalty/rules", "saved")


@router.post("/loyalty/rules/tiers", response_class=HTMLResponse)
def save_tiers(request: Request, form: Posted) -> Response:
    """Save the tier ladder: the rows with a code (an emptied row drops its tier, when no member
    holds it)."""
    principal = page_principal(request)
    if not principal.can(Perm.LOYALTY_CONFIGURE):
        return forbidden(request, Perm.LOYALTY_CONFIGURE)
    lang = lang_of(request)
    rows: list[dict[str, object]] = []
    wanted: list[dict[str, object]] = []
    for i in range(20):
        row: dict[str, object] = {name: text(form, f"t{i}_{name}", 60) for name in TIER_FIELDS}
        row["free_shipping"] = form.get(f"t{i}_free_shipping") == "yes"
        row["requires_approval"] = form.get(f"t{i}_requires_approval") == "yes"
        if not any(row.get(n) for n in TIER_FIELDS):
            continue
        rows.append(row)
        wanted.append(
            {
                "code": row["code"],
                "name_zh": row["name_zh"],
                "name_en": row["name_en"] or row["code"],
                "threshold": row["threshold"],
                "points_multiplier_pct": row["points_multiplier_pct"] or 100,
                "benefits": {
                    "discount_pct": row["discount_pct"] or 0,
                    "free_shipping": row["free_shipping"],
                    "birthday_gift": row["birthday_gift"],
                },
                "requires_approval": row["requires_approval"],
            }
        )
    try:
        data = s.TiersIn.model_validate({"tiers": wanted}, strict=False)
        membership.save_tiers(
            request.state.db,
            tenant_id=principal.tenant_id,
            wanted=[t.model_dump() for t in data.tiers],
            actor=principal,
        )
    except ValidationError as exc:
        errors = {
            k.replace("tiers.", "t", 1).replace(".benefits", "", 1).replace(".", "_", 1): v
            for k, v in field_errors(exc, lang).items()
        }
        return _rules_page(request, status=422, tier_rows=rows, tier_errors=errors or {"": "—"})
    except DomainError as exc:
        request.state.db.rollback()
        return _rules_page(
            request, status=exc.status, tier_rows=rows, tier_errors={"": domain_message(exc, lang)}
        )
    return redirect_with_toast("/loyalty/rules", "saved")


# --- top-up offers and paid-membership plans ----------------------------------------------------------


@router.post("/loyalty/rules/offers", response_class=HTMLResponse)
def save_offers(request: Request, form: Posted) -> Response:
    """Save the top-up offers (rows with a name; amounts in yuan)."""
    principal = page_principal(request)
    if not principal.can(Perm.LOYALTY_CONFIGURE):
        return forbidden(request, Perm.LOYALTY_CONFIGURE)
    lang = lang_of(request)
    wanted = []
    for i in range(20):
        name = text(form, f"o{i}_name", 60)
        if not name:
            continue
        wanted.append(
            {
                "name": name,
                "min_principal_fen": yuan(text(form, f"o{i}_min", 20)),
                "bonus_fen": yuan(text(form, f"o{i}_bonus", 20)) or 0,
                "gift": text(form, f"o{i}_gift", 60),
                "active": form.get(f"o{i}_active") == "yes",
            }
        )
    try:
        data = s.TopUpRulesIn.model_validate({"rules": wanted}, strict=False)
        storedvalue.save_rules(
            request.state.db,
            tenant_id=principal.tenant_id,
            wanted=[r.model_dump() for r in data.rules],
            actor=principal,
        )
    except ValidationError as exc:
        message = "; ".join(sorted(set(field_errors(exc, lang, money=frozenset({"rules"})).values())))
        return _refused(request, message)
    except DomainError as exc:
        request.state.db.rollback()
        return _refused(request, domain_message(exc, lang), exc.status)
    return redirect_with_toast("/loyalty/rules#offers", "saved")


@router.post("/loyalty/rules/plans", response_class=HTMLResponse)
def save_plans(request: Request, form: Posted) -> Response:
    """Save the paid-membership plans (rows with a code; a plan left out is retired)."""
    principal = page_principal(request)
    if not principal.can(Perm.LOYALTY_CONFIGURE):
        return forbidden(request, Perm.LOYALTY_CONFIGURE)
    lang = lang_of(request)
    wanted = []
    for i in range(10):
        code = text(form, f"p{i}_code", 20)
        if not code:
            continue
        wanted.append(
            {
                "code": code,
                "name_zh": text(form, f"p{i}_name_zh", 30),
                "name_en": text(form, f"p{i}_name_en", 60) or code,
                "price_fen": yuan(text(form, f"p{i}_price", 20)),
                "term_months": text(form, f"p{i}_term", 3),
                "tier_code": text(form, f"p{i}_tier", 20),
                "refund_fee_pct": text(form, f"p{i}_fee", 3) or 0,
                "active": form.get(f"p{i}_active") == "yes",
            }
        )
    try:
        data = s.PlansIn.model_validate({"plans": wanted}, strict=False)
        known = {t.code for t in membership.tiers(request.state.db, tenant_id=principal.tenant_id)}
        if any(p.tier_code and p.tier_code not in known for p in data.plans):
            raise DomainError("not_found", object="tier")
        paid.save_plans(
            request.state.db,
            tenant_id=principal.tenant_id,
            wanted=[p.model_dump() for p in data.plans],
            actor=principal,
        )
    except ValidationError as exc:
        return _refused(request, "; ".join(sorted(set(field_errors(exc, lang).values()))))
    except DomainError as exc:
        request.state.db.rollback()
        return _refused(request, domain_message(exc, lang), exc.status)
    return redirect_with_toast("/loyalty/rules#plans", "saved")


def _refused(request: Request, message: str, status: int = 422) -> HTMLResponse:
    return render(request, "error.html", status=status, code=status, permission=None, message=message)
