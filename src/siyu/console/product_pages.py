"""The product catalogue in the console (HQ): SKUs with category, list price, cost and per-channel
floor prices (the lowest price a channel may sell at); create and edit, in yuan."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select

from siyu.access import Perm, Principal
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
from siyu.console.tables import paging, parse_sort
from siyu.core.errors import DomainError
from siyu.db.pagination import offset_page
from siyu.products import schemas as product_schemas
from siyu.products import service as product_service
from siyu.products.models import Product
from siyu.reports.store_daily import CHANNEL_LABELS

router = console_router()
SORTS = {"code": Product.code, "price": Product.list_price_fen, "updated": Product.updated_at}
FLOOR_ROWS = 3  # empty channel rows a form offers for new floor prices


def _guard(request: Request, perm: Perm) -> Principal | HTMLResponse:
    principal = page_principal(request)
    return principal if principal.can(perm) else forbidden(request, perm)


@router.get("/settings/products", response_class=HTMLResponse)
@read_only
def products_page(request: Request) -> HTMLResponse:
    """SKUs: search by code or name, filter by category and status, sort, pages."""
    principal = _guard(request, Perm.PRODUCTS_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    db = request.state.db
    params = request.query_params
    q = (params.get("q") or "").strip()[:64]
    status = params.get("status") if params.get("status") in ("active", "inactive") else None
    categories = sorted(
        {
            path[0]
            for (path,) in db.execute(
                select(Product.category_path).where(Product.tenant_id == principal.tenant_id)
            )
            if path
        }
    )
    category = params.get("category") if params.get("category") in categories else None
    stmt = select(Product).where(Product.tenant_id == principal.tenant_id)
    if q:
        stmt = stmt.where(
            Product.code.startswith(q, autoescape=True) | Product.name.contains(q, autoescape=True)
        )
    if status:
        stmt = stmt.where(Product.status == status)
    if category:
        ids = [
            i
            for i, path in db.execute(
                select(Product.id, Product.category_path).where(Product.tenant_id == principal.tenant_id)
            )
            if path and path[0] == category
        ]
        stmt = stmt.where(Product.id.in_(ids))
    sort = parse_sort(params.get("sort"), set(SORTS), "code")
    _, total = offset_page(db, stmt, SORTS[sort.key], Product.id, desc=sort.desc, offset=0, limit=0)
    page = paging(params.get("page"), params.get("size"), total)
    rows, _ = offset_page(
        db, stmt, SORTS[sort.key], Product.id, desc=sort.desc, offset=page.offset, limit=page.size
    )
    count = db.scalar(
        select(func.count()).select_from(Product).where(Product.tenant_id == principal.tenant_id)
    )
    return render(
        request,
        "settings_products.html",
        rows=rows,
        page=page,
        sort=sort,
        categories=categories,
        f={"q": q, "status": status or "", "category": category or ""},
        catalogue_size=count,
    )


def _channel_options(lang: str) -> list[tuple[str, str]]:
    return [(code, zh if lang != "en" else en) for code, (zh, en) in CHANNEL_LABELS.items()]


def _product_form(
    request: Request,
    principal: Principal,
    product: Product | None,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
) -> HTMLResponse:
    shown: dict[str, Any] = {}
    if product is not None:
        shown = {
            "code": product.code,
            "name": product.name,
            "category": " / ".join(product.category_path),
            "list_price": f"{product.list_price_fen / 100:.2f}",
            "cost": f"{product.cost_fen / 100:.2f}",
            "status": product.status,
            "floors": [(c, f"{v / 100:.2f}") for c, v in sorted(product.floor_prices_fen.items())],
        }
    if values is not None:
        shown.update(values)
    floors = list(shown.get("floors", []))
    floors += [("", "")] * FLOOR_ROWS
    return render(
        request,
        "settings_product.html",
        status=422 if errors else 200,
        product=product,
        v=shown,
        floors=floors,
        errors=errors or {},
        channels=_channel_options(lang_of(request)),
    )


def _read_product(form: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """(what the form shows again, what the model validates)."""
    floors = [
        (str(c).strip(), str(p).strip())
        for c, p in zip(form.getlist("floor_channel"), form.getlist("floor_price"), strict=False)
    ]
    category_text = text(form, "category", 400) or ""
    list_price, cost = text(form, "list_price", 20), text(form, "cost", 20)
    shown: dict[str, Any] = {
        "code": text(form, "code", 64),
        "name": text(form, "name", 200),
        "category": category_text,
        "list_price": list_price,
        "cost": cost,
        "status": text(form, "status", 10) or "active",
        "floors": [(c, p) for c, p in floors if c or p],
    }
    category = [part.strip() for part in category_text.replace("／", "/").split("/") if part.strip()]
    data = {
        "code": shown["code"],
        "name": shown["name"],
        "category_path": category,
        "list_price_fen": yuan(list_price),
        "cost_fen": yuan(cost) if cost else 0,
        "floor_prices_fen": {c: yuan(p) for c, p in floors if c and p},
        "status": shown["status"],
    }
    return shown, data


MONEY_FIELDS = frozenset({"list_price_fen", "cost_fen", "floor_prices_fen"})
FIELD_OF = {
    "list_price_fen": "list_price",
    "cost_fen": "cost",
    "floor_prices_fen": "floors",
    "category_path": "category",
}


def _save(request: Request, principal: Principal, product: Product | None, form: Any) -> Response:
    lang = lang_of(request)
    shown, data = _read_product(form)
    if product is not None:
        data["code"] = product.code
    try:
        item = product_schemas.ProductUpsert.model_validate(data, strict=False)
    except ValidationError as exc:
        errors = {
            FIELD_OF.get(k.split(".")[0], k.split(".")[0]): m
            for k, m in field_errors(exc, lang, money=MONEY_FIELDS).items()
        }
        return _product_form(request, principal, product, values=shown, errors=errors)
    if product is None and product_service.find_by_code(
        request.state.db, tenant_id=principal.tenant_id, code=item.code
    ):
        message = f"SKU “{item.code}” already exists" if lang == "en" else f"SKU“{item.code}”已存在"
        return _product_form(request, principal, None, values=shown, errors={"code": message})
    try:
        product_service.upsert_products(
            request.state.db, tenant_id=principal.tenant_id, products=[item], actor=principal
        )
    except DomainError as exc:
        return _product_form(
            request, principal, product, values=shown, errors={"": domain_message(exc, lang)}
        )
    saved = product_service.find_by_code(request.state.db, tenant_id=principal.tenant_id, code=item.code)
    assert saved is not None
    return redirect_with_toast(f"/settings/products/{saved.id}", "saved" if product else "created")


@router.get("/settings/products/new", response_class=HTMLResponse)
@read_only
def product_new(request: Request) -> HTMLResponse:
    """The form for a new SKU."""
    principal = _guard(request, Perm.PRODUCTS_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    return _product_form(request, principal, None, values={"status": "active"})


@router.post("/settings/products/new", response_class=HTMLResponse)
def product_create(request: Request, form: Posted) -> Response:
    """Create a SKU."""
    principal = _guard(request, Perm.PRODUCTS_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    return _save(request, principal, None, form)


def _load(request: Request, principal: Principal, product_id: int) -> Product | None:
    if product_id > MAX_ID:
        return None
    try:
        return product_service.get_product(
            request.state.db, tenant_id=principal.tenant_id, product_id=product_id
        )
    except DomainError:
        return None


@router.get("/settings/products/{product_id}", response_class=HTMLResponse)
@read_only
def product_edit(request: Request, product_id: int) -> HTMLResponse:
    """A SKU's form."""
    principal = _guard(request, Perm.PRODUCTS_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    product = _load(request, principal, product_id)
    return _product_form(request, principal, product) if product else not_found_page(request)


@router.post("/settings/products/{product_id}", response_class=HTMLResponse)
def product_save(request: Request, product_id: int, form: Posted) -> Response:
    """Save a SKU (its code stays)."""
    principal = _guard(request, Perm.PRODUCTS_WRITE)
    if isinstance(principal, HTMLResponse):
        return principal
    product = _load(request, principal, product_id)
    if product is None:
        return not_found_page(request)
    return _save(request, principal, product, form)
