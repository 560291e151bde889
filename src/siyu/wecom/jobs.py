"""WeCom's background work, as jobs: applying stored callbacks, the calls they ask for afterwards,
the hourly transfer check and member-directory read."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select

from siyu import jobs
from siyu.core.errors import DomainError
from siyu.db.session import read_connection, unit_of_work
from siyu.settings import get_settings
from siyu.wecom import codes, corp_tags, groups, members, service, transfers
from siyu.wecom.models import Transfer, WeComConfig, WeComInbox

log = logging.getLogger("siyu.wecom")
CHECK_EVERY_S = 3600


def _api_base(run: jobs.JobRun) -> str:
    return str(run.context.get("wecom_api_base") or get_settings().wecom_api_base)


def tenants_with_pending_callbacks(engine: Engine) -> list[int]:
    """Brands with stored callbacks not applied yet (a read of a small partial index)."""
    with read_connection(engine) as connection, connection.begin():
        return list(
            connection.scalars(
                select(WeComInbox.tenant_id)
                .where(WeComInbox.processed_at.is_(None))
                .distinct()
                .order_by(WeComInbox.tenant_id)
            )
        )


def callbacks_wait(engine: Engine) -> bool:
    """Whether any stored callback waits to be applied (the watch: one indexed row at most)."""
    with read_connection(engine) as connection, connection.begin():
        row = connection.execute(
            select(WeComInbox.id).where(WeComInbox.processed_at.is_(None)).limit(1)
        ).first()
    return row is not None


@jobs.handler("wecom.inbox", label_zh="处理企业微信回调", label_en="Apply WeCom callbacks", lease_s=600)
def apply_callbacks(engine: Engine, run: jobs.JobRun) -> None:
    """Apply every stored callback not applied yet (of the brands named, or all); rows are claimed by
    a conditional UPDATE, so two runs never apply one twice. The callback route triggers this at once
    in-process; the schedule catches up after a restart or when workers run elsewhere."""
    tenants = run.payload.get("tenants") or tenants_with_pending_callbacks(engine)
    for tenant_id in tenants:
        try:
            service.process_pending(engine, tenant_id=tenant_id)
        except Exception:  # one brand's failure must not hold the others; its rows stay pending
            log.exception("applying WeCom callbacks of tenant %s failed", tenant_id)


@jobs.handler(
    "wecom.follow_up",
    label_zh="回调后的企业微信调用",
    label_en="WeCom calls after a callback",
    max_attempts=5,
)
def follow_up(engine: Engine, run: jobs.JobRun) -> None:
    """A welcome message or a re-pointed code (failures logged: a welcome code lives 20 s, so a late
    retry would only fail again), or the corp tags or groups read again (retried with backoff)."""
    assert run.tenant_id is not None
    name, data = run.payload["event"], run.payload["data"]
    base = _api_base(run)
    if name == "wecom.friend_added_via_code":
        follow = codes.FollowUp(
            data["kind"], data["code_id"], data.get("welcome_code", ""), data.get("text", "")
        )
        codes.run_follow_ups(engine, tenant_id=run.tenant_id, follow_ups=[follow], api_base=base)
        return
    try:
        with unit_of_work(engine, tenant_id=run.tenant_id) as session:
            client = codes.client_for(session, tenant_id=run.tenant_id, api_base=base)
    except DomainError as exc:  # no secret set: nothing to ask WeCom
        log.warning("WeCom re-read for tenant %s skipped: %s", run.tenant_id, exc)
        return
    if name == "wecom.corp_tags_changed":
        corp_tags.sync_corp_tags(engine, tenant_id=run.tenant_id, client=client)
    elif name == "wecom.chats_changed":
        groups.sync_groups(engine, tenant_id=run.tenant_id, chat_ids=data["chat_ids"], client=client)


def per_brand(
    engine: Engine, tenant_ids: list[int], work: Callable[..., Any], what: str, api_base: str
) -> int:
    """Run `work(engine, tenant_id=, client=)` for each brand with its WeCom client; one brand's
    failure is logged and does not stop the others; answers how many brands succeeded."""
    done = 0
    for tenant_id in tenant_ids:
        try:
            with unit_of_work(engine, tenant_id=tenant_id) as session:
                client = codes.client_for(session, tenant_id=tenant_id, api_base=api_base)
            work(engine, tenant_id=tenant_id, client=client)
            done += 1
        except Exception:  # one brand's failure must not stop the others
            log.exception("%s of tenant %s failed", what, tenant_id)
    return done


def check_transfers(engine: Engine, *, api_base: str) -> int:
    """Ask WeCom how every brand's requested transfers went; answers how many brands were asked."""
    with unit_of_work(engine) as session:
        tenant_ids = list(
            session.scalars(select(Transfer.tenant_id).where(Transfer.status == "requested").distinct())
        )
    return per_brand(engine, tenant_ids, transfers.check_transfers, "checking WeCom transfers", api_base)


def sync_members(engine: Engine, *, api_base: str, only: set[int] | None = None) -> int:
    """Read every brand's WeCom member directory (brands with an app secret; `only` some of them);
    answers how many brands were synced. Callbacks keep it current in between."""
    with unit_of_work(engine) as session:
        query = select(WeComConfig.tenant_id).where(WeComConfig.secret_enc.is_not(None))
        if only is not None:
            query = query.where(WeComConfig.tenant_id.in_(only))
        tenant_ids = list(session.scalars(query.order_by(WeComConfig.tenant_id)))
    return per_brand(engine, tenant_ids, members.sync_members, "syncing the WeCom members", api_base)


@jobs.handler("wecom.check_transfers", label_zh="查询客户继承结果", label_en="Check WeCom transfers")
def check_transfers_job(engine: Engine, run: jobs.JobRun) -> None:
    check_transfers(engine, api_base=_api_base(run))


@jobs.handler("wecom.sync_members", label_zh="同步企业微信成员", label_en="Read the WeCom member directory")
def sync_members_job(engine: Engine, run: jobs.JobRun) -> None:
    sync_members(engine, api_base=_api_base(run))


# The callback route triggers it at once in the server; workers elsewhere see pending callbacks on
# every quiet poll (the watch); the schedule is the safety net.
jobs.watch("wecom.inbox", callbacks_wait)
jobs.schedule("wecom.inbox", 60)
jobs.schedule("wecom.check_transfers", CHECK_EVERY_S)
jobs.schedule("wecom.sync_members", CHECK_EVERY_S)
