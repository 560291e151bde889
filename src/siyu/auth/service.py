"""Use cases of authentication: sign-in, token and API-key resolution, key management."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.access.passwords import verify_password
from siyu.auth.models import ApiKey, AuthToken
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.core.ids import new_token, sha256_hex
from siyu.db.session import cross_tenant_access
from siyu.org.facade import Staff, StaffStore, Tenant
from siyu.platform import audit
from siyu.platform.limits import PASSWORD_CHECKS, FailureLimiter, spend

STAFF_TOKEN_PREFIX = "st"
API_KEY_PREFIX = "sk"


def revoke_staff_tokens(session: Session, *, tenant_id: int, staff_id: int) -> int:
    """Revoke every live sign-in token (API and console sessions) of one staff member."""
    result = session.execute(
        update(AuthToken)
        .where(
            AuthToken.tenant_id == tenant_id, AuthToken.staff_id == staff_id, AuthToken.revoked_at.is_(None)
        )
        .values(revoked_at=utcnow())
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def sign_in(
    session: Session,
    *,
    tenant_slug: str,
    username: str,
    password: str,
    ttl_hours: int,
    limiter: FailureLimiter,
    max_failures: int,
    window_s: int,
) -> tuple[str, AuthToken, Staff]:
    """Verify a password and issue a bearer token; attempts are rate-limited per tenant+username.

    The attempt is counted (one atomic increment) before any hashing, so a burst of concurrent
    guesses checks at most `max_failures` passwords; a success resets the count. The password is
    checked with no database connection held (the read transaction ends first), through the
    PASSWORD_CHECKS bulkhead, so a flood of sign-ins cannot starve other requests of connections.
    """
    limit_key = f"sign-in:{tenant_slug}:{username.lower()}"
    spend(limiter, limit_key, most=max_failures, window_s=window_s)
    with cross_tenant_access(session):
        tenant = session.scalar(select(Tenant).where(Tenant.slug == tenant_slug))
        staff = (
            session.scalar(
                select(Staff).where(
                    Staff.tenant_id == tenant.id, Staff.username == username, Staff.status == "active"
                )
            )
            if tenant
            else None
        )
    password_hash = staff.password_hash if staff else None
    session.rollback()  # end the read: the connection goes back to the pool while argon2 works
    with PASSWORD_CHECKS.slot():
        verified = verify_password(password_hash, password)
    if not verified or staff is None:
        raise DomainError("invalid_credentials")
    limiter.reset(limit_key)
    token = new_token(STAFF_TOKEN_PREFIX)
    row = AuthToken(
        tenant_id=staff.tenant_id,
        staff_id=staff.id,
        token_sha256=sha256_hex(token),
        expires_at=utcnow() + timedelta(hours=ttl_hours),
    )
    session.add(row)
    session.flush()
    return token, row, staff


def sign_out(session: Session, *, principal: Principal, token: str) -> None:
    """Revoke the token used for this request."""
    session.execute(
        update(AuthToken)
        .where(AuthToken.tenant_id == principal.tenant_id, AuthToken.token_sha256 == sha256_hex(token))
        .values(revoked_at=utcnow())
    )


def resolve_bearer(session: Session, token: str) -> Principal:
    """Turn a bearer token (staff token or API key) into a Principal, or raise unauthenticated."""
    digest = sha256_hex(token)
    now = utcnow()
    with cross_tenant_access(session):
        if token.startswith(API_KEY_PREFIX + "_"):
            found = session.execute(
                select(ApiKey, Tenant)
                .join(Tenant, Tenant.id == ApiKey.tenant_id)
                .where(ApiKey.key_sha256 == digest, ApiKey.revoked_at.is_(None))
            ).first()
            if found is None:
                raise DomainError("unauthenticated")
            key, tenant = found
            return Principal(
                tenant_id=tenant.id,
                tenant_slug=tenant.slug,
                tenant_timezone=tenant.timezone,
                actor_type="api_key",
                actor_id=key.id,
                role="integration",
            )
        row = session.execute(
            select(AuthToken, Staff, Tenant)
            .join(Staff, Staff.id == AuthToken.staff_id)
            .join(Tenant, Tenant.id == AuthToken.tenant_id)
            .where(AuthToken.token_sha256 == digest, AuthToken.revoked_at.is_(None))
        ).first()
        if row is None:
            raise DomainError("unauthenticated")
        auth, staff, tenant = row
        if auth.expires_at <= now or staff.status != "active":
            raise DomainError("unauthenticated")
        store_ids = frozenset(
            session.scalars(
                select(StaffStore.store_id).where(
                    StaffStore.tenant_id == tenant.id, StaffStore.staff_id == staff.id
                )
            )
        )
    return Principal(
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        tenant_timezone=tenant.timezone,
        actor_type="staff",
        actor_id=staff.id,
        role=staff.role,
        store_ids=store_ids,
    )


def create_api_key(
    session: Session, *, tenant_id: int, name: str, actor: Principal | None
) -> tuple[ApiKey, str]:
    """Create an API key; the plaintext is returned once and never stored."""
    plaintext = new_token(API_KEY_PREFIX)
    key = ApiKey(tenant_id=tenant_id, name=name, prefix=plaintext[:10], key_sha256=sha256_hex(plaintext))
    session.add(key)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="api_key.create",
        object_type="api_key",
        object_id=key.id,
        data={"name": name},
    )
    return key, plaintext


def list_api_keys(session: Session, *, tenant_id: int) -> list[ApiKey]:
    """All API keys of a tenant, newest first."""
    return list(
        session.scalars(select(ApiKey).where(ApiKey.tenant_id == tenant_id).order_by(ApiKey.id.desc()))
    )


def api_key_names(session: Session, *, tenant_id: int, ids: set[int]) -> dict[int, tuple[str, str]]:
    """Each key's name and prefix (as the audit log shows who acted), revoked keys included."""
    if not ids:
        return {}
    rows = session.execute(
        select(ApiKey.id, ApiKey.name, ApiKey.prefix).where(ApiKey.tenant_id == tenant_id, ApiKey.id.in_(ids))
    )
    return {key_id: (name, prefix) for key_id, name, prefix in rows}


def revoke_api_key(session: Session, *, tenant_id: int, key_id: int, actor: Principal) -> ApiKey:
    """Revoke a key; revoking twice is harmless."""
    key = session.scalar(select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.id == key_id))
    if key is None:
        raise not_found("api_key")
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        audit.record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="api_key.revoke",
            object_type="api_key",
            object_id=key.id,
        )
    return key


def staff_principal(session: Session, *, tenant_id: int, staff_id: int) -> Principal | None:
    """The principal of an active staff member (background work done on their behalf, e.g. an
    import they started), or None when they left or never existed."""
    staff = session.scalar(select(Staff).where(Staff.tenant_id == tenant_id, Staff.id == staff_id))
    tenant = session.get(Tenant, tenant_id)
    if staff is None or tenant is None or staff.status != "active":
        return None
    store_ids = frozenset(
        session.scalars(
            select(StaffStore.store_id).where(
                StaffStore.tenant_id == tenant_id, StaffStore.staff_id == staff.id
            )
        )
    )
    return Principal(
        tenant_id=tenant.id,
        tenant_slug=tenant.slug,
        tenant_timezone=tenant.timezone,
        actor_type="staff",
        actor_id=staff.id,
        role=staff.role,
        store_ids=store_ids,
    )
