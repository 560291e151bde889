"""The exclusive-guide binding (专属导购): one current binding per customer, and its history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped

BINDING_SOURCES = ("friend_add", "guide_share_order", "manual", "transfer")


class GuideBinding(TenantScoped, Base):
    """A customer's exclusive guide now. At most one per customer and tenant (the unique key)."""

    __tablename__ = "guide_bindings"
    __table_args__ = (
        UniqueConstraint("tenant_id", "customer_id"),
        Index("ix_guide_bindings_guide", "guide_id", "started_at"),
        Index("ix_guide_bindings_store", "store_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"))
    guide_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("staff.id", ondelete="CASCADE"))
    store_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("stores.id", ondelete="SET NULL"))
    source: Mapped[str] = mapped_column(String(24))
    started_at: Mapped[datetime]
    # Until then another guide cannot take the customer over; a new qualifying event renews it.
    protected_until: Mapped[datetime]
    renewed_at: Mapped[datetime]


class GuideBindingEvent(TenantScoped, Base):
    """Append-only history: bound, renewed, taken over, refused (protected) or ended."""

    __tablename__ = "guide_binding_events"
    __table_args__ = (Index("ix_guide_binding_events_customer", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # bound | renewed | taken_over | refused | ended
    guide_id: Mapped[int | None] = mapped_column(BigIntPK)
    previous_guide_id: Mapped[int | None] = mapped_column(BigIntPK)
    store_id: Mapped[int | None] = mapped_column(BigIntPK)
    source: Mapped[str] = mapped_column(String(24))
    occurred_at: Mapped[datetime]
    reference: Mapped[str | None] = mapped_column(String(120))  # e.g. "order:123"
