"""The console's WeCom settings page (owner): credentials, verification status, the callback URL."""

from __future__ import annotations

from typing import Any

from fastapi import Form, Request
from fastapi.responses import HTMLResponse

from siyu.access import Perm, Principal
from siyu.api.routing import read_only
from siyu.console.rendering import console_router, forbidden, lang_of, page_principal, render
from siyu.core.errors import DomainError
from siyu.org import facade as org
from siyu.wecom import service as wecom_service

router = console_router()


# --- WeCom settings ---------------------------------------------------------------------------
@router.get("/settings/wecom", response_class=HTMLResponse)
@read_only
def wecom_settings_page(request: Request) -> HTMLResponse:
    """The brand's WeCom settings: corp id, the callback URL to give WeCom, verification status."""
    principal = page_principal(request)
    if not principal.can(Perm.WECOM_MANAGE):
        return forbidden(request, Perm.WECOM_MANAGE)
    try:
        config = wecom_service.get_config(request.state.db, tenant_id=principal.tenant_id)
    except DomainError:
        config = None
    return _wecom_page(request, principal, config, error=None, saved=False)


@router.post("/settings/wecom", response_class=HTMLResponse)
def wecom_settings_save(
    request: Request,
    corp_id: str = Form(..., max_length=64),
    token: str = Form(..., max_length=64),
    aes_key: str = Form(..., max_length=64),
    secret: str = Form("", max_length=200),
) -> HTMLResponse:
    """Store new settings (secrets sealed); WeCom then has to verify the URL again."""
    principal = page_principal(request)
    if not principal.can(Perm.WECOM_MANAGE):
        return forbidden(request, Perm.WECOM_MANAGE)
    try:
        config = wecom_service.configure(
            request.state.db,
            tenant_id=principal.tenant_id,
            corp_id=corp_id.strip(),
            token=token.strip(),
            aes_key=aes_key.strip(),
            secret=secret.strip() or None,
            actor=principal,
        )
    except DomainError as exc:
        message = exc.message("en" if lang_of(request) == "en" else "zh-CN")
        return _wecom_page(request, principal, None, error=message, saved=False, status=422)
    return _wecom_page(request, principal, config, error=None, saved=True)


def _wecom_page(
    request: Request, principal: Principal, config: Any, *, error: str | None, saved: bool, status: int = 200
) -> HTMLResponse:
    tz = org.tenant_zone(request.state.db, tenant_id=principal.tenant_id)
    callback_url = f"{request.base_url}api/v1/wecom/{principal.tenant_slug}/callback"
    return render(
        request,
        "wecom_settings.html",
        status=status,
        config=config,
        error=error,
        saved=saved,
        tz=tz,
        callback_url=callback_url,
    )
