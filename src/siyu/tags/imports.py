"""Tag import from CSV/Excel: one row per (customer, tag); all rows or none.

Columns: `tag_group`, `tag`, and one way to find the customer — `customer_number`, `phone`,
`member_card`, `wechat_unionid` or `pos_customer_id`; optional `action` (assign | remove, default
assign). Tags missing from an *imported* group are created with the import (a CRM's tags arrive
by name); in any other group an unknown tag is a row error. Each assignment's source is the import
(its audit entry id).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, RowError, rejected
from siyu.core.inputs import ascii_digits
from siyu.customers.facade import customers_by_number, identity_owners, normalise
from siyu.platform import audit
from siyu.platform.tabular import Table, check_headers
from siyu.tags import schemas as s
from siyu.tags import service
from siyu.tags.models import Tag, TagGroup

FINDERS = ("customer_number", "phone", "member_card", "wechat_unionid", "pos_customer_id")


def import_tags(session: Session, *, tenant_id: int, table: Table, actor: Principal | None) -> dict[str, int]:  # noqa: C901 - to split (docs/architecture.md)
    """Assign (or remove) tags row by row from a sheet; every row is checked before anything is written."""
    check_headers(table, ("tag_group", "tag"), (*FINDERS, "action"))
    groups = {
        g.name_zh: g
        for g in session.scalars(
            select(TagGroup).where(TagGroup.tenant_id == tenant_id, TagGroup.owner_staff_id.is_(None))
        )
    }
    tags = {
        (t.group_id, t.name_zh): t.id for t in session.scalars(select(Tag).where(Tag.tenant_id == tenant_id))
    }
    errors: list[RowError] = []
    wanted: list[tuple[int, str, str, str, tuple[str, str]]] = []  # row, action, group, tag, customer finder
    for row, cells in table.rows:
        action = (cells.get("action") or "assign").lower()
        if action not in ("assign", "remove"):
            errors.append(
                RowError(
                    row,
                    "action",
                    "invalid_value",
                    "action 应为 assign 或 remove",
                    "action must be assign or remove",
                )
            )
            continue
        group_name, tag_name = cells.get("tag_group", "").strip(), cells.get("tag", "").strip()
        group = groups.get(group_name)
        if group is None:
            errors.append(
                RowError(
                    row,
                    "tag_group",
                    "not_found",
                    f"标签组 {group_name} 不存在",
                    f"unknown tag group {group_name}",
                )
            )
            continue
        if (group.id, tag_name) not in tags and group.kind != "imported":
            errors.append(
                RowError(row, "tag", "not_found", f"标签 {tag_name} 不存在", f"unknown tag {tag_name}")
            )
            continue
        finder = next(((c, cells[c].strip()) for c in FINDERS if cells.get(c, "").strip()), None)
        if finder is None:
            errors.append(
                RowError(row, None, "missing_customer", "缺少客户标识", "no column identifies the customer")
            )
            continue
        wanted.append((row, action, group_name, tag_name, finder))
    numbers = [int(v) for _, _, _, _, (c, v) in wanted if c == "customer_number" and ascii_digits(v)]
    by_number = customers_by_number(session, tenant_id=tenant_id, numbers=numbers)
    keys: dict[int, tuple[str, str, str]] = {}
    for row, _, _, _, (column, value) in wanted:
        if column != "customer_number":
            try:
                keys[row] = normalise(column, value)
            except DomainError:
                errors.append(
                    RowError(
                        row, column, "invalid_value", f"{column} 无效：{value}", f"invalid {column}: {value}"
                    )
                )
    owners = identity_owners(session, tenant_id=tenant_id, keys=list(keys.values()))
    items: dict[str, list[tuple[int, int, int, str, str]]] = {"assign": [], "remove": []}
    for row, action, group_name, tag_name, (column, value) in wanted:
        if column == "customer_number":
            customer_id = by_number.get(int(value)) if ascii_digits(value) else None
        else:
            customer_id = owners.get(keys[row]) if row in keys else None
        if customer_id is None:
            if column == "customer_number" or row in keys:
                errors.append(
                    RowError(row, column, "not_found", f"客户 {value} 不存在", f"unknown customer {value}")
                )
            continue
        items[action].append((row, customer_id, groups[group_name].id, group_name, tag_name))
    if errors:
        raise rejected(errors, "import_rejected")
    created = 0
    for _, _, group_id, _, tag_name in items["assign"]:
        if (group_id, tag_name) not in tags:
            tag = Tag(
                tenant_id=tenant_id,
                group_id=group_id,
                name_zh=tag_name,
                name_en=tag_name,
                created_at=utcnow(),
            )
            session.add(tag)
            session.flush()
            tags[(group_id, tag_name)] = tag.id
            created += 1
    entry = audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="tags.import",
        object_type="tag",
        object_id=None,
        data={"rows": len(table.rows), "tags_created": created},
    )
    session.flush()
    source = ("import", entry.id)
    totals = {"created": 0, "updated": 0}
    for action, rows in items.items():
        if not rows:
            continue
        batch = s.AssignmentBatch(
            action="assign" if action == "assign" else "remove",
            items=[
                s.AssignmentItem(customer_id=c, tag_id=tags[(g, t)])
                for _, c, g, _, t in rows
                if (g, t) in tags
            ],
        )
        try:
            result = service.change_assignments(
                session, tenant_id=tenant_id, batch=batch, principal=actor, source=source
            )
        except DomainError as exc:
            if exc.code == "batch_rejected":
                raise rejected(exc.details["errors"], "import_rejected") from None
            raise
        totals["created"] += result.assigned
        totals["updated"] += result.renewed + result.replaced + result.removed
    return totals
