"""Product catalogue: SKUs with prices, cost and per-channel floor prices."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, String, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from siyu.db.base import Base, BigIntPK, TenantScoped


class Product(TenantScoped, Base):
    """One SKU; prices in fen."""

    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        CheckConstraint("list_price_fen >= 0 AND cost_fen >= 0", name="prices"),
        CheckConstraint("status IN ('active','inactive')", name="status"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    # ["服装", "上衣", "T恤"]: from the top category down.
    category_path: Mapped[list[str]] = mapped_column(default=list)
    list_price_fen: Mapped[int] = mapped_column(BigInteger)
    cost_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    # {"mini_program": 9900, "platform:tmall": 8900}: the lowest price a channel may sell at.
    floor_prices_fen: Mapped[dict[str, int]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now())
