"""Keyset pagination over an integer id column, with opaque cursors."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import InstrumentedAttribute, Session

from siyu.core.pagination import decode_int_cursor, encode_cursor

T = TypeVar("T")


def keyset_page(
    session: Session,
    stmt: Select[T],
    key: InstrumentedAttribute[int],
    *,
    cursor: str | None,
    limit: int,
    newest_first: bool = False,
) -> tuple[list[T], str | None]:
    """One page of `stmt` ordered by `key`, starting after the cursor; and the next cursor."""
    position = decode_int_cursor(cursor)
    if position is not None:
        stmt = stmt.where(key < position if newest_first else key > position)
    order: Any = key.desc() if newest_first else key
    rows = list(session.scalars(stmt.order_by(order).limit(limit + 1)))
    next_cursor = encode_cursor(getattr(rows[limit - 1], key.key)) if len(rows) > limit else None
    return rows[:limit], next_cursor
