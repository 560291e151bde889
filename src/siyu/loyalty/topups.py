"""Stored-value top-ups paid with WeChat Pay: ask WeChat Pay to collect (the card's cap is checked
first, counting top-ups still being paid), credit the card when the payment is heard — once, in the
transaction that marks the payment paid — and refund through WeChat Pay, taking the refunded share of
the top-up off the card first.

A payment that arrives when the top-up can no longer be credited (another top-up filled the card to
its cap meanwhile) is not lost: the intent becomes `refund_due` with the reason, for the money to be
given back (`refund_wechat_top_up`).
"""

from __future__ import annotations

from datetime import timedelta
from fractions import Fraction

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu import events
from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.customers.facade import identity_owners, normalise
from siyu.db.session import lock_rows
from siyu.loyalty import ledger, paid, service
from siyu.payments.facade import (
    PaymentIntent,
    PaymentRefund,
    config,
    create_intent,
    intent_by_number,
    mark_refund_due,
    prior_intent,
    refund,
)

PURPOSE = "stored_value_top_up"
MEMBERSHIP = "paid_membership"

PENDING_WINDOW = timedelta(hours=2)  # an unpaid top-up counts against the cap this long


def wechat_top_up(
    session: Session,
    *,
    tenant_id: int,
    tenant_slug: str,
    customer_id: int,
    principal_fen: int,
    bonus_fen: int,
    openid: str,
    key: str,
    store_id: int | None = None,
    actor: Principal | None = None,
) -> tuple[PaymentIntent, dict[str, str], bool]:
    """A top-up the customer pays with WeChat Pay: (the intent, the mini-program's payment
    parameters, made now). Refused, nothing asked of WeChat Pay: an openid that is not this
    customer's for the brand's app, a top-up that would pass the card's cap."""
    if principal_fen <= 0 or bonus_fen < 0:
        raise DomainError("validation_error", summary="principal_fen 须大于 0 / must be greater than 0")
    if prior_intent(session, tenant_id=tenant_id, key=key) is None:
        _check_openid(session, tenant_id, customer_id, openid)
        service.require_real_name(
            session, tenant_id=tenant_id, customer_id=customer_id, adding_fen=principal_fen + bonus_fen
        )
        lock_rows(session, "loyalty_customer", [customer_id])
        have = ledger.balances(session, tenant_id=tenant_id, customer_id=customer_id)
        held_now = sum(have.get(a, (0, 0))[0] for a in ("sv_principal", "sv_bonus"))
        paying = session.scalar(
            select(func.coalesce(func.sum(PaymentIntent.amount_fen), 0)).where(
                PaymentIntent.tenant_id == tenant_id,
                PaymentIntent.customer_id == customer_id,
                PaymentIntent.purpose == PURPOSE,
                PaymentIntent.status == "created",
                PaymentIntent.created_at > utcnow() - PENDING_WINDOW,
            )
        )
        if held_now + int(paying or 0) + principal_fen + bonus_fen > service.REGISTERED_CAP_FEN:
            raise DomainError(
                "stored_value_cap",
                cap=f"¥{service.REGISTERED_CAP_FEN // 100:,}",
                balance=f"¥{(held_now + int(paying or 0)) / 100:,.2f}",
            )
    return create_intent(
        session,
        tenant_id=tenant_id,
        tenant_slug=tenant_slug,
        purpose=PURPOSE,
        customer_id=customer_id,
        amount_fen=principal_fen,
        openid=openid,
        description=f"储值充值 ¥{principal_fen / 100:,.2f}",
        key=key,
        details={"bonus_fen": bonus_fen},
        store_id=store_id,
        actor=actor,
    )


def _ledger_key(transaction_id: str) -> str:
    return f"wxpay:{transaction_id}"


def wechat_membership(
    session: Session,
    *,
    tenant_id: int,
    tenant_slug: str,
    customer_id: int,
    plan_code: str,
    auto_renew: bool,
    openid: str,
    key: str,
    store_id: int | None = None,
    actor: Principal | None = None,
) -> tuple[PaymentIntent, dict[str, str], bool]:
    """A paid-membership term the customer pays with WeChat Pay; booked when the payment is heard."""
    plan = next(
        (p for p in paid.plans(session, tenant_id=tenant_id) if p.code == plan_code and p.active), None
    )
    if plan is None:
        raise DomainError("not_found", object="membership_plan")
    _check_openid(session, tenant_id, customer_id, openid)
    return create_intent(
        session,
        tenant_id=tenant_id,
        tenant_slug=tenant_slug,
        purpose=MEMBERSHIP,
        customer_id=customer_id,
        amount_fen=plan.price_fen,
        openid=openid,
        description=f"{plan.name_zh} {plan.term_months} 个月",
        key=key,
        details={"plan_code": plan.code, "auto_renew": auto_renew},
        store_id=store_id,
        actor=actor,
    )


def _check_openid(session: Session, tenant_id: int, customer_id: int, openid: str) -> None:
    settings = config(session, tenant_id=tenant_id)
    if settings is None:
        raise DomainError("payments_not_configured")
    wanted = normalise("wechat_openid", openid, settings.appid)
    if identity_owners(session, tenant_id=tenant_id, keys=[wanted]).get(wanted) != customer_id:
        raise DomainError(
            "invalid_payment",
            reason_zh="该 openid 不属于这位客户（或不属于品牌的小程序）",
            reason_en="This openid is not the customer's (for the brand's app)",
        )


@events.policy("payments.paid")
def credit_paid_top_up(session: Session, event: events.Event) -> None:
    """The payment is heard: credit the card, or book the membership term (once — the key is WeChat
    Pay's transaction id). When that cannot be done any more (the card is full, the plan retired),
    the payment is marked for a refund instead of being lost."""
    data = event.data
    if data.get("purpose") == MEMBERSHIP:
        details = data.get("details") or {}
        try:
            with session.begin_nested():
                paid.purchase(
                    session,
                    tenant_id=event.tenant_id,
                    customer_id=int(data["customer_id"]),
                    plan_code=str(details.get("plan_code")),
                    key=_ledger_key(str(data["transaction_id"])),
                    auto_renew=bool(details.get("auto_renew")),
                    store_id=data.get("store_id"),
                )
        except DomainError as exc:
            mark_refund_due(session, intent_id=int(data["intent_id"]), reason=exc.message())
        return
    if data.get("purpose") != PURPOSE:
        return
    try:
        with session.begin_nested():
            service.top_up(
                session,
                tenant_id=event.tenant_id,
                customer_id=int(data["customer_id"]),
                principal_fen=int(data["amount_fen"]),
                bonus_fen=int((data.get("details") or {}).get("bonus_fen") or 0),
                key=_ledger_key(str(data["transaction_id"])),
                store_id=data.get("store_id"),
            )
    except DomainError as exc:
        mark_refund_due(session, intent_id=int(data["intent_id"]), reason=exc.message())


def refund_wechat_top_up(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    out_trade_no: str,
    amount_fen: int,
    reason: str,
    key: str,
    actor: Principal | None = None,
) -> tuple[PaymentRefund, bool]:
    """Give back (part of) a top-up paid with WeChat Pay: the refunded share of the top-up comes off
    the card first (principal and its bonus alike; refused, nothing sent, when the customer has
    spent it), then WeChat Pay pays it back. A top-up that was never credited (`refund_due`) is
    simply paid back."""
    intent = intent_by_number(session, tenant_id=tenant_id, out_trade_no=out_trade_no)
    if intent.customer_id != customer_id or intent.purpose != PURPOSE:
        raise DomainError("not_found", object="payment")
    done = session.scalar(
        select(PaymentRefund.id).where(
            PaymentRefund.tenant_id == tenant_id, PaymentRefund.idempotency_key == key
        )
    )
    if done is None and intent.status == "paid" and intent.transaction_id:
        credited = ledger.prior_transaction(
            session, tenant_id=tenant_id, key=_ledger_key(intent.transaction_id)
        )
        left = intent.amount_fen - intent.refunded_fen
        if credited is not None and 0 < amount_fen <= left:
            ledger.reverse(
                session,
                tenant_id=tenant_id,
                transaction_id=credited.id,
                share=Fraction(amount_fen, left),
                key=f"wxpay-refund:{key}",
                actor=actor,
                reason=reason,
            )
    return refund(
        session,
        tenant_id=tenant_id,
        intent=intent,
        amount_fen=amount_fen,
        reason=reason,
        key=key,
        actor=actor,
    )


def refund_wechat_membership(
    session: Session, *, tenant_id: int, term_key: str, refund_fen: int, reason: str
) -> None:
    """A cancelled term that was paid with WeChat Pay: pay its refund back through WeChat Pay."""
    if refund_fen <= 0 or not term_key.startswith("wxpay:"):
        return
    intent = session.scalar(
        select(PaymentIntent).where(
            PaymentIntent.tenant_id == tenant_id,
            PaymentIntent.transaction_id == term_key.removeprefix("wxpay:"),
        )
    )
    if intent is not None:
        refund(
            session,
            tenant_id=tenant_id,
            intent=intent,
            amount_fen=refund_fen,
            reason=reason,
            key=f"cancel-{term_key}",
        )


__all__ = [
    "MEMBERSHIP",
    "PURPOSE",
    "PaymentIntent",
    "credit_paid_top_up",
    "refund_wechat_membership",
    "refund_wechat_top_up",
    "wechat_membership",
    "wechat_top_up",
]
