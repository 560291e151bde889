"""HTTP routes of the loyalty ledger: a customer's balances and history (what the prepaid-card rules
say a customer must be able to see), points adjustments, stored-value top-ups and spending, the
checkout holds a till uses (hold → capture / release), and reversals."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta
from fractions import Fraction
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Query, Response
from fastapi.responses import FileResponse
from sqlalchemy import select

from siyu.access import Perm, Principal
from siyu.api.deps import DB, Limit, PathId, allow
from siyu.api.downloads import temporary_download
from siyu.api.routing import TransactionalRoute
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.customers.facade import get_customer
from siyu.loyalty import ledger, liability, lots, membership, paid, rules, service, storedvalue, topups
from siyu.loyalty import schemas as s
from siyu.loyalty.ledger import Posted
from siyu.loyalty.liability import FIGURES as FIGS
from siyu.loyalty.models import (
    LedgerHold,
    LoyaltyProgram,
    LoyaltyTier,
    Membership,
    MembershipPlan,
    StoredValueRefund,
    TierChange,
)
from siyu.org import facade as org
from siyu.platform import audit, references
from siyu.platform.tabular import write_table

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute, tags=["loyalty 会员资产"])


def _customer(db: DB, principal: Principal, customer_id: int) -> None:
    get_customer(db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal)


def _store(db: DB, principal: Principal, store_id: int | None) -> None:
    if store_id is not None and not org.stores_by_id(db, tenant_id=principal.tenant_id, ids={store_id}):
        raise not_found("store")


def _answer(posted: Posted, response: Response) -> s.TransactionRead:
    if not posted.created:
        response.headers["Idempotent-Replayed"] = "true"
    tx = posted.transaction
    return s.TransactionRead(
        id=tx.id,
        kind=tx.kind,
        customer_id=tx.customer_id,
        balances=dict(tx.result.get("balances", {})),
        order_ref=tx.order_ref,
        store_id=tx.store_id,
        hold_id=tx.hold_id,
        reverses_id=tx.reverses_id,
        created_at=tx.created_at,
    )


def _hold(row: LedgerHold) -> s.HoldRead:
    return s.HoldRead.model_validate(row, from_attributes=True)


def _balance(pair: tuple[int, int]) -> s.Balance:
    return s.Balance(balance=pair[0], held=pair[1], available=pair[0] - pair[1])


def _bonus(db: DB, tenant_id: int, principal_fen: int, given: int | None) -> int:
    """The bonus of a top-up: as given, or the brand's best offer the principal reaches."""
    if given is not None:
        return given
    offer = storedvalue.offer_for(db, tenant_id=tenant_id, principal_fen=principal_fen)
    return offer.bonus_fen if offer else 0


def _tier(row: LoyaltyTier) -> s.TierRead:
    return s.TierRead.model_validate(row, from_attributes=True)


def _card(db: DB, tenant_id: int, customer_id: int) -> s.CardRead | None:
    found = membership.standing(db, tenant_id=tenant_id, customer_id=customer_id)
    if found is None:
        return None
    card, tier = found.card, found.tier
    pending = db.scalar(
        select(LoyaltyTier.code)
        .join(TierChange, TierChange.to_tier_id == LoyaltyTier.id)
        .where(
            TierChange.tenant_id == tenant_id,
            TierChange.card_id == card.id,
            TierChange.status == "pending_approval",
        )
        .order_by(TierChange.id.desc())
        .limit(1)
    )
    return s.CardRead(
        card_no=card.card_no,
        status=card.status,
        source=card.source,
        store_id=card.store_id,
        guide_id=card.guide_id,
        channel=card.channel,
        channel_code_id=card.channel_code_id,
        opened_at=card.opened_at,
        tier_code=tier.code if tier else None,
        tier_name_zh=tier.name_zh if tier else None,
        tier_name_en=tier.name_en if tier else None,
        growth=card.growth,
        next_tier_code=found.next_tier.code if found.next_tier else None,
        gap_to_next_tier=found.gap_to_next,
        benefits=dict(tier.benefits) if tier else {},
        pending_tier_request=pending,
    )


@router.post(
    "/customers/{customer_id}/member-card",
    response_model=s.CardRead,
    status_code=201,
    summary="Open a member card 开通会员卡",
    responses={200: {"description": "the customer already has a card: it is returned unchanged"}},
)
def open_card(
    customer_id: PathId,
    body: s.CardOpenIn,
    db: DB,
    response: Response,
    principal: Principal = allow(Perm.LOYALTY_CARDS),
) -> s.CardRead:
    """Open the customer's member card (once; a second call returns the card, 200). A guide who
    opens a card without naming a guide is recorded as its guide."""
    _customer(db, principal, customer_id)
    tenant_id = principal.tenant_id
    _store(db, principal, body.store_id)
    guide_id = body.guide_id
    if guide_id is None and principal.role == "guide":
        guide_id = principal.actor_id
    if guide_id is not None and not org.staff_by_id(db, tenant_id=tenant_id, ids={guide_id}):
        raise not_found("guide")
    if body.channel_code_id is not None and not references.exists(
        db, tenant_id=tenant_id, kind="channel_code", object_id=body.channel_code_id
    ):
        raise not_found("channel_code")
    if principal.scope == "stores" and body.store_id is not None and body.store_id not in principal.store_ids:
        raise not_found("store")
    _, created = membership.open_card(
        db,
        tenant_id=tenant_id,
        customer_id=customer_id,
        where=membership.CardSource(
            source=body.source,
            store_id=body.store_id,
            guide_id=guide_id,
            channel=body.channel,
            channel_code_id=body.channel_code_id,
        ),
        card_no=body.card_no,
        initial_tier=body.initial_tier,
        initial_growth=body.initial_growth,
        actor=principal,
    )
    if not created:
        response.status_code = 200
    db.flush()
    card = _card(db, tenant_id, customer_id)
    assert card is not None
    return card


@router.get("/loyalty/program", response_model=s.ProgramRead | None, summary="Loyalty rules 会员规则")
def get_program(db: DB, principal: Principal = allow(Perm.LOYALTY_READ)) -> s.ProgramRead | None:
    """The programme's rules (null: not set up yet — orders earn nothing)."""
    row = membership.program(db, tenant_id=principal.tenant_id)
    return None if row is None else _program_read(row)


@router.put("/loyalty/program", response_model=s.ProgramRead, summary="Set the loyalty rules 设置会员规则")
def put_program(
    body: s.ProgramIn, db: DB, principal: Principal = allow(Perm.LOYALTY_CONFIGURE)
) -> s.ProgramRead:
    """Create or change the programme's rules; audited. Orders already earned keep what they earned."""
    stores = {sid for c in body.campaigns for sid in c.store_ids}
    if stores and len(org.stores_by_id(db, tenant_id=principal.tenant_id, ids=stores)) != len(stores):
        raise not_found("store")
    values = body.model_dump()
    values["campaigns"] = [c.model_dump(mode="json") for c in body.campaigns]
    row = membership.save_program(db, tenant_id=principal.tenant_id, values=values, actor=principal)
    return _program_read(row)


def _program_read(row: LoyaltyProgram) -> s.ProgramRead:
    values = {name: getattr(row, name) for name in s.ProgramRead.model_fields}
    values["action_rules"] = row.action_rules or {}
    values["campaigns"] = row.campaigns or []
    return s.ProgramRead.model_validate(values)


@router.post(
    "/customers/{customer_id}/points/actions",
    response_model=s.TransactionRead | None,
    summary="Points for an action 行为积分",
)
def points_for_action(
    customer_id: PathId,
    body: s.ActionIn,
    db: DB,
    response: Response,
    principal: Principal = allow(Perm.LOYALTY_WRITE),
) -> s.TransactionRead | None:
    """Reward an action under the programme's rules (members only; per-day and once caps; keyed).
    Null when the action earns growth value only."""
    _customer(db, principal, customer_id)
    posted = service.earn_for_action(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        action=body.action,
        key=body.idempotency_key,
        zone_name=principal.tenant_timezone,
        actor=principal,
    )
    return None if posted is None else _answer(posted, response)


@router.get("/loyalty/tiers", response_model=list[s.TierRead], summary="Member tiers 会员等级")
def get_tiers(db: DB, principal: Principal = allow(Perm.LOYALTY_READ)) -> list[s.TierRead]:
    """The tier ladder, lowest first."""
    return [_tier(t) for t in membership.tiers(db, tenant_id=principal.tenant_id)]


@router.put("/loyalty/tiers", response_model=list[s.TierRead], summary="Set member tiers 设置会员等级")
def put_tiers(
    body: s.TiersIn, db: DB, principal: Principal = allow(Perm.LOYALTY_CONFIGURE)
) -> list[s.TierRead]:
    """Replace the tier ladder (tiers matched by code; ranks follow the thresholds). Refused: a
    lowest tier above 0, two tiers with one threshold, removing a tier members hold."""
    rows = membership.save_tiers(
        db, tenant_id=principal.tenant_id, wanted=[t.model_dump() for t in body.tiers], actor=principal
    )
    return [_tier(t) for t in rows]


@router.get(
    "/customers/{customer_id}/loyalty",
    response_model=s.LoyaltyRead,
    summary="Balances and history 会员资产与明细",
)
def customer_loyalty(
    customer_id: PathId,
    db: DB,
    limit: Limit,
    cursor: str | None = None,
    principal: Principal = allow(Perm.LOYALTY_READ),
) -> s.LoyaltyRead:
    """A customer's points and stored value (principal and bonus, what is held), open holds and the
    history, newest first (`next_cursor` pages on)."""
    _customer(db, principal, customer_id)
    tenant_id = principal.tenant_id
    have = ledger.balances(db, tenant_id=tenant_id, customer_id=customer_id)
    principal_fen, bonus_fen = have.get("sv_principal", (0, 0)), have.get("sv_bonus", (0, 0))
    entries, next_cursor = service.history(
        db, tenant_id=tenant_id, customer_id=customer_id, cursor=cursor, limit=limit
    )
    return s.LoyaltyRead(
        customer_id=customer_id,
        card=_card(db, tenant_id, customer_id),
        points=_balance(have.get("points", (0, 0))),
        points_pending=have.get("points_pending", (0, 0))[0],
        denied=[d.capability for d in rules.denials_of(db, tenant_id=tenant_id, customer_id=customer_id)],
        points_expiring=[
            s.ExpiringPoints(expires_at=at, points=n)
            for at, n in lots.expiring(
                db, tenant_id=tenant_id, customer_id=customer_id, within=timedelta(days=90)
            )
        ],
        stored_value_fen=_balance((principal_fen[0] + bonus_fen[0], principal_fen[1] + bonus_fen[1])),
        stored_value_principal_fen=_balance(principal_fen),
        stored_value_bonus_fen=_balance(bonus_fen),
        active_holds=[
            _hold(h) for h in service.active_holds(db, tenant_id=tenant_id, customer_id=customer_id)
        ],
        history=[
            s.HistoryLine(
                id=e.transaction.id,
                kind=e.transaction.kind,
                label_zh=service.KIND_LABELS.get(e.transaction.kind, (e.transaction.kind, ""))[0],
                label_en=service.KIND_LABELS.get(e.transaction.kind, ("", e.transaction.kind))[1],
                changes=e.changes,
                order_ref=e.transaction.order_ref,
                store_id=e.transaction.store_id,
                created_at=e.transaction.created_at,
            )
            for e in entries
        ],
        next_cursor=next_cursor,
    )


@router.post(
    "/customers/{customer_id}/points/adjustments",
    response_model=s.TransactionRead,
    summary="Adjust points 手工调整积分",
)
def adjust_points(
    customer_id: PathId,
    body: s.PointsAdjustmentIn,
    db: DB,
    response: Response,
    principal: Principal = allow(Perm.LOYALTY_ADJUST),
) -> s.TransactionRead:
    """Add or take away points with a reason (audited); taking away more than is available is 409."""
    _customer(db, principal, customer_id)
    posted = service.adjust_points(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        points=body.points,
        reason=body.reason,
        key=body.idempotency_key,
        actor=principal,
    )
    return _answer(posted, response)


@router.post(
    "/customers/{customer_id}/stored-value/top-ups",
    response_model=s.TransactionRead,
    summary="Top up stored value 储值充值",
)
def top_up(
    customer_id: PathId,
    body: s.TopUpIn,
    db: DB,
    response: Response,
    principal: Principal = allow(Perm.LOYALTY_WRITE),
) -> s.TransactionRead:
    """Principal and bonus booked apart, within the card's cap (422 `stored_value_cap` past it)."""
    _customer(db, principal, customer_id)
    _store(db, principal, body.store_id)
    bonus = _bonus(db, principal.tenant_id, body.principal_fen, body.bonus_fen)
    if (
        body.registered
        and ledger.prior_transaction(db, tenant_id=principal.tenant_id, key=body.idempotency_key) is None
    ):
        service.require_real_name(
            db, tenant_id=principal.tenant_id, customer_id=customer_id, adding_fen=body.principal_fen + bonus
        )
    posted = service.top_up(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        principal_fen=body.principal_fen,
        bonus_fen=bonus,
        key=body.idempotency_key,
        store_id=body.store_id,
        registered=body.registered,
        actor=principal,
    )
    return _answer(posted, response)


@router.post(
    "/customers/{customer_id}/stored-value/spends",
    response_model=s.TransactionRead,
    summary="Pay with stored value 储值消费",
)
def spend(
    customer_id: PathId,
    body: s.SpendIn,
    db: DB,
    response: Response,
    principal: Principal = allow(Perm.LOYALTY_WRITE),
) -> s.TransactionRead:
    """Principal first, then bonus; more than is available is 409 `insufficient_balance`."""
    _customer(db, principal, customer_id)
    _store(db, principal, body.store_id)
    posted = service.spend_stored_value(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        amount_fen=body.amount_fen,
        key=body.idempotency_key,
        order_ref=body.order_ref,
        store_id=body.store_id,
        actor=principal,
    )
    return _answer(posted, response)


@router.post("/loyalty/holds", response_model=s.HoldRead, summary="Hold for a checkout 下单冻结")
def create_hold(
    body: s.HoldIn, db: DB, response: Response, principal: Principal = allow(Perm.LOYALTY_WRITE)
) -> s.HoldRead:
    """Freeze points or stored value until the order is paid (capture) or cancelled (release); it
    lapses after `minutes`."""
    _customer(db, principal, body.customer_id)
    _store(db, principal, body.store_id)
    row, made = service.hold_for_checkout(
        db,
        tenant_id=principal.tenant_id,
        customer_id=body.customer_id,
        asset=body.asset,
        amount=body.amount,
        key=body.idempotency_key,
        order_ref=body.order_ref,
        store_id=body.store_id,
        minutes=body.minutes,
        actor=principal,
        goods_fen=body.goods_fen,
        shipping_fen=body.shipping_fen,
    )
    if not made:
        response.headers["Idempotent-Replayed"] = "true"
    return _hold(row)


@router.post(
    "/loyalty/holds/{hold_id}/capture", response_model=s.TransactionRead, summary="Capture a hold 支付结算"
)
def capture_hold(
    hold_id: PathId,
    body: s.CaptureIn,
    db: DB,
    response: Response,
    principal: Principal = allow(Perm.LOYALTY_WRITE),
) -> s.TransactionRead:
    """Take what the order used (at most what was held); the rest goes back. A hold settles once."""
    row = ledger.get_hold(db, tenant_id=principal.tenant_id, hold_id=hold_id)
    _customer(db, principal, row.customer_id)
    posted = ledger.capture(
        db,
        tenant_id=principal.tenant_id,
        hold_id=hold_id,
        amount=body.amount,
        to_account=service.CAPTURE_TO[row.asset],
        key=body.idempotency_key,
        actor=principal,
    )
    return _answer(posted, response)


@router.post(
    "/loyalty/holds/{hold_id}/release", response_model=s.TransactionRead, summary="Release a hold 取消冻结"
)
def release_hold(
    hold_id: PathId,
    body: s.ReleaseIn,
    db: DB,
    response: Response,
    principal: Principal = allow(Perm.LOYALTY_WRITE),
) -> s.TransactionRead:
    """Give the held units back (a cancelled order)."""
    row = ledger.get_hold(db, tenant_id=principal.tenant_id, hold_id=hold_id)
    _customer(db, principal, row.customer_id)
    posted = ledger.release(
        db, tenant_id=principal.tenant_id, hold_id=hold_id, key=body.idempotency_key, actor=principal
    )
    return _answer(posted, response)


@router.post(
    "/loyalty/transactions/{transaction_id}/reversals",
    response_model=s.TransactionRead,
    summary="Reverse a transaction 冲正",
)
def reverse(
    transaction_id: PathId,
    body: s.ReversalIn,
    db: DB,
    response: Response,
    principal: Principal = allow(Perm.LOYALTY_ADJUST),
) -> s.TransactionRead:
    """Undo `numerator / denominator` of what remains of a transaction (audited). Points the
    customer already spent are booked as the brand's loss; stored value must still be there."""
    if body.numerator > body.denominator:
        raise DomainError("validation_error", summary="numerator 不能大于 denominator / must not exceed it")
    share = Fraction(body.numerator, body.denominator)
    original = ledger.get_transaction(db, tenant_id=principal.tenant_id, transaction_id=transaction_id)
    if original.customer_id is not None:
        _customer(db, principal, original.customer_id)
    posted = ledger.reverse(
        db,
        tenant_id=principal.tenant_id,
        transaction_id=transaction_id,
        share=share,
        key=body.idempotency_key,
        actor=principal,
        reason=body.reason,
        shortfall_to="points:unrecovered",
    )
    if posted.created:
        audit.record(
            db,
            tenant_id=principal.tenant_id,
            actor=principal,
            action="loyalty.reverse",
            object_type="loyalty_transaction",
            object_id=transaction_id,
            data={"share": str(share), "reason": body.reason, "reversal_id": posted.transaction.id},
        )
    return _answer(posted, response)


@router.post(
    "/customers/{customer_id}/stored-value/wechat-pay",
    response_model=s.WeChatTopUpRead,
    summary="Top up with WeChat Pay 微信支付充值",
)
def wechat_top_up(
    customer_id: PathId,
    body: s.WeChatTopUpIn,
    db: DB,
    response: Response,
    principal: Principal = allow(Perm.LOYALTY_WRITE),
) -> s.WeChatTopUpRead:
    """Ask WeChat Pay to collect a top-up from the customer (their openid for the brand's app); the
    card is credited when WeChat Pay's notification (or a reconciliation query) says it was paid.
    The cap counts top-ups still being paid."""
    _customer(db, principal, customer_id)
    _store(db, principal, body.store_id)
    intent, params, created = topups.wechat_top_up(
        db,
        tenant_id=principal.tenant_id,
        tenant_slug=principal.tenant_slug,
        customer_id=customer_id,
        principal_fen=body.principal_fen,
        bonus_fen=_bonus(db, principal.tenant_id, body.principal_fen, body.bonus_fen),
        openid=body.openid,
        key=body.idempotency_key,
        store_id=body.store_id,
        actor=principal,
    )
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return s.WeChatTopUpRead(
        out_trade_no=intent.out_trade_no,
        status=intent.status,
        amount_fen=intent.amount_fen,
        pay_params=params,
    )


@router.get(
    "/customers/{customer_id}/payments",
    response_model=list[s.WeChatPaymentRead],
    summary="Payments of a customer 客户的支付单",
)
def customer_payments(
    customer_id: PathId, db: DB, principal: Principal = allow(Perm.LOYALTY_READ)
) -> list[s.WeChatPaymentRead]:
    """The customer's WeChat Pay top-ups, newest first: created, paid, closed or refund_due."""
    _customer(db, principal, customer_id)
    rows = db.scalars(
        select(topups.PaymentIntent)
        .where(
            topups.PaymentIntent.tenant_id == principal.tenant_id,
            topups.PaymentIntent.customer_id == customer_id,
        )
        .order_by(topups.PaymentIntent.id.desc())
        .limit(100)
    )
    return [s.WeChatPaymentRead.model_validate(r, from_attributes=True) for r in rows]


@router.post(
    "/customers/{customer_id}/stored-value/wechat-pay-refunds",
    response_model=s.PaymentRefundRead,
    summary="Refund a WeChat Pay top-up 微信支付充值退款",
)
def wechat_refund(
    customer_id: PathId,
    body: s.WeChatRefundIn,
    db: DB,
    response: Response,
    principal: Principal = allow(Perm.LOYALTY_ADJUST),
) -> s.PaymentRefundRead:
    """Take the refunded share of the top-up off the card (refused when it was spent), then have
    WeChat Pay pay it back; audited."""
    _customer(db, principal, customer_id)
    row, created = topups.refund_wechat_top_up(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        out_trade_no=body.out_trade_no,
        amount_fen=body.amount_fen,
        reason=body.reason,
        key=body.idempotency_key,
        actor=principal,
    )
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return s.PaymentRefundRead.model_validate(row, from_attributes=True)


@router.post(
    "/customers/{customer_id}/loyalty/denials",
    response_model=s.LoyaltyRead,
    summary="Deny or allow a capability 风控名单",
)
def set_denial(
    customer_id: PathId, body: s.DenialIn, db: DB, principal: Principal = allow(Perm.LOYALTY_ADJUST)
) -> s.LoyaltyRead:
    """Deny the customer earning points, paying with points, using coupons or buying — or lift it;
    audited with the reason. Answers the customer's loyalty view."""
    _customer(db, principal, customer_id)
    rules.set_denial(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        capability=body.capability,
        deny=body.denied,
        reason=body.reason,
        actor=principal,
    )
    return customer_loyalty(customer_id, db, 20, None, principal)


@router.post(
    "/customers/{customer_id}/points/burn-quote",
    response_model=s.BurnQuoteRead,
    summary="Points an order may take 积分抵扣上限",
)
def burn_quote(
    customer_id: PathId, body: s.BurnQuoteIn, db: DB, principal: Principal = allow(Perm.LOYALTY_READ)
) -> s.BurnQuoteRead:
    """The least and most points this order may take under the programme's caps (points available,
    share of the order, most per order, postage), and what they are worth. None for a customer
    denied paying with points."""
    _customer(db, principal, customer_id)
    tenant_id = principal.tenant_id
    balance, held = ledger.balances(db, tenant_id=tenant_id, customer_id=customer_id).get("points", (0, 0))
    available = balance - held
    if rules.denied(db, tenant_id=tenant_id, customer_ids=[customer_id], capability="use_points"):
        return s.BurnQuoteRead(
            available_points=available,
            min_points=0,
            max_points=0,
            max_value_fen=0,
            points_per_yuan=0,
            reason_zh="该客户已被禁止使用积分",
            reason_en="the customer is denied paying with points",
        )
    limit = rules.burn_limit(
        service.membership_program(db, tenant_id),
        goods_fen=body.goods_fen,
        shipping_fen=body.shipping_fen,
        available_points=available,
    )
    return s.BurnQuoteRead(available_points=available, **limit.__dict__)


# --- stored value: offers and refunds ------------------------------------------------------------


@router.get("/loyalty/top-up-rules", response_model=list[s.TopUpRuleRead], summary="Top-up offers 充值优惠")
def get_topup_rules(db: DB, principal: Principal = allow(Perm.LOYALTY_READ)) -> list[s.TopUpRuleRead]:
    """The brand's top-up offers (a top-up without a bonus named gets the best one it reaches)."""
    return [
        s.TopUpRuleRead.model_validate(r, from_attributes=True)
        for r in storedvalue.rules(db, tenant_id=principal.tenant_id)
    ]


@router.put(
    "/loyalty/top-up-rules", response_model=list[s.TopUpRuleRead], summary="Set top-up offers 设置充值优惠"
)
def put_topup_rules(
    body: s.TopUpRulesIn, db: DB, principal: Principal = allow(Perm.LOYALTY_CONFIGURE)
) -> list[s.TopUpRuleRead]:
    """Replace the offers; two active offers at one threshold with overlapping windows are refused."""
    rows = storedvalue.save_rules(
        db, tenant_id=principal.tenant_id, wanted=[r.model_dump() for r in body.rules], actor=principal
    )
    return [s.TopUpRuleRead.model_validate(r, from_attributes=True) for r in rows]


@router.post(
    "/customers/{customer_id}/stored-value/refund-requests",
    response_model=s.SvRefundRead,
    summary="Ask to refund unused stored value 申请储值退款",
)
def request_sv_refund(
    customer_id: PathId,
    body: s.SvRefundIn,
    db: DB,
    response: Response,
    principal: Principal = allow(Perm.LOYALTY_WRITE),
) -> s.SvRefundRead:
    """Freeze the principal to be paid back until someone else approves or rejects the request."""
    _customer(db, principal, customer_id)
    _store(db, principal, body.store_id)
    row, made = storedvalue.request_refund(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        principal_fen=body.principal_fen,
        reason=body.reason,
        key=body.idempotency_key,
        store_id=body.store_id,
        actor=principal,
    )
    if not made:
        response.headers["Idempotent-Replayed"] = "true"
    return s.SvRefundRead.model_validate(row, from_attributes=True)


@router.get(
    "/loyalty/stored-value/refund-requests",
    response_model=list[s.SvRefundRead],
    summary="Stored-value refund requests 储值退款审批",
)
def list_sv_refunds(
    db: DB, status: str = "pending", principal: Principal = allow(Perm.LOYALTY_ADJUST)
) -> list[s.SvRefundRead]:
    """Requests by status (pending: the approvals inbox), oldest first."""
    rows = db.scalars(
        select(StoredValueRefund)
        .where(StoredValueRefund.tenant_id == principal.tenant_id, StoredValueRefund.status == status)
        .order_by(StoredValueRefund.id)
        .limit(200)
    )
    return [s.SvRefundRead.model_validate(r, from_attributes=True) for r in rows]


@router.post(
    "/loyalty/stored-value/refund-requests/{request_id}/decision",
    response_model=s.SvRefundRead,
    summary="Approve or reject a refund 审批储值退款",
)
def decide_sv_refund(
    request_id: PathId, body: s.SvRefundDecisionIn, db: DB, principal: Principal = allow(Perm.LOYALTY_ADJUST)
) -> s.SvRefundRead:
    """Approve (the principal leaves the card, the fee is kept, the bonus given with it forfeited) or
    reject (the principal is free again); not by the requester. Audited."""
    row = storedvalue.decide_refund(
        db,
        tenant_id=principal.tenant_id,
        refund_id=request_id,
        approve=body.approve,
        comment=body.comment,
        fee_fen=body.fee_fen,
        actor=principal,
    )
    return s.SvRefundRead.model_validate(row, from_attributes=True)


# --- paid membership -------------------------------------------------------------------------------


def _term(db: DB, row: Membership) -> s.MembershipRead:
    plan = db.get(MembershipPlan, row.plan_id)
    return s.MembershipRead(
        id=row.id,
        plan_code=plan.code if plan else "",
        price_fen=row.price_fen,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        status=row.status,
        auto_renew=row.auto_renew,
        renewal=row.renewal_of_id is not None,
        recognised_fen=row.recognised_fen,
        refunded_fen=row.refunded_fen,
    )


@router.get(
    "/loyalty/membership-plans", response_model=list[s.PlanRead], summary="Paid membership plans 付费会员方案"
)
def get_plans(db: DB, principal: Principal = allow(Perm.LOYALTY_READ)) -> list[s.PlanRead]:
    return [
        s.PlanRead.model_validate(p, from_attributes=True)
        for p in paid.plans(db, tenant_id=principal.tenant_id)
    ]


@router.put(
    "/loyalty/membership-plans", response_model=list[s.PlanRead], summary="Set plans 设置付费会员方案"
)
def put_plans(
    body: s.PlansIn, db: DB, principal: Principal = allow(Perm.LOYALTY_CONFIGURE)
) -> list[s.PlanRead]:
    """Create or change plans by code; a plan left out is retired (its members keep their terms)."""
    known = {t.code for t in membership.tiers(db, tenant_id=principal.tenant_id)}
    for plan in body.plans:
        if plan.tier_code is not None and plan.tier_code not in known:
            raise not_found("tier")
    rows = paid.save_plans(
        db, tenant_id=principal.tenant_id, wanted=[p.model_dump() for p in body.plans], actor=principal
    )
    return [s.PlanRead.model_validate(p, from_attributes=True) for p in rows]


@router.post(
    "/customers/{customer_id}/memberships",
    response_model=s.MembershipRead,
    summary="Buy or renew paid membership 购买/续费付费会员",
)
def buy_membership(
    customer_id: PathId,
    body: s.MembershipIn,
    db: DB,
    response: Response,
    principal: Principal = allow(Perm.LOYALTY_WRITE),
) -> s.MembershipRead:
    """Book a paid term (paid at the till); a renewal starts when the current term ends."""
    _customer(db, principal, customer_id)
    _store(db, principal, body.store_id)
    row, made = paid.purchase(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        plan_code=body.plan_code,
        key=body.idempotency_key,
        auto_renew=body.auto_renew,
        store_id=body.store_id,
        actor=principal,
    )
    if not made:
        response.headers["Idempotent-Replayed"] = "true"
    return _term(db, row)


@router.get(
    "/customers/{customer_id}/memberships",
    response_model=list[s.MembershipRead],
    summary="A customer's paid terms 客户的付费会员",
)
def customer_memberships(
    customer_id: PathId, db: DB, principal: Principal = allow(Perm.LOYALTY_READ)
) -> list[s.MembershipRead]:
    _customer(db, principal, customer_id)
    rows = db.scalars(
        select(Membership)
        .where(Membership.tenant_id == principal.tenant_id, Membership.customer_id == customer_id)
        .order_by(Membership.starts_at.desc())
    )
    return [_term(db, r) for r in rows]


@router.post(
    "/customers/{customer_id}/memberships/cancel",
    response_model=s.MembershipRead,
    summary="Cancel paid membership 取消付费会员",
)
def cancel_membership(
    customer_id: PathId, body: s.MembershipCancelIn, db: DB, principal: Principal = allow(Perm.LOYALTY_ADJUST)
) -> s.MembershipRead:
    """Cancel the customer's latest running term: revenue up to now is kept, the rest is refunded
    less the plan's fee. Audited."""
    _customer(db, principal, customer_id)
    latest = db.scalar(
        select(Membership)
        .where(
            Membership.tenant_id == principal.tenant_id,
            Membership.customer_id == customer_id,
            Membership.status == "active",
        )
        .order_by(Membership.ends_at.desc())
        .limit(1)
    )
    if latest is None:
        raise not_found("membership")
    row = paid.cancel(
        db, tenant_id=principal.tenant_id, membership_id=latest.id, reason=body.reason, actor=principal
    )
    # Paid with WeChat Pay: the refund goes back the same way (refused there: nothing is cancelled).
    topups.refund_wechat_membership(
        db,
        tenant_id=principal.tenant_id,
        term_key=row.idempotency_key,
        refund_fen=row.refunded_fen,
        reason=body.reason[:80],
    )
    return _term(db, row)


@router.post(
    "/customers/{customer_id}/memberships/wechat-pay",
    response_model=s.WeChatTopUpRead,
    summary="Buy paid membership with WeChat Pay 微信支付购买付费会员",
)
def buy_membership_wechat(
    customer_id: PathId,
    body: s.WeChatMembershipIn,
    db: DB,
    response: Response,
    principal: Principal = allow(Perm.LOYALTY_WRITE),
) -> s.WeChatTopUpRead:
    """Ask WeChat Pay to collect a plan's price; the term is booked when the payment is heard."""
    _customer(db, principal, customer_id)
    _store(db, principal, body.store_id)
    intent, params, created = topups.wechat_membership(
        db,
        tenant_id=principal.tenant_id,
        tenant_slug=principal.tenant_slug,
        customer_id=customer_id,
        plan_code=body.plan_code,
        auto_renew=body.auto_renew,
        openid=body.openid,
        key=body.idempotency_key,
        store_id=body.store_id,
        actor=principal,
    )
    if not created:
        response.headers["Idempotent-Replayed"] = "true"
    return s.WeChatTopUpRead(
        out_trade_no=intent.out_trade_no,
        status=intent.status,
        amount_fen=intent.amount_fen,
        pay_params=params,
    )


@router.get(
    "/loyalty/memberships/renewal-rates",
    response_model=list[s.CohortRead],
    summary="Renewal rate by cohort 续费率",
)
def renewal_rates(db: DB, principal: Principal = allow(Perm.LOYALTY_READ)) -> list[s.CohortRead]:
    """Terms that ended in each month and how many were renewed (cancelled terms are left out)."""
    return [
        s.CohortRead(month=c.month, ended=c.ended, renewed=c.renewed, rate=c.rate)
        for c in paid.renewal_rates(db, tenant_id=principal.tenant_id)
    ]


# --- the liability report ---------------------------------------------------------------------------


def _liability(
    db: DB, principal: Principal, date: dt.date | None, days: int, by: str
) -> tuple[dict[dt.date, dict[object, liability.Figures]], dict[object, str]]:
    tenant_id = principal.tenant_id
    zone = org.tenant_zone(db, tenant_id=tenant_id)
    last = date or utcnow().astimezone(zone).date()
    first = last - dt.timedelta(days=days - 1)
    per_store = liability.daily(db, tenant_id=tenant_id, first=first, last=last, zone=zone)
    stores = {st.id: st for st in org.stores_of(db, tenant_id=tenant_id)}
    if by == "store":
        names: dict[object, str] = {sid: f"{st.code} {st.name}" for sid, st in stores.items()}
        names[None] = "无门店 / No store"
        return dict(per_store), names  # type: ignore[arg-type]
    if by == "region":
        regions = org.regions_of(db, tenant_id=tenant_id)
        key = {sid: st.region_id for sid, st in stores.items()}
        names = {rid: name for rid, (_, name) in regions.items()}
        names[None] = "无区域 / No region"
        return {day: liability.roll_up(groups, key) for day, groups in per_store.items()}, names
    return {day: liability.roll_up(groups) for day, groups in per_store.items()}, {
        "brand": "品牌合计 / Brand"
    }


@router.get("/loyalty/liability", response_model=s.LiabilityRead, summary="Liability report 会员资产负债")
def liability_report(
    db: DB,
    date: dt.date | None = None,
    days: int = Query(default=1, ge=1, le=92),
    by: Literal["brand", "region", "store"] = "brand",
    principal: Principal = allow(Perm.LOYALTY_LIABILITY),
) -> s.LiabilityRead:
    """What the brand owes its members at the end of each day (points and their value, stored value
    principal and bonus, membership fees not yet earned) and the day's breakage, per brand, region
    or store, for `days` days up to `date` (default today so far, brand time zone). HQ roles only."""
    groups, names = _liability(db, principal, date, days, by)
    return s.LiabilityRead(
        by=by,
        definitions={
            k: s.Definition(
                zh=f"{FIGS[k][0]}：{liability.DEFINITIONS[k][0]}",
                en=f"{FIGS[k][1]}: {liability.DEFINITIONS[k][1]}",
            )
            for k in FIGS
        },
        days=[
            s.LiabilityDay(
                date=day,
                groups=[
                    s.LiabilityGroup(key=str(key), name=names.get(key, str(key)), figures=figures.as_dict())
                    for key, figures in sorted(per.items(), key=lambda kv: names.get(kv[0], str(kv[0])))
                ],
            )
            for day, per in sorted(groups.items())
        ],
    )


@router.get("/loyalty/liability.xlsx", summary="Liability report (Excel) 会员资产负债（Excel）")
def liability_xlsx(
    db: DB,
    date: dt.date | None = None,
    days: int = Query(default=30, ge=1, le=92),
    by: Literal["brand", "region", "store"] = "store",
    principal: Principal = allow(Perm.LOYALTY_LIABILITY),
) -> FileResponse:
    """The same report as an Excel sheet (money in yuan); audited as an export."""
    groups, names = _liability(db, principal, date, days, by)
    headers = ["日期 Date", "范围 Scope"] + [f"{zh} {en}" for zh, en, _ in FIGS.values()]

    def write(path: Path) -> None:
        write_table(path, headers, liability.rows(groups, names.items()), sheet="liability")

    response = temporary_download("liability.xlsx", write)
    audit.record(
        db,
        tenant_id=principal.tenant_id,
        actor=principal,
        action="loyalty.liability.export",
        object_type="tenant",
        object_id=principal.tenant_id,
        data={"days": days, "by": by, "date": str(date) if date else None},
    )
    return response
