"""What a list's filters offer a person: the stores and guides in their scope, and dates read in the
brand's time zone."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.inputs import ascii_digits
from siyu.org import facade as org


@dataclass(frozen=True)
class Choices:
    """Stores (id, "code name") and guides (id, "name employee-no") a person may filter by."""

    stores: list[tuple[int, str]]
    guides: list[tuple[int, str]]


def scope_choices(session: Session, principal: Principal) -> Choices:
    """HQ: every store and guide; a manager: their stores and those stores' guides; a guide: none
    (their lists are their own)."""
    if principal.scope == "own":
        return Choices([], [])
    ids = sorted(principal.store_ids) if principal.scope == "stores" else None
    stores = org.stores_of(session, tenant_id=principal.tenant_id, store_ids=ids)
    guides = org.guides_in(session, tenant_id=principal.tenant_id, store_ids=ids)
    return Choices(
        [(s.id, f"{s.code} {s.name}") for s in stores],
        [(i, f"{n} {e}") for i, n, e in guides],
    )


def parse_day(raw: str | None) -> dt.date | None:
    """A YYYY-MM-DD from a filter (anything else is no filter)."""
    try:
        return dt.date.fromisoformat(raw) if raw and len(raw) == 10 else None
    except ValueError:
        return None


def day_start(day: dt.date, tz: ZoneInfo) -> dt.datetime:
    """Midnight of a local day, as an aware UTC instant."""
    return dt.datetime.combine(day, dt.time(), tz).astimezone(dt.UTC)


def int_or_none(raw: str | None, allowed: set[int] | None = None) -> int | None:
    """An id from a filter; not a number, or not among `allowed`, is no filter."""
    if not raw or not ascii_digits(raw):
        return None
    value = int(raw)
    return value if allowed is None or value in allowed else None
