"""WeCom's customer tags (企业客户标签) mirrored into Siyu's catalogue as `wecom` groups.

A `change_external_tag` callback (create, update, delete or shuffle of a tag or a tag group) says
that something changed, not the new state; after the callback's transaction commits, the whole
corp tag list is read from WeCom and the mirror brought in line: new groups and tags created,
renamed ones renamed, and tags WeCom no longer has retired — their assignments removed with
history (source `wecom`) and the tag renamed "（已删除）" so the history stays readable.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from siyu.core.clock import utcnow
from siyu.db.session import unit_of_work
from siyu.tags import facade as tags
from siyu.tags.facade import Tag, TagAssignment, TagGroup
from siyu.wecom.client import WeComClient

RETIRED = "（已删除）"


def sync_corp_tags(engine: Engine, *, tenant_id: int, client: WeComClient) -> dict[str, int]:
    """Read WeCom's corp tags and mirror them; answers counts of created, renamed and retired tags."""
    wecom_groups = client.corp_tags()
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        return _mirror(session, tenant_id, wecom_groups)


def _mirror(session: Session, tenant_id: int, wecom_groups: list[dict[str, Any]]) -> dict[str, int]:
    now = utcnow()
    counts = {"created": 0, "renamed": 0, "retired": 0}
    groups = {
        g.wecom_group_id: g
        for g in session.scalars(
            select(TagGroup).where(TagGroup.tenant_id == tenant_id, TagGroup.kind == "wecom")
        )
        if g.wecom_group_id
    }
    known = {
        t.wecom_tag_id: t
        for t in session.scalars(select(Tag).where(Tag.tenant_id == tenant_id, Tag.wecom_tag_id.is_not(None)))
    }
    seen: set[str] = set()
    for data in wecom_groups:
        group_id, name = str(data.get("group_id")), str(data.get("group_name") or "")[:40]
        group = groups.get(group_id)
        if group is None:
            group = TagGroup(
                tenant_id=tenant_id,
                name_zh=name,
                name_en=name[:60],
                kind="wecom",
                exclusive=False,
                open_to_guides=True,
                wecom_group_id=group_id,
                created_at=now,
            )
            session.add(group)
            session.flush()
            groups[group_id] = group
        elif group.name_zh != name:
            group.name_zh = name
        for item in data.get("tag", []) or []:
            wecom_id, tag_name = str(item["id"]), str(item["name"])[:40]
            seen.add(wecom_id)
            tag = known.get(wecom_id)
            if tag is None:
                session.add(
                    Tag(
                        tenant_id=tenant_id,
                        group_id=group.id,
                        name_zh=tag_name,
                        name_en=tag_name[:60],
                        wecom_tag_id=wecom_id,
                        created_at=now,
                    )
                )
                counts["created"] += 1
            elif tag.name_zh != tag_name:
                tag.name_zh = tag_name
                counts["renamed"] += 1
    session.flush()
    for old_id, tag in known.items():
        if old_id in seen:
            continue
        holders = list(
            session.scalars(
                select(TagAssignment.customer_id).where(
                    TagAssignment.tenant_id == tenant_id, TagAssignment.tag_id == tag.id
                )
            )
        )
        if holders:
            batch = tags.AssignmentBatch(
                action="remove",
                items=[tags.AssignmentItem(customer_id=c, tag_id=tag.id) for c in holders],
            )
            tags.change_assignments(
                session, tenant_id=tenant_id, batch=batch, principal=None, source=("wecom", None)
            )
        tag.wecom_tag_id = None
        tag.name_zh = tag.name_zh[: 40 - len(RETIRED)] + RETIRED
        counts["retired"] += 1
    return counts
