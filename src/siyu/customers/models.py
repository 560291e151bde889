"""Customer tables: profiles, identities, timeline, consents, merges, custom field definitions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped

IDENTITY_TYPES = (
    "wechat_unionid",
    "wechat_openid",
    "wecom_external_userid",
    "phone",
    "member_card",
    "pos_customer_id",
    "platform_buyer_id",
)
GENDERS = ("male", "female", "unknown")
CONSENT_PURPOSES = (
    "marketing_sms",
    "marketing_wecom",
    "marketing_official_account",
    "marketing_mini_program",
    "marketing_phone_call",
    "profiling",
)
FIELD_TYPES = ("text", "number", "date", "boolean", "choice")


class Customer(TenantScoped, Base):
    """One person, as the brand knows them across every channel."""

    __tablename__ = "customers"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        CheckConstraint("gender IN ('male','female','unknown')", name="gender"),
        CheckConstraint("status IN ('active','merged')", name="status"),
        Index("ix_customers_phone", "tenant_id", "phone_e164"),
        Index("ix_customers_tenant_recent", "tenant_id", "id"),
        # Foreign-key columns lead their own indexes (ids are global), so deleting a store, a staff
        # member or a customer never scans whole tables, and scoped queries use the same index.
        Index("ix_customers_store", "store_id"),
        Index("ix_customers_guide", "guide_id"),
        Index("ix_customers_merged_into", "merged_into_id"),
        # The audience engine's attribute index catches up from recently changed customers.
        Index("ix_customers_updated", "tenant_id", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    # Dense per-tenant number (1, 2, 3 …): the bit position of this customer in audience bitmaps.
    number: Mapped[int] = mapped_column(BigInteger)
    name: Mapped[str | None] = mapped_column(String(80))
    gender: Mapped[str] = mapped_column(String(8), default="unknown")
    birthday: Mapped[date | None] = mapped_column(Date)
    city: Mapped[str | None] = mapped_column(String(60))
    phone_e164: Mapped[str | None] = mapped_column(String(20))
    # Member tier (普卡, 银卡, 金卡 …) as the brand's loyalty programme names it.
    member_tier: Mapped[str | None] = mapped_column(String(20))
    custom_fields: Mapped[dict[str, Any]] = mapped_column(default=dict)
    store_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("stores.id", ondelete="SET NULL"))
    guide_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("staff.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(8), default="active")
    merged_into_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("customers.id"))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())


class CustomerIdentity(TenantScoped, Base):
    """A way to recognise a customer: (type, namespace, value) is unique per tenant."""

    __tablename__ = "customer_identities"
    __table_args__ = (
        UniqueConstraint("tenant_id", "type", "namespace", "value"),
        Index("ix_customer_identities_customer", "customer_id"),
        # New member cards per day (store daily report).
        Index("ix_customer_identities_type_created", "tenant_id", "type", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(32))
    # WeChat app id for openids, platform name for platform buyer ids, "" otherwise.
    namespace: Mapped[str] = mapped_column(String(64), default="")
    value: Mapped[str] = mapped_column(String(128))
    source: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())


class TimelineEvent(TenantScoped, Base):
    """Append-only history of a customer; later capabilities add kinds."""

    __tablename__ = "customer_timeline"
    __table_args__ = (
        Index("ix_customer_timeline_customer", "customer_id", "id"),
        # Reports count events of one kind in a time range (new fans, member cards opened).
        Index("ix_customer_timeline_kind_time", "tenant_id", "kind", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(48))
    occurred_at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(String(16), default="system")
    actor_id: Mapped[int | None] = mapped_column(BigIntPK)
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ConsentRecord(TenantScoped, Base):
    """A grant or withdrawal of consent for one purpose; the latest per purpose is in force."""

    __tablename__ = "customer_consents"
    __table_args__ = (Index("ix_customer_consents_customer", "customer_id", "purpose", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    customer_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(40))
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(64))
    recorded_at: Mapped[datetime]
    actor_type: Mapped[str] = mapped_column(String(16), default="system")
    actor_id: Mapped[int | None] = mapped_column(BigIntPK)


class CustomerMerge(TenantScoped, Base):
    """An explicit merge of one customer into a survivor, with what moved (for unmerge)."""

    __tablename__ = "customer_merges"
    __table_args__ = (Index("ix_customer_merges_tenant_recent", "tenant_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    merged_id: Mapped[int] = mapped_column(
        BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"), index=True
    )
    # {"moved": {"table.column": [row ids]}, "filled_fields": {...}, "merged_custom_fields": {...}}
    snapshot: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int | None] = mapped_column(BigIntPK)
    created_at: Mapped[datetime]
    undone_at: Mapped[datetime | None]


class CustomFieldDefinition(TenantScoped, Base):
    """A tenant-defined profile field with its type."""

    __tablename__ = "custom_field_definitions"
    __table_args__ = (
        UniqueConstraint("tenant_id", "key"),
        CheckConstraint("type IN ('text','number','date','boolean','choice')", name="type"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    key: Mapped[str] = mapped_column(String(40))
    label_zh: Mapped[str] = mapped_column(String(80))
    label_en: Mapped[str] = mapped_column(String(80))
    type: Mapped[str] = mapped_column(String(16))
    choices: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
