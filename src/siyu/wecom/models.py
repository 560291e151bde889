"""WeCom tables: a tenant's callback settings (secrets encrypted), the raw callback inbox, the
member directory, the guide ↔ customer friend relation with its history, channel codes and their
daily statistics."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
    true,
)
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
    # WeCom members no staff member carries become guides (no store, no password) when synced.
    create_staff_for_members: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # When WeCom's URL verification (GET with echostr) last succeeded.
    verified_at: Mapped[datetime | None]
    updated_at: Mapped[datetime]


class WeComInbox(TenantScoped, Base):
    """A verified callback, stored before it is acknowledged; processed later, once."""

    __tablename__ = "wecom_inbox"
    __table_args__ = (
        UniqueConstraint("tenant_id", "dedupe_key"),
        Index("ix_wecom_inbox_pending", "tenant_id", "processed_at", "id"),
        # Callbacks not applied yet, across brands: a worker's look for work reads this small index.
        Index(
            "ix_wecom_inbox_unprocessed",
            "tenant_id",
            postgresql_where=text("processed_at IS NULL"),
            sqlite_where=text("processed_at IS NULL"),
        ),
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


class WeComMember(TenantScoped, Base):
    """A member of the brand's WeCom directory (通讯录) by UserID; staff carry the same UserID
    (`staff.wecom_userid`) once mapped."""

    __tablename__ = "wecom_members"
    __table_args__ = (
        UniqueConstraint("tenant_id", "userid"),
        CheckConstraint("status IN ('active','left')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    userid: Mapped[str] = mapped_column(String(64))
    name: Mapped[str | None] = mapped_column(String(80))  # absent when WeCom does not share it
    department_ids: Mapped[list[int]] = mapped_column(default=list)
    wecom_status: Mapped[int | None] = mapped_column(Integer)  # 1 active, 2 disabled, 4 not activated
    status: Mapped[str] = mapped_column(String(8), default="active")  # active | left (deleted in WeCom)
    first_seen_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    left_at: Mapped[datetime | None]


class WeComFriend(TenantScoped, Base):
    """A guide (WeCom member) and a customer (external contact) being friends, now or before.

    A friend of a member no staff member carries yet is parked: no staff, the member's UserID in
    `parked_userid`; it is attached to the staff member once one carries that UserID."""

    __tablename__ = "wecom_friends"
    __table_args__ = (
        UniqueConstraint("tenant_id", "staff_id", "external_userid"),
        UniqueConstraint("tenant_id", "parked_userid", "external_userid"),
        Index("ix_wecom_friends_customer", "customer_id"),
        CheckConstraint("(staff_id IS NULL) <> (parked_userid IS NULL)", name="owner"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    staff_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("staff.id", ondelete="CASCADE"))
    parked_userid: Mapped[str | None] = mapped_column(String(64))
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


class ChannelCode(TenantScoped, Base):
    """A channel QR code (渠道活码): WeCom's "contact me" with its own `state`, pointed at one guide
    at a time chosen by rotation, with auto-tags and a welcome message."""

    __tablename__ = "wecom_channel_codes"
    __table_args__ = (
        UniqueConstraint("tenant_id", "state"),
        CheckConstraint("mode IN ('round_robin','random','schedule')", name="mode"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    name: Mapped[str] = mapped_column(String(60))
    state: Mapped[str] = mapped_column(String(30))  # WeCom echoes it in the add event
    source_label: Mapped[str] = mapped_column(String(40))  # 门店海报, 包裹卡, 直播间 …
    store_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("stores.id", ondelete="SET NULL"))
    mode: Mapped[str] = mapped_column(String(12))
    guide_ids: Mapped[list[int]] = mapped_column(default=list)
    # schedule mode: [{"weekdays": [0..6], "from": "HH:MM", "to": "HH:MM", "guide_ids": [...]}]
    schedule: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    backup_guide_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("staff.id", ondelete="SET NULL"))
    daily_cap: Mapped[int | None] = mapped_column(Integer)  # adds per guide per day through this code
    tag_ids: Mapped[list[int]] = mapped_column(default=list)
    welcome_text: Mapped[str | None] = mapped_column(String(1000))
    # Sent with the text: [{"type": "image", "media": id} | {"type": "link", "title", "url", "desc"}
    # | {"type": "miniprogram", "appid", "page", "title", "media": id}] (media: wecom_media rows).
    welcome_attachments: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    config_id: Mapped[str | None] = mapped_column(String(64))
    qr_code: Mapped[str | None] = mapped_column(String(300))
    current_guide_id: Mapped[int | None] = mapped_column(BigIntPK)
    rotation: Mapped[int] = mapped_column(Integer, default=0)  # adds handed out (round-robin position)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class WeComMedia(TenantScoped, Base):
    """An image the brand uploaded for WeCom messages (a welcome image, a mini-program cover).

    WeCom takes images as temporary media that expire after three days; the bytes are kept here and
    uploaded again when the last upload is older than `siyu.wecom.media.REUSE` (the media id is
    cached on the row)."""

    __tablename__ = "wecom_media"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    filename: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(40))
    sha256: Mapped[str] = mapped_column(String(64))
    content: Mapped[bytes] = mapped_column(LargeBinary)
    media_id: Mapped[str | None] = mapped_column(String(200))
    uploaded_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class ChannelCodeDay(TenantScoped, Base):
    """Adds and deletions through a code, per local day and guide (statistics and daily caps)."""

    __tablename__ = "wecom_channel_code_days"
    __table_args__ = (UniqueConstraint("code_id", "day", "staff_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("wecom_channel_codes.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    staff_id: Mapped[int] = mapped_column(BigIntPK)
    adds: Mapped[int] = mapped_column(Integer, default=0)
    deletes: Mapped[int] = mapped_column(Integer, default=0)


class CustomerGroup(TenantScoped, Base):
    """A WeCom customer group (客户群 / 社群) with its owner guide and store."""

    __tablename__ = "wecom_groups"
    __table_args__ = (UniqueConstraint("tenant_id", "chat_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(128))
    name: Mapped[str | None] = mapped_column(String(100))
    notice: Mapped[str | None] = mapped_column(String(1000))
    owner_staff_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("staff.id", ondelete="SET NULL"))
    store_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("stores.id", ondelete="SET NULL"))
    member_version: Mapped[str | None] = mapped_column(String(64))  # CurMemVer of the last change applied
    needs_sync: Mapped[bool] = mapped_column(Boolean, default=False)  # a member change was missed
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | dismissed
    created_at: Mapped[datetime]
    dismissed_at: Mapped[datetime | None]
    last_event_at: Mapped[datetime]


class CustomerGroupMember(TenantScoped, Base):
    """Who is in a group (staff by UserID, customers by external user id), since when, and how they
    joined or left."""

    __tablename__ = "wecom_group_members"
    __table_args__ = (
        UniqueConstraint("group_id", "member_key"),
        Index("ix_wecom_group_members_customer", "customer_id"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    group_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("wecom_groups.id", ondelete="CASCADE"))
    member_key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8))  # staff | customer
    customer_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("customers.id", ondelete="SET NULL"))
    joined_at: Mapped[datetime]
    join_scene: Mapped[int | None] = mapped_column(Integer)  # 1 invited directly, 2 invite link, 3 QR code
    left_at: Mapped[datetime | None]
    quit_scene: Mapped[int | None] = mapped_column(Integer)  # 0 left, 1 removed by the owner


class CustomerGroupDay(TenantScoped, Base):
    """A group's day: joins, quits and messages (the activity trend and the dead-group flag)."""

    __tablename__ = "wecom_group_days"
    __table_args__ = (UniqueConstraint("group_id", "day"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    group_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("wecom_groups.id", ondelete="CASCADE"))
    day: Mapped[date] = mapped_column(Date)
    joins: Mapped[int] = mapped_column(Integer, default=0)
    quits: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[int] = mapped_column(Integer, default=0)


class Transfer(TenantScoped, Base):
    """One customer handed from one staff member to another through WeCom (离职继承 / 在职转接)."""

    __tablename__ = "wecom_transfers"
    __table_args__ = (
        Index("ix_wecom_transfers_customer", "tenant_id", "external_userid", "requested_at"),
        Index("ix_wecom_transfers_batch", "tenant_id", "batch"),
        CheckConstraint("kind IN ('resigned','on_job')", name="kind"),
        CheckConstraint("status IN ('requested','refused','failed','completed')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    batch: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    customer_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("customers.id", ondelete="CASCADE"))
    external_userid: Mapped[str] = mapped_column(String(128))
    from_staff_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("staff.id", ondelete="CASCADE"))
    to_staff_id: Mapped[int | None] = mapped_column(BigIntPK, ForeignKey("staff.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(12))
    errcode: Mapped[int | None] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(200))
    requested_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]
