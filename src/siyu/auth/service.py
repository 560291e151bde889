"""Use cases of authentication: sign-in, token and API-key resolution, key management."""

from __future__ import annotations

from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from siyu.auth.models import ApiKey, AuthToken
from siyu.auth.permissions import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.core.ids import new_token, sha256_hex
from siyu.db.session import cross_tenant_access
from siyu.org.models import Staff, StaffStore, Tenant
from siyu.platform import audit
from siyu.platform.limits import PASSWORD_CHECKS, FailureLimiter

_hasher = PasswordHasher()
# A hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("siyu-no-such-user")
STAFF_TOKEN_PREFIX = "st"
API_KEY_PREFIX = "sk"


MIN_PASSWORD_LENGTH = 10
# The passwords people pick first (as published in leaked-password rankings), lowercased; a
# password equal to one of these, or made of one repeated character, is refused at any length.
COMMON_PASSWORDS = frozenset(
    """
    password password1 password12 password123 password1234 passw0rd p@ssw0rd p@ssword qwerty qwerty123
    qwertyuiop qwerty1234 1q2w3e4r 1q2w3e4r5t 1qaz2wsx 1qaz2wsx3edc zaq12wsx asdfghjkl asdfasdfasdf
    abc123 abc12345 abcd1234 abcdefg abcdefgh abcdefghij a1b2c3d4 a1b2c3d4e5 iloveyou iloveyou1
    woaini woaini1314 woaini520 5201314 520131400 1314520 1234567890 0123456789 9876543210 12345678910
    1234567891 1234512345 1122334455 1111122222 123123123 123123123123 123456123456 123321123
    123456789 12345678 1234567 123456 qazwsxedc qazwsxedcrfv admin admin123 admin1234 administrator
    root123456 letmein letmein123 welcome welcome123 welcome1 changeme changeme123 sunshine
    princess football baseball dragon monkey shadow master master123 superman trustno1 starwars
    computer internet whatever freedom michael jennifer killer hello123 helloworld zxcvbnm
    zxcvbnm123 zxcvbnmasd 147258369 159357456 789456123 741852963 987654321 a123456789 aa123456789
    a12345678 qq123456789 wang123456 zhang123456 li123456789 siyu123456 siyu2026 siyupassword
    """.split()  # noqa: SIM905 - a word list reads better as text
)


def password_problem(password: str) -> tuple[str, str] | None:
    """Why a new password is too weak (zh-CN, English), or None when it is acceptable."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return (
            f"密码至少 {MIN_PASSWORD_LENGTH} 位",
            f"a password needs at least {MIN_PASSWORD_LENGTH} characters",
        )
    if not password.strip() or len(set(password)) == 1:
        return "密码不能全是空格或同一个字符", "a password cannot be only spaces or one repeated character"
    if password.lower() in COMMON_PASSWORDS:
        return "这是最常见的密码之一，请换一个", "this is one of the most common passwords; choose another"
    return None


def hash_password(password: str) -> str:
    """Argon2id hash of a password strong enough to keep (see `password_problem`)."""
    problem = password_problem(password)
    if problem is not None:
        raise DomainError("weak_password", reason_zh=problem[0], reason_en=problem[1])
    return _hasher.hash(password)


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


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password against its hash (constant work when the hash is absent)."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


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
    attempts = limiter.hit(limit_key, window_s)
    if attempts > max_failures:
        _, retry_after = limiter.count(limit_key)
        raise DomainError("too_many_attempts", retry_after_s=max(retry_after, 1))
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
            key = session.scalar(
                select(ApiKey).where(ApiKey.key_sha256 == digest, ApiKey.revoked_at.is_(None))
            )
            if key is None:
                raise DomainError("unauthenticated")
            tenant = session.get(Tenant, key.tenant_id)
            assert tenant is not None
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
