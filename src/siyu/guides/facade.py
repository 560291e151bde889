"""What other packages may use of guide bindings."""

from __future__ import annotations

from siyu.customers.facade import MergeHandler, register_customer_reference
from siyu.db.base import table_of
from siyu.guides.models import GuideBinding, GuideBindingEvent
from siyu.guides.service import BindingBook, BindingState, bind, binding_of, merge_bindings, unmerge_bindings

# Merges: the merged record's binding history moves to the survivor; its current binding moves too
# when the survivor has none, else the survivor keeps its own (a customer has one) and it ends.
register_customer_reference(table_of(GuideBindingEvent))
register_customer_reference(
    table_of(GuideBinding),
    handler=MergeHandler(merge=merge_bindings, unmerge=unmerge_bindings, locks=("guide_bindings",)),
)

__all__ = [
    "BindingBook",
    "BindingState",
    "GuideBindingEvent",
    "bind",
    "binding_of",
]
