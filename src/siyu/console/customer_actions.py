"""What HQ (and, for consent, the staff who serve a customer) change on the customer 360: consent per
purpose, and merging two records of one person — with a preview of what moves — and undoing it."""

from __future__ import annotations

from typing import Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from siyu.access import Perm, Principal
from siyu.api.deps import MAX_ID
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
from siyu.core.errors import DomainError
from siyu.core.inputs import ascii_digits
from siyu.core.phone import mask_phone
from siyu.customers import service as customer_service
from siyu.customers.models import CONSENT_PURPOSES, Customer
from siyu.customers.schemas import ConsentCreate

router = console_router()


def _message(request: Request, exc: DomainError) -> str:
    return exc.message("en" if lang_of(request) == "en" else "zh-CN")


def _error(request: Request, exc: DomainError) -> HTMLResponse:
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


@router.post("/customers/{customer_id}/consents", response_class=HTMLResponse)
def record_consent(
    request: Request, customer_id: int, purpose: str = Form(""), granted: str = Form("")
) -> Response:
    """Record a consent given or withdrawn (source: the console, with who did it), then back."""
    principal = page_principal(request)
    if not principal.can(Perm.CONSENT_WRITE):
        return forbidden(request, Perm.CONSENT_WRITE)
    if customer_id > MAX_ID:
        return not_found_page(request)
    if purpose not in CONSENT_PURPOSES or granted not in ("yes", "no"):
        message = "Choose a purpose and yes or no" if lang_of(request) == "en" else "请选择用途和是否同意"
        return render(request, "error.html", status=422, code=422, permission=None, message=message)
    try:
        customer_service.record_consent(
            request.state.db,
            tenant_id=principal.tenant_id,
            customer_id=customer_id,
            data=ConsentCreate(purpose=purpose, granted=granted == "yes", source="console"),  # type: ignore[arg-type]
            principal=principal,
        )
    except DomainError as exc:
        return _error(request, exc)
    return redirect_with_toast(f"/customers/{customer_id}#consent", "saved")


def _find_other(request: Request, principal: Principal, text: str, *, by_phone: bool) -> int | None:
    """The customer a person means by "#123", "123" (a customer number) or — `by_phone`, for a
    posted form only, so that no phone number travels in an address — a full phone number."""
    value = text.strip().lstrip("#")
    db = request.state.db
    if ascii_digits(value, max_len=12):
        found = db.scalar(
            select(Customer.id).where(
                Customer.tenant_id == principal.tenant_id,
                Customer.number == int(value),
                Customer.status == "active",
            )
        )
        if found is not None:
            return int(found)
    if not by_phone:
        return None
    try:
        customer = customer_service.lookup(
            db,
            tenant_id=principal.tenant_id,
            type_="phone",
            value=text.strip(),
            namespace=None,
            principal=principal,
        )
    except DomainError:
        return None
    return customer.id


@router.post("/customers/{customer_id}/merge/find", response_class=HTMLResponse)
def merge_find(request: Request, customer_id: int, other: str = Form("", max_length=40)) -> Response:
    """Find the other record by its number or a full phone (posted: the phone stays out of the
    address and the logs), then show the preview at an address naming the customer number."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_MERGE):
        return forbidden(request, Perm.CUSTOMERS_MERGE)
    if customer_id > MAX_ID:
        return not_found_page(request)
    merged_id = _find_other(request, principal, other, by_phone=True) if other.strip() else None
    if merged_id is not None:
        number = request.state.db.scalar(select(Customer.number).where(Customer.id == merged_id))
        return RedirectResponse(f"/customers/{customer_id}/merge?other=%23{number}", status_code=303)
    return _merge_page(request, principal, customer_id, other, None)


@router.get("/customers/{customer_id}/merge", response_class=HTMLResponse)
@read_only
def merge_preview(request: Request, customer_id: int, other: str = "") -> HTMLResponse:
    """What merging another record into this customer would move — nothing changes until confirmed."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_MERGE):
        return forbidden(request, Perm.CUSTOMERS_MERGE)
    if customer_id > MAX_ID:
        return not_found_page(request)
    merged_id = _find_other(request, principal, other[:40], by_phone=False) if other.strip() else None
    return _merge_page(request, principal, customer_id, other[:40], merged_id)


def _merge_page(
    request: Request, principal: Principal, customer_id: int, other: str, merged_id: int | None
) -> HTMLResponse:
    preview: dict[str, Any] | None = None
    problem = None
    if other.strip() and merged_id is None:
        problem = (
            "No active customer has that number (or, searched from the form, that phone)"
            if lang_of(request) == "en"
            else "没有找到这个客户编号或手机号对应的客户"
        )
    if merged_id is not None:
        try:
            preview = customer_service.merge_preview(
                request.state.db,
                tenant_id=principal.tenant_id,
                survivor_id=customer_id,
                merged_id=merged_id,
                principal=principal,
            )
        except DomainError as exc:
            if exc.status == 404:
                return not_found_page(request)
            problem = _message(request, exc)
    try:
        survivor = customer_service.get_customer(
            request.state.db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal
        )
    except DomainError:
        return not_found_page(request)
    return render(
        request,
        "customer_merge.html",
        status=422 if problem else 200,
        c=survivor,
        other=other,
        preview=preview,
        problem=problem,
        mask=mask_phone,
    )


@router.post("/customers/{customer_id}/merge", response_class=HTMLResponse)
def merge(request: Request, customer_id: int, merged_id: int = Form(..., ge=1, le=MAX_ID)) -> Response:
    """Merge the previewed record into this customer (audited; can be undone)."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_MERGE):
        return forbidden(request, Perm.CUSTOMERS_MERGE)
    if customer_id > MAX_ID:
        return not_found_page(request)
    try:
        customer_service.merge(
            request.state.db,
            tenant_id=principal.tenant_id,
            survivor_id=customer_id,
            merged_id=merged_id,
            principal=principal,
        )
    except DomainError as exc:
        return _error(request, exc)
    return redirect_with_toast(f"/customers/{customer_id}#merges", "merged")


@router.post("/customers/merges/{merge_id}/undo", response_class=HTMLResponse)
def undo_merge(request: Request, merge_id: int) -> Response:
    """Undo a merge: the rows it moved go back, the merged record is active again (audited)."""
    principal = page_principal(request)
    if not principal.can(Perm.CUSTOMERS_MERGE):
        return forbidden(request, Perm.CUSTOMERS_MERGE)
    if merge_id > MAX_ID:
        return not_found_page(request)
    try:
        record = customer_service.unmerge(
            request.state.db, tenant_id=principal.tenant_id, merge_id=merge_id, principal=principal
        )
    except DomainError as exc:
        return _error(request, exc)
    return redirect_with_toast(f"/customers/{record.survivor_id}#merges", "unmerged")
