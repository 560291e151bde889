"""What other packages may use of WeCom (and what WeCom declares to them)."""

from __future__ import annotations

from siyu.customers.facade import register_customer_reference
from siyu.db.base import table_of
from siyu.wecom.models import CustomerGroupMember, Transfer, WeComFriend

# Merges move a merged customer's friends, group memberships and transfers to the survivor. Their
# unique keys name the WeCom relation (staff + external user id, group + member key), never the
# customer, so a move cannot collide: the survivor keeps one row per WeCom relation — two rows
# with one guide only when the two records were two WeCom contacts, as WeCom itself sees them.
register_customer_reference(table_of(WeComFriend))
register_customer_reference(table_of(CustomerGroupMember))
register_customer_reference(table_of(Transfer))
