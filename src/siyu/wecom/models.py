"""WeCom tables: a tenant's callback settings (secrets encrypted), the raw callback inbox, and the
guide ↔ customer friend relation with its history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped


class WeComConfig(TenantScoped, Base):
    """One per tenant. Token, EncodingAESKey and secrets are stored encrypted (SIYU_SECRET_KEY)."""

    __tablename__ = "wecom_configs"
    __table_args__ = (UniqueConstraint("tenant_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    corp_id: Mapped[str] = mapped_column(String(64))
    token_enc: Mapped[str] = mapped_column(Text)
    aes_key_enc: Mapped[str] = mapped_column(Text)
    secret_enc: Mapped[str | None] = mapped_column(Text)
    # When WeCom's URL verification (GET with echostr) last succeeded.
    verified_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class WeComInbox(TenantScoped, Base):
    """A verified callback, stored before it is acknowledged; processed later, once."""

    __tablename__ = "wecom_inbox"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dedupe_key"),
        Index("ix_wecom_inbox_pending", "tenant_id", "processed_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(64))  # SHA-256 of the decrypted message
    event: Mapped[str] = mapped_column(String(64))
    change_type: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(Text)  # the decrypted XML, as WeCom sent it
    created_at_wecom: Mapped[datetime | None]  # the message's CreateTime
    received_at: Mapped[datetime]
    processed_at: Mapped[datetime | None]
    outcome: Mapped[str | None] = mapped_column(String(16))  # applied | ignored | failed
    error: Mapped[str | None] = mapped_column(Text)


class WeComFriend(TenantScoped, Base):
    """A guide (WeCom member) and a customer (external contact) being friends, now or before."""

    __tablename__ = "wecom_friends"
    __table_args__ = (
        UniqueConstraint("tenant_id", "staff_id", "external_userid"),
        Index("ix_wecom_friends_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    staff_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("staff.id", ondelete="CASCADE"))
    customer_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"))
    external_userid: Mapped[str] = mapped_column(String(128))
    state: Mapped[str | None] = mapped_column(String(64))  # the channel code's state, when added through one
    added_at: Mapped[datetime]
    deleted_at: Mapped[datetime | None]
    deleted_by: Mapped[str | None] = mapped_column(String(16))  # staff | customer | transfer
    last_event_at: Mapped[datetime]  # CreateTime of the newest event applied (older ones arrive late)


class WeComFriendEvent(TenantScoped, Base):
    """Append-only history of a friend relation: added, edited, deleted (by whom), transfer failed."""

    __tablename__ = "wecom_friend_events"
    __table_args__ = (Index("ix_wecom_friend_events_friend", "friend_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    friend_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("wecom_friends.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(24))
    occurred_at: Mapped[datetime]
    detail: Mapped[str | None] = mapped_column(String(200))
    inbox_id: Mapped[int | None] = mapped_column(BigIntPK)
