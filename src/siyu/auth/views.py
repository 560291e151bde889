"""HTTP routes of authentication: sign-in/out, who am I, API keys."""

from __future__ import annotations

import datetime as dt

from fastapi import APIRouter, Request
from pydantic import Field

from siyu.access import Perm, Principal
from siyu.api.deps import DB, CurrentPrincipal, PathId, allow, bearer_token
from siyu.api.routing import TransactionalRoute, sign_in_admission
from siyu.auth import service
from siyu.org.models import Tenant
from siyu.org.schemas import TenantRead
from siyu.platform.limits import get_limiter
from siyu.schemas import Strict
from siyu.settings import get_settings

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute, tags=["auth 认证"])


class SignIn(Strict):
    tenant: str = Field(min_length=1, max_length=40, description="tenant slug")
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=128)


class StaffBrief(Strict):
    id: int
    name: str
    username: str
    role: str


class SignInResult(Strict):
    token: str
    token_type: str = "bearer"
    expires_at: dt.datetime
    staff: StaffBrief
    tenant: TenantRead


class Me(Strict):
    actor_type: str
    actor_id: int
    role: str
    scope: str
    store_ids: list[int]
    permissions: list[str]
    tenant: TenantRead


class ApiKeyCreate(Strict):
    name: str = Field(min_length=1, max_length=80)


class ApiKeyRead(Strict):
    id: int
    name: str
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


class ApiKeyCreated(ApiKeyRead):
    key: str = Field(description="shown once; use as `Authorization: Bearer <key>`")


@router.post("/auth/sign-in", response_model=SignInResult, summary="Sign in 登录")
@sign_in_admission
def sign_in(body: SignIn, db: DB) -> SignInResult:
    """Exchange tenant + username + password for a bearer token."""
    settings = get_settings()
    token, row, staff = service.sign_in(
        db,
        tenant_slug=body.tenant,
        username=body.username,
        password=body.password,
        ttl_hours=settings.token_ttl_hours,
        limiter=get_limiter(settings.redis_url),
        max_failures=settings.sign_in_attempts,
        window_s=settings.sign_in_window_s,
    )
    tenant = db.get(Tenant, staff.tenant_id)
    return SignInResult(
        token=token,
        expires_at=row.expires_at,
        staff=StaffBrief.model_validate(staff),
        tenant=TenantRead.model_validate(tenant),
    )


@router.post("/auth/sign-out", status_code=204, summary="Sign out 退出登录")
def sign_out(request: Request, principal: CurrentPrincipal, db: DB) -> None:
    """Revoke the token of this request."""
    token = bearer_token(request)
    if token:
        service.sign_out(db, principal=principal, token=token)


@router.get("/me", response_model=Me, summary="Who am I 当前身份")
def me(db: DB, principal: Principal = allow(Perm.TENANT_READ)) -> Me:
    """The caller's role, scope and tenant."""
    tenant = db.get(Tenant, principal.tenant_id)
    return Me(
        actor_type=principal.actor_type,
        actor_id=principal.actor_id,
        role=principal.role,
        scope=principal.scope,
        store_ids=sorted(principal.store_ids),
        permissions=sorted(p.value for p in principal.permissions),
        tenant=TenantRead.model_validate(tenant),
    )


@router.get("/api-keys", response_model=list[ApiKeyRead], summary="List API keys 密钥列表")
def list_keys(db: DB, principal: Principal = allow(Perm.API_KEYS)) -> list[ApiKeyRead]:
    """API keys of the tenant (never the secrets)."""
    return [ApiKeyRead.model_validate(k) for k in service.list_api_keys(db, tenant_id=principal.tenant_id)]


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, summary="Create an API key 新建密钥")
def create_key(body: ApiKeyCreate, db: DB, principal: Principal = allow(Perm.API_KEYS)) -> ApiKeyCreated:
    """Create a key for an integration; the secret is in this answer only."""
    key, plaintext = service.create_api_key(
        db, tenant_id=principal.tenant_id, name=body.name, actor=principal
    )
    return ApiKeyCreated(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        created_at=key.created_at,
        revoked_at=key.revoked_at,
        key=plaintext,
    )


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyRead, summary="Revoke an API key 吊销密钥")
def revoke_key(key_id: PathId, db: DB, principal: Principal = allow(Perm.API_KEYS)) -> ApiKeyRead:
    """Revoke a key at once."""
    return ApiKeyRead.model_validate(
        service.revoke_api_key(db, tenant_id=principal.tenant_id, key_id=key_id, actor=principal)
    )
