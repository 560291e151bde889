"""The API shapes of sign-in, the signed-in person and API keys."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from siyu.org.facade import TenantRead
from siyu.schemas import Strict


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
