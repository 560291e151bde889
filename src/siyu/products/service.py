"""Use cases of the product catalogue: batch upsert by SKU code, read, list."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, RowError, not_found, rejected
from siyu.db.pagination import keyset_page
from siyu.platform import audit
from siyu.products import schemas as s
from siyu.products.models import Product

MAX_BATCH = 1000
FIELDS = ("name", "category_path", "list_price_fen", "cost_fen", "floor_prices_fen", "status")


def upsert_products(
    session: Session, *, tenant_id: int, products: list[s.ProductUpsert], actor: Principal | None
) -> s.ProductBatchResult:
    """Create or update SKUs by code; all or nothing."""
    if len(products) > MAX_BATCH:
        raise DomainError("batch_too_large", limit=MAX_BATCH, count=len(products))
    errors: list[RowError] = []
    seen: dict[str, int] = {}
    for index, product in enumerate(products, start=1):
        if product.code in seen:
            errors.append(
                RowError(
                    index,
                    "code",
                    "duplicate_in_batch",
                    f"SKU {product.code} 与第 {seen[product.code]} 条重复",
                    f"SKU {product.code} repeats row {seen[product.code]}",
                )
            )
        seen.setdefault(product.code, index)
    if errors:
        raise rejected(errors)
    existing = {
        p.code: p
        for p in session.scalars(
            select(Product).where(Product.tenant_id == tenant_id, Product.code.in_(list(seen)))
        )
    }
    now = utcnow()
    created = updated = unchanged = 0
    for product in products:
        values = product.model_dump(include=set(FIELDS))
        row = existing.get(product.code)
        if row is None:
            session.add(
                Product(tenant_id=tenant_id, code=product.code, created_at=now, updated_at=now, **values)
            )
            created += 1
            continue
        changed = False
        for name, value in values.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed = True
        if changed:
            row.updated_at = now
            updated += 1
        else:
            unchanged += 1
    session.flush()
    if created or updated:
        audit.record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="product.save",
            object_type="product",
            object_id=None,
            data={"created": created, "updated": updated, "codes": [p.code for p in products[:20]]},
        )
    return s.ProductBatchResult(created=created, updated=updated, unchanged=unchanged)


def find_by_code(session: Session, *, tenant_id: int, code: str) -> Product | None:
    """A SKU of the tenant by its code, if there is one."""
    return session.scalar(select(Product).where(Product.tenant_id == tenant_id, Product.code == code))


def get_product(session: Session, *, tenant_id: int, product_id: int) -> Product:
    """One SKU of the tenant, or not found."""
    row = session.scalar(select(Product).where(Product.tenant_id == tenant_id, Product.id == product_id))
    if row is None:
        raise not_found("product")
    return row


def list_products(
    session: Session, *, tenant_id: int, cursor: str | None, limit: int, q: str | None, status: str | None
) -> tuple[list[Product], str | None]:
    """SKUs by id; `q` matches the start of a code or part of a name."""
    stmt = select(Product).where(Product.tenant_id == tenant_id)
    if q:
        stmt = stmt.where(
            Product.code.startswith(q, autoescape=True) | Product.name.contains(q, autoescape=True)
        )
    if status:
        stmt = stmt.where(Product.status == status)
    return keyset_page(session, stmt, Product.id, cursor=cursor, limit=limit)
