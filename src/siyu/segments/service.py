"""Rule tags kept current: a rule tag's members are what its rule selects now.

The rule is evaluated by the engine before the tag lock is taken (the engine reads the tag log under
that lock's shared form); tags then writes the difference as assignments and history.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.orm import Session

from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.db.session import holds_tenant_lock
from siyu.segments import engine, rules
from siyu.segments.index import engine_of, index_for
from siyu.tags import facade as tags


def check_rule(session: Session, *, tenant_id: int, rule: dict[str, Any]) -> dict[str, Any]:
    """Validate a rule tag's rule: parsed, references resolved, and no rule tags inside (no cycles)."""
    node = rules.parse_rule(rule)
    engine.resolve(session, tenant_id=tenant_id, node=node, now=utcnow())
    rule_tags = tags.tags_of_kind(session, tenant_id=tenant_id, tag_ids=rules.tag_ids(node), kind="rule")
    if rule_tags:
        raise DomainError(
            "invalid_tag",
            reason_zh=f"规则标签不能引用其他规则标签（{rule_tags}）",
            reason_en=f"a rule tag cannot use other rule tags ({rule_tags})",
        )
    return rules.dump_rule(node)


def member_counts(session: Session, *, tenant_id: int) -> dict[int, int]:
    """Customers per tag now, from the bitmaps (assignments past expiry not yet swept included)."""
    index = index_for(
        engine_of(session), tenant_id, holding_tag_lock=holds_tenant_lock(session, "tags", tenant_id)
    )
    with index.lock:
        active = index.universe()
        return {tag_id: bitmap.intersection_cardinality(active) for tag_id, bitmap in index.tags.items()}


def refresh_rule_tag(
    session: Session, *, tenant_id: int, tag_id: int, now: dt.datetime | None = None
) -> tags.tag_schemas.RefreshResult:
    """Bring a rule tag's members to what its rule selects now (adds and removals are history)."""
    now = now or utcnow()
    tag, group = tags.get_tag(session, tenant_id=tenant_id, tag_id=tag_id, principal=None)
    if group.kind != "rule" or tag.rule is None:
        raise tags.not_rule_tag()
    target = engine.evaluate(session, tenant_id=tenant_id, rule=tag.rule, now=now, use_cache=False).members
    return tags.set_rule_members(session, tenant_id=tenant_id, tag_id=tag.id, members=target, now=now)


def refresh_all_rule_tags(
    session: Session, *, tenant_id: int, now: dt.datetime | None = None
) -> list[tags.tag_schemas.RefreshResult]:
    """Refresh every rule tag of a tenant."""
    return [
        refresh_rule_tag(session, tenant_id=tenant_id, tag_id=t, now=now)
        for t in tags.rule_tag_ids(session, tenant_id=tenant_id)
    ]


class Engine:
    """The segment engine as tags' port wants it (see siyu.tags.ports)."""

    def check_rule(self, session: Session, *, tenant_id: int, rule: dict[str, Any]) -> dict[str, Any]:
        return check_rule(session, tenant_id=tenant_id, rule=rule)

    def member_counts(self, session: Session, *, tenant_id: int) -> dict[int, int]:
        return member_counts(session, tenant_id=tenant_id)

    def refresh_rule_tag(
        self, session: Session, *, tenant_id: int, tag_id: int
    ) -> tags.tag_schemas.RefreshResult:
        return refresh_rule_tag(session, tenant_id=tenant_id, tag_id=tag_id)
