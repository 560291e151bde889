"""What other packages may use of orders (and what orders declare to them)."""

from __future__ import annotations

from siyu.customers.facade import register_customer_reference
from siyu.db.base import table_of
from siyu.orders.models import Footfall, Order, OrderLine, Refund

# A merged customer's orders belong to the survivor (an unmerge moves them back).
register_customer_reference(table_of(Order))

__all__ = [
    "Footfall",
    "Order",
    "OrderLine",
    "Refund",
]
