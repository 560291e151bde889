"""HTTP routes of payments: the brand's WeChat Pay settings, the notification URL WeChat Pay calls,
and a payment's status."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from siyu.access import Perm, Principal
from siyu.api.deps import DB, allow
from siyu.api.routing import TransactionalRoute
from siyu.core.errors import DomainError
from siyu.db.session import set_session_tenant
from siyu.org.facade import tenant_id_by_slug
from siyu.payments import service
from siyu.payments.models import WeChatPayConfig
from siyu.schemas import Strict

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute, tags=["payments 支付"])
SLUG = r"^[a-z0-9][a-z0-9-]{1,39}$"
MAX_NOTIFICATION_BYTES = 64 * 1024


class WeChatPaySettings(Strict):
    """A merchant's WeChat Pay API v3 credentials (keys are stored sealed and never shown again)."""

    mchid: str = Field(pattern=r"^[0-9]{6,32}$")
    appid: str = Field(pattern=r"^wx[0-9a-zA-Z]{6,30}$", description="the mini-program's or account's AppID")
    merchant_serial: str = Field(pattern=r"^[0-9A-Fa-f]{8,64}$", description="the API certificate's serial")
    private_key_pem: str = Field(min_length=100, max_length=10_000)
    apiv3_key: str = Field(min_length=32, max_length=32)
    platform_key_id: str = Field(min_length=4, max_length=80, pattern=r"^[A-Za-z0-9_]+$")
    platform_public_key_pem: str = Field(min_length=100, max_length=10_000)
    notify_base_url: str = Field(pattern=r"^https?://[^\s/]+(/[^\s]*)?$", max_length=200)
    api_base: str | None = Field(default=None, pattern=r"^https?://[^\s]+$", max_length=200)


class WeChatPayStatus(BaseModel):
    mchid: str
    appid: str
    platform_key_id: str
    notify_url: str
    api_base: str | None
    updated_at: dt.datetime


@router.put(
    "/payments/wechat-pay/settings",
    response_model=WeChatPayStatus,
    summary="WeChat Pay settings 微信支付配置",
)
def put_settings(
    body: WeChatPaySettings, db: DB, principal: Principal = allow(Perm.TENANT_WRITE)
) -> WeChatPayStatus:
    """Store the merchant's credentials (keys checked and sealed); audited without the secrets."""
    row = service.save_config(db, tenant_id=principal.tenant_id, actor=principal, **body.model_dump())
    return _status(row, principal.tenant_slug)


@router.get(
    "/payments/wechat-pay/settings",
    response_model=WeChatPayStatus | None,
    summary="WeChat Pay status 微信支付状态",
)
def get_settings(db: DB, principal: Principal = allow(Perm.TENANT_READ)) -> WeChatPayStatus | None:
    """The merchant set up (null: none); the notification URL to enter in the merchant platform."""
    row = service.config(db, tenant_id=principal.tenant_id)
    return None if row is None else _status(row, principal.tenant_slug)


def _status(row: WeChatPayConfig, slug: str) -> WeChatPayStatus:
    return WeChatPayStatus(
        mchid=row.mchid,
        appid=row.appid,
        platform_key_id=row.platform_key_id,
        notify_url=service.notify_url(row, slug),
        api_base=row.api_base,
        updated_at=row.updated_at,
    )


async def notification_body(request: Request) -> bytes:
    """The request body, capped for notifications."""
    body = await request.body()
    if len(body) > MAX_NOTIFICATION_BYTES:
        raise DomainError("body_too_large", limit_bytes=MAX_NOTIFICATION_BYTES)
    return body


@router.post(
    "/payments/wechat-pay/{tenant_slug}/notify",
    summary="WeChat Pay notification 微信支付结果通知",
    response_class=Response,
    responses={
        204: {"description": "received (applied, or already applied)"},
        401: {"description": "refused"},
    },
)
def notify(
    request: Request,
    db: DB,
    tenant_slug: str = Path(pattern=SLUG),
    body: bytes = Depends(notification_body),
) -> Response:
    """Verify the `Wechatpay-Signature` (platform key by `Wechatpay-Serial`), refuse a timestamp more
    than five minutes away, decrypt the resource with the APIv3 key and apply the payment once per
    `transaction_id`. Success is an empty 204; a refusal is `{"code": "FAIL", "message": …}` with a
    4xx, and WeChat Pay retries."""
    tenant_id = tenant_id_by_slug(db, slug=tenant_slug)
    if tenant_id is None:
        return JSONResponse({"code": "FAIL", "message": "商户不存在 / no such merchant"}, status_code=404)
    set_session_tenant(db, tenant_id)
    accepted, reason, logged = service.handle_notification(
        db, tenant_id=tenant_id, headers=dict(request.headers), body=body
    )
    if accepted:
        return Response(status_code=204)
    # The refusal changes nothing, but it is kept in the notification log.
    db.expunge(logged)
    db.rollback()
    service.log_refusal(request.app.state.engine, tenant_id=tenant_id, logged=logged)
    return JSONResponse({"code": "FAIL", "message": f"验签或解密失败 / refused: {reason}"}, status_code=401)
