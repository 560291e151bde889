"""Audience tables: saved rules and their frozen, versioned snapshots."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped


class Audience(TenantScoped, Base):
    """An audience package (人群包): a named rule."""

    __tablename__ = "audiences"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(80))
    description: Mapped[str | None] = mapped_column(String(400))
    rule: Mapped[dict[str, Any]] = mapped_column()
    created_by: Mapped[int | None] = mapped_column(BigIntPK)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class AudienceSnapshot(TenantScoped, Base):
    """Who was in an audience at one moment (a campaign keeps the version it used)."""

    __tablename__ = "audience_snapshots"
    __table_args__ = (UniqueConstraint("audience_id", "version"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    audience_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("audiences.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    rule: Mapped[dict[str, Any]] = mapped_column()  # the rule as it was
    members: Mapped[bytes] = mapped_column(LargeBinary)  # portable roaring bitmap of customer numbers
    created_by: Mapped[int | None] = mapped_column(BigIntPK)
    created_at: Mapped[datetime]
