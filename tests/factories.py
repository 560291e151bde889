"""Test data the tests build: a brand "world" with stores, staff of every role and their tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine

from siyu.auth.models import AuthToken
from siyu.core.ids import new_token, sha256_hex
from siyu.db.session import unit_of_work
from siyu.org.models import Staff, StaffStore, Store, Tenant


@dataclass
class World:
    """A tenant with two stores, a store manager and two guides, plus tokens per role."""

    engine: Engine
    tenant_id: int
    slug: str
    store_ids: list[int]
    staff: dict[str, int]
    tokens: dict[str, str]

    def headers(self, role: str) -> dict[str, str]:
        """Authorization headers for a role of this world."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def issue_token(engine: Engine, tenant_id: int, staff_id: int, *, ttl: timedelta = timedelta(hours=1)) -> str:
    """A sign-in token written directly (argon2 sign-in is tested once, not for every test)."""
    token = new_token("st")
    with unit_of_work(engine) as session:
        session.add(
            AuthToken(
                tenant_id=tenant_id,
                staff_id=staff_id,
                token_sha256=sha256_hex(token),
                expires_at=datetime.now(UTC) + ttl,
            )
        )
    return token


def build_world(engine: Engine) -> World:
    """Create a fresh tenant world on an engine."""
    from siyu.auth.service import create_api_key

    slug = f"t-{uuid.uuid4().hex[:10]}"
    with unit_of_work(engine) as session:
        tenant = Tenant(slug=slug, name=f"Brand {slug}", timezone="Asia/Shanghai", currency="CNY")
        session.add(tenant)
        session.flush()
        stores = [
            Store(
                tenant_id=tenant.id,
                code=f"S{i}",
                name=f"门店{i}",
                city="上海",
                status="active",
                business_hours=[],
                holidays=[],
            )
            for i in (1, 2)
        ]
        session.add_all(stores)
        session.flush()
        staff: dict[str, int] = {}
        for role, username in (
            ("owner", "owner"),
            ("hq_operator", "hq"),
            ("analyst", "analyst"),
            ("store_manager", "manager"),
            ("guide", "guide"),
            ("guide", "guide2"),
        ):
            member = Staff(
                tenant_id=tenant.id, employee_no=username.upper(), username=username, name=username, role=role
            )
            session.add(member)
            session.flush()
            staff[username] = member.id
        session.add_all(
            [
                StaffStore(tenant_id=tenant.id, staff_id=staff["manager"], store_id=stores[0].id),
                StaffStore(tenant_id=tenant.id, staff_id=staff["guide"], store_id=stores[0].id),
                StaffStore(tenant_id=tenant.id, staff_id=staff["guide2"], store_id=stores[1].id),
            ]
        )
        _, api_key = create_api_key(session, tenant_id=tenant.id, name="test", actor=None)
        tenant_id = tenant.id
        store_ids = [s.id for s in stores]
    tokens = {
        "owner": issue_token(engine, tenant_id, staff["owner"]),
        "hq_operator": issue_token(engine, tenant_id, staff["hq"]),
        "analyst": issue_token(engine, tenant_id, staff["analyst"]),
        "store_manager": issue_token(engine, tenant_id, staff["manager"]),
        "guide": issue_token(engine, tenant_id, staff["guide"]),
        "guide2": issue_token(engine, tenant_id, staff["guide2"]),
        "integration": api_key,
    }
    return World(
        engine=engine, tenant_id=tenant_id, slug=slug, store_ids=store_ids, staff=staff, tokens=tokens
    )
