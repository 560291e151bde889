"""What other packages may use of the organisation: ids and DTOs, never ORM rows."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.org.hours import Interval, is_open_at
from siyu.org.models import (
    Region,
    Staff,
    StaffStore,
    Store,
    Tenant,
)
from siyu.org.schemas import TenantRead


@dataclass(frozen=True)
class StoreInfo:
    """A store with what reports and attribution need: its hours, in the tenant's time zone."""

    id: int
    code: str
    name: str
    region_id: int | None
    status: str
    hours: tuple[Interval, ...]
    holidays: dict[dt.date, list[tuple[str, str]] | None]

    def is_open(self, tz: ZoneInfo, at: dt.datetime) -> bool:
        """Whether the store is open at an aware instant (overnight hours and holidays included)."""
        return is_open_at(list(self.hours), self.holidays, tz, at)


def tenant_id_by_slug(session: Session, *, slug: str) -> int | None:
    """The brand with this code (callbacks name their brand in the URL)."""
    return session.scalar(select(Tenant.id).where(Tenant.slug == slug))


def tenant_zone(session: Session, *, tenant_id: int) -> ZoneInfo:
    """The tenant's time zone."""
    name = session.scalar(select(Tenant.timezone).where(Tenant.id == tenant_id))
    return ZoneInfo(name or "Asia/Shanghai")


def _info(store: Store) -> StoreInfo:
    holidays: dict[dt.date, list[tuple[str, str]] | None] = {}
    for day in store.holidays or []:
        date = dt.date.fromisoformat(day["date"])
        holidays[date] = None if day.get("closed", True) else [(day["opens"], day["closes"])]
    hours = tuple(Interval(h["weekday"], h["opens"], h["closes"]) for h in store.business_hours or [])
    return StoreInfo(
        id=store.id,
        code=store.code,
        name=store.name,
        region_id=store.region_id,
        status=store.status,
        hours=hours,
        holidays=holidays,
    )


def stores_by_code(session: Session, *, tenant_id: int, codes: set[str]) -> dict[str, StoreInfo]:
    """Stores of the tenant by code (absent codes are simply missing from the answer)."""
    rows = session.scalars(select(Store).where(Store.tenant_id == tenant_id, Store.code.in_(codes)))
    return {s.code: _info(s) for s in rows}


def stores_by_id(session: Session, *, tenant_id: int, ids: set[int]) -> dict[int, StoreInfo]:
    """Stores of the tenant by id."""
    rows = session.scalars(select(Store).where(Store.tenant_id == tenant_id, Store.id.in_(ids)))
    return {s.id: _info(s) for s in rows}


@dataclass(frozen=True)
class StaffInfo:
    """A staff member with the stores they work in."""

    id: int
    employee_no: str
    name: str
    role: str
    status: str
    store_ids: tuple[int, ...]


def _staff_infos(session: Session, tenant_id: int, staff: list[Staff]) -> list[StaffInfo]:
    stores: dict[int, list[int]] = {m.id: [] for m in staff}
    if staff:
        for staff_id, store_id in session.execute(
            select(StaffStore.staff_id, StaffStore.store_id)
            .where(StaffStore.tenant_id == tenant_id, StaffStore.staff_id.in_(list(stores)))
            .order_by(StaffStore.store_id)
        ):
            stores[staff_id].append(store_id)
    return [
        StaffInfo(
            id=m.id,
            employee_no=m.employee_no,
            name=m.name,
            role=m.role,
            status=m.status,
            store_ids=tuple(stores[m.id]),
        )
        for m in staff
    ]


def staff_by_employee_no(session: Session, *, tenant_id: int, numbers: set[str]) -> dict[str, StaffInfo]:
    """Staff of the tenant by employee number."""
    staff = list(
        session.scalars(select(Staff).where(Staff.tenant_id == tenant_id, Staff.employee_no.in_(numbers)))
    )
    return {info.employee_no: info for info in _staff_infos(session, tenant_id, staff)}


def staff_by_id(session: Session, *, tenant_id: int, ids: set[int]) -> dict[int, StaffInfo]:
    """Staff of the tenant by id."""
    staff = list(session.scalars(select(Staff).where(Staff.tenant_id == tenant_id, Staff.id.in_(ids))))
    return {info.id: info for info in _staff_infos(session, tenant_id, staff)}


# --- WeCom members ------------------------------------------------------------------------------
USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$")
EMPLOYEE_NO = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,39}$")


def guides_of_store(session: Session, *, tenant_id: int, store_id: int) -> list[tuple[int, str, str]]:
    """The active guides of a store: (id, name, employee number)."""
    return [
        (i, n, e)
        for i, n, e in session.execute(
            select(Staff.id, Staff.name, Staff.employee_no)
            .join(StaffStore, StaffStore.staff_id == Staff.id)
            .where(
                StaffStore.tenant_id == tenant_id,
                StaffStore.store_id == store_id,
                Staff.role == "guide",
                Staff.status == "active",
            )
        )
    ]


def guides_in(
    session: Session, *, tenant_id: int, store_ids: list[int] | None = None
) -> list[tuple[int, str, str]]:
    """The guides of some stores (None: of the brand), departed ones included, by employee number:
    (id, name, employee number) — what a filter of orders or customers offers."""
    stmt = select(Staff.id, Staff.name, Staff.employee_no).where(
        Staff.tenant_id == tenant_id, Staff.role == "guide"
    )
    if store_ids is not None:
        stmt = stmt.where(
            Staff.id.in_(
                select(StaffStore.staff_id).where(
                    StaffStore.tenant_id == tenant_id, StaffStore.store_id.in_(store_ids)
                )
            )
        )
    return [(i, n, e) for i, n, e in session.execute(stmt.order_by(Staff.employee_no))]


def staff_list(session: Session, *, tenant_id: int) -> list[tuple[int, str, str]]:
    """Every staff member of the brand (any role or status) by employee number: (id, name, number)."""
    return [
        (i, n, e)
        for i, n, e in session.execute(
            select(Staff.id, Staff.name, Staff.employee_no)
            .where(Staff.tenant_id == tenant_id)
            .order_by(Staff.employee_no)
        )
    ]


def staff_names(session: Session, *, tenant_id: int, ids: set[int]) -> dict[int, tuple[str, str]]:
    """Name and employee number of staff members (any status)."""
    if not ids:
        return {}
    return {
        i: (n, e)
        for i, n, e in session.execute(
            select(Staff.id, Staff.name, Staff.employee_no).where(
                Staff.tenant_id == tenant_id, Staff.id.in_(sorted(ids))
            )
        )
    }


def stores_of(
    session: Session, *, tenant_id: int, store_ids: list[int] | None = None, region_id: int | None = None
) -> list[StoreInfo]:
    """The tenant's stores by code (all, some, or a region's)."""
    stmt = select(Store).where(Store.tenant_id == tenant_id)
    if store_ids is not None:
        stmt = stmt.where(Store.id.in_(store_ids))
    if region_id is not None:
        stmt = stmt.where(Store.region_id == region_id)
    return [_info(s) for s in session.scalars(stmt.order_by(Store.code))]


def regions_of(session: Session, *, tenant_id: int) -> dict[int, tuple[str, str]]:
    """The tenant's regions: id → (code, name)."""
    return {
        r.id: (r.code, r.name)
        for r in session.execute(
            select(Region.id, Region.code, Region.name).where(Region.tenant_id == tenant_id)
        )
    }


def staff_by_wecom_userid(session: Session, *, tenant_id: int, userids: set[str]) -> dict[str, int]:
    """Staff id per WeCom UserID, for the UserIDs some staff member carries."""
    if not userids:
        return {}
    rows = session.execute(
        select(Staff.wecom_userid, Staff.id).where(
            Staff.tenant_id == tenant_id, Staff.wecom_userid.in_(userids)
        )
    )
    return {str(userid): staff_id for userid, staff_id in rows}


def map_wecom_members(
    session: Session, *, tenant_id: int, names: dict[str, str | None], create: bool
) -> tuple[dict[str, int], list[str]]:
    """Staff id per WeCom UserID (`names`: UserID → the member's name, when WeCom shares it).

    The staff member carrying the UserID; else one whose username is the UserID and who carries
    none (given it); else, when `create`, a new guide — active, no store, no password (they cannot
    sign in until an operator sets one). Answers (mapped, UserIDs of the staff created)."""
    from siyu.org import schemas, service

    mapped = staff_by_wecom_userid(session, tenant_id=tenant_id, userids=set(names))
    rest = set(names) - set(mapped)
    if rest:
        for member in session.scalars(
            select(Staff).where(
                Staff.tenant_id == tenant_id, Staff.username.in_(rest), Staff.wecom_userid.is_(None)
            )
        ):
            member.wecom_userid = member.username
            mapped[member.username] = member.id
            rest.discard(member.username)
    created: list[str] = []
    if not (rest and create):
        return mapped, created
    taken_names = set(session.scalars(select(Staff.username).where(Staff.tenant_id == tenant_id)))
    taken_numbers = set(session.scalars(select(Staff.employee_no).where(Staff.tenant_id == tenant_id)))
    for userid in sorted(rest):
        username = next(
            (u for u in (userid, f"wecom.{userid}") if USERNAME.match(u) and u not in taken_names), None
        )
        number = f"WX-{userid}"
        if not EMPLOYEE_NO.match(number) or number in taken_numbers:
            number = "WX-" + hashlib.sha256(userid.encode()).hexdigest()[:20]
        if username is None or number in taken_numbers:
            continue  # stays unmapped until an operator maps it
        staff = service.create_staff(
            session,
            tenant_id=tenant_id,
            data=schemas.StaffCreate(
                employee_no=number,
                username=username,
                name=(names[userid] or userid)[:80],
                role="guide",
                wecom_userid=userid,
            ),
            actor=None,
        )
        taken_names.add(username)
        taken_numbers.add(number)
        mapped[userid] = staff.id
        created.append(userid)
    return mapped, created


def rename_wecom_userid(session: Session, *, tenant_id: int, old: str, new: str) -> int | None:
    """WeCom changed a member's UserID: the staff member carrying the old one carries the new one
    (unless another already does); answers that staff member's id."""
    staff = session.scalar(select(Staff).where(Staff.tenant_id == tenant_id, Staff.wecom_userid == old))
    if staff is None:
        return None
    clash = session.scalar(select(Staff.id).where(Staff.tenant_id == tenant_id, Staff.wecom_userid == new))
    if clash is None:
        staff.wecom_userid = new
        session.flush()
        return staff.id
    return None


__all__ = [
    "EMPLOYEE_NO",
    "USERNAME",
    "Region",
    "Staff",
    "StaffInfo",
    "StaffStore",
    "Store",
    "StoreInfo",
    "Tenant",
    "TenantRead",
    "map_wecom_members",
    "rename_wecom_userid",
    "staff_by_employee_no",
    "staff_by_id",
    "staff_by_wecom_userid",
    "stores_by_code",
    "stores_by_id",
    "tenant_zone",
]
