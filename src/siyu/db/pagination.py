"""Keyset pagination with opaque cursors: over an integer id column, or newest first by a time."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from sqlalchemy import Select, and_, func, or_
from sqlalchemy.orm import InstrumentedAttribute, Session

from siyu.core.errors import DomainError
from siyu.core.inputs import MAX_ID, instant_in_range
from siyu.core.pagination import decode_cursor, decode_int_cursor, encode_cursor

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


def newest_first_page(
    session: Session,
    stmt: Select[T],
    when: InstrumentedAttribute[dt.datetime | None],
    key: InstrumentedAttribute[int],
    *,
    cursor: str | None,
    limit: int,
) -> tuple[list[T], str | None]:
    """One page of `stmt` ordered by `when` newest first (rows without a time last), ties and the
    undated by `key` descending; the cursor holds the last row's (time, id).

    Two index-friendly queries instead of one `ORDER BY when DESC NULLS LAST` (which PostgreSQL
    cannot read from an ascending index): the dated rows, then — once they run out — the undated.
    """
    position = decode_cursor(cursor)
    dated_after: tuple[dt.datetime, int] | None = None
    undated_after: int | None = None
    if position is not None:
        try:
            if isinstance(position, list) and len(position) == 2 and position[0] is None:
                undated_after = _int(position[1])
            elif isinstance(position, list) and len(position) == 2 and isinstance(position[0], str):
                at = dt.datetime.fromisoformat(position[0])
                if at.tzinfo is None or not instant_in_range(at):
                    raise ValueError
                dated_after = (at, _int(position[1]))
            else:
                raise ValueError
        except (ValueError, OverflowError):
            raise DomainError("invalid_cursor") from None
    rows: list[T] = []
    if undated_after is None:
        dated = stmt.where(when.is_not(None))
        if dated_after is not None:
            at, last_id = dated_after
            dated = dated.where(or_(when < at, and_(when == at, key < last_id)))
        rows = list(session.scalars(dated.order_by(when.desc(), key.desc()).limit(limit + 1)))
    if len(rows) <= limit:
        undated = stmt.where(when.is_(None))
        if undated_after is not None:
            undated = undated.where(key < undated_after)
        rows += list(session.scalars(undated.order_by(key.desc()).limit(limit + 1 - len(rows))))
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    last_when = getattr(last, when.key)
    next_position = [last_when.isoformat() if last_when is not None else None, getattr(last, key.key)]
    return rows[:limit], encode_cursor(next_position)


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise ValueError
    return value


def count_rows(session: Session, stmt: Select[Any], sort: InstrumentedAttribute[Any]) -> tuple[int, int]:
    """How many rows `stmt` finds, and how many of them have a value in `sort` (for `offset_page`)."""
    counted = stmt.with_only_columns(func.count(), func.count(sort)).order_by(None)
    total, valued = (int(x) for x in session.execute(counted).one())
    return total, valued


def offset_page(
    session: Session,
    stmt: Select[T],
    sort: InstrumentedAttribute[Any],
    key: InstrumentedAttribute[int],
    *,
    desc: bool,
    offset: int,
    limit: int,
    counted: tuple[int, int] | None = None,
) -> tuple[list[T], int]:
    """A numbered page of `stmt` ordered by `sort` (rows without a value last, whatever the
    direction; ties by `key` in the same direction) and the total count.

    One count of all rows and of those with a value (or `counted`, from `count_rows`, when the
    caller counted first to choose the page), then the valued rows and — once they run out — the
    rest: each part is an index-friendly ORDER BY (no `NULLS LAST`, which PostgreSQL cannot read
    from an ascending index, and no sort on an expression)."""
    total, valued = counted if counted is not None else count_rows(session, stmt, sort)
    if limit <= 0:
        return [], total
    order = (sort.desc(), key.desc()) if desc else (sort.asc(), key.asc())
    rows: list[T] = []
    if offset < valued:
        rows = list(
            session.scalars(stmt.where(sort.is_not(None)).order_by(*order).offset(offset).limit(limit))
        )
    if len(rows) < limit and total > valued:
        start = max(0, offset - valued)
        rest = stmt.where(sort.is_(None)).order_by(key.desc() if desc else key.asc())
        rows += list(session.scalars(rest.offset(start).limit(limit - len(rows))))
    return rows, total
