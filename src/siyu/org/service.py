"""Use cases of the organisation. Tenant explicit, keyword-only, never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu import events
from siyu.access import Principal
from siyu.access.passwords import hash_password
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.core.phone import normalise_phone
from siyu.db.pagination import keyset_page
from siyu.org import schemas
from siyu.org.hours import Interval, to_minutes, validate_intervals
from siyu.org.models import Region, Staff, StaffStore, Store, Tenant
from siyu.platform import audit


# --- tenants ----------------------------------------------------------------------------------
def create_tenant(session: Session, *, data: schemas.TenantCreate) -> Tenant:
    """Create a brand."""
    if session.scalar(select(Tenant.id).where(Tenant.slug == data.slug)) is not None:
        raise DomainError("duplicate", object="tenant", value=data.slug)
    tenant = Tenant(slug=data.slug, name=data.name, timezone=data.timezone, currency=data.currency)
    session.add(tenant)
    session.flush()
    return tenant


def get_tenant(session: Session, *, tenant_id: int) -> Tenant:
    """A tenant by id."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise not_found("tenant")
    return tenant


def get_tenant_by_slug(session: Session, *, slug: str) -> Tenant:
    """A tenant by slug."""
    tenant = session.scalar(select(Tenant).where(Tenant.slug == slug))
    if tenant is None:
        raise not_found("tenant")
    return tenant


def update_tenant(
    session: Session, *, tenant_id: int, data: schemas.TenantUpdate, actor: Principal | None
) -> Tenant:
    """Change the brand's name or settings (audited)."""
    tenant = get_tenant(session, tenant_id=tenant_id)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    for key, value in changes.items():
        setattr(tenant, key, value)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="tenant.update",
        object_type="tenant",
        object_id=tenant_id,
        data=changes,
    )
    return tenant


# --- regions ----------------------------------------------------------------------------------
def create_region(
    session: Session, *, tenant_id: int, data: schemas.RegionCreate, actor: Principal | None = None
) -> Region:
    """Create a region; its code is unique in the tenant (audited)."""
    if session.scalar(select(Region.id).where(Region.tenant_id == tenant_id, Region.code == data.code)):
        raise DomainError("duplicate", object="region", value=data.code)
    region = Region(tenant_id=tenant_id, code=data.code, name=data.name)
    session.add(region)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="region.create",
        object_type="region",
        object_id=region.id,
        data={"code": data.code},
    )
    return region


def get_region(session: Session, *, tenant_id: int, region_id: int) -> Region:
    """A region of the tenant, or not found."""
    region = session.scalar(select(Region).where(Region.tenant_id == tenant_id, Region.id == region_id))
    if region is None:
        raise not_found("region")
    return region


def list_regions(session: Session, *, tenant_id: int) -> list[Region]:
    """All regions of the tenant by code."""
    return list(session.scalars(select(Region).where(Region.tenant_id == tenant_id).order_by(Region.code)))


def update_region(session: Session, *, tenant_id: int, region_id: int, data: schemas.RegionUpdate) -> Region:
    """Rename a region."""
    region = get_region(session, tenant_id=tenant_id, region_id=region_id)
    if data.name is not None:
        region.name = data.name
    return region


def delete_region(session: Session, *, tenant_id: int, region_id: int) -> None:
    """Delete a region; its stores stay, without a region."""
    region = get_region(session, tenant_id=tenant_id, region_id=region_id)
    session.execute(
        update(Store).where(Store.tenant_id == tenant_id, Store.region_id == region.id).values(region_id=None)
    )
    session.delete(region)


# --- stores -----------------------------------------------------------------------------------
def _check_hours(hours: list[schemas.HoursInterval], holidays: list[schemas.Holiday]) -> None:
    validate_intervals([Interval(h.weekday, h.opens, h.closes) for h in hours])
    seen = set()
    for day in holidays:
        if day.date in seen:
            raise DomainError("invalid_hours", value=f"holiday {day.date} listed twice / 节假日重复")
        seen.add(day.date)
        if not day.closed and day.opens and day.closes:
            to_minutes(day.opens)
            to_minutes(day.closes)


def _store_values(data: schemas.StoreBase | schemas.StoreUpdate) -> dict[str, Any]:
    values = data.model_dump(exclude_unset=True, mode="json")
    return values


def create_store(
    session: Session, *, tenant_id: int, data: schemas.StoreCreate, actor: Principal | None
) -> Store:
    """Create a store after validating its region and hours."""
    _check_hours(data.business_hours, data.holidays)
    if data.region_id is not None:
        get_region(session, tenant_id=tenant_id, region_id=data.region_id)
    if session.scalar(select(Store.id).where(Store.tenant_id == tenant_id, Store.code == data.code)):
        raise DomainError("duplicate", object="store", value=data.code)
    store = Store(tenant_id=tenant_id, **data.model_dump(mode="json"))
    session.add(store)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="store.create",
        object_type="store",
        object_id=store.id,
    )
    return store


def get_store(session: Session, *, tenant_id: int, store_id: int) -> Store:
    """A store of the tenant, or not found."""
    store = session.scalar(select(Store).where(Store.tenant_id == tenant_id, Store.id == store_id))
    if store is None:
        raise not_found("store")
    return store


def list_stores(
    session: Session,
    *,
    tenant_id: int,
    cursor: str | None,
    limit: int,
    city: str | None = None,
    region_id: int | None = None,
    status: str | None = None,
    q: str | None = None,
) -> tuple[list[Store], str | None]:
    """Stores ordered by id, keyset-paginated, with filters."""
    stmt = select(Store).where(Store.tenant_id == tenant_id)
    if city:
        stmt = stmt.where(Store.city == city)
    if region_id is not None:
        stmt = stmt.where(Store.region_id == region_id)
    if status:
        stmt = stmt.where(Store.status == status)
    if q:
        stmt = stmt.where(Store.name.contains(q, autoescape=True) | (Store.code == q))
    return keyset_page(session, stmt, Store.id, cursor=cursor, limit=limit)


def all_stores(session: Session, *, tenant_id: int) -> list[Store]:
    """Every store of the brand by code (brands have hundreds, not millions)."""
    return list(session.scalars(select(Store).where(Store.tenant_id == tenant_id).order_by(Store.code)))


def update_store(
    session: Session, *, tenant_id: int, store_id: int, data: schemas.StoreUpdate, actor: Principal | None
) -> Store:
    """Change a store; hours are re-validated as a whole."""
    store = get_store(session, tenant_id=tenant_id, store_id=store_id)
    hours = (
        data.business_hours
        if data.business_hours is not None
        else [schemas.HoursInterval.model_validate(h, strict=False) for h in store.business_hours]
    )
    holidays = (
        data.holidays
        if data.holidays is not None
        else [schemas.Holiday.model_validate(h, strict=False) for h in store.holidays]
    )
    _check_hours(hours, holidays)
    if data.region_id is not None:
        get_region(session, tenant_id=tenant_id, region_id=data.region_id)
    for key, value in _store_values(data).items():
        setattr(store, key, value)
    store.updated_at = utcnow()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="store.update",
        object_type="store",
        object_id=store.id,
        data={"fields": sorted(data.model_fields_set)},
    )
    return store


def close_store(session: Session, *, tenant_id: int, store_id: int, actor: Principal | None) -> Store:
    """Close a store (stores are never hard-deleted: orders and customers point at them)."""
    store = get_store(session, tenant_id=tenant_id, store_id=store_id)
    store.status = "closed"
    store.updated_at = utcnow()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="store.close",
        object_type="store",
        object_id=store.id,
    )
    return store


# --- staff ------------------------------------------------------------------------------------
def _check_store_ids(session: Session, tenant_id: int, store_ids: list[int]) -> None:
    wanted = set(store_ids)
    found = set(session.scalars(select(Store.id).where(Store.tenant_id == tenant_id, Store.id.in_(wanted))))
    if missing := wanted - found:
        raise DomainError("not_found", object="store", details={"store_ids": sorted(missing)})


def staff_store_ids(session: Session, *, tenant_id: int, staff_ids: list[int]) -> dict[int, list[int]]:
    """Store ids per staff member."""
    out: dict[int, list[int]] = {sid: [] for sid in staff_ids}
    rows = session.execute(
        select(StaffStore.staff_id, StaffStore.store_id)
        .where(StaffStore.tenant_id == tenant_id, StaffStore.staff_id.in_(staff_ids))
        .order_by(StaffStore.store_id)
    )
    for staff_id, store_id in rows:
        out[staff_id].append(store_id)
    return out


def _set_stores(session: Session, tenant_id: int, staff_id: int, store_ids: list[int]) -> None:
    _check_store_ids(session, tenant_id, store_ids)
    session.execute(
        delete(StaffStore).where(StaffStore.tenant_id == tenant_id, StaffStore.staff_id == staff_id)
    )
    for store_id in sorted(set(store_ids)):
        session.add(StaffStore(tenant_id=tenant_id, staff_id=staff_id, store_id=store_id))


def create_staff(
    session: Session, *, tenant_id: int, data: schemas.StaffCreate, actor: Principal | None
) -> Staff:
    """Create a staff account with its stores."""
    for column, value in (
        ("username", data.username),
        ("employee_no", data.employee_no),
        ("wecom_userid", data.wecom_userid),
    ):
        if value is not None and session.scalar(
            select(Staff.id).where(Staff.tenant_id == tenant_id, getattr(Staff, column) == value)
        ):
            raise DomainError("duplicate", object="staff", value=value)
    staff = Staff(
        tenant_id=tenant_id,
        employee_no=data.employee_no,
        username=data.username,
        name=data.name,
        role=data.role,
        phone_e164=normalise_phone(data.phone) if data.phone else None,
        password_hash=hash_password(data.password) if data.password else None,
        wecom_userid=data.wecom_userid,
    )
    session.add(staff)
    try:
        session.flush()
    except IntegrityError as exc:  # a concurrent create with the same username
        raise DomainError("duplicate", object="staff", value=data.username) from exc
    _set_stores(session, tenant_id, staff.id, data.store_ids)
    if staff.wecom_userid:  # friends parked against this WeCom member are theirs now
        _wecom_userid_set(session, staff)
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="staff.create",
        object_type="staff",
        object_id=staff.id,
        data={"role": data.role},
    )
    return staff


def get_staff(session: Session, *, tenant_id: int, staff_id: int) -> Staff:
    """A staff member of the tenant, or not found."""
    staff = session.scalar(select(Staff).where(Staff.tenant_id == tenant_id, Staff.id == staff_id))
    if staff is None:
        raise not_found("staff")
    return staff


def list_staff(
    session: Session,
    *,
    tenant_id: int,
    cursor: str | None,
    limit: int,
    role: str | None = None,
    store_id: int | None = None,
    status: str | None = None,
) -> tuple[list[Staff], str | None]:
    """Staff ordered by id, keyset-paginated, with filters."""
    stmt = select(Staff).where(Staff.tenant_id == tenant_id)
    if role:
        stmt = stmt.where(Staff.role == role)
    if status:
        stmt = stmt.where(Staff.status == status)
    if store_id is not None:
        stmt = stmt.where(
            Staff.id.in_(
                select(StaffStore.staff_id).where(
                    StaffStore.tenant_id == tenant_id, StaffStore.store_id == store_id
                )
            )
        )
    return keyset_page(session, stmt, Staff.id, cursor=cursor, limit=limit)


def all_staff(session: Session, *, tenant_id: int) -> list[Staff]:
    """Every staff member of the brand by employee number."""
    return list(
        session.scalars(select(Staff).where(Staff.tenant_id == tenant_id).order_by(Staff.employee_no))
    )


def _keep_an_owner(session: Session, *, tenant_id: int, leaving_id: int) -> None:
    """Refuse to demote or depart the brand's last active owner. Every active owner (the leaving
    one included) is locked in id order — one lock order, so two owners demoting each other at
    once queue instead of deadlocking, and the second sees the first's change."""
    owners = session.scalars(
        select(Staff.id)
        .where(Staff.tenant_id == tenant_id, Staff.role == "owner", Staff.status == "active")
        .order_by(Staff.id)
        .with_for_update()
    ).all()
    if not [owner for owner in owners if owner != leaving_id]:
        raise DomainError("last_owner")


def _wecom_userid_set(session: Session, staff: Staff) -> None:
    events.record(
        session,
        "staff.wecom_userid_set",
        tenant_id=staff.tenant_id,
        aggregate="staff",
        aggregate_id=staff.id,
        data={"wecom_userid": staff.wecom_userid},
    )


def update_staff(
    session: Session, *, tenant_id: int, staff_id: int, data: schemas.StaffUpdate, actor: Principal | None
) -> Staff:
    """Change a staff member; setting status 'departed' revokes sign-in, a new password revokes
    every token and console session issued before it, and the last active owner stays owner."""
    staff = get_staff(session, tenant_id=tenant_id, staff_id=staff_id)
    demoted = data.role is not None and data.role != "owner"
    departs = data.status == "departed"
    if staff.role == "owner" and staff.status == "active" and (demoted or departs):
        _keep_an_owner(session, tenant_id=tenant_id, leaving_id=staff.id)
    if data.name is not None:
        staff.name = data.name
    if data.role is not None:
        staff.role = data.role
    if data.status is not None:
        staff.status = data.status
    if "phone" in data.model_fields_set:
        staff.phone_e164 = normalise_phone(data.phone) if data.phone else None
    if data.password is not None:
        staff.password_hash = hash_password(data.password)
        events.record(
            session,
            "staff.password_changed",
            tenant_id=tenant_id,
            aggregate="staff",
            aggregate_id=staff.id,
            required=True,
        )
    if data.status == "departed":
        events.record(
            session,
            "staff.departed",
            tenant_id=tenant_id,
            aggregate="staff",
            aggregate_id=staff.id,
            required=True,
        )
    if data.store_ids is not None:
        _set_stores(session, tenant_id, staff.id, data.store_ids)
    if "wecom_userid" in data.model_fields_set and data.wecom_userid != staff.wecom_userid:
        if data.wecom_userid and session.scalar(
            select(Staff.id).where(Staff.tenant_id == tenant_id, Staff.wecom_userid == data.wecom_userid)
        ):
            raise DomainError("duplicate", object="staff", value=data.wecom_userid)
        staff.wecom_userid = data.wecom_userid
    if data.wecom_userid is not None:  # friends parked against this WeCom member are theirs now
        _wecom_userid_set(session, staff)
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="staff.update",
        object_type="staff",
        object_id=staff.id,
        data={"fields": sorted(f for f in data.model_fields_set if f != "password")},
    )
    return staff
