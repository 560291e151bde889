"""HTTP routes of WeCom: the callback URL WeCom calls, and the tenant's settings."""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass

from fastapi import APIRouter, BackgroundTasks, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse

from siyu.api.deps import DB, PathId, allow
from siyu.api.routing import TransactionalRoute
from siyu.auth.permissions import Perm, Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.db.session import set_session_tenant
from siyu.org import facade as org
from siyu.org.schemas import Strict
from siyu.wecom import codes, schemas, service
from siyu.wecom.models import ChannelCode
from siyu.wecom.xml import MAX_XML_BYTES

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute, tags=["wecom 企业微信"])
SLUG = r"^[a-z0-9][a-z0-9-]{1,39}$"


class WeComSettings(Strict):
    corp_id: str
    token: str
    aes_key: str
    secret: str | None = None


class WeComStatus(Strict):
    corp_id: str
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
    tenant_id, inbox_id, new = service.receive(db, body=body, **asdict(signed))
    set_session_tenant(db, tenant_id)
    if new:  # handed to the worker after the response, once the stored row is committed
        background.add_task(request.app.state.wecom_worker.submit, tenant_id, inbox_id)
    return PlainTextResponse("success")


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
    )
    return WeComStatus(
        corp_id=row.corp_id,
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
        verified_at=row.verified_at,
        updated_at=row.updated_at,
        callback_path=f"/api/v1/wecom/{principal.tenant_slug}/callback",
    )


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
    start: dt.date | None = Query(default=None, alias="from"),
    end: dt.date | None = Query(default=None, alias="to"),
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
