"""What other packages may use of orders (and what orders declare to them)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from siyu.customers.facade import MergeHandler, MergeParties, register_customer_reference
from siyu.db.base import table_of
from siyu.orders import stats
from siyu.orders.models import CustomerOrderStats, Footfall, Order, OrderLine, OrderPayment, Refund

# A merged customer's orders belong to the survivor (an unmerge moves them back).
register_customer_reference(table_of(Order))


def _recount(session: Session, parties: MergeParties) -> dict[str, Any]:
    """After the orders moved: both records' figures from their orders now."""
    pair = [parties.survivor_id, parties.merged_id]
    stats.refresh(session, tenant_id=parties.tenant_id, customer_ids=pair)
    return {"recounted": pair}


def _recount_back(session: Session, parties: MergeParties, snapshot: dict[str, Any]) -> int:
    _recount(session, parties)
    return len(snapshot.get("recounted", []))


# The per-customer order figures follow the orders (registered after them: handlers run after the
# plain moves, on merge and on unmerge).
register_customer_reference(
    table_of(CustomerOrderStats), handler=MergeHandler(merge=_recount, unmerge=_recount_back)
)

__all__ = [
    "CustomerOrderStats",
    "Footfall",
    "Order",
    "OrderLine",
    "OrderPayment",
    "Refund",
]
