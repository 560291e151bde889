"""What other packages may use of WeCom (ids and counts, never ORM rows), and what WeCom declares
to them."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.customers.facade import register_customer_reference
from siyu.db.base import table_of
from siyu.org.facade import Staff
from siyu.platform import references
from siyu.wecom import members
from siyu.wecom.models import ChannelCode, CustomerGroupMember, Transfer, WeComFriend

# Merges move a merged customer's friends, group memberships and transfers to the survivor. Their
# unique keys name the WeCom relation (staff or parked UserID + external user id, group + member
# key), never the customer, so a move cannot collide: the survivor keeps one row per WeCom relation
# — two rows with one guide only when the two records were two WeCom contacts, as WeCom sees them.
register_customer_reference(table_of(WeComFriend))
register_customer_reference(table_of(CustomerGroupMember))
register_customer_reference(table_of(Transfer))


def attach_parked_friends(session: Session, *, tenant_id: int, staff_id: int) -> int:
    """A staff member now carries a WeCom UserID: attach the friends parked against it (with the
    binding offers and new-fan events their adds would have made); answers how many."""
    userid = session.scalar(
        select(Staff.wecom_userid).where(Staff.tenant_id == tenant_id, Staff.id == staff_id)
    )
    if not userid:
        return 0
    return members.attach_parked(session, tenant_id=tenant_id, staff_by_userid={userid: staff_id})


def _channel_code_exists(session: Session, tenant_id: int, code_id: int) -> bool:
    found = session.scalar(
        select(ChannelCode.id).where(ChannelCode.tenant_id == tenant_id, ChannelCode.id == code_id)
    )
    return found is not None


# Loyalty records the channel code a member card was opened through (it does not import WeCom).
references.register("channel_code", _channel_code_exists)

__all__ = [
    "WeComFriend",
    "attach_parked_friends",
]
