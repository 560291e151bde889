"""HTTP routes of customers: batch upsert, lookup, 360 profile, identities, consent, merges."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse

from siyu.access import Perm, Principal
from siyu.api.deps import DB, Limit, PathId, QueryId, allow
from siyu.api.downloads import temporary_download
from siyu.api.platform import add_import_route
from siyu.api.routing import TransactionalRoute
from siyu.core.phone import mask_phone, national_display
from siyu.customers import imports, service
from siyu.customers import schemas as s
from siyu.customers.imports import OPTIONAL as CUSTOMER_COLUMNS
from siyu.customers.imports import import_customers
from siyu.customers.models import ConsentRecord, Customer, CustomerIdentity, CustomerMerge
from siyu.platform import audit

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute, tags=["customers 客户"])


def summary(c: Customer) -> s.CustomerSummary:
    """A customer row as the API shows it; phones are always masked here."""
    return s.CustomerSummary(
        id=c.id,
        number=c.number,
        name=c.name,
        gender=c.gender,
        birthday=c.birthday,
        city=c.city,
        member_tier=c.member_tier,
        phone=mask_phone(c.phone_e164),
        custom_fields=c.custom_fields or {},
        store_id=c.store_id,
        guide_id=c.guide_id,
        status=c.status,
        merged_into_id=c.merged_into_id,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def identity_read(i: CustomerIdentity) -> s.IdentityRead:
    """An identity as shown (phone values masked)."""
    value = (mask_phone(i.value) or "") if i.type == "phone" else i.value
    return s.IdentityRead(
        id=i.id, type=i.type, namespace=i.namespace, value=value, source=i.source, created_at=i.created_at
    )


def full(db: DB, c: Customer) -> s.CustomerRead:
    """A customer with all identities."""
    idents = service.identities_of(db, tenant_id=c.tenant_id, customer_ids=[c.id])[c.id]
    return s.CustomerRead(**summary(c).model_dump(), identities=[identity_read(i) for i in idents])


def merge_read(m: CustomerMerge) -> s.MergeRead:
    """A merge with counts of what moved."""
    moved = service.merge_counts(m)
    return s.MergeRead(
        id=m.id,
        survivor_id=m.survivor_id,
        merged_id=m.merged_id,
        created_at=m.created_at,
        undone_at=m.undone_at,
        moved=moved,
    )


def consent_read(c: ConsentRecord) -> s.ConsentRead:
    """A consent record."""
    return s.ConsentRead.model_validate(c)


@router.post(
    "/customers/batch", response_model=s.BatchResult, summary="Upsert customers by identity 批量写入客户"
)
def upsert_batch(
    body: s.CustomerBatch, db: DB, principal: Principal = allow(Perm.CUSTOMERS_UPSERT)
) -> s.BatchResult:
    """Create or update up to 1,000 customers; records sharing an identity resolve to one customer."""
    return service.upsert_customers(
        db, tenant_id=principal.tenant_id, records=body.records, source=body.source, actor=principal
    )


@router.get("/customers", response_model=s.CustomerPage, summary="List customers 客户列表")
def list_customers(
    db: DB,
    limit: Limit,
    filters: Annotated[s.CustomerFilter, Query()],
    cursor: str | None = None,
    principal: Principal = allow(Perm.CUSTOMERS_READ),
) -> s.CustomerPage:
    """Customers in the caller's scope, newest first."""
    rows, next_cursor = service.list_customers(
        db, tenant_id=principal.tenant_id, principal=principal, cursor=cursor, limit=limit, filters=filters
    )
    return s.CustomerPage(items=[summary(c) for c in rows], next_cursor=next_cursor)


@router.get(
    "/customers/lookup", response_model=s.CustomerRead, summary="Find a customer by identity 按身份查找客户"
)
def lookup(
    db: DB,
    type: str = Query(max_length=32),
    value: str = Query(max_length=200),
    namespace: str | None = Query(default=None, max_length=64),
    principal: Principal = allow(Perm.CUSTOMERS_READ),
) -> s.CustomerRead:
    """The customer owning the identity (with all identities), or 404."""
    customer = service.lookup(
        db, tenant_id=principal.tenant_id, type_=type, value=value, namespace=namespace, principal=principal
    )
    return full(db, customer)


@router.get(
    "/customers/export",
    summary="Export customers 导出客户 (CSV/Excel)",
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}, "application/vnd.ms-excel": {}}}},
)
def export(
    db: DB, format: Literal["csv", "xlsx"] = "xlsx", principal: Principal = allow(Perm.CUSTOMERS_EXPORT)
) -> FileResponse:
    """All active customers of the tenant; phones masked."""
    counted: list[int] = []

    def write(path: Path) -> None:
        counted.append(
            imports.export_customers(db, tenant_id=principal.tenant_id, path=path, reveal_phones=False)
        )

    response = temporary_download(f"customers.{format}", write)
    audit.record(
        db,
        tenant_id=principal.tenant_id,
        actor=principal,
        action="customer.export",
        object_type="customer",
        object_id=None,
        data={"rows": counted[0], "format": format},
    )
    return response


@router.get("/customers/{customer_id}", response_model=s.CustomerRead, summary="Get a customer 客户详情")
def get_customer(
    customer_id: PathId, db: DB, principal: Principal = allow(Perm.CUSTOMERS_READ)
) -> s.CustomerRead:
    """One customer with identities (404 outside the caller's scope)."""
    return full(
        db,
        service.get_customer(db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal),
    )


@router.patch(
    "/customers/{customer_id}", response_model=s.CustomerRead, summary="Change a customer 修改客户资料"
)
def update_customer(
    customer_id: PathId, body: s.CustomerUpdate, db: DB, principal: Principal = allow(Perm.CUSTOMERS_WRITE)
) -> s.CustomerRead:
    """Change profile fields."""
    return full(
        db,
        service.update_customer(
            db, tenant_id=principal.tenant_id, customer_id=customer_id, data=body, principal=principal
        ),
    )


@router.post(
    "/customers/{customer_id}/identities",
    response_model=s.IdentityRead,
    status_code=201,
    summary="Add an identity 添加身份标识",
)
def add_identity(
    customer_id: PathId, body: s.IdentityIn, db: DB, principal: Principal = allow(Perm.CUSTOMERS_WRITE)
) -> s.IdentityRead:
    """Attach an identity; one owned by another customer answers 409."""
    return identity_read(
        service.add_identity(
            db, tenant_id=principal.tenant_id, customer_id=customer_id, data=body, principal=principal
        )
    )


@router.delete(
    "/customers/{customer_id}/identities/{identity_id}",
    status_code=204,
    summary="Remove an identity 移除身份标识",
)
def remove_identity(
    customer_id: PathId, identity_id: PathId, db: DB, principal: Principal = allow(Perm.CUSTOMERS_WRITE)
) -> Response:
    """Detach an identity."""
    service.remove_identity(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        identity_id=identity_id,
        principal=principal,
    )
    return Response(status_code=204)


@router.post(
    "/customers/{customer_id}/phone/reveal",
    response_model=s.PhoneReveal,
    summary="Reveal the phone number 查看完整手机号（记录审计）",
)
def reveal_phone(
    customer_id: PathId, db: DB, principal: Principal = allow(Perm.PHONE_REVEAL)
) -> s.PhoneReveal:
    """The unmasked phone; the reveal is written to the audit log."""
    c = service.reveal_phone(db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal)
    return s.PhoneReveal(customer_id=c.id, phone=c.phone_e164, national=national_display(c.phone_e164))


@router.get("/customers/{customer_id}/timeline", response_model=s.TimelinePage, summary="Timeline 客户时间线")
def get_timeline(
    customer_id: PathId,
    db: DB,
    limit: Limit,
    cursor: str | None = None,
    principal: Principal = allow(Perm.CUSTOMERS_READ),
) -> s.TimelinePage:
    """Events of a customer, newest first."""
    rows, next_cursor = service.timeline(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        principal=principal,
        cursor=cursor,
        limit=limit,
    )
    return s.TimelinePage(items=[s.TimelineRead.model_validate(r) for r in rows], next_cursor=next_cursor)


@router.get("/customers/{customer_id}/consents", response_model=s.ConsentState, summary="Consent 授权状态")
def get_consents(
    customer_id: PathId, db: DB, principal: Principal = allow(Perm.CUSTOMERS_READ)
) -> s.ConsentState:
    """Consent in force per purpose, and its history."""
    current, history = service.consent_state(
        db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal
    )
    return s.ConsentState(
        current={k: consent_read(v) for k, v in current.items()}, history=[consent_read(h) for h in history]
    )


@router.post(
    "/customers/{customer_id}/consents",
    response_model=s.ConsentRead,
    status_code=201,
    summary="Grant or withdraw consent 授予或撤回授权",
)
def post_consent(
    customer_id: PathId, body: s.ConsentCreate, db: DB, principal: Principal = allow(Perm.CONSENT_WRITE)
) -> s.ConsentRead:
    """Record a grant or a withdrawal for one purpose."""
    return consent_read(
        service.record_consent(
            db, tenant_id=principal.tenant_id, customer_id=customer_id, data=body, principal=principal
        )
    )


@router.get("/customer-merges", response_model=list[s.MergeRead], summary="List merges 合并记录")
def list_merges(
    db: DB, customer_id: QueryId = None, principal: Principal = allow(Perm.CUSTOMERS_MERGE)
) -> list[s.MergeRead]:
    """Merges, optionally of one customer."""
    return [
        merge_read(m) for m in service.list_merges(db, tenant_id=principal.tenant_id, customer_id=customer_id)
    ]


@router.post(
    "/customer-merges", response_model=s.MergeRead, status_code=201, summary="Merge customers 合并客户"
)
def merge(body: s.MergeCreate, db: DB, principal: Principal = allow(Perm.CUSTOMERS_MERGE)) -> s.MergeRead:
    """Merge one customer into a survivor; audited and reversible."""
    record = service.merge(
        db,
        tenant_id=principal.tenant_id,
        survivor_id=body.survivor_id,
        merged_id=body.merged_id,
        principal=principal,
    )
    return merge_read(record)


@router.post("/customer-merges/{merge_id}/undo", response_model=s.MergeRead, summary="Unmerge 撤销合并")
def unmerge(merge_id: PathId, db: DB, principal: Principal = allow(Perm.CUSTOMERS_MERGE)) -> s.MergeRead:
    """Undo a merge."""
    record = service.unmerge(db, tenant_id=principal.tenant_id, merge_id=merge_id, principal=principal)
    return merge_read(record)


@router.get("/custom-fields", response_model=list[s.CustomFieldRead], summary="Custom fields 自定义字段")
def list_fields(db: DB, principal: Principal = allow(Perm.CUSTOMERS_READ)) -> list[s.CustomFieldRead]:
    """Definitions of the tenant's custom profile fields."""
    return [
        s.CustomFieldRead.model_validate(f)
        for f in service.list_custom_fields(db, tenant_id=principal.tenant_id)
    ]


@router.post(
    "/custom-fields",
    response_model=s.CustomFieldRead,
    status_code=201,
    summary="Define a custom field 新建自定义字段",
)
def create_field(
    body: s.CustomFieldCreate, db: DB, principal: Principal = allow(Perm.FIELDS_WRITE)
) -> s.CustomFieldRead:
    """Define a custom profile field."""
    return s.CustomFieldRead.model_validate(
        service.create_custom_field(db, tenant_id=principal.tenant_id, data=body, actor=principal)
    )


add_import_route(router, "customers", import_customers, Perm.CUSTOMERS_UPSERT, optional=CUSTOMER_COLUMNS)
