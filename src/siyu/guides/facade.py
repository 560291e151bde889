"""What other packages may use of guide bindings."""

from __future__ import annotations

from siyu.customers.facade import register_customer_reference
from siyu.db.base import table_of
from siyu.guides.models import GuideBindingEvent
from siyu.guides.service import BindingBook, BindingState, bind, binding_of

# Merges move a merged customer's binding history to the survivor; the survivor keeps its own
# current binding (a customer has one), the merged one's stays with the merged record.
register_customer_reference(table_of(GuideBindingEvent))

__all__ = ["BindingBook", "BindingState", "bind", "binding_of"]
