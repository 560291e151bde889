"""The order hooks: loyalty hears that orders were paid or refunded (after the orders commit, from
the outbox — exactly once for the database work, see `siyu.events`) and earns or takes back."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu import events
from siyu.loyalty import earning


@events.subscriber("orders.ingested")
def earn_on_paid_orders(session: Session, event: events.Event) -> None:
    """Settle the checkout holds the orders' payments name (captured when paid, released when
    cancelled), then points and growth for the paid orders of card holders (once per order)."""
    order_ids = event.data.get("order_ids", [])
    earning.settle_holds_for_orders(session, tenant_id=event.tenant_id, order_ids=order_ids)
    earning.earn_for_orders(session, tenant_id=event.tenant_id, order_ids=order_ids)


@events.subscriber("refunds.recorded")
def take_back_on_refunds(session: Session, event: events.Event) -> None:
    """Take back the refunded share of what the refunded orders earned."""
    order_ids = earning.orders_of_refunds(
        session, tenant_id=event.tenant_id, refund_ids=event.data.get("refund_ids", [])
    )
    earning.reverse_for_orders(session, tenant_id=event.tenant_id, order_ids=order_ids)
