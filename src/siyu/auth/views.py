"""HTTP routes of authentication: sign-in/out, who am I, API keys."""

from __future__ import annotations

from fastapi import APIRouter, Request

from siyu.access import Perm, Principal
from siyu.api.deps import DB, CurrentPrincipal, PathId, allow, bearer_token, install_bearer_resolver
from siyu.api.routing import TransactionalRoute, sign_in_admission
from siyu.auth import service
from siyu.auth.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, Me, SignIn, SignInResult, StaffBrief
from siyu.org.facade import Tenant, TenantRead
from siyu.platform.limits import get_limiter
from siyu.settings import get_settings

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute, tags=["auth 认证"])


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


# Every authenticated route resolves its bearer token through auth (siyu.api imports no domain).
install_bearer_resolver(service.resolve_bearer)
