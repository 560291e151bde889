"""Custom fields: the brand's own profile fields, defined once and checked on every write."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.errors import DomainError
from siyu.customers import schemas as s
from siyu.customers.models import (
    CustomFieldDefinition,
)
from siyu.platform import audit


# --- custom fields ----------------------------------------------------------------------------
def list_custom_fields(session: Session, *, tenant_id: int) -> list[CustomFieldDefinition]:
    """Definitions of the tenant's custom fields."""
    return list(
        session.scalars(
            select(CustomFieldDefinition)
            .where(CustomFieldDefinition.tenant_id == tenant_id)
            .order_by(CustomFieldDefinition.key)
        )
    )


def create_custom_field(
    session: Session, *, tenant_id: int, data: s.CustomFieldCreate, actor: Principal | None
) -> CustomFieldDefinition:
    """Define a custom profile field."""
    if data.type == "choice" and not data.choices:
        raise DomainError(
            "validation_error", summary="choice 类型需要 choices / a choice field needs choices"
        )
    exists = session.scalar(
        select(CustomFieldDefinition.id).where(
            CustomFieldDefinition.tenant_id == tenant_id, CustomFieldDefinition.key == data.key
        )
    )
    if exists:
        raise DomainError("duplicate", object="custom_field", value=data.key)
    row = CustomFieldDefinition(tenant_id=tenant_id, **data.model_dump())
    session.add(row)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="custom_field.create",
        object_type="custom_field",
        object_id=row.id,
        data={"key": data.key},
    )
    return row


def _check_custom_value(definition: CustomFieldDefinition, value: Any) -> Any:
    expected = {
        "text": "文本/text",
        "number": "数字/number",
        "date": "日期 YYYY-MM-DD/date",
        "boolean": "true/false",
        "choice": "/".join(definition.choices),
    }[definition.type]
    ok = False
    if definition.type == "text":
        ok = isinstance(value, str) and len(value) <= 500
    elif definition.type == "number":
        ok = isinstance(value, int | float) and not isinstance(value, bool)
    elif definition.type == "boolean":
        ok = isinstance(value, bool)
    elif definition.type == "choice":
        ok = value in definition.choices
    elif definition.type == "date" and isinstance(value, str):
        try:
            dt.date.fromisoformat(value)
            ok = True
        except ValueError:
            ok = False
    if not ok:
        raise DomainError("invalid_custom_field", key=definition.key, expected=expected)
    return value


def validate_custom_fields(
    definitions: dict[str, CustomFieldDefinition], values: dict[str, Any], *, allow_null: bool
) -> dict[str, Any]:
    """Check values against definitions; null means 'remove' when allow_null."""
    for key, value in values.items():
        definition = definitions.get(key)
        if definition is None:
            raise DomainError("unknown_custom_field", key=key)
        if value is None and allow_null:
            continue
        _check_custom_value(definition, value)
    return values
