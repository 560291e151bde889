"""Channel QR codes (渠道活码): create them in WeCom, attribute and auto-tag the friends they bring,
rotate the guide they point at, send the welcome message, count adds and deletions per day.

A code is one WeCom "contact me" (`add_contact_way`) with its own `state`, pointed at one guide at a
time. After every add through it the guide is chosen again — round-robin over its guides, at random,
or by a weekly schedule — skipping guides who reached the code's daily cap; when nobody is eligible
the backup guide takes it. Calls to WeCom that follow an add (the welcome message within WeCom's
20 s, re-pointing the code) run after the transaction that applied the add has committed.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.db.base import table_of
from siyu.db.session import unit_of_work
from siyu.org import facade as org
from siyu.org.facade import Staff
from siyu.platform import audit
from siyu.platform.secrets import unseal
from siyu.tags import facade as tags
from siyu.wecom import media
from siyu.wecom.client import WeComApiError, WeComClient
from siyu.wecom.models import ChannelCode, ChannelCodeDay, WeComConfig
from siyu.wecom.schemas import ChannelCodeCreate

log = logging.getLogger("siyu.wecom")
DAYS = table_of(ChannelCodeDay)


def client_for(session: Session, *, tenant_id: int, api_base: str) -> WeComClient:
    """A WeCom API client with the brand's corp id and app secret."""
    config = session.scalar(select(WeComConfig).where(WeComConfig.tenant_id == tenant_id))
    if config is None:
        raise not_found("wecom_config")
    if not config.secret_enc:
        raise DomainError(
            "invalid_wecom_settings", reason="the app secret is needed to call WeCom / 需要应用 Secret"
        )
    return WeComClient(corp_id=config.corp_id, secret=unseal(config.secret_enc), base_url=api_base)


def wecom_failed(exc: Exception) -> DomainError:
    detail = f"{exc.errcode} {exc.errmsg}" if isinstance(exc, WeComApiError) else exc.__class__.__name__
    return DomainError("wecom_unavailable", reason=detail)


# --- choosing the guide ------------------------------------------------------------------------
def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def on_duty(schedule: list[dict[str, Any]], local: dt.datetime) -> list[int]:
    """Guides a schedule puts on duty at a local time (an overnight slot runs past midnight)."""
    now_min = local.hour * 60 + local.minute
    found: list[int] = []
    for slot in schedule:
        start, end = _minutes(slot["from"]), _minutes(slot["to"])
        yesterday = (local.weekday() - 1) % 7
        if start < end:
            hit = local.weekday() in slot["weekdays"] and start <= now_min < end
        else:  # overnight: from today's start to tomorrow's end
            hit = (local.weekday() in slot["weekdays"] and now_min >= start) or (
                yesterday in slot["weekdays"] and now_min < end
            )
        if hit:
            found += [g for g in slot["guide_ids"] if g not in found]
    return found


def pick_guide(
    code: ChannelCode, *, adds_today: dict[int, int], local_now: dt.datetime, rng: random.Random
) -> tuple[int | None, int]:
    """The guide the code should point at next and the new round-robin position (pure)."""

    def under_cap(guide_id: int) -> bool:
        return code.daily_cap is None or adds_today.get(guide_id, 0) < code.daily_cap

    if code.mode == "schedule":
        eligible = [g for g in on_duty(code.schedule, local_now) if under_cap(g)]
        return (eligible[0] if eligible else code.backup_guide_id), code.rotation
    guides = list(code.guide_ids)
    if code.mode == "random":
        eligible = [g for g in guides if under_cap(g)]
        return (rng.choice(eligible) if eligible else code.backup_guide_id), code.rotation
    for step in range(len(guides)):
        position = (code.rotation + step) % len(guides)
        if under_cap(guides[position]):
            return guides[position], position + 1
    return code.backup_guide_id, code.rotation


def _adds_today(session: Session, code: ChannelCode, day: dt.date) -> dict[int, int]:
    return {
        staff_id: adds
        for staff_id, adds in session.execute(
            select(DAYS.c.staff_id, DAYS.c.adds).where(DAYS.c.code_id == code.id, DAYS.c.day == day)
        ).all()
    }


# --- managing codes ----------------------------------------------------------------------------
def _check(session: Session, tenant_id: int, data: ChannelCodeCreate) -> tuple[dict[int, Staff], int | None]:
    for item in data.welcome_attachments:
        if item.media_id is not None:
            try:
                media.get_media(session, tenant_id=tenant_id, media_id=item.media_id)
            except DomainError:
                raise DomainError("unknown_reference", object="image", values=str(item.media_id)) from None
    staff_ids = set(data.guide_ids) | {g for slot in data.schedule for g in slot.guide_ids}
    if data.backup_guide_id:
        staff_ids.add(data.backup_guide_id)
    staff = {
        m.id: m
        for m in session.scalars(select(Staff).where(Staff.tenant_id == tenant_id, Staff.id.in_(staff_ids)))
    }
    missing = sorted(staff_ids - set(staff))
    if missing:
        raise DomainError("unknown_reference", object="guide", values=", ".join(map(str, missing)))
    no_wecom = sorted(m.username for m in staff.values() if not m.wecom_userid)
    if no_wecom:
        raise DomainError(
            "invalid_channel_code",
            reason_zh=f"这些员工没有企业微信 UserID：{', '.join(no_wecom)}",
            reason_en=f"these staff have no WeCom UserID: {', '.join(no_wecom)}",
        )
    for tag_id in data.tag_ids:
        try:
            tag, group = tags.get_tag(session, tenant_id=tenant_id, tag_id=tag_id, principal=None)
        except DomainError:
            raise DomainError("unknown_reference", object="tag", values=str(tag_id)) from None
        if group.kind in ("rule", "guide_private"):
            raise DomainError(
                "invalid_channel_code",
                reason_zh=f"标签“{tag.name_zh}”不能自动打（规则标签或个人标签）",
                reason_en=f"tag '{tag.name_en}' cannot be given automatically (a rule or private tag)",
            )
    store_id = None
    if data.store_code:
        stores = org.stores_by_code(session, tenant_id=tenant_id, codes={data.store_code})
        if data.store_code not in stores:
            raise DomainError("unknown_reference", object="store", values=data.store_code)
        store_id = stores[data.store_code].id
    return staff, store_id


def create_code(
    session: Session, *, tenant_id: int, data: ChannelCodeCreate, principal: Principal | None, api_base: str
) -> ChannelCode:
    """Create a channel code here and in WeCom (a WeCom failure leaves nothing behind)."""
    staff, store_id = _check(session, tenant_id, data)
    state = data.state or f"sc{secrets.token_hex(6)}"
    if session.scalar(
        select(ChannelCode.id).where(ChannelCode.tenant_id == tenant_id, ChannelCode.state == state)
    ):
        raise DomainError("duplicate", object="channel_code", value=state)
    now = utcnow()
    code = ChannelCode(
        tenant_id=tenant_id,
        name=data.name,
        state=state,
        source_label=data.source_label,
        store_id=store_id,
        mode=data.mode,
        guide_ids=list(data.guide_ids),
        schedule=[slot.model_dump(by_alias=True) for slot in data.schedule],
        backup_guide_id=data.backup_guide_id,
        daily_cap=data.daily_cap,
        tag_ids=list(data.tag_ids),
        welcome_text=data.welcome_text,
        welcome_attachments=[item.stored() for item in data.welcome_attachments],
        rotation=0,
        active=True,
        created_at=now,
        updated_at=now,
    )
    local = now.astimezone(org.tenant_zone(session, tenant_id=tenant_id))
    guide_id, code.rotation = pick_guide(code, adds_today={}, local_now=local, rng=random.Random())
    if guide_id is None:
        raise DomainError(
            "invalid_channel_code",
            reason_zh="当前没有可用的导购（请设置备用导购）",
            reason_en="no guide is available now (set a backup guide)",
        )
    client = client_for(session, tenant_id=tenant_id, api_base=api_base)
    try:
        way = client.add_contact_way(
            state=state, users=[staff[guide_id].wecom_userid or ""], remark=data.name
        )
    except Exception as exc:  # WeCom refused or cannot be reached: nothing is stored
        raise wecom_failed(exc) from exc
    code.config_id, code.qr_code, code.current_guide_id = way["config_id"], way.get("qr_code"), guide_id
    session.add(code)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="wecom.channel_code.create",
        object_type="channel_code",
        object_id=code.id,
        data={"state": state, "mode": data.mode},
    )
    return code


def update_code(
    session: Session,
    *,
    tenant_id: int,
    code_id: int,
    data: ChannelCodeCreate,
    principal: Principal | None,
    api_base: str,
) -> ChannelCode:
    """Change a code's guides, rotation, tags, greeting, name or store (its `state` stays: WeCom
    echoes it in every add). WeCom is told the guide it points at now; a WeCom failure changes
    nothing."""
    code = session.scalar(
        select(ChannelCode)
        .where(ChannelCode.tenant_id == tenant_id, ChannelCode.id == code_id)
        .with_for_update()
    )
    if code is None:
        raise not_found("channel_code")
    staff, store_id = _check(session, tenant_id, data)
    code.name, code.source_label, code.store_id, code.mode = data.name, data.source_label, store_id, data.mode
    code.guide_ids = list(data.guide_ids)
    code.schedule = [slot.model_dump(by_alias=True) for slot in data.schedule]
    code.backup_guide_id, code.daily_cap, code.tag_ids = (
        data.backup_guide_id,
        data.daily_cap,
        list(data.tag_ids),
    )
    code.welcome_text = data.welcome_text
    code.welcome_attachments = [item.stored() for item in data.welcome_attachments]
    local = utcnow().astimezone(org.tenant_zone(session, tenant_id=tenant_id))
    day = local.date()
    guide_id, code.rotation = pick_guide(
        code, adds_today=_adds_today(session, code, day), local_now=local, rng=random.Random()
    )
    if guide_id is None:
        raise DomainError(
            "invalid_channel_code",
            reason_zh="当前没有可用的导购（请设置备用导购）",
            reason_en="no guide is available now (set a backup guide)",
        )
    if code.config_id:
        client = client_for(session, tenant_id=tenant_id, api_base=api_base)
        try:
            client.update_contact_way(
                config_id=code.config_id, users=[staff[guide_id].wecom_userid or ""], remark=data.name
            )
        except Exception as exc:  # WeCom refused or cannot be reached: the transaction rolls back
            raise wecom_failed(exc) from exc
    code.current_guide_id, code.updated_at = guide_id, utcnow()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="wecom.channel_code.update",
        object_type="channel_code",
        object_id=code.id,
        data={"mode": data.mode, "guides": len(data.guide_ids)},
    )
    return code


def list_codes(session: Session, *, tenant_id: int) -> list[ChannelCode]:
    """Every channel code of the brand, newest first."""
    return list(
        session.scalars(
            select(ChannelCode).where(ChannelCode.tenant_id == tenant_id).order_by(ChannelCode.id.desc())
        )
    )


def get_code(session: Session, *, tenant_id: int, code_id: int) -> ChannelCode:
    """A code of the brand, or not found."""
    code = session.scalar(
        select(ChannelCode).where(ChannelCode.tenant_id == tenant_id, ChannelCode.id == code_id)
    )
    if code is None:
        raise not_found("channel_code")
    return code


def code_stats(
    session: Session, *, tenant_id: int, code_id: int, start: dt.date, end: dt.date
) -> list[tuple[dt.date, int, int]]:
    """(day, adds, deletions) for every day from start to end inclusive (zeros included)."""
    get_code(session, tenant_id=tenant_id, code_id=code_id)
    rows = {
        day: (adds, deletes)
        for day, adds, deletes in session.execute(
            select(DAYS.c.day, func.sum(DAYS.c.adds), func.sum(DAYS.c.deletes))
            .where(
                DAYS.c.tenant_id == tenant_id,
                DAYS.c.code_id == code_id,
                DAYS.c.day >= start,
                DAYS.c.day <= end,
            )
            .group_by(DAYS.c.day)
        ).all()
    }
    out = []
    day = start
    while day <= end:
        adds, deletes = rows.get(day, (0, 0))
        out.append((day, int(adds), int(deletes)))
        day += dt.timedelta(days=1)
    return out


# --- events through codes ----------------------------------------------------------------------
@dataclass(frozen=True)
class CodeAdd:
    """A friend added through a code (from an add_external_contact callback)."""

    state: str
    staff_id: int
    customer_id: int
    at: dt.datetime
    welcome_code: str | None


@dataclass(frozen=True)
class FollowUp:
    """A WeCom call to make once the transaction that caused it has committed."""

    kind: str  # "welcome" | "rotate"
    code_id: int
    welcome_code: str = ""
    text: str = ""


def _count(session: Session, tenant_id: int, code_id: int, day: dt.date, staff_id: int, column: str) -> None:
    values = {"adds": 0, "deletes": 0, column: 1}
    changed = session.execute(
        update(DAYS)
        .where(DAYS.c.code_id == code_id, DAYS.c.day == day, DAYS.c.staff_id == staff_id)
        .values({column: DAYS.c[column] + 1})
    )
    if changed.rowcount == 0:  # type: ignore[attr-defined]
        session.execute(
            DAYS.insert().values(tenant_id=tenant_id, code_id=code_id, day=day, staff_id=staff_id, **values)
        )


def apply_code_events(
    session: Session, *, tenant_id: int, adds: list[CodeAdd], deletes: list[tuple[str, int, dt.datetime]]
) -> tuple[list[FollowUp], dict[int, tuple[str, int]]]:
    """Count, attribute and auto-tag friends that came through codes; answers the WeCom calls to
    make after commit and, per customer, the (source label, store) they came through."""
    states = {a.state for a in adds} | {state for state, _, _ in deletes}
    if not states:
        return [], {}
    codes = {
        c.state: c
        for c in session.scalars(
            select(ChannelCode).where(ChannelCode.tenant_id == tenant_id, ChannelCode.state.in_(states))
        )
    }
    zone = org.tenant_zone(session, tenant_id=tenant_id)
    follow_ups: list[FollowUp] = []
    attributed: dict[int, tuple[str, int]] = {}
    items: dict[tuple[int, int], int] = {}  # (customer, tag) -> code id
    for add in adds:
        code = codes.get(add.state)
        if code is None:
            continue
        _count(session, tenant_id, code.id, add.at.astimezone(zone).date(), add.staff_id, "adds")
        attributed[add.customer_id] = (code.source_label, code.store_id or 0)
        for tag_id in code.tag_ids:
            items.setdefault((add.customer_id, tag_id), code.id)
        if (code.welcome_text or code.welcome_attachments) and add.welcome_code:
            follow_ups.append(
                FollowUp("welcome", code.id, welcome_code=add.welcome_code, text=code.welcome_text or "")
            )
        if code.active:
            follow_ups.append(FollowUp("rotate", code.id))
    for state, staff_id, at in deletes:
        code = codes.get(state)
        if code is not None:
            _count(session, tenant_id, code.id, at.astimezone(zone).date(), staff_id, "deletes")
    by_code: dict[int, list[tags.AssignmentItem]] = {}
    for (customer_id, tag_id), code_id in items.items():
        by_code.setdefault(code_id, []).append(tags.AssignmentItem(customer_id=customer_id, tag_id=tag_id))
    for code_id, tag_items in by_code.items():
        try:
            tags.change_assignments(
                session,
                tenant_id=tenant_id,
                batch=tags.AssignmentBatch(items=tag_items),
                principal=None,
                source=("wecom", code_id),
            )
        except DomainError as exc:  # a tag removed since, or an exclusive clash: the add still counts
            log.warning("auto-tags of channel code %s not applied: %s", code_id, exc)
    unique = {(f.kind, f.code_id, f.welcome_code): f for f in follow_ups}
    return list(unique.values()), attributed


def run_follow_ups(engine: Engine, *, tenant_id: int, follow_ups: list[FollowUp], api_base: str) -> None:
    """Send welcome messages and re-point codes (after the add has committed); failures are logged."""
    if not follow_ups:
        return
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        try:
            client = client_for(session, tenant_id=tenant_id, api_base=api_base)
        except DomainError as exc:
            log.warning("WeCom calls after callbacks skipped: %s", exc)
            return
    for follow in follow_ups:
        try:
            if follow.kind == "welcome":
                send_welcome(engine, tenant_id=tenant_id, follow=follow, client=client)
            else:
                rotate(engine, tenant_id=tenant_id, code_id=follow.code_id, client=client)
        except Exception:  # one failed call must not stop the others
            log.exception("WeCom %s for channel code %s failed", follow.kind, follow.code_id)


def send_welcome(engine: Engine, *, tenant_id: int, follow: FollowUp, client: WeComClient) -> None:
    """The code's welcome message: its text and attachments (images uploaded to WeCom as needed)."""
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        stored = session.scalar(
            select(ChannelCode.welcome_attachments).where(
                ChannelCode.tenant_id == tenant_id, ChannelCode.id == follow.code_id
            )
        )
        attachments = media.attachments_for(session, client, tenant_id=tenant_id, stored=list(stored or []))
    client.send_welcome_msg(welcome_code=follow.welcome_code, text=follow.text, attachments=attachments)


def rotate(engine: Engine, *, tenant_id: int, code_id: int, client: WeComClient) -> int | None:
    """Choose the code's guide again and point the code at them in WeCom when it changes."""
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        code = session.scalar(
            select(ChannelCode)
            .where(ChannelCode.tenant_id == tenant_id, ChannelCode.id == code_id)
            .with_for_update()
        )
        if code is None or not code.config_id:
            return None
        local = utcnow().astimezone(org.tenant_zone(session, tenant_id=tenant_id))
        guide_id, rotation = pick_guide(
            code, adds_today=_adds_today(session, code, local.date()), local_now=local, rng=random.Random()
        )
        code.rotation = rotation
        if guide_id is None or guide_id == code.current_guide_id:
            return code.current_guide_id
        userid = session.scalar(
            select(Staff.wecom_userid).where(Staff.tenant_id == tenant_id, Staff.id == guide_id)
        )
        if not userid:
            return code.current_guide_id
        client.update_contact_way(config_id=code.config_id, users=[userid])
        code.current_guide_id, code.updated_at = guide_id, utcnow()
        return guide_id
