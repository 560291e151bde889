"""What other packages may use of payments: asking WeChat Pay to collect, refunds, and the intents
(loyalty's top-ups apply when the event `payments.paid` is recorded — its policy runs in the
transaction that marks the payment paid)."""

from __future__ import annotations

from siyu.payments.models import PaymentIntent, PaymentRefund
from siyu.payments.service import (
    config,
    create_intent,
    intent_by_number,
    mark_refund_due,
    prior_intent,
    refund,
)

__all__ = [
    "PaymentIntent",
    "PaymentRefund",
    "config",
    "create_intent",
    "intent_by_number",
    "mark_refund_due",
    "prior_intent",
    "refund",
]
