"""The loyalty ledger on SQLite and PostgreSQL: balanced transactions, exact balances, keys that act
once, holds, reversals within what they reverse, and a check that finds what is wrong."""

from __future__ import annotations

import datetime as dt
from fractions import Fraction
from typing import Any

import pytest
from sqlalchemy import func, select, update

from siyu.core.errors import DomainError
from siyu.db.session import unit_of_work
from siyu.loyalty import ledger, service
from siyu.loyalty.check import check
from siyu.loyalty.models import LedgerAccount, LedgerPosting, LedgerTransaction
from tests.factories import World

ALICE, BOB = 101, 102


def _balances(w: World, customer: int) -> dict[str, tuple[int, int]]:
    with unit_of_work(w.engine) as db:
        return ledger.balances(db, tenant_id=w.tenant_id, customer_id=customer)


def _violations(w: World) -> dict[str, Any]:
    with unit_of_work(w.engine) as db:
        return check(db, tenant_id=w.tenant_id)


def _rows(w: World) -> tuple[int, int]:
    with unit_of_work(w.engine) as db:
        tx = db.scalar(
            select(func.count())
            .select_from(LedgerTransaction)
            .where(LedgerTransaction.tenant_id == w.tenant_id)
        )
        postings = db.scalar(
            select(func.count()).select_from(LedgerPosting).where(LedgerPosting.tenant_id == w.tenant_id)
        )
    return int(tx or 0), int(postings or 0)


def test_a_top_up_books_principal_and_bonus_apart_and_balances(db_world: World) -> None:
    w = db_world
    with unit_of_work(w.engine) as db:
        posted = service.top_up(
            db, tenant_id=w.tenant_id, customer_id=ALICE, principal_fen=100_000, bonus_fen=10_000, key="t1"
        )
        assert posted.created and posted.transaction.result == {
            "balances": {"sv_principal": 100_000, "sv_bonus": 10_000}
        }
    assert _balances(w, ALICE) == {"sv_principal": (100_000, 0), "sv_bonus": (10_000, 0)}
    report = _violations(w)
    assert report["violations"] == 0 and report["postings"] == 4 and report["transactions"] == 1


def test_a_replay_returns_the_first_answer_and_another_payload_is_refused(db_world: World) -> None:
    w = db_world
    with unit_of_work(w.engine) as db:
        first = service.earn_points(
            db, tenant_id=w.tenant_id, customer_id=ALICE, points=500, key="order-1:earn"
        )
        first_id = first.transaction.id
    with unit_of_work(w.engine) as db:
        again = service.earn_points(
            db, tenant_id=w.tenant_id, customer_id=ALICE, points=500, key="order-1:earn"
        )
        assert not again.created and again.transaction.id == first_id
    before = _rows(w)
    with unit_of_work(w.engine) as db, pytest.raises(DomainError) as refused:
        service.earn_points(db, tenant_id=w.tenant_id, customer_id=ALICE, points=900, key="order-1:earn")
    assert refused.value.code == "ledger_key_reused" and refused.value.status == 409
    assert "幂等键" in refused.value.message() and "idempotency key" in refused.value.message("en")
    assert _rows(w) == before and _balances(w, ALICE) == {"points": (500, 0)}


def test_spending_more_than_is_available_changes_nothing(db_world: World) -> None:
    w = db_world
    with unit_of_work(w.engine) as db:
        service.top_up(
            db, tenant_id=w.tenant_id, customer_id=ALICE, principal_fen=5_000, bonus_fen=1_000, key="t"
        )
    before = _rows(w)
    for amount in (6_001, 10_000_000):
        with unit_of_work(w.engine) as db, pytest.raises(DomainError) as refused:
            service.spend_stored_value(
                db, tenant_id=w.tenant_id, customer_id=ALICE, amount_fen=amount, key=f"s{amount}"
            )
        assert refused.value.code == "insufficient_balance"
    for bad in (0, -5):
        with unit_of_work(w.engine) as db, pytest.raises(DomainError) as invalid:
            service.spend_stored_value(
                db, tenant_id=w.tenant_id, customer_id=ALICE, amount_fen=bad, key=f"b{bad}"
            )
        assert invalid.value.code == "validation_error"
    assert _rows(w) == before
    # Principal first (the brand's order): ¥55 takes ¥50 principal and ¥5 bonus.
    with unit_of_work(w.engine) as db:
        service.spend_stored_value(db, tenant_id=w.tenant_id, customer_id=ALICE, amount_fen=5_500, key="s-ok")
    assert _balances(w, ALICE) == {"sv_principal": (0, 0), "sv_bonus": (500, 0)}
    assert _violations(w)["violations"] == 0


def test_the_card_cap_counts_principal_and_bonus(db_world: World) -> None:
    w = db_world
    with unit_of_work(w.engine) as db:
        service.top_up(
            db, tenant_id=w.tenant_id, customer_id=ALICE, principal_fen=400_000, bonus_fen=40_000, key="a"
        )
    with unit_of_work(w.engine) as db, pytest.raises(DomainError) as capped:
        service.top_up(
            db, tenant_id=w.tenant_id, customer_id=ALICE, principal_fen=60_000, bonus_fen=1, key="b"
        )
    assert capped.value.code == "stored_value_cap" and "¥5,000" in capped.value.message()
    with unit_of_work(w.engine) as db:  # exactly to the cap is allowed
        service.top_up(
            db, tenant_id=w.tenant_id, customer_id=ALICE, principal_fen=60_000, bonus_fen=0, key="c"
        )
    assert _balances(w, ALICE)["sv_principal"] == (460_000, 0)
    with unit_of_work(w.engine) as db, pytest.raises(DomainError) as anonymous:
        service.top_up(
            db,
            tenant_id=w.tenant_id,
            customer_id=BOB,
            principal_fen=100_001,
            bonus_fen=0,
            key="d",
            registered=False,
        )
    assert anonymous.value.code == "stored_value_cap" and "¥1,000" in anonymous.value.message()


def test_a_hold_freezes_then_captures_part_and_releases_the_rest(db_world: World) -> None:
    w = db_world
    now = dt.datetime.now(dt.UTC)
    with unit_of_work(w.engine) as db:
        service.earn_points(db, tenant_id=w.tenant_id, customer_id=ALICE, points=1_000, key="e")
        held, made = service.hold_for_checkout(
            db,
            tenant_id=w.tenant_id,
            customer_id=ALICE,
            asset="points",
            amount=800,
            key="h1",
            order_ref="SO-1",
        )
        hold_id = held.id
        assert made
    assert _balances(w, ALICE) == {"points": (1_000, 800)}
    # Only 200 are available while 800 are held.
    with unit_of_work(w.engine) as db, pytest.raises(DomainError) as refused:
        service.hold_for_checkout(
            db, tenant_id=w.tenant_id, customer_id=ALICE, asset="points", amount=201, key="h2"
        )
    assert refused.value.code == "insufficient_balance"
    with unit_of_work(w.engine) as db:
        ledger.capture(
            db, tenant_id=w.tenant_id, hold_id=hold_id, amount=600, to_account="points:redeemed", key="c1"
        )
    assert _balances(w, ALICE) == {"points": (400, 0)}
    # A hold settles once: a second capture or a release is refused, a replay of the capture is not.
    for attempt in (
        lambda db: ledger.capture(
            db, tenant_id=w.tenant_id, hold_id=hold_id, amount=100, to_account="points:redeemed", key="c2"
        ),
        lambda db: ledger.release(db, tenant_id=w.tenant_id, hold_id=hold_id, key="r1"),
    ):
        with unit_of_work(w.engine) as db, pytest.raises(DomainError) as closed:
            attempt(db)
        assert closed.value.code == "hold_not_active"
    with unit_of_work(w.engine) as db:
        replay = ledger.capture(
            db, tenant_id=w.tenant_id, hold_id=hold_id, amount=600, to_account="points:redeemed", key="c1"
        )
        assert not replay.created
    # A hold nobody settles expires and gives its points back.
    with unit_of_work(w.engine) as db:
        late, _ = service.hold_for_checkout(
            db,
            tenant_id=w.tenant_id,
            customer_id=ALICE,
            asset="points",
            amount=300,
            key="h3",
            now=now - dt.timedelta(hours=2),
        )
    assert _balances(w, ALICE) == {"points": (400, 300)}
    with unit_of_work(w.engine) as db:
        assert ledger.expire_holds(db, tenant_id=w.tenant_id) == 1
        with pytest.raises(DomainError):  # an expired hold cannot be captured
            ledger.capture(
                db, tenant_id=w.tenant_id, hold_id=late.id, amount=300, to_account="points:redeemed", key="c3"
            )
    assert _balances(w, ALICE) == {"points": (400, 0)}
    assert _violations(w)["violations"] == 0


def test_partial_reversals_never_give_back_more_than_was_moved(db_world: World) -> None:
    w = db_world
    with unit_of_work(w.engine) as db:
        earned = service.earn_points(db, tenant_id=w.tenant_id, customer_id=ALICE, points=1_000, key="earn")
        tx_id = earned.transaction.id
    # Refund a third of the order, then the rest of it: 333 then 667 points back — 1,000 exactly.
    with unit_of_work(w.engine) as db:
        ledger.reverse(db, tenant_id=w.tenant_id, transaction_id=tx_id, share=Fraction(1, 3), key="rev1")
    assert _balances(w, ALICE) == {"points": (667, 0)}
    with unit_of_work(w.engine) as db:
        ledger.reverse(db, tenant_id=w.tenant_id, transaction_id=tx_id, share=Fraction(1), key="rev2")
    assert _balances(w, ALICE) == {"points": (0, 0)}
    with unit_of_work(w.engine) as db, pytest.raises(DomainError) as nothing:
        ledger.reverse(db, tenant_id=w.tenant_id, transaction_id=tx_id, share=Fraction(1), key="rev3")
    assert nothing.value.code == "nothing_to_reverse"
    assert _violations(w)["violations"] == 0


def test_reversing_points_already_spent_books_the_shortfall(db_world: World) -> None:
    """The clawback rule: a refund takes back what the customer still has; what they already spent is
    the brand's loss on `points:unrecovered`, never a negative balance."""
    w = db_world
    with unit_of_work(w.engine) as db:
        earned = service.earn_points(db, tenant_id=w.tenant_id, customer_id=ALICE, points=1_000, key="earn")
        held, _ = service.hold_for_checkout(
            db, tenant_id=w.tenant_id, customer_id=ALICE, asset="points", amount=700, key="h"
        )
        ledger.capture(
            db, tenant_id=w.tenant_id, hold_id=held.id, amount=700, to_account="points:redeemed", key="c"
        )
    with unit_of_work(w.engine) as db, pytest.raises(DomainError):
        ledger.reverse(
            db, tenant_id=w.tenant_id, transaction_id=earned.transaction.id, share=Fraction(1), key="r0"
        )
    with unit_of_work(w.engine) as db:
        ledger.reverse(
            db,
            tenant_id=w.tenant_id,
            transaction_id=earned.transaction.id,
            share=Fraction(1),
            key="r1",
            shortfall_to="points:unrecovered",
        )
        unrecovered = ledger.brand_account(db, tenant_id=w.tenant_id, name="points:unrecovered")
        lost = db.scalar(
            select(func.sum(LedgerPosting.amount)).where(LedgerPosting.account_id == unrecovered.id)
        )
    assert _balances(w, ALICE) == {"points": (0, 0)} and lost == -700
    assert _violations(w)["violations"] == 0


def test_the_check_finds_a_tampered_balance_and_a_lost_hold(db_world: World) -> None:
    w = db_world
    with unit_of_work(w.engine) as db:
        service.earn_points(db, tenant_id=w.tenant_id, customer_id=ALICE, points=100, key="e")
        service.hold_for_checkout(
            db, tenant_id=w.tenant_id, customer_id=ALICE, asset="points", amount=10, key="h"
        )
    assert _violations(w)["violations"] == 0
    with unit_of_work(w.engine) as db:  # what a read-check-write bug would leave behind
        db.execute(
            update(LedgerAccount)
            .where(LedgerAccount.tenant_id == w.tenant_id, LedgerAccount.customer_id == ALICE)
            .values(balance=LedgerAccount.balance + 5, held=0)
        )
    report = _violations(w)
    assert report["by_invariant"]["balance_mismatch"] == 1 and report["by_invariant"]["held_mismatch"] == 1
    # The points lots no longer add up to the tampered balance either.
    assert report["by_invariant"]["lots_mismatch"] == 1
    assert report["violations"] == 3 and report["examples"]["balance_mismatch"]


def test_brands_do_not_share_accounts(db_world: World, make_world: Any) -> None:
    w, other = db_world, make_world(db_world.engine)
    with unit_of_work(w.engine) as db:
        service.earn_points(db, tenant_id=w.tenant_id, customer_id=ALICE, points=100, key="same-key")
    with unit_of_work(w.engine) as db:  # the same key in another brand is another request
        posted = service.earn_points(
            db, tenant_id=other.tenant_id, customer_id=ALICE, points=7, key="same-key"
        )
        assert posted.created
        theirs = ledger.customer_account(db, tenant_id=other.tenant_id, customer_id=ALICE, asset="points")
        counter = ledger.brand_account(db, tenant_id=w.tenant_id, name="points:issued")
        with pytest.raises(ValueError):  # a leg naming another brand's account is a defect, refused
            ledger.post(
                db,
                tenant_id=w.tenant_id,
                kind="earn",
                legs=[ledger.Leg(theirs.id, 1), ledger.Leg(counter.id, -1)],
                key=None,
                request={},
            )
    assert _balances(w, ALICE) == {"points": (100, 0)} and _balances(other, ALICE) == {"points": (7, 0)}


def test_a_shortfall_counts_as_reversed(db_world: World) -> None:
    """Half of an order refunded when most of its points were spent: the customer gives back what
    they have, the brand books the rest; the other half later takes back exactly the other half."""
    w = db_world
    with unit_of_work(w.engine) as db:
        earned = service.earn_points(db, tenant_id=w.tenant_id, customer_id=ALICE, points=1_000, key="earn")
        service.adjust_points(
            db,
            tenant_id=w.tenant_id,
            customer_id=ALICE,
            points=-900,
            reason="兑换礼品",
            key="spent",
            actor=None,
        )
    with unit_of_work(w.engine) as db:
        first = ledger.reverse(
            db,
            tenant_id=w.tenant_id,
            transaction_id=earned.transaction.id,
            share=Fraction(1, 2),
            key="half",
            shortfall_to="points:unrecovered",
        )
        assert first.transaction.result["shortfall"] and first.transaction.result["balances"] == {"points": 0}
        service.earn_points(db, tenant_id=w.tenant_id, customer_id=ALICE, points=600, key="earn-2")
    with unit_of_work(w.engine) as db:
        ledger.reverse(
            db,
            tenant_id=w.tenant_id,
            transaction_id=earned.transaction.id,
            share=Fraction(1),
            key="rest",
            shortfall_to="points:unrecovered",
        )
    assert _balances(w, ALICE) == {"points": (100, 0)}
    assert _violations(w)["violations"] == 0
