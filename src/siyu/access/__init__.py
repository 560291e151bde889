"""Roles, the permissions each holds, and each role's data scope."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Perm(StrEnum):
    """A permission a route declares; roles hold sets of them."""

    TENANT_READ = "tenant:read"
    TENANT_WRITE = "tenant:write"
    ORG_READ = "org:read"
    ORG_WRITE = "org:write"
    STAFF_READ = "staff:read"
    STAFF_WRITE = "staff:write"
    API_KEYS = "apikeys:manage"
    CUSTOMERS_READ = "customers:read"
    CUSTOMERS_WRITE = "customers:write"
    CUSTOMERS_UPSERT = "customers:upsert"
    CUSTOMERS_MERGE = "customers:merge"
    CUSTOMERS_EXPORT = "customers:export"
    PHONE_REVEAL = "customers:phone:reveal"
    CONSENT_WRITE = "consents:write"
    FIELDS_WRITE = "fields:write"
    AUDIT_READ = "audit:read"
    IMPORT = "imports:run"
    PRODUCTS_READ = "products:read"
    PRODUCTS_WRITE = "products:write"
    ORDERS_READ = "orders:read"
    ORDERS_WRITE = "orders:write"
    REPORTS_READ = "reports:read"
    BINDINGS_WRITE = "bindings:write"
    WECOM_MANAGE = "wecom:manage"
    TAGS_READ = "tags:read"
    TAGS_MANAGE = "tags:manage"
    TAGS_ASSIGN = "tags:assign"
    AUDIENCES_READ = "audiences:read"
    AUDIENCES_WRITE = "audiences:write"
    WECOM_CODES = "wecom:codes"
    GROUPS_READ = "groups:read"
    GROUPS_WRITE = "groups:write"
    WECOM_TRANSFER = "wecom:transfer"
    JOBS_MANAGE = "jobs:manage"
    LOYALTY_READ = "loyalty:read"
    LOYALTY_WRITE = "loyalty:write"
    LOYALTY_ADJUST = "loyalty:adjust"
    LOYALTY_CARDS = "loyalty:cards"  # open a customer's member card
    LOYALTY_CONFIGURE = "loyalty:configure"  # the programme's rules and tiers
    LOYALTY_LIABILITY = "loyalty:liability"  # what the brand owes its members (HQ's report)


ALL = frozenset(Perm)
ROLE_PERMISSIONS: dict[str, frozenset[Perm]] = {
    "owner": ALL,
    "hq_operator": ALL
    - {Perm.API_KEYS, Perm.STAFF_WRITE, Perm.AUDIT_READ, Perm.TENANT_WRITE, Perm.WECOM_MANAGE},
    "analyst": frozenset(
        {
            Perm.TENANT_READ,
            Perm.ORG_READ,
            Perm.STAFF_READ,
            Perm.CUSTOMERS_READ,
            Perm.CUSTOMERS_EXPORT,
            Perm.PRODUCTS_READ,
            Perm.ORDERS_READ,
            Perm.REPORTS_READ,
            Perm.TAGS_READ,
            Perm.AUDIENCES_READ,
            Perm.GROUPS_READ,
            Perm.LOYALTY_READ,
            Perm.LOYALTY_LIABILITY,
        }
    ),
    "store_manager": frozenset(
        {
            Perm.TENANT_READ,
            Perm.ORG_READ,
            Perm.STAFF_READ,
            Perm.CUSTOMERS_READ,
            Perm.CUSTOMERS_WRITE,
            Perm.CONSENT_WRITE,
            Perm.PRODUCTS_READ,
            Perm.ORDERS_READ,
            Perm.REPORTS_READ,
            Perm.BINDINGS_WRITE,
            Perm.TAGS_READ,
            Perm.TAGS_ASSIGN,
            Perm.GROUPS_READ,
            Perm.LOYALTY_READ,
            Perm.LOYALTY_CARDS,
            Perm.LOYALTY_WRITE,
        }
    ),
    # Guides read their own customers and orders; store reports are for managers and HQ.
    "guide": frozenset(
        {
            Perm.TENANT_READ,
            Perm.ORG_READ,
            Perm.CUSTOMERS_READ,
            Perm.CUSTOMERS_WRITE,
            Perm.CONSENT_WRITE,
            Perm.PRODUCTS_READ,
            Perm.ORDERS_READ,
            Perm.TAGS_READ,
            Perm.TAGS_ASSIGN,
            Perm.GROUPS_READ,
            Perm.LOYALTY_READ,
            Perm.LOYALTY_CARDS,
        }
    ),
    # An API key acts for an integration (POS, mini-program backend, ETL) across the whole tenant.
    "integration": frozenset(
        {
            Perm.TENANT_READ,
            Perm.ORG_READ,
            Perm.STAFF_READ,
            Perm.CUSTOMERS_READ,
            Perm.CUSTOMERS_WRITE,
            Perm.CUSTOMERS_UPSERT,
            Perm.CONSENT_WRITE,
            Perm.IMPORT,
            Perm.PRODUCTS_READ,
            Perm.PRODUCTS_WRITE,
            Perm.ORDERS_READ,
            Perm.ORDERS_WRITE,
            Perm.BINDINGS_WRITE,
            Perm.TAGS_READ,
            Perm.TAGS_MANAGE,
            Perm.TAGS_ASSIGN,
            Perm.AUDIENCES_READ,
            Perm.GROUPS_READ,
            Perm.GROUPS_WRITE,
            Perm.LOYALTY_READ,
            Perm.LOYALTY_CARDS,
            Perm.LOYALTY_WRITE,
        }
    ),
}

# Data scope: "all" (HQ), "stores" (a store manager's stores), "own" (a guide's own customers).
ROLE_SCOPE = {
    "owner": "all",
    "hq_operator": "all",
    "analyst": "all",
    "store_manager": "stores",
    "guide": "own",
    "integration": "all",
}


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff member signed in, or an integration's API key."""

    tenant_id: int
    tenant_slug: str
    tenant_timezone: str
    actor_type: str  # "staff" | "api_key"
    actor_id: int
    role: str
    store_ids: frozenset[int] = field(default_factory=frozenset)

    @property
    def permissions(self) -> frozenset[Perm]:
        """Permissions of the role."""
        return ROLE_PERMISSIONS[self.role]

    @property
    def scope(self) -> str:
        """Data scope of the role: all, stores or own."""
        return ROLE_SCOPE[self.role]

    def can(self, perm: Perm) -> bool:
        """Whether the role holds a permission."""
        return perm in self.permissions
