"""Imports every table so Base.metadata is complete (Alembic and tests use this)."""

from siyu.audiences import models as audience_models
from siyu.auth import models as auth_models
from siyu.customers import models as customer_models
from siyu.db.base import Base
from siyu.guides import models as guide_models
from siyu.orders import models as order_models
from siyu.org import models as org_models
from siyu.platform import models as platform_models
from siyu.products import models as product_models
from siyu.tags import models as tag_models
from siyu.wecom import models as wecom_models

__all__ = [
    "Base",
    "audience_models",
    "auth_models",
    "customer_models",
    "guide_models",
    "order_models",
    "org_models",
    "platform_models",
    "product_models",
    "tag_models",
    "wecom_models",
]
