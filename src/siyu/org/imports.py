"""Bulk import of stores and staff from CSV/XLSX: all rows or none, with a row-level report."""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.errors import DomainError, RowError
from siyu.org import schemas, service
from siyu.org.hours import WEEKDAYS, parse_day_spec
from siyu.org.models import Region, Staff, Store
from siyu.platform.tabular import Table, check_headers

STORE_REQUIRED = ("code", "name")
STORE_OPTIONAL = (
    "region_code",
    "region_name",
    "city",
    "address",
    "latitude",
    "longitude",
    "status",
    *WEEKDAYS,
)
STAFF_REQUIRED = ("employee_no", "username", "name", "role")
STAFF_OPTIONAL = ("phone", "store_codes", "status")


def _pydantic_errors(row: int, exc: ValidationError) -> list[RowError]:
    out = []
    for err in exc.errors():
        column = ".".join(str(p) for p in err["loc"]) or None
        out.append(
            RowError(row, column, "invalid_value", f"值无效：{err['msg']}", f"invalid value: {err['msg']}")
        )
    return out


def _reject(errors: list[RowError]) -> None:
    if errors:
        raise DomainError("import_rejected", error_count=len(errors), details={"errors": errors})


def import_stores(
    session: Session, *, tenant_id: int, table: Table, actor: Principal | None
) -> dict[str, int]:
    """Create or update stores by code; regions are created when a region_name is given."""
    check_headers(table, STORE_REQUIRED, STORE_OPTIONAL)
    errors: list[RowError] = []
    regions = {r.code: r for r in session.scalars(select(Region).where(Region.tenant_id == tenant_id))}
    existing = {s.code: s for s in session.scalars(select(Store).where(Store.tenant_id == tenant_id))}
    seen: dict[str, int] = {}
    parsed: list[tuple[int, dict[str, Any], str | None, str | None]] = []
    for row, cells in table.rows:
        code = cells.get("code", "")
        if code in seen:
            errors.append(
                RowError(
                    row,
                    "code",
                    "duplicate_in_file",
                    f"门店编码与第 {seen[code]} 行重复",
                    f"store code repeats row {seen[code]}",
                )
            )
            continue
        seen[code] = row
        hours: list[dict[str, Any]] = []
        for day_index, day in enumerate(WEEKDAYS):
            try:
                hours += [iv.__dict__ for iv in parse_day_spec(day_index, cells.get(day, ""))]
            except DomainError as exc:
                errors.append(RowError(row, day, exc.code, exc.message(), exc.message("en")))
        values: dict[str, Any] = {
            "code": code,
            "name": cells.get("name", ""),
            "city": cells.get("city") or None,
            "address": cells.get("address") or None,
            "status": cells.get("status") or "active",
            "latitude": cells.get("latitude") or None,
            "longitude": cells.get("longitude") or None,
            "business_hours": hours,
        }
        parsed.append((row, values, cells.get("region_code") or None, cells.get("region_name") or None))
    created = updated = 0
    for row, values, region_code, region_name in parsed:
        if region_code and region_code not in regions:
            if not region_name:
                errors.append(
                    RowError(
                        row,
                        "region_code",
                        "not_found",
                        f"区域 {region_code} 不存在（可填写 region_name 以新建）",
                        f"region {region_code} not found (give region_name to create it)",
                    )
                )
                continue
            regions[region_code] = service.create_region(
                session, tenant_id=tenant_id, data=schemas.RegionCreate(code=region_code, name=region_name)
            )
        try:
            data = schemas.StoreCreate.model_validate(
                {**values, "region_id": regions[region_code].id if region_code else None}, strict=False
            )
        except ValidationError as exc:
            errors.extend(_pydantic_errors(row, exc))
            continue
        try:
            if data.code in existing:
                update = schemas.StoreUpdate.model_validate(data.model_dump(exclude={"code"}))
                service.update_store(
                    session, tenant_id=tenant_id, store_id=existing[data.code].id, data=update, actor=actor
                )
                updated += 1
            else:
                service.create_store(session, tenant_id=tenant_id, data=data, actor=actor)
                created += 1
        except DomainError as exc:
            errors.append(
                RowError(
                    row,
                    "mon..sun" if "hours" in exc.code else None,
                    exc.code,
                    exc.message(),
                    exc.message("en"),
                )
            )
    _reject(errors)
    return {"created": created, "updated": updated}


def import_staff(
    session: Session, *, tenant_id: int, table: Table, actor: Principal | None
) -> dict[str, int]:
    """Create or update staff by username; every store code must exist."""
    check_headers(table, STAFF_REQUIRED, STAFF_OPTIONAL)
    errors: list[RowError] = []
    stores = {s.code: s.id for s in session.scalars(select(Store).where(Store.tenant_id == tenant_id))}
    existing = {s.username: s for s in session.scalars(select(Staff).where(Staff.tenant_id == tenant_id))}
    seen: dict[str, int] = {}
    created = updated = 0
    for row, cells in table.rows:
        username = cells.get("username", "")
        if username in seen:
            errors.append(
                RowError(
                    row,
                    "username",
                    "duplicate_in_file",
                    f"用户名与第 {seen[username]} 行重复",
                    f"username repeats row {seen[username]}",
                )
            )
            continue
        seen[username] = row
        codes = [c.strip() for c in re.split(r"[|,，;；]", cells.get("store_codes", "")) if c.strip()]
        unknown = [c for c in codes if c not in stores]
        if unknown:
            errors.append(
                RowError(
                    row,
                    "store_codes",
                    "not_found",
                    f"门店不存在：{', '.join(unknown)}",
                    f"unknown store: {', '.join(unknown)}",
                )
            )
            continue
        store_ids = [stores[c] for c in codes]
        try:
            if username in existing:
                upd = schemas.StaffUpdate.model_validate(
                    {
                        "name": cells.get("name"),
                        "role": cells.get("role"),
                        "phone": cells.get("phone") or None,
                        "store_ids": store_ids,
                        "status": cells.get("status") or None,
                    },
                    strict=False,
                )
                service.update_staff(
                    session, tenant_id=tenant_id, staff_id=existing[username].id, data=upd, actor=actor
                )
                updated += 1
            else:
                new = schemas.StaffCreate.model_validate(
                    {
                        "employee_no": cells.get("employee_no", ""),
                        "username": username,
                        "name": cells.get("name", ""),
                        "role": cells.get("role"),
                        "phone": cells.get("phone") or None,
                        "store_ids": store_ids,
                    },
                    strict=False,
                )
                service.create_staff(session, tenant_id=tenant_id, data=new, actor=actor)
                created += 1
        except ValidationError as exc:
            errors.extend(_pydantic_errors(row, exc))
        except DomainError as exc:
            column = "phone" if exc.code == "invalid_phone" else None
            errors.append(RowError(row, column, exc.code, exc.message(), exc.message("en")))
    _reject(errors)
    return {"created": created, "updated": updated}
