"""One import of a sheet: the upload, the column mapping chosen, the outcome and its row report."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped

STATUSES = ("uploaded", "queued", "running", "done", "rejected", "failed")


class ImportRun(TenantScoped, Base):
    """A sheet a person uploaded to import (kept until it ran), with who, when and what came of it."""

    __tablename__ = "import_runs"
    __table_args__ = (
        Index("ix_import_runs_tenant_recent", "tenant_id", "id"),
        CheckConstraint(
            "status IN ('uploaded','queued','running','done','rejected','failed')", name="status"
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    filename: Mapped[str] = mapped_column(String(200))
    content: Mapped[bytes | None] = mapped_column(LargeBinary)  # dropped once the import ran
    headers: Mapped[list[str]] = mapped_column(default=list)
    mapping: Mapped[dict[str, Any]] = mapped_column(default=dict)  # file column -> field ("" ignored)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default="uploaded")
    created: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    errors: Mapped[list[dict[str, Any]]] = mapped_column(default=list)  # RowErrors, the first 10,000
    message: Mapped[str | None] = mapped_column(String(500))
    actor_id: Mapped[int | None] = mapped_column(BigIntPK)
    created_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
