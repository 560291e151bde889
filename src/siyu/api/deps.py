"""Dependencies: the request's session, its principal, and permission checks declared per route.

Dependencies that do no I/O are `async def` so FastAPI runs them on the event loop instead of
hopping to the thread pool; only authentication (a database read) and the endpoints run there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Path, Query, Request
from sqlalchemy.orm import Session

from siyu.access import Perm, Principal
from siyu.core.errors import DomainError
from siyu.core.inputs import MAX_ID as MAX_ID  # re-exported: the console checks its ids with it
from siyu.core.inputs import MAX_VERSION
from siyu.core.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from siyu.db.session import set_session_tenant
from siyu.schemas import Day, Instant

BearerResolver = Callable[[Session, str], Principal]
_resolvers: list[BearerResolver] = []


def install_bearer_resolver(resolver: BearerResolver) -> None:
    """The sign-in domain (`siyu.auth`) plugs in how a bearer token becomes a principal, so this
    HTTP plumbing imports no domain; the last one installed wins."""
    _resolvers[:] = [resolver]


def resolve_bearer(session: Session, token: str) -> Principal:
    """The principal a token stands for (the installed resolver raises unauthenticated)."""
    if not _resolvers:
        raise RuntimeError("no bearer resolver installed: import siyu.auth.views first")
    return _resolvers[0](session, token)


async def get_session(request: Request) -> Session:
    """The session of this request's transaction (opened by TransactionalRoute)."""
    session: Session = request.state.db
    return session


def bearer_token(request: Request) -> str | None:
    """The bearer token from the Authorization header, if any."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def authenticate(request: Request) -> Principal:
    """Resolve (once per request) who is calling."""
    cached: Principal | None = getattr(request.state, "principal", None)
    if cached is not None:
        return cached
    token = bearer_token(request)
    if token is None:
        raise DomainError("unauthenticated")
    principal = resolve_bearer(request.state.db, token)
    request.state.principal = principal
    set_session_tenant(request.state.db, principal.tenant_id)
    return principal


# Ids are BIGINT and versions INTEGER: larger numbers are refused at the edge, not by the driver.
PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
PathVersion = Annotated[int, Path(ge=1, le=MAX_VERSION)]
QueryId = Annotated[int | None, Query(ge=1, le=MAX_ID)]
# A time filter in a query string: ISO 8601 with its zone (2026-11-11T00:00:00+08:00), in 2000-2100.
AwareQuery = Annotated[Instant | None, Query(description="ISO 8601 with a zone, 2000-01-01 … 2100-12-31")]
# A local date in a query string: YYYY-MM-DD in 2000-2100.
DATE_DESCRIPTION = "local date in the tenant's time zone, YYYY-MM-DD (2000-01-01 … 2100-12-31)"
DateQuery = Annotated[Day, Query(description=DATE_DESCRIPTION, examples=["2026-11-11"])]
CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
DB = Annotated[Session, Depends(get_session)]


@dataclass(frozen=True)
class Require:
    """A route dependency that declares and checks one permission (the matrix test reads it)."""

    permission: Perm
    also: tuple[Perm, ...] = ()  # further permissions the route needs (published as x-permission-also)

    async def __call__(self, principal: CurrentPrincipal) -> Principal:
        """Allow the call when the role holds the permission (and the others), else 403."""
        for permission in (self.permission, *self.also):
            if not principal.can(permission):
                raise DomainError("forbidden", permission=permission.value)
        return principal


def allow(permission: Perm, *also: Perm) -> Principal:
    """Annotated type helper: `principal: Principal = allow(Perm.X)` (or `allow(Perm.X, Perm.Y)`:
    both needed)."""
    return Depends(Require(permission, also))  # type: ignore[no-any-return]


async def page_limit(limit: int = DEFAULT_PAGE_SIZE) -> int:
    """A page size within 1..MAX_PAGE_SIZE."""
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise DomainError(
            "validation_error", summary=f"limit 须在 1-{MAX_PAGE_SIZE} 之间 / limit must be 1-{MAX_PAGE_SIZE}"
        )
    return limit


Limit = Annotated[int, Depends(page_limit)]
