"""Attribution of an order to a store and a guide, and its in-store / hours class — pure.

The rules, in order (each order stores the reason that applied):

1. `pos_till`: a POS order belongs to the till's store and the cashier or guide who rang it up.
2. `in_store_scan`: an order placed physically in a store (scan-to-buy) belongs to that store and
   the staff member named on it, else the customer's exclusive guide when that guide works there.
3. `guide_share_link`: an order through a guide's storefront link belongs to that guide and the
   store named on it when the guide works there, else the guide's first store.
4. `exclusive_guide`: otherwise the customer's exclusive guide (专属导购) and their store, while
   the binding is active (the guide has not left).
5. `unattributed`: otherwise no store and no guide.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from siyu.org.facade import StaffInfo, StoreInfo

REASONS_EXPLAINED = {
    "pos_till": (
        "门店收银台下单：归属收银门店及收银员/导购",
        "Rung up at a till: the till's store and cashier",
    ),
    "in_store_scan": ("店内扫码下单：归属扫码门店", "Scan-to-buy in a store: that store"),
    "guide_share_link": ("导购分享链接下单：归属该导购及其门店", "Bought through a guide's link: that guide"),
    "exclusive_guide": ("归属客户的专属导购", "The customer's exclusive guide"),
    "unattributed": ("无门店或导购归属", "No store or guide attribution"),
}


@dataclass(frozen=True)
class Binding:
    """A customer's active exclusive guide, as attribution needs it."""

    guide_id: int
    store_id: int | None


@dataclass(frozen=True)
class Attribution:
    store_id: int | None
    guide_id: int | None
    reason: str
    placement: str  # in_store | off_store


def attribute(
    *,
    channel: str,
    in_store: bool,
    store: StoreInfo | None,
    staff: StaffInfo | None,
    binding: Binding | None,
) -> Attribution:
    """Apply the rules above to one order."""
    if channel == "pos" and store is not None:
        return Attribution(store.id, staff.id if staff else None, "pos_till", "in_store")
    if in_store and store is not None:
        guide = staff.id if staff else None
        if guide is None and binding is not None and binding.store_id == store.id:
            guide = binding.guide_id
        return Attribution(store.id, guide, "in_store_scan", "in_store")
    if channel == "guide_share" and staff is not None:
        if store is not None and store.id in staff.store_ids:
            store_id: int | None = store.id
        else:
            store_id = staff.store_ids[0] if staff.store_ids else None
        return Attribution(store_id, staff.id, "guide_share_link", "off_store")
    if binding is not None:
        return Attribution(binding.store_id, binding.guide_id, "exclusive_guide", "off_store")
    return Attribution(None, None, "unattributed", "off_store")


def during_hours(
    attribution: Attribution, store: StoreInfo | None, tz: ZoneInfo, placed_at: dt.datetime
) -> bool | None:
    """For an off-store order of an attributed store: placed while that store was open."""
    if attribution.placement != "off_store" or store is None:
        return None
    return store.is_open(tz, placed_at)
