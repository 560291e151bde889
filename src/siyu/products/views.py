"""HTTP routes of the product catalogue."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Query

from siyu.access import Perm, Principal
from siyu.api.deps import DB, Limit, PathId, allow
from siyu.api.platform import add_import_route
from siyu.api.routing import TransactionalRoute
from siyu.products import schemas as s
from siyu.products import service
from siyu.products.imports import PRODUCT_OPTIONAL, PRODUCT_REQUIRED, import_products

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute, tags=["products 商品"])


@router.post("/products/batch", response_model=s.ProductBatchResult, summary="Upsert SKUs 批量写入商品")
def upsert_products(
    body: s.ProductBatch, db: DB, principal: Principal = allow(Perm.PRODUCTS_WRITE)
) -> s.ProductBatchResult:
    """Create or update up to 1,000 SKUs by code; all or nothing."""
    return service.upsert_products(db, tenant_id=principal.tenant_id, products=body.products, actor=principal)


@router.get("/products", response_model=s.ProductPage, summary="List SKUs 商品列表")
def list_products(
    db: DB,
    limit: Limit,
    cursor: str | None = None,
    q: str | None = Query(default=None, max_length=64, description="code prefix or part of the name"),
    status: Literal["active", "inactive"] | None = None,
    principal: Principal = allow(Perm.PRODUCTS_READ),
) -> s.ProductPage:
    """SKUs of the brand."""
    rows, next_cursor = service.list_products(
        db, tenant_id=principal.tenant_id, cursor=cursor, limit=limit, q=q, status=status
    )
    return s.ProductPage(items=[s.ProductRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/products/{product_id}", response_model=s.ProductRead, summary="One SKU 商品详情")
def get_product(
    product_id: PathId, db: DB, principal: Principal = allow(Perm.PRODUCTS_READ)
) -> s.ProductRead:
    """One SKU."""
    return s.ProductRead.model_validate(
        service.get_product(db, tenant_id=principal.tenant_id, product_id=product_id)
    )


add_import_route(
    router,
    "products",
    import_products,
    Perm.PRODUCTS_WRITE,
    required=PRODUCT_REQUIRED,
    optional=PRODUCT_OPTIONAL,
)
