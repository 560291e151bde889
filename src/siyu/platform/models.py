"""Audit log (append-only) and stored idempotent responses."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped


class AuditEntry(TenantScoped, Base):
    """Who did what to which object, and when; never updated."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_object", "tenant_id", "object_type", "object_id"),
        Index("ix_audit_log_tenant_recent", "tenant_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    actor_type: Mapped[str] = mapped_column(String(16))  # staff | api_key | system
    actor_id: Mapped[int | None] = mapped_column(BigIntPK)
    action: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(32))
    object_id: Mapped[int | None] = mapped_column(BigIntPK)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class IdempotencyRecord(TenantScoped, Base):
    """The first answer to a POST carrying an Idempotency-Key; replays return it."""

    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    key: Mapped[str] = mapped_column(String(255))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(500))
    request_sha256: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    content_type: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
