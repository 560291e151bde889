"""The console's menu: sections of pages, each page shown to the roles that may open it.

One list serves the menu of every page (base.html) and the tests that open each role's pages; a page
a role may not open is not in that role's menu.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from siyu.access import Perm, Principal

HQ = ("owner", "hq_operator", "analyst")


def N_(message: str) -> str:  # noqa: N802 - the gettext marker Babel extracts
    """Mark a message id for extraction; it is translated where it is shown."""
    return message


@dataclass(frozen=True)
class Item:
    """One page in the menu."""

    path: str
    label: str  # an English message id (translated when shown)
    shows: Callable[[Principal], bool]
    match: str = ""  # the path prefix that marks this item current (default: path)

    def current(self, path: str) -> bool:
        """Whether a request path belongs to this item."""
        prefix = self.match or self.path
        return path == prefix or path.startswith(prefix.rstrip("/") + "/") or path.startswith(prefix + "?")


def _roles(*roles: str) -> Callable[[Principal], bool]:
    return lambda p: p.role in roles


def _perm(perm: Perm) -> Callable[[Principal], bool]:
    return lambda p: p.can(perm)


SECTIONS: tuple[tuple[str, tuple[Item, ...]], ...] = (
    (
        N_("Overview"),
        (
            Item("/hq", N_("HQ home"), _roles(*HQ)),
            Item("/", N_("My store"), _roles("store_manager"), match="/stores"),
            Item("/me", N_("My day"), _roles("guide")),
        ),
    ),
    (
        N_("Customers"),
        (
            Item("/customers", N_("Customers"), _perm(Perm.CUSTOMERS_READ)),
            Item("/tags", N_("Tags"), _perm(Perm.TAGS_READ)),
            Item("/audiences", N_("Audiences"), _roles(*HQ)),
        ),
    ),
    (
        N_("Sales"),
        (Item("/orders", N_("Orders"), _perm(Perm.ORDERS_READ)),),
    ),
    (
        N_("Membership"),
        (
            Item("/loyalty", N_("Members' balances"), _perm(Perm.LOYALTY_LIABILITY)),
            Item("/loyalty/approvals", N_("Refund approvals"), _perm(Perm.LOYALTY_ADJUST)),
            Item("/loyalty/rules", N_("Loyalty rules and tiers"), _perm(Perm.LOYALTY_CONFIGURE)),
        ),
    ),
    (
        N_("WeCom"),
        (
            Item("/wecom/codes", N_("Channel codes"), _roles("owner", "hq_operator")),
            Item("/wecom/groups", N_("Groups"), _perm(Perm.GROUPS_READ)),
            Item("/wecom/friends", N_("WeCom friends"), _perm(Perm.CUSTOMERS_READ)),
            Item("/wecom/departures", N_("Departures"), _roles("owner", "hq_operator")),
        ),
    ),
    (
        N_("Settings"),
        (
            Item("/settings/brand", N_("Brand settings"), _perm(Perm.TENANT_WRITE)),
            Item("/settings/stores", N_("Stores and regions"), _perm(Perm.ORG_WRITE)),
            Item("/settings/staff", N_("Staff and accounts"), _perm(Perm.STAFF_WRITE)),
            Item("/settings/roles", N_("Roles and permissions"), _perm(Perm.STAFF_READ)),
            Item("/settings/api-keys", N_("API keys"), _perm(Perm.API_KEYS)),
            Item("/settings/products", N_("Products"), _perm(Perm.PRODUCTS_WRITE)),
            Item("/imports", N_("Imports"), _perm(Perm.IMPORT)),
            Item("/settings/wecom", N_("WeCom settings"), _perm(Perm.WECOM_MANAGE)),
            Item("/settings/jobs", N_("Background jobs"), _perm(Perm.JOBS_MANAGE)),
            Item("/settings/audit", N_("Audit log"), _perm(Perm.AUDIT_READ)),
        ),
    ),
)


def menu(principal: Principal) -> list[tuple[str, list[Item]]]:
    """The sections and pages a person's menu shows (empty sections left out)."""
    out = []
    for title, items in SECTIONS:
        shown = [i for i in items if i.shows(principal)]
        if shown:
            out.append((title, shown))
    return out


def current_item(principal: Principal, path: str) -> Item | None:
    """The menu item a page belongs to (the longest matching prefix)."""
    best: Item | None = None
    for _, items in menu(principal):
        for item in items:
            prefix = item.match or item.path
            if prefix == "/":
                continue
            if item.current(path) and (best is None or len(prefix) > len(best.match or best.path)):
                best = item
    return best
