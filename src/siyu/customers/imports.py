"""Import and export of customers as CSV/XLSX."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.errors import DomainError, RowError
from siyu.core.phone import mask_phone
from siyu.customers import schemas as s
from siyu.customers import service
from siyu.customers.identity import IdentityKey, normalise_identity
from siyu.customers.models import Customer, CustomerIdentity
from siyu.org.facade import Staff, Store
from siyu.platform.tabular import Table, check_headers, write_table

IDENTITY_COLUMNS = (
    "wechat_unionid",
    "wechat_openid",
    "wecom_external_userid",
    "member_card",
    "pos_customer_id",
    "platform_buyer_id",
)
OPTIONAL = (
    "name",
    "gender",
    "birthday",
    "city",
    "member_tier",
    "phone",
    "wechat_appid",
    "platform",
    "store_code",
    "guide_username",
    *IDENTITY_COLUMNS,
)
GENDERS = {
    "男": "male",
    "女": "female",
    "m": "male",
    "f": "female",
    "male": "male",
    "female": "female",
    "未知": "unknown",
    "unknown": "unknown",
    "": None,
}
EXPORT_HEADERS = [
    "number",
    "name",
    "gender",
    "birthday",
    "city",
    "phone",
    "store_code",
    "guide_username",
    *IDENTITY_COLUMNS,
    "created_at",
]


def import_customers(  # noqa: C901 - to split (docs/architecture.md)
    session: Session, *, tenant_id: int, table: Table, actor: Principal | None
) -> dict[str, int]:
    """Upsert customers from a sheet, 1,000 rows at a time, in one transaction: all rows or none."""
    check_headers(table, (), OPTIONAL)
    stores = {
        code: sid
        for code, sid in session.execute(select(Store.code, Store.id).where(Store.tenant_id == tenant_id))
    }
    guides = {
        u: sid
        for u, sid in session.execute(select(Staff.username, Staff.id).where(Staff.tenant_id == tenant_id))
    }
    errors: list[RowError] = []
    records: list[tuple[int, s.CustomerUpsert]] = []
    first_row: dict[IdentityKey, int] = {}
    for row, cells in table.rows:
        identities = []
        for column in IDENTITY_COLUMNS:
            if value := cells.get(column):
                ns = (
                    cells.get("wechat_appid")
                    if column == "wechat_openid"
                    else (cells.get("platform") if column == "platform_buyer_id" else None)
                )
                identities.append({"type": column, "value": value, "namespace": ns})
        gender_raw = cells.get("gender", "").lower()
        if gender_raw not in GENDERS:
            errors.append(
                RowError(
                    row,
                    "gender",
                    "invalid_value",
                    "性别应为 男/女/未知",
                    "gender must be male/female/unknown",
                )
            )
            continue
        store_code, guide_username = cells.get("store_code"), cells.get("guide_username")
        if store_code and store_code not in stores:
            errors.append(
                RowError(
                    row, "store_code", "not_found", f"门店 {store_code} 不存在", f"unknown store {store_code}"
                )
            )
            continue
        if guide_username and guide_username not in guides:
            errors.append(
                RowError(
                    row,
                    "guide_username",
                    "not_found",
                    f"导购 {guide_username} 不存在",
                    f"unknown guide {guide_username}",
                )
            )
            continue
        payload: dict[str, Any] = {
            "identities": identities,
            "phone": cells.get("phone") or None,
            "name": cells.get("name") or None,
            "gender": GENDERS[gender_raw],
            "birthday": cells.get("birthday") or None,
            "city": cells.get("city") or None,
            "member_tier": cells.get("member_tier") or None,
            "store_id": stores.get(store_code) if store_code else None,
            "guide_id": guides.get(guide_username) if guide_username else None,
        }
        try:
            record = s.CustomerUpsert.model_validate(
                {k: v for k, v in payload.items() if v is not None}, strict=False
            )
        except ValidationError as exc:
            for err in exc.errors():
                errors.append(
                    RowError(
                        row,
                        ".".join(str(p) for p in err["loc"]),
                        "invalid_value",
                        f"值无效：{err['msg']}",
                        f"invalid value: {err['msg']}",
                    )
                )
            continue
        duplicate = False
        for ident in [
            *record.identities,
            *([s.IdentityIn(type="phone", value=record.phone)] if record.phone else []),
        ]:
            try:
                key = normalise_identity(ident.type, ident.value, ident.namespace)
            except DomainError:
                continue  # reported with its column by the upsert
            if key in first_row and first_row[key] != row:
                errors.append(
                    RowError(
                        row,
                        key[0],
                        "duplicate_in_file",
                        f"与第 {first_row[key]} 行的身份标识重复",
                        f"identity repeats row {first_row[key]}",
                    )
                )
                duplicate = True
            first_row.setdefault(key, row)
        if not duplicate:
            records.append((row, record))
    created = updated = 0
    for start in range(0, len(records), service.MAX_BATCH):
        chunk = records[start : start + service.MAX_BATCH]
        try:
            result = service.upsert_customers(
                session, tenant_id=tenant_id, records=[r for _, r in chunk], source="import", actor=actor
            )
            created += result.created_count
            updated += result.updated_count
        except DomainError as exc:
            if exc.code != "batch_rejected":
                raise
            for err in exc.details["errors"]:
                sheet_row = chunk[err["row"] - 1][0]
                column = str(err["column"] or "")
                if column.startswith("identities["):
                    column = chunk[err["row"] - 1][1].identities[int(column[11:-1])].type
                errors.append(
                    RowError(sheet_row, column or None, err["code"], err["message"], err["message_en"])
                )
    if errors:
        errors.sort(key=lambda e: e["row"])
        raise DomainError("import_rejected", error_count=len(errors), details={"errors": errors})
    return {"created": created, "updated": updated}


def export_rows(session: Session, *, tenant_id: int, reveal_phones: bool) -> Iterator[list[Any]]:
    """Active customers with their identities, one row each (phones masked unless revealed)."""
    stores = dict(session.execute(select(Store.id, Store.code).where(Store.tenant_id == tenant_id)).all())
    guides = dict(session.execute(select(Staff.id, Staff.username).where(Staff.tenant_id == tenant_id)).all())
    last_id = 0
    while True:
        batch = list(
            session.scalars(
                select(Customer)
                .where(Customer.tenant_id == tenant_id, Customer.status == "active", Customer.id > last_id)
                .order_by(Customer.id)
                .limit(5000)
            )
        )
        if not batch:
            return
        last_id = batch[-1].id
        idents: dict[int, dict[str, str]] = {}
        for ident in session.scalars(
            select(CustomerIdentity).where(
                CustomerIdentity.tenant_id == tenant_id,
                CustomerIdentity.customer_id.in_([c.id for c in batch]),
            )
        ):
            value = f"{ident.namespace}:{ident.value}" if ident.namespace else ident.value
            idents.setdefault(ident.customer_id, {}).setdefault(ident.type, value)
        for c in batch:
            found = idents.get(c.id, {})
            yield [
                c.number,
                c.name or "",
                c.gender,
                c.birthday.isoformat() if c.birthday else "",
                c.city or "",
                (c.phone_e164 if reveal_phones else mask_phone(c.phone_e164)) or "",
                stores.get(c.store_id, "") if c.store_id else "",
                guides.get(c.guide_id, "") if c.guide_id else "",
                *[found.get(col, "") for col in IDENTITY_COLUMNS],
                c.created_at.isoformat(),
            ]


def export_customers(session: Session, *, tenant_id: int, path: Path, reveal_phones: bool) -> int:
    """Write the tenant's customers to .csv or .xlsx; returns the row count."""
    return write_table(
        path, EXPORT_HEADERS, export_rows(session, tenant_id=tenant_id, reveal_phones=reveal_phones)
    )
