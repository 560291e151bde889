"""Import the product catalogue from CSV/XLSX (SKUs by code; prices in yuan, e.g. 59.90)."""

from __future__ import annotations

from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.errors import RowError, rejected
from siyu.platform.tabular import BadCellError, Table, check_headers, row_errors, yuan_to_fen
from siyu.products.schemas import ProductUpsert
from siyu.products.service import MAX_BATCH, upsert_products

PRODUCT_REQUIRED = ("code", "name", "list_price")
PRODUCT_OPTIONAL = ("category", "cost", "status")


def import_products(
    session: Session, *, tenant_id: int, table: Table, actor: Principal | None
) -> dict[str, int]:
    """SKUs by code; category as '服装/上衣/T恤'; prices in yuan."""
    check_headers(table, PRODUCT_REQUIRED, PRODUCT_OPTIONAL)
    errors: list[RowError] = []
    items: list[ProductUpsert] = []
    for row, v in table.rows:
        try:
            items.append(
                ProductUpsert.model_validate(
                    {
                        "code": v["code"],
                        "name": v["name"],
                        "category_path": [p.strip() for p in v.get("category", "").split("/") if p.strip()],
                        "list_price_fen": yuan_to_fen(v["list_price"], "list_price"),
                        "cost_fen": yuan_to_fen(v.get("cost", ""), "cost"),
                        "status": v.get("status") or "active",
                    }
                )
            )
        except (BadCellError, ValidationError) as exc:
            errors += row_errors(row, exc)
    if errors:
        raise rejected(errors, "import_rejected")
    created = updated = 0
    for i in range(0, len(items), MAX_BATCH):
        result = upsert_products(session, tenant_id=tenant_id, products=items[i : i + 1000], actor=actor)
        created, updated = created + result.created, updated + result.updated
    return {"created": created, "updated": updated}
