"""HTTP routes of WeCom: the callback URL WeCom calls, and the tenant's settings."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Annotated

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse
from sqlalchemy import select

from siyu.access import Perm, Principal
from siyu.api.deps import DB, MAX_ID, PathId, allow
from siyu.api.routing import TransactionalRoute
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.db.session import set_session_tenant
from siyu.org import facade as org
from siyu.schemas import Day, Strict
from siyu.wecom import codes, groups, members, schemas, service, transfers
from siyu.wecom.client import WeComApiError
from siyu.wecom.models import ChannelCode, CustomerGroup, Transfer
from siyu.wecom.xml import MAX_XML_BYTES

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute, tags=["wecom 企业微信"])
SLUG = r"^[a-z0-9][a-z0-9-]{1,39}$"


class WeComSettings(Strict):
    corp_id: str
    token: str
    aes_key: str
    secret: str | None = None
    # WeCom members no staff member carries become guides; absent keeps the stored choice.
    create_staff_for_members: bool | None = None


class WeComStatus(Strict):
    corp_id: str
    create_staff_for_members: bool
    verified_at: dt.datetime | None
    updated_at: dt.datetime
    callback_path: str


@dataclass(frozen=True)
class Signed:
    """What every callback carries in its query string, and the tenant its URL names."""

    tenant_slug: str = Path(pattern=SLUG)
    msg_signature: str = Query(max_length=64)
    timestamp: str = Query(max_length=20)
    nonce: str = Query(max_length=64)


async def raw_body(request: Request) -> bytes:
    """The request body, capped for callbacks."""
    body = await request.body()
    if len(body) > MAX_XML_BYTES:
        raise DomainError("body_too_large", limit_bytes=MAX_XML_BYTES)
    return body


@router.get(
    "/wecom/{tenant_slug}/callback",
    response_class=PlainTextResponse,
    summary="WeCom URL check 企业微信回调验证",
)
def verify_callback_url(
    request: Request,
    db: DB,
    tenant_slug: str = Path(pattern=SLUG),
    msg_signature: str = Query(max_length=64),
    timestamp: str = Query(max_length=20),
    nonce: str = Query(max_length=64),
    echostr: str = Query(max_length=2048),
) -> PlainTextResponse:
    """Verify the signature, decrypt `echostr` and answer its plaintext exactly."""
    tenant_id, plain = service.verify_url(
        db,
        tenant_slug=tenant_slug,
        msg_signature=msg_signature,
        timestamp=timestamp,
        nonce=nonce,
        echostr=echostr,
    )
    set_session_tenant(db, tenant_id)
    return PlainTextResponse(plain)


@router.post(
    "/wecom/{tenant_slug}/callback", response_class=PlainTextResponse, summary="WeCom callback 企业微信回调"
)
def receive_callback(
    request: Request,
    db: DB,
    background: BackgroundTasks,
    signed: Signed = Depends(),
    body: bytes = Depends(raw_body),
) -> PlainTextResponse:
    """Verify, decrypt and store the callback, then acknowledge; it is processed right after, once."""
    tenant_id, _inbox_id, new = service.receive(db, body=body, **asdict(signed))
    set_session_tenant(db, tenant_id)
    if new:  # handed to the worker after the response, once the stored row is committed
        background.add_task(_apply_soon, request, tenant_id)
    return PlainTextResponse("success")


def _apply_soon(request: Request, tenant_id: int) -> None:
    """Nudge the in-process runner (or apply here when the server runs no job threads)."""
    runner = request.app.state.jobs
    if runner.running or request.app.state.settings.workers == "in-process":
        runner.trigger("wecom.inbox", tenant_id=tenant_id)


@router.put("/wecom/settings", response_model=WeComStatus, summary="WeCom settings 企业微信配置")
def put_settings(body: WeComSettings, db: DB, principal: Principal = allow(Perm.WECOM_MANAGE)) -> WeComStatus:
    """Store the corp id, callback token, EncodingAESKey and secret (sealed); WeCom must verify again."""
    row = service.configure(
        db,
        tenant_id=principal.tenant_id,
        corp_id=body.corp_id,
        token=body.token,
        aes_key=body.aes_key,
        secret=body.secret,
        actor=principal,
        create_staff_for_members=body.create_staff_for_members,
    )
    return WeComStatus(
        corp_id=row.corp_id,
        create_staff_for_members=row.create_staff_for_members,
        verified_at=row.verified_at,
        updated_at=row.updated_at,
        callback_path=f"/api/v1/wecom/{principal.tenant_slug}/callback",
    )


@router.get("/wecom/settings", response_model=WeComStatus, summary="WeCom status 企业微信状态")
def get_settings_status(db: DB, principal: Principal = allow(Perm.WECOM_MANAGE)) -> WeComStatus:
    """Whether WeCom is set up and when it last verified the callback URL (never the secrets)."""
    row = service.get_config(db, tenant_id=principal.tenant_id)
    return WeComStatus(
        corp_id=row.corp_id,
        create_staff_for_members=row.create_staff_for_members,
        verified_at=row.verified_at,
        updated_at=row.updated_at,
        callback_path=f"/api/v1/wecom/{principal.tenant_slug}/callback",
    )


# --- the member directory -----------------------------------------------------------------------
@router.post(
    "/wecom/members/sync", response_model=schemas.MemberSyncResult, summary="Sync WeCom members 同步企微成员"
)
def sync_members(
    db: DB, request: Request, principal: Principal = allow(Perm.WECOM_MANAGE)
) -> schemas.MemberSyncResult:
    """Read the member directory from WeCom, map members to staff (creating guides when the brand
    allows it) and attach the friends parked against them; 502 when WeCom refuses."""
    client = codes.client_for(
        db, tenant_id=principal.tenant_id, api_base=request.app.state.settings.wecom_api_base
    )
    db.commit()  # the sync calls WeCom first, then writes in a transaction of its own
    try:
        result = members.sync_members(
            request.app.state.engine, tenant_id=principal.tenant_id, client=client, actor=principal
        )
    except WeComApiError as exc:
        raise codes.wecom_failed(exc) from exc
    return schemas.MemberSyncResult(**result.as_dict())


@router.get("/wecom/members", response_model=list[schemas.MemberRead], summary="WeCom members 企微成员")
def list_members(
    db: DB,
    mapped: bool | None = Query(default=None, description="only members some staff member carries (or not)"),
    principal: Principal = allow(Perm.WECOM_MANAGE),
) -> list[schemas.MemberRead]:
    """The member directory by UserID: the staff member each maps to and friends parked against them."""
    rows = members.directory(db, tenant_id=principal.tenant_id)
    return [schemas.MemberRead(**r) for r in rows if mapped is None or (r["staff_id"] is not None) == mapped]


# --- channel codes -------------------------------------------------------------------------------
def code_read(code: ChannelCode) -> schemas.ChannelCodeRead:
    """A channel code as the API shows it."""
    return schemas.ChannelCodeRead.model_validate(code, from_attributes=True)


@router.post(
    "/wecom/channel-codes",
    response_model=schemas.ChannelCodeRead,
    status_code=201,
    summary="Create a channel code 新建渠道活码",
)
def create_channel_code(
    body: schemas.ChannelCodeCreate, db: DB, request: Request, principal: Principal = allow(Perm.WECOM_CODES)
) -> schemas.ChannelCodeRead:
    """Create the code in WeCom (contact me, with its own state) and here; a WeCom failure saves nothing (502)."""
    api_base = request.app.state.settings.wecom_api_base
    code = codes.create_code(
        db, tenant_id=principal.tenant_id, data=body, principal=principal, api_base=api_base
    )
    return code_read(code)


@router.put(
    "/wecom/channel-codes/{code_id}",
    response_model=schemas.ChannelCodeRead,
    summary="Change a channel code 修改渠道活码",
)
def update_channel_code(
    code_id: PathId,
    body: schemas.ChannelCodeCreate,
    db: DB,
    request: Request,
    principal: Principal = allow(Perm.WECOM_CODES),
) -> schemas.ChannelCodeRead:
    """Replace a code's settings (its `state` stays); WeCom is pointed at the guide on duty now, and a
    WeCom failure changes nothing (502)."""
    api_base = request.app.state.settings.wecom_api_base
    code = codes.update_code(
        db, tenant_id=principal.tenant_id, code_id=code_id, data=body, principal=principal, api_base=api_base
    )
    return code_read(code)


@router.get(
    "/wecom/channel-codes", response_model=list[schemas.ChannelCodeRead], summary="Channel codes 渠道活码"
)
def list_channel_codes(
    db: DB, principal: Principal = allow(Perm.WECOM_CODES)
) -> list[schemas.ChannelCodeRead]:
    """Every channel code, newest first."""
    return [code_read(c) for c in codes.list_codes(db, tenant_id=principal.tenant_id)]


@router.get(
    "/wecom/channel-codes/{code_id}/stats",
    response_model=schemas.CodeStats,
    summary="Code statistics 活码统计",
)
def channel_code_stats(
    code_id: PathId,
    db: DB,
    start: Annotated[Day | None, Query(alias="from")] = None,
    end: Annotated[Day | None, Query(alias="to")] = None,
    principal: Principal = allow(Perm.WECOM_CODES),
) -> schemas.CodeStats:
    """Adds, deletions and net new friends per local day (inclusive; default the last 30 days)."""
    if end is None:
        end = utcnow().astimezone(org.tenant_zone(db, tenant_id=principal.tenant_id)).date()
    if start is None:
        start = end - dt.timedelta(days=29)
    if end < start or (end - start).days > 366:
        raise DomainError("invalid_date", value=f"{start}..{end}")
    days = codes.code_stats(db, tenant_id=principal.tenant_id, code_id=code_id, start=start, end=end)
    return schemas.CodeStats(
        code_id=code_id,
        days=[schemas.CodeDay(day=d, adds=a, deletes=x, net=a - x) for d, a, x in days],
        adds=sum(a for _, a, _ in days),
        deletes=sum(x for _, _, x in days),
    )


# --- customer groups -----------------------------------------------------------------------------
def _today(db: DB, principal: Principal) -> dt.date:
    return utcnow().astimezone(org.tenant_zone(db, tenant_id=principal.tenant_id)).date()


@router.get("/wecom/groups", response_model=list[schemas.GroupRead], summary="Customer groups 客户群")
def list_groups(
    db: DB,
    dead_days: int = Query(default=groups.DEAD_DAYS, ge=1, le=365),
    min_messages: int = Query(default=groups.MIN_MESSAGES, ge=1, le=100_000),
    principal: Principal = allow(Perm.GROUPS_READ),
) -> list[schemas.GroupRead]:
    """Groups in the caller's scope with members, the last 30 days and the dead-group flag
    (no day of the last `dead_days` reached `min_messages` messages)."""
    store_ids = set(principal.store_ids) if principal.scope == "stores" else None
    rows = groups.summaries(
        db,
        tenant_id=principal.tenant_id,
        today=_today(db, principal),
        store_ids=store_ids,
        dead_days=dead_days,
        min_messages=min_messages,
    )
    if principal.scope == "own":
        rows = [r for r in rows if r.group.owner_staff_id == principal.actor_id]
    return [
        schemas.GroupRead(
            id=r.group.id,
            chat_id=r.group.chat_id,
            name=r.group.name,
            owner_staff_id=r.group.owner_staff_id,
            store_id=r.group.store_id,
            status=r.group.status,
            needs_sync=r.group.needs_sync,
            members=r.members,
            customers=r.customers,
            joins_30d=r.joins_30d,
            quits_30d=r.quits_30d,
            messages_30d=r.messages_30d,
            dead=r.dead,
            created_at=r.group.created_at,
        )
        for r in rows
    ]


@router.get(
    "/wecom/groups/{group_id}/trend",
    response_model=list[schemas.GroupDay],
    summary="Group activity 社群活跃趋势",
)
def group_trend(
    group_id: PathId, db: DB, principal: Principal = allow(Perm.GROUPS_READ)
) -> list[schemas.GroupDay]:
    """The group's last 30 local days: joins, quits, messages."""
    visible = {g.id for g in _visible_groups(db, principal)}
    if group_id not in visible:
        raise DomainError("not_found", object="group")
    days = groups.trend(db, tenant_id=principal.tenant_id, group_id=group_id, today=_today(db, principal))
    return [schemas.GroupDay(**d) for d in days]


def _visible_groups(db: DB, principal: Principal) -> list[CustomerGroup]:
    rows = groups.summaries(db, tenant_id=principal.tenant_id, today=_today(db, principal))
    if principal.scope == "stores":
        rows = [r for r in rows if r.group.store_id in principal.store_ids]
    elif principal.scope == "own":
        rows = [r for r in rows if r.group.owner_staff_id == principal.actor_id]
    return [r.group for r in rows]


@router.post(
    "/wecom/groups/activity", response_model=dict[str, int], summary="Group message counts 社群消息数"
)
def record_activity(
    body: schemas.GroupActivityBatch, db: DB, principal: Principal = allow(Perm.GROUPS_WRITE)
) -> dict[str, int]:
    """Message counts per group and day; a resent day replaces its count; unknown groups refuse the batch."""
    count = groups.record_messages(
        db, tenant_id=principal.tenant_id, days=[(d.chat_id, d.day, d.messages) for d in body.days]
    )
    return {"days": count}


# --- transfers -----------------------------------------------------------------------------------
@router.post(
    "/wecom/transfers", response_model=schemas.TransferResult, summary="Transfer customers 离职继承/在职转接"
)
def transfer(
    body: schemas.TransferCreate, db: DB, request: Request, principal: Principal = allow(Perm.WECOM_TRANSFER)
) -> schemas.TransferResult:
    """Hand a guide's customers to others by rule (same store, least loaded), at most twice per customer in 90 days."""
    plan = transfers.transfer_customers(
        db,
        tenant_id=principal.tenant_id,
        from_staff_id=body.from_staff_id,
        kind=body.kind,
        takeover_staff_id=body.takeover_staff_id,
        customer_ids=body.customer_ids,
        principal=principal,
        api_base=request.app.state.settings.wecom_api_base,
    )
    return schemas.TransferResult(
        batch=plan.batch,
        requested=plan.requested,
        refused=plan.refused,
        failed=plan.failed,
        by_takeover=plan.by_takeover,
    )


@router.post("/wecom/transfers/check", response_model=dict[str, int], summary="Check transfers 查询转接结果")
def check_transfers(
    db: DB, request: Request, principal: Principal = allow(Perm.WECOM_TRANSFER)
) -> dict[str, int]:
    """Ask WeCom how requested transfers went (done → completed; refused, full → failed); counts."""
    client = codes.client_for(
        db, tenant_id=principal.tenant_id, api_base=request.app.state.settings.wecom_api_base
    )
    db.commit()  # the check reads and writes in transactions of its own
    try:
        return transfers.check_transfers(
            request.app.state.engine, tenant_id=principal.tenant_id, client=client
        )
    except WeComApiError as exc:
        raise codes.wecom_failed(exc) from exc


@router.get("/wecom/transfers", response_model=list[schemas.TransferRead], summary="Transfers 转接记录")
def list_transfers(
    db: DB,
    batch: str | None = Query(default=None, max_length=32),
    customer_id: int | None = Query(default=None, ge=1, le=MAX_ID),
    principal: Principal = allow(Perm.WECOM_TRANSFER),
) -> list[schemas.TransferRead]:
    """Transfer records, newest first (one batch, or one customer's history)."""
    query = select(Transfer).where(Transfer.tenant_id == principal.tenant_id)
    if batch is not None:
        query = query.where(Transfer.batch == batch)
    if customer_id is not None:
        query = query.where(Transfer.customer_id == customer_id)
    rows = db.scalars(query.order_by(Transfer.id.desc()).limit(1000))
    return [schemas.TransferRead.model_validate(r, from_attributes=True) for r in rows]
