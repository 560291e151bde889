"""Payments use cases: a brand's WeChat Pay settings, asking WeChat Pay to collect (prepay), hearing
that it did (the notification, or a reconciliation query for one that never came), and refunds.

A payment is applied once: `created → paid` is one conditional update, `transaction_id` is unique
per brand, and the event `payments.paid` is recorded in the same transaction — the purpose's policy
(loyalty's top-up) runs inside it, so the money and what it buys commit together or not at all.
"""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu import events
from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.core.ids import sha256_hex
from siyu.db.base import table_of
from siyu.payments import wechatpay
from siyu.payments.models import PaymentIntent, PaymentNotification, PaymentRefund, WeChatPayConfig
from siyu.platform import audit
from siyu.platform.secrets import seal, unseal

log = logging.getLogger(__name__)
INTENTS = table_of(PaymentIntent)
RECONCILE_AFTER = timedelta(minutes=2)  # a notification this late is looked for by a query
GIVE_UP_AFTER = timedelta(hours=3)  # WeChat Pay closes unpaid orders after two hours


def _invalid(reason_zh: str, reason_en: str) -> DomainError:
    return DomainError("invalid_payment", reason_zh=reason_zh, reason_en=reason_en)


# --- settings ----------------------------------------------------------------------------------------


def config(session: Session, *, tenant_id: int) -> WeChatPayConfig | None:
    """The brand's WeChat Pay merchant (None: not set up)."""
    return session.scalar(select(WeChatPayConfig).where(WeChatPayConfig.tenant_id == tenant_id))


def save_config(
    session: Session,
    *,
    tenant_id: int,
    mchid: str,
    appid: str,
    merchant_serial: str,
    private_key_pem: str,
    apiv3_key: str,
    platform_key_id: str,
    platform_public_key_pem: str,
    notify_base_url: str,
    api_base: str | None,
    actor: Principal | None,
) -> WeChatPayConfig:
    """Set the merchant; the keys are checked (an RSA private key, a 32-byte APIv3 key, an RSA
    platform public key or certificate) and sealed. Audited without the secrets."""
    try:
        wechatpay.load_private_key(private_key_pem)
    except ValueError:
        raise _invalid(
            "商户 API 私钥无效（需要 PEM 格式的 RSA 私钥）", "The merchant private key is not an RSA PEM key"
        ) from None
    try:
        wechatpay.load_public_key(platform_public_key_pem)
    except ValueError:
        raise _invalid(
            "微信支付公钥无效（需要 PEM 格式的公钥或平台证书）",
            "The platform public key is not a PEM key or certificate",
        ) from None
    if len(apiv3_key.encode()) != 32:
        raise _invalid("APIv3 密钥必须是 32 个字符", "The APIv3 key must be 32 characters")
    row = config(session, tenant_id=tenant_id)
    values = {
        "mchid": mchid,
        "appid": appid,
        "merchant_serial": merchant_serial,
        "private_key_enc": seal(private_key_pem),
        "apiv3_key_enc": seal(apiv3_key),
        "platform_key_id": platform_key_id,
        "platform_public_key": platform_public_key_pem,
        "notify_base_url": notify_base_url.rstrip("/"),
        "api_base": api_base,
        "updated_at": utcnow(),
    }
    if row is None:
        row = WeChatPayConfig(tenant_id=tenant_id, **values)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="payments.wechat_pay.configure",
        object_type="tenant",
        object_id=tenant_id,
        data={"mchid": mchid, "appid": appid, "platform_key_id": platform_key_id, "api_base": api_base},
    )
    return row


def merchant(row: WeChatPayConfig) -> wechatpay.Merchant:
    """The merchant's credentials, unsealed."""
    return wechatpay.Merchant(
        mchid=row.mchid,
        appid=row.appid,
        serial_no=row.merchant_serial,
        private_key=wechatpay.load_private_key(unseal(row.private_key_enc)),
        apiv3_key=unseal(row.apiv3_key_enc),
        platform_keys={row.platform_key_id: wechatpay.load_public_key(row.platform_public_key)},
        api_base=row.api_base or wechatpay.API_BASE,
    )


def _required(session: Session, tenant_id: int) -> WeChatPayConfig:
    row = config(session, tenant_id=tenant_id)
    if row is None:
        raise DomainError("payments_not_configured")
    return row


def _unavailable(exc: wechatpay.WeChatPayError) -> DomainError:
    return DomainError("wechat_pay_unavailable", reason=exc.reason)


# --- collecting ----------------------------------------------------------------------------------------


def prior_intent(session: Session, *, tenant_id: int, key: str) -> PaymentIntent | None:
    """The intent made under an idempotency key, if any."""
    return session.scalar(
        select(PaymentIntent).where(
            PaymentIntent.tenant_id == tenant_id, PaymentIntent.idempotency_key == key
        )
    )


def create_intent(
    session: Session,
    *,
    tenant_id: int,
    tenant_slug: str,
    purpose: str,
    customer_id: int,
    amount_fen: int,
    openid: str,
    description: str,
    key: str,
    details: Mapping[str, Any] | None = None,
    store_id: int | None = None,
    actor: Principal | None = None,
) -> tuple[PaymentIntent, dict[str, str], bool]:
    """Ask WeChat Pay to collect `amount_fen` from the payer (once per key): (the intent, the
    mini-program's payment parameters, made now). The same key with another request is refused."""
    request = {
        "purpose": purpose,
        "customer_id": customer_id,
        "amount_fen": amount_fen,
        "openid": openid,
        "details": dict(details or {}),
        "store_id": store_id,
        "_by": f"{actor.actor_type}:{actor.actor_id}" if actor else "system",
    }
    digest = sha256_hex(json.dumps(request, sort_keys=True, default=str))
    row = _required(session, tenant_id)
    creds = merchant(row)
    prior = prior_intent(session, tenant_id=tenant_id, key=key)
    if prior is not None:
        if prior.request_sha256 != digest:
            raise DomainError("ledger_key_reused", what_zh="支付", what_en="payment")
        return prior, _params(creds, prior), False
    now = utcnow()
    out_trade_no = f"SY{now:%y%m%d%H%M%S}{secrets.token_hex(6).upper()}"
    client = wechatpay.WeChatPayClient(creds)
    try:
        prepay_id = client.prepay_jsapi(
            out_trade_no=out_trade_no,
            description=description,
            amount_fen=amount_fen,
            openid=openid,
            notify_url=notify_url(row, tenant_slug),
        )
    except wechatpay.WeChatPayError as exc:
        raise _unavailable(exc) from exc
    finally:
        client.close()
    intent = PaymentIntent(
        tenant_id=tenant_id,
        provider="wechat_pay",
        purpose=purpose,
        out_trade_no=out_trade_no,
        customer_id=customer_id,
        store_id=store_id,
        amount_fen=amount_fen,
        refunded_fen=0,
        description=description,
        payer_openid=openid,
        prepay_id=prepay_id,
        status="created",
        idempotency_key=key,
        request_sha256=digest,
        details=dict(details or {}),
        created_at=now,
        updated_at=now,
    )
    try:
        with session.begin_nested():
            session.add(intent)
            session.flush()
    except IntegrityError:
        raced = prior_intent(session, tenant_id=tenant_id, key=key)
        if raced is None:
            raise
        return raced, _params(creds, raced), False
    return intent, _params(creds, intent), True


def notify_url(row: WeChatPayConfig, tenant_slug: str) -> str:
    """Where WeChat Pay sends the brand's payment notifications."""
    return f"{row.notify_base_url}/api/v1/payments/wechat-pay/{tenant_slug}/notify"


def _params(creds: wechatpay.Merchant, intent: PaymentIntent) -> dict[str, str]:
    if not intent.prepay_id:
        return {}
    return wechatpay.jsapi_params(
        creds.appid,
        intent.prepay_id,
        creds.private_key,
        timestamp=int(utcnow().timestamp()),
        nonce_str=wechatpay.nonce(),
    )


def intent_by_number(session: Session, *, tenant_id: int, out_trade_no: str) -> PaymentIntent:
    found = session.scalar(
        select(PaymentIntent).where(
            PaymentIntent.tenant_id == tenant_id, PaymentIntent.out_trade_no == out_trade_no
        )
    )
    if found is None:
        raise not_found("payment")
    return found


def _apply_paid(
    session: Session, intent: PaymentIntent, transaction: Mapping[str, Any], creds: wechatpay.Merchant
) -> str:
    """Mark the intent paid once for a successful transaction; 'applied', 'duplicate' or a
    refusal reason (nothing changes). Checks the transaction is this merchant's and this amount."""
    if transaction.get("mchid") != creds.mchid or transaction.get("appid") != creds.appid:
        return "rejected: another merchant or app"
    if transaction.get("trade_state") != "SUCCESS":
        return f"ignored: trade state {transaction.get('trade_state')}"
    amount = transaction.get("amount") or {}
    if int(amount.get("total") or -1) != intent.amount_fen or (amount.get("currency") or "CNY") != "CNY":
        return "rejected: the amount differs from what was asked"
    transaction_id = str(transaction.get("transaction_id") or "")
    if not transaction_id:
        return "rejected: no transaction_id"
    if intent.status != "created":
        return (
            "duplicate"
            if intent.transaction_id == transaction_id
            else "rejected: paid by another transaction"
        )
    now = utcnow()
    try:
        with session.begin_nested():
            changed = session.execute(
                update(INTENTS)
                .where(INTENTS.c.id == intent.id, INTENTS.c.status == "created")
                .values(status="paid", transaction_id=transaction_id, paid_at=now, updated_at=now)
            ).rowcount  # type: ignore[attr-defined]
            if changed != 1:
                raise _RacedError
            # The purpose's policy applies it here, in this transaction (loyalty: the top-up).
            events.record(
                session,
                "payments.paid",
                tenant_id=intent.tenant_id,
                aggregate="payment_intent",
                aggregate_id=intent.id,
                data={
                    "intent_id": intent.id,
                    "purpose": intent.purpose,
                    "customer_id": intent.customer_id,
                    "store_id": intent.store_id,
                    "amount_fen": intent.amount_fen,
                    "details": dict(intent.details or {}),
                    "transaction_id": transaction_id,
                    "out_trade_no": intent.out_trade_no,
                },
                required=True,
            )
    except (_RacedError, IntegrityError):
        session.refresh(intent)
        return (
            "duplicate"
            if intent.transaction_id == transaction_id
            else "rejected: paid by another transaction"
        )
    session.refresh(intent)
    return "applied"


class _RacedError(Exception):
    """Another request marked the intent paid first."""


def handle_notification(
    session: Session, *, tenant_id: int, headers: Mapping[str, str], body: bytes
) -> tuple[bool, str, PaymentNotification]:
    """A payment notification: verified (signature, time), decrypted, applied once. (accepted,
    reason, the log row): WeChat Pay is told success when accepted (applied, a duplicate, or
    ignorable), else a failure (it retries). The log row is in the session; a caller that rolls a
    refusal back writes it on its own (`log_refusal`)."""
    row = config(session, tenant_id=tenant_id)
    logged = PaymentNotification(tenant_id=tenant_id, outcome="rejected", received_at=utcnow())
    session.add(logged)
    if row is None:
        logged.reason = "WeChat Pay is not set up"
        return False, logged.reason, logged
    creds = merchant(row)
    try:
        wechatpay.verify(headers, body, creds.platform_keys)
        envelope = json.loads(body)
        logged.notification_id = str(envelope.get("id") or "")[:64] or None
        logged.event_type = str(envelope.get("event_type") or "")[:40] or None
        transaction = wechatpay.decrypt_resource(envelope.get("resource") or {}, creds.apiv3_key)
    except (wechatpay.WeChatPayError, json.JSONDecodeError, AttributeError) as exc:
        logged.reason = str(exc)[:200]
        log.warning("WeChat Pay notification refused for tenant %s: %s", tenant_id, exc)
        return False, logged.reason, logged
    logged.out_trade_no = str(transaction.get("out_trade_no") or "")[:32] or None
    logged.transaction_id = str(transaction.get("transaction_id") or "")[:32] or None
    if logged.event_type != "TRANSACTION.SUCCESS":
        logged.outcome, logged.reason = "ignored", f"event {logged.event_type}"
        return True, logged.reason, logged
    intent = session.scalar(
        select(PaymentIntent)
        .where(
            PaymentIntent.tenant_id == tenant_id, PaymentIntent.out_trade_no == (logged.out_trade_no or "")
        )
        .with_for_update()
    )
    if intent is None:
        logged.reason = "no such order"
        return False, logged.reason, logged
    outcome = _apply_paid(session, intent, transaction, creds)
    logged.outcome = outcome.split(":", 1)[0]
    logged.reason = outcome[:200]
    return logged.outcome in ("applied", "duplicate", "ignored"), outcome, logged


def log_refusal(engine: Any, *, tenant_id: int, logged: PaymentNotification) -> None:
    """Keep a refused notification's log row (its request's transaction is rolled back)."""
    from siyu.db.session import unit_of_work

    values = {
        c: getattr(logged, c)
        for c in ("notification_id", "event_type", "out_trade_no", "transaction_id", "reason", "received_at")
    }
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        session.add(PaymentNotification(tenant_id=tenant_id, outcome="rejected", **values))


def reconcile(
    session: Session, *, tenant_id: int, now: datetime | None = None, limit: int = 100
) -> dict[str, int]:
    """Ask WeChat Pay about intents still `created` a while after they were made (a notification
    that never came): paid ones are applied as a notification would, closed ones closed."""
    now = now or utcnow()
    row = config(session, tenant_id=tenant_id)
    counts = {"applied": 0, "closed": 0, "waiting": 0}
    if row is None:
        return counts
    creds = merchant(row)
    due = list(
        session.scalars(
            select(PaymentIntent)
            .where(
                PaymentIntent.tenant_id == tenant_id,
                PaymentIntent.status == "created",
                PaymentIntent.created_at <= now - RECONCILE_AFTER,
            )
            .order_by(PaymentIntent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not due:
        return counts
    client = wechatpay.WeChatPayClient(creds)
    try:
        for intent in due:
            try:
                found = client.query(intent.out_trade_no)
            except wechatpay.WeChatPayError as exc:
                if exc.status == 404 and now - intent.created_at > GIVE_UP_AFTER:
                    intent.status, intent.updated_at = "closed", now
                    counts["closed"] += 1
                else:
                    counts["waiting"] += 1
                continue
            state = found.get("trade_state")
            if state == "SUCCESS":
                if _apply_paid(session, intent, found, creds) == "applied":
                    counts["applied"] += 1
            elif state in ("CLOSED", "REVOKED", "PAYERROR") or now - intent.created_at > GIVE_UP_AFTER:
                intent.status, intent.updated_at = "closed", now
                counts["closed"] += 1
            else:
                counts["waiting"] += 1
    finally:
        client.close()
    return counts


def mark_refund_due(session: Session, *, intent_id: int, reason: str) -> None:
    """A paid intent whose purpose could not be fulfilled (a top-up over the cap): its money is to
    be given back (`refund_due`, with why)."""
    session.execute(
        update(INTENTS)
        .where(INTENTS.c.id == intent_id)
        .values(status="refund_due", outcome=reason[:200], updated_at=utcnow())
    )


def refund(
    session: Session,
    *,
    tenant_id: int,
    intent: PaymentIntent,
    amount_fen: int,
    reason: str,
    key: str,
    actor: Principal | None = None,
) -> tuple[PaymentRefund, bool]:
    """Give back (part of) a paid intent through WeChat Pay, once per key; (the refund, made now).
    Refused, nothing changes: an unpaid intent, more than what is left, WeChat Pay refusing."""
    digest = sha256_hex(
        json.dumps({"intent": intent.id, "amount": amount_fen, "reason": reason}, sort_keys=True)
    )
    prior = session.scalar(
        select(PaymentRefund).where(
            PaymentRefund.tenant_id == tenant_id, PaymentRefund.idempotency_key == key
        )
    )
    if prior is not None:
        if prior.request_sha256 != digest:
            raise DomainError("ledger_key_reused", what_zh="退款", what_en="refund")
        return prior, False
    if intent.status not in ("paid", "refund_due") or not intent.transaction_id:
        raise _invalid("这笔支付尚未成功，不能退款", "This payment has not succeeded; it cannot be refunded")
    left = intent.amount_fen - intent.refunded_fen
    if amount_fen <= 0 or amount_fen > left:
        raise _invalid(
            f"退款金额须在 ¥0.01 到 ¥{left / 100:,.2f} 之间",
            f"The refund must be between ¥0.01 and ¥{left / 100:,.2f}",
        )
    taken = session.execute(
        update(INTENTS)
        .where(INTENTS.c.id == intent.id, INTENTS.c.refunded_fen + amount_fen <= INTENTS.c.amount_fen)
        .values(refunded_fen=INTENTS.c.refunded_fen + amount_fen, updated_at=utcnow())
    ).rowcount  # type: ignore[attr-defined]
    if taken != 1:
        raise _invalid("退款金额超过可退金额", "The refund is more than what is left to refund")
    out_refund_no = f"SR{utcnow():%y%m%d%H%M%S}{secrets.token_hex(6).upper()}"
    client = wechatpay.WeChatPayClient(merchant(_required(session, tenant_id)))
    try:
        answer = client.refund(
            transaction_id=intent.transaction_id,
            out_refund_no=out_refund_no,
            amount_fen=amount_fen,
            total_fen=intent.amount_fen,
            reason=reason,
        )
    except wechatpay.WeChatPayError as exc:
        raise _unavailable(exc) from exc
    finally:
        client.close()
    row = PaymentRefund(
        tenant_id=tenant_id,
        intent_id=intent.id,
        out_refund_no=out_refund_no,
        amount_fen=amount_fen,
        reason=reason,
        status=str(answer.get("status") or "PROCESSING"),
        refund_id=str(answer.get("refund_id") or "") or None,
        idempotency_key=key,
        request_sha256=digest,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="payments.refund",
        object_type="payment",
        object_id=intent.id,
        data={"amount_fen": amount_fen, "reason": reason, "out_refund_no": out_refund_no},
    )
    return row, True
