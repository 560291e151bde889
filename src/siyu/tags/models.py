"""Tag tables: groups, tags, current assignments and the append-only assignment history."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped

GROUP_KINDS = ("manual", "rule", "imported", "wecom", "guide_private")
SOURCE_TYPES = ("staff", "api", "rule", "import", "wecom", "system")
EVENT_ACTIONS = ("assigned", "renewed", "removed", "expired", "replaced")


class TagGroup(TenantScoped, Base):
    """A family of tags (年龄段, 风格偏好 …); exclusive groups allow one tag per customer."""

    __tablename__ = "tag_groups"
    __table_args__ = (
        UniqueConstraint("tenant_id", "name_zh", "owner_staff_id"),
        CheckConstraint("kind IN ('manual','rule','imported','wecom','guide_private')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(60))
    kind: Mapped[str] = mapped_column(String(16))
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    open_to_guides: Mapped[bool] = mapped_column(Boolean, default=False)
    # A guide-private group belongs to one guide: only they see and use its tags.
    owner_staff_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("staff.id", ondelete="CASCADE"))
    wecom_group_id: Mapped[str | None] = mapped_column(String(64))  # WeCom-synced groups
    created_at: Mapped[datetime]


class Tag(TenantScoped, Base):
    """One tag; a rule tag carries its audience rule and is kept up to date by the engine."""

    __tablename__ = "tags"
    __table_args__ = (
        UniqueConstraint("tenant_id", "group_id", "name_zh"),
        CheckConstraint("expires_after_days IS NULL OR expires_after_days > 0", name="expiry"),
        Index("ix_tags_group", "group_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    group_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("tag_groups.id", ondelete="CASCADE"))
    name_zh: Mapped[str] = mapped_column(String(40))
    name_en: Mapped[str] = mapped_column(String(60))
    expires_after_days: Mapped[int | None] = mapped_column(Integer)
    rule: Mapped[dict[str, Any] | None] = mapped_column()
    wecom_tag_id: Mapped[str | None] = mapped_column(String(64))
    refreshed_at: Mapped[datetime | None]  # rule tags: when the rule last ran
    created_at: Mapped[datetime]


class TagAssignment(TenantScoped, Base):
    """A tag a customer has now, with where it came from and when it lapses."""

    __tablename__ = "tag_assignments"
    __table_args__ = (
        UniqueConstraint("tag_id", "customer_id"),
        # customer_id first *and* tenant_id: with two equalities SQLite's planner prefers it to the
        # (tenant_id, …) indexes for a customer's tags (with one, it took the expiry index: 230 ms).
        Index("ix_tag_assignments_customer", "customer_id", "tenant_id"),
        Index("ix_tag_assignments_expiry", "tenant_id", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tag_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("tags.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"))
    # The customer's dense number (never changes): the bit in the tag's bitmap.
    customer_number: Mapped[int] = mapped_column(BigInteger)
    source_type: Mapped[str] = mapped_column(String(8))
    source_id: Mapped[int | None] = mapped_column(BigIntPK)  # staff, rule tag, import batch …
    assigned_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]


class TagEvent(TenantScoped, Base):
    """Append-only history of assignments; the bitmap engine replays it to stay current."""

    __tablename__ = "tag_events"
    __table_args__ = (
        Index("ix_tag_events_tenant_id", "tenant_id", "id"),
        Index("ix_tag_events_customer", "customer_id", "tenant_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    tag_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("tags.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"))
    customer_number: Mapped[int] = mapped_column(BigInteger)
    action: Mapped[str] = mapped_column(String(8))
    source_type: Mapped[str] = mapped_column(String(8))
    source_id: Mapped[int | None] = mapped_column(BigIntPK)
    occurred_at: Mapped[datetime]
    expires_at: Mapped[datetime | None]
