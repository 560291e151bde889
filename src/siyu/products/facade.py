"""What other packages may use of the catalogue: DTOs, never ORM rows."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.products.models import Product
from siyu.products.schemas import CHANNEL_PATTERN, SKU_CODE, Fen


@dataclass(frozen=True)
class ProductInfo:
    """A SKU as orders and pricing see it."""

    id: int
    code: str
    list_price_fen: int
    cost_fen: int
    status: str


def products_by_code(session: Session, *, tenant_id: int, codes: set[str]) -> dict[str, ProductInfo]:
    """SKUs of the tenant by code (absent codes are missing from the answer)."""
    if not codes:
        return {}
    rows = session.execute(
        select(Product.id, Product.code, Product.list_price_fen, Product.cost_fen, Product.status).where(
            Product.tenant_id == tenant_id, Product.code.in_(codes)
        )
    )
    return {r.code: ProductInfo(r.id, r.code, r.list_price_fen, r.cost_fen, r.status) for r in rows}


def product_names(session: Session, *, tenant_id: int, ids: set[int]) -> dict[int, str]:
    """Names of SKUs by id (for showing order lines)."""
    if not ids:
        return {}
    rows = session.execute(
        select(Product.id, Product.name).where(Product.tenant_id == tenant_id, Product.id.in_(sorted(ids)))
    )
    return {i: n for i, n in rows}


def category_paths(session: Session, *, tenant_id: int, ids: set[int]) -> dict[int, list[str]]:
    """Each SKU's category path, top category first (for rules that exclude categories)."""
    if not ids:
        return {}
    rows = session.execute(
        select(Product.id, Product.category_path).where(
            Product.tenant_id == tenant_id, Product.id.in_(sorted(ids))
        )
    )
    return {i: list(path or []) for i, path in rows}


__all__ = [
    "CHANNEL_PATTERN",
    "SKU_CODE",
    "Fen",
    "Product",
    "ProductInfo",
    "products_by_code",
]
