"""Segment tables: the tag bitmaps the engine saves so a restart replays the log instead of reading
every assignment again."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped


class TagBitmapCheckpoint(TenantScoped, Base):
    """A tag's members as the engine last saved them, through one event of the tag log.

    A server that starts loads these and replays the log past `through_event_id` instead of reading
    every assignment row again (80M rows for a large brand).
    """

    __tablename__ = "tag_bitmaps"

    tag_id: Mapped[int] = mapped_column(BigIntPK, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True)
    through_event_id: Mapped[int] = mapped_column(BigInteger)
    members: Mapped[bytes] = mapped_column(LargeBinary)
    written_at: Mapped[datetime]
