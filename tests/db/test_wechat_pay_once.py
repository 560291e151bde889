"""A payment is applied once, on SQLite and PostgreSQL: the same notification delivered by eight
threads at once, and a reconciliation query racing them, credit the card exactly once; a payment the
card can no longer take becomes `refund_due` instead of being lost."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import func, select

from siyu.core.errors import DomainError
from siyu.customers import facade as customers
from siyu.customers.schemas import CustomerUpsert, IdentityIn
from siyu.db.session import unit_of_work
from siyu.loyalty import ledger, service, topups
from siyu.loyalty.check import check
from siyu.loyalty.models import LedgerTransaction
from siyu.payments import service as payments
from siyu.payments.fake import FakeWeChatPay, serve_fake
from siyu.payments.models import PaymentIntent
from tests.factories import World

OPENID = "oM_once_openid_0001"


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeWeChatPay, str]]:
    account = FakeWeChatPay()
    with serve_fake(account) as base:
        yield account, base


def _setup(w: World, fake: tuple[FakeWeChatPay, str]) -> int:
    account, base = fake
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        payments.save_config(
            db, tenant_id=w.tenant_id, actor=None, **account.settings("http://127.0.0.1:9", base)
        )
        return customers.resolve_customers(
            db,
            tenant_id=w.tenant_id,
            records=[
                CustomerUpsert(
                    name="实名会员",
                    phone="13912349999",
                    identities=[IdentityIn(type="wechat_openid", namespace=account.appid, value=OPENID)],
                )
            ],
            source="t",
            actor=None,
        )[0].id


def _ask(w: World, c: int, amount: int, key: str) -> str:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        intent, _, _ = topups.wechat_top_up(
            db,
            tenant_id=w.tenant_id,
            tenant_slug=w.slug,
            customer_id=c,
            principal_fen=amount,
            bonus_fen=0,
            openid=OPENID,
            key=key,
        )
        return intent.out_trade_no


def _deliver(w: World, headers: dict[str, str], body: str) -> tuple[bool, str]:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        accepted, reason, _ = payments.handle_notification(
            db, tenant_id=w.tenant_id, headers=headers, body=body.encode()
        )
        return accepted, reason


def test_eight_deliveries_and_a_query_at_once_credit_once(
    db_world: World, fake: tuple[FakeWeChatPay, str]
) -> None:
    w = db_world
    account, _ = fake
    c = _setup(w, fake)
    out_trade_no = _ask(w, c, 88_800, "once-topup-1")
    headers, body = account.pay(out_trade_no)

    def reconcile() -> tuple[bool, str]:
        with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
            counts = payments.reconcile(
                db, tenant_id=w.tenant_id, now=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)
            )
        return True, f"reconciled {counts}"

    jobs: list[Any] = [lambda: _deliver(w, headers, body) for _ in range(8)] + [reconcile]
    with ThreadPoolExecutor(max_workers=9) as pool:
        results = [f.result() for f in [pool.submit(job) for job in jobs]]
    assert all(accepted for accepted, _ in results)
    applied = [reason for _, reason in results if reason == "applied"]
    reconciled = [reason for _, reason in results if "'applied': 1" in reason]
    assert len(applied) + len(reconciled) == 1, results
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert ledger.balances(db, tenant_id=w.tenant_id, customer_id=c)["sv_principal"] == (88_800, 0)
        top_ups = db.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.tenant_id == w.tenant_id, LedgerTransaction.kind == "top_up")
        )
        assert top_ups == 1
        assert check(db, tenant_id=w.tenant_id)["violations"] == 0


def test_a_payment_the_card_cannot_take_is_kept_for_a_refund(
    db_world: World, fake: tuple[FakeWeChatPay, str]
) -> None:
    w = db_world
    account, _ = fake
    c = _setup(w, fake)
    out_trade_no = _ask(w, c, 200_000, "once-topup-over")
    # Meanwhile the till tops the card up to its cap.
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        service.top_up(
            db, tenant_id=w.tenant_id, customer_id=c, principal_fen=400_000, bonus_fen=0, key="till-1"
        )
    accepted, reason = _deliver(w, *account.pay(out_trade_no))
    assert (accepted, reason) == (True, "applied")
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        intent = db.scalar(select(PaymentIntent).where(PaymentIntent.out_trade_no == out_trade_no))
        assert intent is not None and intent.status == "refund_due" and "¥5,000" in (intent.outcome or "")
        assert ledger.balances(db, tenant_id=w.tenant_id, customer_id=c)["sv_principal"] == (400_000, 0)
    # The money goes back in full; the card is untouched.
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        refund, created = topups.refund_wechat_top_up(
            db,
            tenant_id=w.tenant_id,
            customer_id=c,
            out_trade_no=out_trade_no,
            amount_fen=200_000,
            reason="超出储值上限",
            key="once-refund-over",
        )
        assert created and refund.status == "SUCCESS"
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        assert ledger.balances(db, tenant_id=w.tenant_id, customer_id=c)["sv_principal"] == (400_000, 0)
        assert check(db, tenant_id=w.tenant_id)["violations"] == 0
        with pytest.raises(DomainError) as twice:
            topups.refund_wechat_top_up(
                db,
                tenant_id=w.tenant_id,
                customer_id=c,
                out_trade_no=out_trade_no,
                amount_fen=1,
                reason="再退一次",
                key="once-refund-more",
            )
    assert twice.value.code == "invalid_payment"
