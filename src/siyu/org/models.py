"""Tables of the organisation: tenants, regions, stores, staff and their store assignments."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped

ROLES = ("owner", "hq_operator", "analyst", "store_manager", "guide")
STORE_STATUSES = ("active", "preparing", "suspended", "closed")
STAFF_STATUSES = ("active", "departed")


class Tenant(Base):
    """A brand: the unit of isolation."""

    __tablename__ = "tenants"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    slug: Mapped[str] = mapped_column(String(40), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    # Last dense customer number handed out; advanced by one conditional UPDATE … RETURNING.
    customer_seq: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # How long a new exclusive-guide binding is protected from another guide taking it over.
    binding_protection_days: Mapped[int] = mapped_column(Integer, default=30, server_default="30")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Region(TenantScoped, Base):
    """A sales region grouping stores."""

    __tablename__ = "regions"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Store(TenantScoped, Base):
    """A physical store with business hours in the tenant's time zone."""

    __tablename__ = "stores"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        Index("ix_stores_tenant_recent", "tenant_id", "id"),
        CheckConstraint("status IN ('active','preparing','suspended','closed')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    region_id: Mapped[int | None] = mapped_column(
        BigIntPK, ForeignKey("regions.id", ondelete="SET NULL"), index=True
    )
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(120))
    city: Mapped[str | None] = mapped_column(String(60))
    address: Mapped[str | None] = mapped_column(String(300))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16), default="active")
    # [{"weekday": 0-6 (Mon=0), "opens": "HH:MM", "closes": "HH:MM"}]; closes <= opens runs past midnight.
    business_hours: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    # [{"date": "YYYY-MM-DD", "closed": bool, "opens": "HH:MM"|null, "closes": "HH:MM"|null, "name": str}]
    holidays: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class Staff(TenantScoped, Base):
    """A staff account: HQ, store manager or shopping guide."""

    __tablename__ = "staff"
    __table_args__ = (
        UniqueConstraint("tenant_id", "username"),
        UniqueConstraint("tenant_id", "employee_no"),
        UniqueConstraint("tenant_id", "wecom_userid"),
        Index("ix_staff_tenant_recent", "tenant_id", "id"),
        CheckConstraint("role IN ('owner','hq_operator','analyst','store_manager','guide')", name="role"),
        CheckConstraint("status IN ('active','departed')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    employee_no: Mapped[str] = mapped_column(String(40))
    username: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(80))
    role: Mapped[str] = mapped_column(String(20))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), default="active")
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # The member's UserID in the brand's WeCom (企业微信), which callbacks name.
    wecom_userid: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class StaffStore(TenantScoped, Base):
    """Which stores a staff member works in (a guide may cover several)."""

    __tablename__ = "staff_stores"
    __table_args__ = (Index("ix_staff_stores_store", "store_id"),)

    staff_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("staff.id", ondelete="CASCADE"), primary_key=True
    )
    store_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("stores.id", ondelete="CASCADE"), primary_key=True
    )
