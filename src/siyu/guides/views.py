"""HTTP routes of exclusive guides: a customer's binding, and binding a guide by hand."""

from __future__ import annotations

from fastapi import APIRouter

from siyu.access import Perm, Principal
from siyu.api.deps import DB, PathId, allow
from siyu.api.routing import TransactionalRoute
from siyu.core.clock import utcnow
from siyu.core.errors import not_found
from siyu.customers.facade import get_customer
from siyu.guides import schemas as s
from siyu.guides import service
from siyu.org import facade as org

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute, tags=["guides 导购"])


def _binding_read(customer_id: int, state: service.BindingState) -> s.BindingRead:
    return s.BindingRead(
        customer_id=customer_id,
        guide_id=state.guide_id,
        store_id=state.store_id,
        source=state.source,
        started_at=state.started_at,
        protected_until=state.protected_until,
        active=state.guide_active,
    )


@router.get(
    "/customers/{customer_id}/exclusive-guide",
    response_model=s.BindingRead | None,
    summary="Exclusive guide 专属导购",
)
def exclusive_guide(
    customer_id: PathId, db: DB, principal: Principal = allow(Perm.CUSTOMERS_READ)
) -> s.BindingRead | None:
    """The customer's exclusive guide and protection window (null when none)."""
    get_customer(db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal)
    state = service.binding_of(db, tenant_id=principal.tenant_id, customer_id=customer_id)
    return _binding_read(customer_id, state) if state else None


@router.post(
    "/customers/{customer_id}/exclusive-guide",
    response_model=s.BindingRead,
    summary="Bind an exclusive guide 绑定专属导购",
)
def bind_exclusive_guide(
    customer_id: PathId, body: s.BindingCreate, db: DB, principal: Principal = allow(Perm.BINDINGS_WRITE)
) -> s.BindingRead:
    """Bind (or renew) a guide; while another guide's protection window runs this answers 409."""
    get_customer(db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal)
    if principal.scope != "all":  # a store manager binds guides (and stores) of their own stores only
        staff = org.staff_by_id(db, tenant_id=principal.tenant_id, ids={body.guide_id}).get(body.guide_id)
        if staff is None or not set(staff.store_ids) & principal.store_ids:
            raise not_found("guide")
        if body.store_id is not None and body.store_id not in principal.store_ids:
            raise not_found("store")
    if body.store_id is not None and body.store_id not in org.stores_by_id(
        db, tenant_id=principal.tenant_id, ids={body.store_id}
    ):
        raise not_found("store")
    state = service.bind(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        guide_id=body.guide_id,
        store_id=body.store_id,
        source="manual",
        at=utcnow(),
        reference=f"{principal.actor_type}:{principal.actor_id}",
    )
    return _binding_read(customer_id, state)
