"""The jobs table: durable background work, claimed by any number of workers."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK

STATUSES = ("queued", "running", "done", "failed")


class Job(Base):
    """One unit of background work: run at `run_at`, retried with backoff, repeated every `every_s`.

    `key` names work that must not be queued twice (a brand's rule-tag refresh, a schedule): at most
    one queued job holds a key. `tenant_id` is empty for work across brands (schedules).
    """

    __tablename__ = "jobs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tenant_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("tenants.id", ondelete="CASCADE"), sort_order=-10
    )
    kind: Mapped[str] = mapped_column(String(64))
    key: Mapped[str | None] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]]
    status: Mapped[str] = mapped_column(String(8))
    run_at: Mapped[datetime]
    every_s: Mapped[int | None] = mapped_column(Integer)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(1000))
    locked_by: Mapped[str | None] = mapped_column(String(80))
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]

    __table_args__ = (
        CheckConstraint("status IN ('queued','running','done','failed')", name="status"),
        CheckConstraint("attempts >= 0 AND max_attempts >= 1", name="attempts"),
        Index("ix_jobs_status_run_at", "status", "run_at"),
        Index("ix_jobs_tenant_id_status", "tenant_id", "status"),
        Index(
            "uq_jobs_queued_key",
            "key",
            unique=True,
            postgresql_where=text("status = 'queued'"),
            sqlite_where=text("status = 'queued'"),
        ),
    )
