"""Import orders from CSV/XLSX (one row per order line; money in yuan, e.g. 59.90)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.errors import DomainError, RowError, rejected
from siyu.core.inputs import ascii_digits
from siyu.orders import schemas as s
from siyu.orders import service
from siyu.platform.tabular import BadCellError, Table, check_headers, row_errors, yuan_to_fen

ORDER_REQUIRED = ("channel", "external_id", "status", "placed_at", "sku_code", "quantity", "unit_price")
ORDER_OPTIONAL = (
    "paid_at",
    "store_code",
    "staff_employee_no",
    "in_store",
    "fulfilment",
    "currency",
    "customer_phone",
    "customer_identity_type",
    "customer_identity_value",
    "customer_identity_namespace",
    "line_discount",
    "order_discount",
    "shipping",
    "payment_method",
)
TRUE = {"1", "true", "yes", "y", "是", "t"}


def import_orders(  # noqa: C901 - to split (docs/architecture.md)
    session: Session, *, tenant_id: int, table: Table, actor: Principal | None
) -> dict[str, int]:
    """Group lines into orders by channel + external id, validate every row, ingest all or none."""
    check_headers(table, ORDER_REQUIRED, ORDER_OPTIONAL)
    grouped: dict[tuple[str, str], list[tuple[int, dict[str, str]]]] = {}
    for row, values in table.rows:
        grouped.setdefault((values["channel"], values["external_id"]), []).append((row, values))
    errors: list[RowError] = []
    built: list[tuple[int, s.OrderIn]] = []
    for (_channel, _ext), rows in grouped.items():
        first_row, head = rows[0]
        try:
            lines: list[dict[str, Any]] = []
            for row, v in rows:
                try:
                    lines.append(
                        {
                            "sku_code": v["sku_code"],
                            "quantity": int(v["quantity"])
                            if ascii_digits(v["quantity"].lstrip("-"))
                            else v["quantity"],
                            "unit_price_fen": yuan_to_fen(v["unit_price"], "unit_price"),
                            "discount_fen": yuan_to_fen(v.get("line_discount", ""), "line_discount"),
                        }
                    )
                except BadCellError as bad:
                    errors.append(RowError(row, bad.column, "invalid_amount", bad.zh, bad.en))
            goods = sum(
                (x["quantity"] if isinstance(x["quantity"], int) else 0) * x["unit_price_fen"]
                - x["discount_fen"]
                for x in lines
            )
            order_discount = yuan_to_fen(head.get("order_discount", ""), "order_discount")
            shipping = yuan_to_fen(head.get("shipping", ""), "shipping")
            customer: dict[str, Any] | None = None
            if head.get("customer_phone") or head.get("customer_identity_value"):
                customer = {"identities": []}
                if head.get("customer_phone"):
                    customer["phone"] = head["customer_phone"]
                if head.get("customer_identity_value"):
                    customer["identities"].append(
                        {
                            "type": head.get("customer_identity_type") or "pos_customer_id",
                            "value": head["customer_identity_value"],
                            "namespace": head.get("customer_identity_namespace") or None,
                        }
                    )
            paid = head["status"] in ("paid", "fulfilled", "completed")
            total = goods - order_discount + shipping
            data = {
                "channel": head["channel"],
                "external_id": head["external_id"],
                "customer": customer,
                "store_code": head.get("store_code") or None,
                "staff_employee_no": head.get("staff_employee_no") or None,
                "in_store": head.get("in_store", "").strip().lower() in TRUE,
                "status": head["status"],
                "fulfilment": head.get("fulfilment")
                or ("in_store" if head["channel"] == "pos" else "express"),
                "currency": head.get("currency") or "CNY",
                "placed_at": head["placed_at"],
                "paid_at": head.get("paid_at") or None,
                "lines": lines,
                "order_discount_fen": order_discount,
                "shipping_fen": shipping,
                "payments": [{"method": head.get("payment_method") or "other", "amount_fen": total}]
                if paid and total > 0
                else [],
            }
            built.append((first_row, s.OrderIn.model_validate(data, strict=False)))
        except (BadCellError, ValidationError) as exc:
            errors += row_errors(first_row, exc)
    if errors:
        raise rejected(errors, "import_rejected")
    created = updated = 0
    for i in range(0, len(built), service.MAX_BATCH):
        chunk = built[i : i + service.MAX_BATCH]
        try:
            result = service.ingest_orders(
                session, tenant_id=tenant_id, orders=[o for _, o in chunk], source="import", actor=actor
            )
        except DomainError as exc:
            if exc.code != "batch_rejected":
                raise
            mapped = [
                RowError(chunk[e["row"] - 1][0], e["column"], e["code"], e["message"], e["message_en"])
                for e in exc.details["errors"]
            ]
            raise rejected(mapped, "import_rejected") from exc
        created += result.created
        updated += result.updated
    return {"created": created, "updated": updated}
