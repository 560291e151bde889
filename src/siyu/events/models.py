"""The outbox: domain events written in the transaction of the use case that caused them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped


class OutboxEvent(TenantScoped, Base):
    """One event; `dispatched_at` is set in the transaction in which its subscribers' work committed."""

    __tablename__ = "outbox_events"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    aggregate: Mapped[str] = mapped_column(String(32))
    aggregate_id: Mapped[int | None] = mapped_column(BigInteger)
    data: Mapped[dict[str, Any]]
    recorded_at: Mapped[datetime]
    dispatched_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(String(1000))

    __table_args__ = (
        Index(
            "ix_outbox_events_pending",
            "id",
            postgresql_where=text("dispatched_at IS NULL"),
            sqlite_where=text("dispatched_at IS NULL"),
        ),
        Index("ix_outbox_events_tenant_id_recorded_at", "tenant_id", "recorded_at"),
    )
