"""HTTP routes of the organisation: tenant, regions, stores, staff."""

from __future__ import annotations

from fastapi import APIRouter, Response

from siyu.access import Perm, Principal
from siyu.api.deps import DB, Limit, PathId, QueryId, allow
from siyu.api.platform import add_import_route
from siyu.api.routing import TransactionalRoute
from siyu.core.phone import mask_phone
from siyu.org import schemas, service
from siyu.org.imports import (
    STAFF_OPTIONAL,
    STAFF_REQUIRED,
    STORE_OPTIONAL,
    STORE_REQUIRED,
    import_staff,
    import_stores,
)
from siyu.org.models import Staff

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute, tags=["organisation 组织"])


def staff_read(staff: Staff, store_ids: list[int], principal: Principal) -> schemas.StaffRead:
    """Staff as the API shows it (phones masked unless the role may reveal them)."""
    phone = staff.phone_e164 if principal.can(Perm.PHONE_REVEAL) else mask_phone(staff.phone_e164)
    return schemas.StaffRead(
        id=staff.id,
        employee_no=staff.employee_no,
        username=staff.username,
        name=staff.name,
        role=staff.role,
        status=staff.status,
        phone=phone,
        store_ids=store_ids,
        wecom_userid=staff.wecom_userid,
    )


def one_staff(db: DB, staff: Staff, principal: Principal) -> schemas.StaffRead:
    """One staff member as the API shows it, with the stores they work in."""
    stores = service.staff_store_ids(db, tenant_id=principal.tenant_id, staff_ids=[staff.id])
    return staff_read(staff, stores[staff.id], principal)


@router.get("/tenant", response_model=schemas.TenantRead, summary="This tenant 当前品牌")
def get_tenant(db: DB, principal: Principal = allow(Perm.TENANT_READ)) -> schemas.TenantRead:
    """The caller's brand."""
    return schemas.TenantRead.model_validate(service.get_tenant(db, tenant_id=principal.tenant_id))


@router.patch("/tenant", response_model=schemas.TenantRead, summary="Change brand settings 修改品牌设置")
def update_tenant(
    body: schemas.TenantUpdate, db: DB, principal: Principal = allow(Perm.TENANT_WRITE)
) -> schemas.TenantRead:
    """The brand's name and settings, such as the exclusive-guide protection window (days)."""
    tenant = service.update_tenant(db, tenant_id=principal.tenant_id, data=body, actor=principal)
    return schemas.TenantRead.model_validate(tenant)


@router.get("/regions", response_model=list[schemas.RegionRead], summary="List regions 区域列表")
def list_regions(db: DB, principal: Principal = allow(Perm.ORG_READ)) -> list[schemas.RegionRead]:
    """All regions."""
    return [
        schemas.RegionRead.model_validate(r) for r in service.list_regions(db, tenant_id=principal.tenant_id)
    ]


@router.post(
    "/regions", response_model=schemas.RegionRead, status_code=201, summary="Create a region 新建区域"
)
def create_region(
    body: schemas.RegionCreate, db: DB, principal: Principal = allow(Perm.ORG_WRITE)
) -> schemas.RegionRead:
    """Create a region."""
    return schemas.RegionRead.model_validate(
        service.create_region(db, tenant_id=principal.tenant_id, data=body, actor=principal)
    )


@router.get("/regions/{region_id}", response_model=schemas.RegionRead, summary="Get a region 区域详情")
def get_region(region_id: PathId, db: DB, principal: Principal = allow(Perm.ORG_READ)) -> schemas.RegionRead:
    """One region."""
    return schemas.RegionRead.model_validate(
        service.get_region(db, tenant_id=principal.tenant_id, region_id=region_id)
    )


@router.patch("/regions/{region_id}", response_model=schemas.RegionRead, summary="Rename a region 修改区域")
def update_region(
    region_id: PathId, body: schemas.RegionUpdate, db: DB, principal: Principal = allow(Perm.ORG_WRITE)
) -> schemas.RegionRead:
    """Rename a region."""
    return schemas.RegionRead.model_validate(
        service.update_region(db, tenant_id=principal.tenant_id, region_id=region_id, data=body)
    )


@router.delete("/regions/{region_id}", status_code=204, summary="Delete a region 删除区域")
def delete_region(region_id: PathId, db: DB, principal: Principal = allow(Perm.ORG_WRITE)) -> Response:
    """Delete a region; its stores remain without one."""
    service.delete_region(db, tenant_id=principal.tenant_id, region_id=region_id)
    return Response(status_code=204)


@router.get("/stores", response_model=schemas.StorePage, summary="List stores 门店列表")
def list_stores(
    db: DB,
    limit: Limit,
    cursor: str | None = None,
    city: str | None = None,
    region_id: QueryId = None,
    status: str | None = None,
    q: str | None = None,
    principal: Principal = allow(Perm.ORG_READ),
) -> schemas.StorePage:
    """Stores, filtered and paginated by cursor."""
    rows, next_cursor = service.list_stores(
        db,
        tenant_id=principal.tenant_id,
        cursor=cursor,
        limit=limit,
        city=city,
        region_id=region_id,
        status=status,
        q=q,
    )
    return schemas.StorePage(
        items=[schemas.StoreRead.model_validate(r) for r in rows], next_cursor=next_cursor
    )


@router.post("/stores", response_model=schemas.StoreRead, status_code=201, summary="Create a store 新建门店")
def create_store(
    body: schemas.StoreCreate, db: DB, principal: Principal = allow(Perm.ORG_WRITE)
) -> schemas.StoreRead:
    """Create a store with its business hours."""
    return schemas.StoreRead.model_validate(
        service.create_store(db, tenant_id=principal.tenant_id, data=body, actor=principal)
    )


@router.get("/stores/{store_id}", response_model=schemas.StoreRead, summary="Get a store 门店详情")
def get_store(store_id: PathId, db: DB, principal: Principal = allow(Perm.ORG_READ)) -> schemas.StoreRead:
    """One store."""
    return schemas.StoreRead.model_validate(
        service.get_store(db, tenant_id=principal.tenant_id, store_id=store_id)
    )


@router.patch("/stores/{store_id}", response_model=schemas.StoreRead, summary="Change a store 修改门店")
def update_store(
    store_id: PathId, body: schemas.StoreUpdate, db: DB, principal: Principal = allow(Perm.ORG_WRITE)
) -> schemas.StoreRead:
    """Change a store; hours are validated as a whole."""
    return schemas.StoreRead.model_validate(
        service.update_store(db, tenant_id=principal.tenant_id, store_id=store_id, data=body, actor=principal)
    )


@router.delete("/stores/{store_id}", response_model=schemas.StoreRead, summary="Close a store 关店")
def close_store(store_id: PathId, db: DB, principal: Principal = allow(Perm.ORG_WRITE)) -> schemas.StoreRead:
    """Close a store (kept for history)."""
    return schemas.StoreRead.model_validate(
        service.close_store(db, tenant_id=principal.tenant_id, store_id=store_id, actor=principal)
    )


@router.get("/staff", response_model=schemas.StaffPage, summary="List staff 员工列表")
def list_staff(
    db: DB,
    limit: Limit,
    cursor: str | None = None,
    role: str | None = None,
    store_id: QueryId = None,
    status: str | None = None,
    principal: Principal = allow(Perm.STAFF_READ),
) -> schemas.StaffPage:
    """Staff, filtered and paginated by cursor."""
    rows, next_cursor = service.list_staff(
        db,
        tenant_id=principal.tenant_id,
        cursor=cursor,
        limit=limit,
        role=role,
        store_id=store_id,
        status=status,
    )
    stores = service.staff_store_ids(db, tenant_id=principal.tenant_id, staff_ids=[r.id for r in rows])
    return schemas.StaffPage(
        items=[staff_read(r, stores[r.id], principal) for r in rows], next_cursor=next_cursor
    )


@router.post(
    "/staff", response_model=schemas.StaffRead, status_code=201, summary="Create a staff account 新建员工"
)
def create_staff(
    body: schemas.StaffCreate, db: DB, principal: Principal = allow(Perm.STAFF_WRITE)
) -> schemas.StaffRead:
    """Create a staff account with its stores."""
    staff = service.create_staff(db, tenant_id=principal.tenant_id, data=body, actor=principal)
    return staff_read(staff, sorted(set(body.store_ids)), principal)


@router.get("/staff/{staff_id}", response_model=schemas.StaffRead, summary="Get a staff member 员工详情")
def get_staff(staff_id: PathId, db: DB, principal: Principal = allow(Perm.STAFF_READ)) -> schemas.StaffRead:
    """One staff member."""
    staff = service.get_staff(db, tenant_id=principal.tenant_id, staff_id=staff_id)
    return one_staff(db, staff, principal)


@router.patch("/staff/{staff_id}", response_model=schemas.StaffRead, summary="Change a staff member 修改员工")
def update_staff(
    staff_id: PathId, body: schemas.StaffUpdate, db: DB, principal: Principal = allow(Perm.STAFF_WRITE)
) -> schemas.StaffRead:
    """Change role, stores, status, password or WeCom UserID (friends parked against it attach)."""
    staff = service.update_staff(
        db, tenant_id=principal.tenant_id, staff_id=staff_id, data=body, actor=principal
    )
    return one_staff(db, staff, principal)


@router.delete("/staff/{staff_id}", response_model=schemas.StaffRead, summary="Mark as departed 员工离职")
def depart_staff(
    staff_id: PathId, db: DB, principal: Principal = allow(Perm.STAFF_WRITE)
) -> schemas.StaffRead:
    """Mark a staff member as departed (sign-in stops; history stays)."""
    staff = service.update_staff(
        db,
        tenant_id=principal.tenant_id,
        staff_id=staff_id,
        data=schemas.StaffUpdate(status="departed"),
        actor=principal,
    )
    return one_staff(db, staff, principal)


add_import_route(
    router, "stores", import_stores, Perm.ORG_WRITE, required=STORE_REQUIRED, optional=STORE_OPTIONAL
)

add_import_route(
    router, "staff", import_staff, Perm.STAFF_WRITE, required=STAFF_REQUIRED, optional=STAFF_OPTIONAL
)
