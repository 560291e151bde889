"""The metadata registry: every domain's tables, so `Base.metadata` is complete.

The one module that imports every domain's models. Migrations (Alembic's env), the tests and the
whole-tenant delete below use it; no domain and nothing in `db` imports it (the import contract in
pyproject.toml says so), so adding a domain adds a line here and nowhere else.
"""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.orm import Session

from siyu.audiences import models as audience_models
from siyu.auth import models as auth_models
from siyu.customers import models as customer_models
from siyu.db.base import Base, table_of
from siyu.events import models as event_models
from siyu.guides import models as guide_models
from siyu.imports import models as import_models
from siyu.jobs import models as job_models
from siyu.loyalty import models as loyalty_models
from siyu.orders import models as order_models
from siyu.org import models as org_models
from siyu.payments import models as payments_models
from siyu.platform import models as platform_models
from siyu.products import models as product_models
from siyu.segments import models as segment_models
from siyu.tags import models as tag_models
from siyu.wecom import models as wecom_models

__all__ = [
    "Base",
    "audience_models",
    "auth_models",
    "customer_models",
    "event_models",
    "guide_models",
    "import_models",
    "job_models",
    "loyalty_models",
    "order_models",
    "org_models",
    "payments_models",
    "platform_models",
    "product_models",
    "purge_tenant",
    "segment_models",
    "tag_models",
    "wecom_models",
]


def purge_tenant(session: Session, *, tenant_id: int) -> None:
    """Delete a tenant and every row it owns (demo rebuilds, tests). Irreversible.

    Tables are emptied child-first with one set-based DELETE each, using the tenant_id indexes,
    instead of relying on per-row ON DELETE CASCADE.
    """
    for table in reversed(Base.metadata.sorted_tables):
        if "tenant_id" in table.c:
            session.execute(delete(table).where(table.c.tenant_id == tenant_id))
    tenants = table_of(org_models.Tenant)
    session.execute(delete(tenants).where(tenants.c.id == tenant_id))
