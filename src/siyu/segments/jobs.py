"""Keeps rule tags current and lapsed tags swept: on a schedule, and soon after changes.

Two jobs: every `rule_tag_refresh_minutes` the schedule queues a refresh for every brand that has
rule tags or lapsing tags; a change (an order batch, a refund, a merge: see segments.subscribers)
queues its brand's refresh two seconds on, which gathers a burst into one refresh. `siyu tags
refresh` does the same by hand or from cron.
"""

from __future__ import annotations

import logging

from sqlalchemy import Engine, select

from siyu import jobs
from siyu.db.session import unit_of_work
from siyu.segments.index import index_for
from siyu.segments.service import refresh_all_rule_tags
from siyu.settings import get_settings
from siyu.tags import facade as tags

log = logging.getLogger("siyu.tags")
# Save the tag bitmaps again once this many tag events have happened since the last save.
CHECKPOINT_EVERY = 10_000


def tenants_with_work(engine: Engine) -> list[int]:
    """Tenants that have rule tags or assignments that can lapse."""
    with unit_of_work(engine) as session:
        rule = set(
            session.scalars(
                select(tags.Tag.tenant_id)
                .join(tags.TagGroup, tags.TagGroup.id == tags.Tag.group_id)
                .where(tags.TagGroup.kind == "rule")
                .distinct()
            )
        )
        lapsing = set(
            session.scalars(
                select(tags.TagAssignment.tenant_id)
                .where(tags.TagAssignment.expires_at.is_not(None))
                .distinct()
            )
        )
    return sorted(rule | lapsing)


def refresh_tenant(engine: Engine, tenant_id: int) -> tuple[int, int]:
    """Refresh a tenant's rule tags and sweep its lapsed tags (one transaction each), then save the
    tag bitmaps when the log has moved on far enough; returns (rule tags, assignments swept)."""
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        refreshed = len(refresh_all_rule_tags(session, tenant_id=tenant_id))
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        swept = tags.sweep_expired(session, tenant_id=tenant_id)
    index = index_for(engine, tenant_id)
    if index.checkpointed_at < 0 or index.log_position - index.checkpointed_at >= CHECKPOINT_EVERY:
        index.checkpoint(engine)
    return refreshed, swept


@jobs.handler(
    "segments.refresh_tenant",
    label_zh="刷新品牌规则标签",
    label_en="Refresh a brand's rule tags",
    lease_s=1800,
)
def refresh_tenant_job(engine: Engine, run: jobs.JobRun) -> None:
    """One brand's rule tags and lapsed tags, queued by a change (orders, refunds, merges)."""
    assert run.tenant_id is not None
    refresh_tenant(engine, run.tenant_id)


@jobs.handler("segments.refresh_all", label_zh="刷新全部规则标签", label_en="Refresh every brand's rule tags")
def refresh_all_job(engine: Engine, run: jobs.JobRun) -> None:
    """The schedule: queue a refresh for every brand with rule tags or lapsing tags (each brand its
    own job, so several workers share them)."""
    with unit_of_work(engine) as session:
        for tenant_id in tenants_with_work(engine):
            jobs.enqueue(
                session,
                "segments.refresh_tenant",
                tenant_id=tenant_id,
                key=f"segments.refresh:{tenant_id}",
            )


jobs.schedule("segments.refresh_all", lambda: get_settings().rule_tag_refresh_minutes * 60)
