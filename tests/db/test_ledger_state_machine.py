"""A hypothesis state machine over the ledger, on SQLite and PostgreSQL: top-ups with bonus, spending,
points earned and adjusted, holds captured / released / expired, partial and full reversals, replays
with the same key and the same key with another payload. After every step each balance equals the
model's and `siyu ledger check` finds nothing."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import Engine, update

from siyu.core.errors import DomainError
from siyu.db.session import unit_of_work
from siyu.loyalty import ledger, service
from siyu.loyalty.check import check
from siyu.loyalty.models import PointsLot
from tests.factories import build_world

CUSTOMERS = (1, 2)
ASSETS = ("points", "sv_principal", "sv_bonus")
amounts = st.integers(min_value=1, max_value=60_000)


class Ledger(RuleBasedStateMachine):
    """The machine; `engine` is set per database by `machine_for`."""

    engine: Engine

    def __init__(self) -> None:
        super().__init__()
        self.w = build_world(self.engine)
        self.model: dict[tuple[int, str], list[int]] = defaultdict(lambda: [0, 0])  # balance, held
        self.n = 0
        self.done: list[tuple[str, dict[str, Any], Any]] = []  # (key, call args, effect)
        self.holds: dict[int, tuple[int, str, int]] = {}  # active: id -> (customer, asset, amount)
        self.reversible: list[tuple[int, int, str, int]] = []  # (tx, customer, asset, points moved)

    def _key(self) -> str:
        self.n += 1
        return f"k{self.n}"

    def _attempt(self, fn: Any) -> Any:
        with unit_of_work(self.engine) as db:
            return fn(db)

    def _available(self, customer: int, asset: str) -> int:
        balance, held = self.model[(customer, asset)]
        return balance - held

    @rule(customer=st.sampled_from(CUSTOMERS), principal=amounts, bonus=st.integers(0, 20_000))
    def top_up(self, customer: int, principal: int, bonus: int) -> None:
        key = self._key()
        total = sum(self.model[(customer, a)][0] for a in ("sv_principal", "sv_bonus"))
        call = {"customer_id": customer, "principal_fen": principal, "bonus_fen": bonus, "key": key}
        try:
            self._attempt(lambda db: service.top_up(db, tenant_id=self.w.tenant_id, **call))
        except DomainError as exc:
            assert exc.code == "stored_value_cap" and total + principal + bonus > service.REGISTERED_CAP_FEN
            return
        assert total + principal + bonus <= service.REGISTERED_CAP_FEN
        self.model[(customer, "sv_principal")][0] += principal
        self.model[(customer, "sv_bonus")][0] += bonus
        self.done.append(("top_up", call, None))

    @rule(customer=st.sampled_from(CUSTOMERS), amount=amounts)
    def spend(self, customer: int, amount: int) -> None:
        call = {"customer_id": customer, "amount_fen": amount, "key": self._key()}
        principal, bonus = (
            self._available(customer, "sv_principal"),
            self._available(customer, "sv_bonus"),
        )
        try:
            self._attempt(lambda db: service.spend_stored_value(db, tenant_id=self.w.tenant_id, **call))
        except DomainError as exc:
            assert exc.code == "insufficient_balance" and amount > principal + bonus
            return
        from_principal = min(amount, principal)
        self.model[(customer, "sv_principal")][0] -= from_principal
        self.model[(customer, "sv_bonus")][0] -= amount - from_principal
        self.done.append(("spend", call, None))

    @rule(customer=st.sampled_from(CUSTOMERS), points=st.integers(1, 5_000))
    def earn(self, customer: int, points: int) -> None:
        call = {"customer_id": customer, "points": points, "key": self._key()}
        posted = self._attempt(lambda db: service.earn_points(db, tenant_id=self.w.tenant_id, **call))
        self.model[(customer, "points")][0] += points
        self.reversible.append((posted.transaction.id, customer, "points", points))
        self.done.append(("earn", call, None))

    @rule(customer=st.sampled_from(CUSTOMERS), points=st.integers(-3_000, 3_000).filter(bool))
    def adjust(self, customer: int, points: int) -> None:
        call = {
            "customer_id": customer,
            "points": points,
            "reason": "test",
            "key": self._key(),
            "actor": None,
        }
        available = self._available(customer, "points")
        try:
            self._attempt(lambda db: service.adjust_points(db, tenant_id=self.w.tenant_id, **call))
        except DomainError as exc:
            assert exc.code == "insufficient_balance" and -points > available
            return
        self.model[(customer, "points")][0] += points
        self.done.append(("adjust", call, None))

    @rule(
        customer=st.sampled_from(CUSTOMERS),
        asset=st.sampled_from(ASSETS),
        amount=amounts,
        past=st.booleans(),
    )
    def hold(self, customer: int, asset: str, amount: int, past: bool) -> None:
        now = dt.datetime.now(dt.UTC) - (dt.timedelta(hours=1) if past else dt.timedelta(0))
        call = {"customer_id": customer, "asset": asset, "amount": amount, "key": self._key(), "now": now}
        available = self._available(customer, asset)
        try:
            held, _ = self._attempt(
                lambda db: service.hold_for_checkout(db, tenant_id=self.w.tenant_id, **call)
            )
        except DomainError as exc:
            assert exc.code == "insufficient_balance" and amount > available
            return
        self.model[(customer, asset)][1] += amount
        self.holds[held.id] = (customer, asset, amount, past)  # type: ignore[assignment]

    @precondition(lambda self: bool(self.holds))
    @rule(data=st.data(), release=st.booleans())
    def settle(self, data: st.DataObject, release: bool) -> None:
        hold_id = data.draw(st.sampled_from(sorted(self.holds)))
        customer, asset, amount, past = self.holds[hold_id]  # type: ignore[misc]
        part = data.draw(st.integers(1, amount))
        try:
            if release:
                self._attempt(
                    lambda db: ledger.release(
                        db, tenant_id=self.w.tenant_id, hold_id=hold_id, key=self._key()
                    )
                )
            else:
                self._attempt(
                    lambda db: ledger.capture(
                        db,
                        tenant_id=self.w.tenant_id,
                        hold_id=hold_id,
                        amount=part,
                        to_account=service.CAPTURE_TO[asset],
                        key=self._key(),
                    )
                )
        except DomainError as exc:  # a lapsed hold cannot be captured (it can be released)
            assert exc.code == "hold_not_active" and past and not release
            return
        del self.holds[hold_id]
        self.model[(customer, asset)][1] -= amount
        if not release:
            self.model[(customer, asset)][0] -= part

    @rule()
    def expire(self) -> None:
        n = self._attempt(lambda db: ledger.expire_holds(db, tenant_id=self.w.tenant_id))
        lapsed = [h for h, (_, _, _, past) in self.holds.items() if past]  # type: ignore[misc]
        assert n == len(lapsed)
        for hold_id in lapsed:
            customer, asset, amount, _ = self.holds.pop(hold_id)  # type: ignore[misc]
            self.model[(customer, asset)][1] -= amount

    @rule()
    def expire_points(self) -> None:
        """Every lot reaches its date: what is not frozen by a checkout expires (all customers)."""

        def run(db: Any) -> int:
            db.execute(
                update(PointsLot)
                .where(PointsLot.tenant_id == self.w.tenant_id, PointsLot.remaining > 0)
                .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
            )
            return service.expire_points(db, tenant_id=self.w.tenant_id)

        self._attempt(run)
        for customer in CUSTOMERS:
            balance, held = self.model[(customer, "points")]
            assert balance >= held
            self.model[(customer, "points")][0] = held  # the part held for checkouts waits

    @precondition(lambda self: bool(self.reversible))
    @rule(data=st.data(), numerator=st.integers(1, 4), shortfall=st.booleans())
    def reverse(self, data: st.DataObject, numerator: int, shortfall: bool) -> None:
        index = data.draw(st.integers(0, len(self.reversible) - 1))
        tx_id, customer, asset, remaining = self.reversible[index]
        share = Fraction(numerator, 4)
        back = int(remaining * share)
        available = self._available(customer, asset)
        try:
            self._attempt(
                lambda db: ledger.reverse(
                    db,
                    tenant_id=self.w.tenant_id,
                    transaction_id=tx_id,
                    share=share,
                    key=self._key(),
                    shortfall_to="points:unrecovered" if shortfall else None,
                )
            )
        except DomainError as exc:
            assert exc.code in ("insufficient_balance", "nothing_to_reverse")
            assert (exc.code == "nothing_to_reverse") == (back == 0) or (not shortfall and back > available)
            return
        taken = min(back, available) if shortfall else back
        assert shortfall or back <= available
        self.model[(customer, asset)][0] -= taken
        left = remaining - back
        if left:
            self.reversible[index] = (tx_id, customer, asset, left)
        else:
            del self.reversible[index]

    @precondition(lambda self: bool(self.done))
    @rule(data=st.data(), change=st.booleans())
    def replay(self, data: st.DataObject, change: bool) -> None:
        op, call, _ = data.draw(st.sampled_from(self.done))
        fn = {
            "top_up": service.top_up,
            "spend": service.spend_stored_value,
            "earn": service.earn_points,
            "adjust": service.adjust_points,
        }[op]
        args = dict(call)
        if change:  # the same key with another payload
            field = {
                "top_up": "principal_fen",
                "spend": "amount_fen",
                "earn": "points",
                "adjust": "points",
            }[op]
            args[field] = args[field] + 1
        try:
            posted = self._attempt(lambda db: fn(db, tenant_id=self.w.tenant_id, **args))
        except DomainError as exc:
            assert change and exc.code == "ledger_key_reused"
            return
        assert not change and not posted.created

    @invariant()
    def matches_the_model(self) -> None:
        with unit_of_work(self.engine) as db:
            for customer in CUSTOMERS:
                actual = ledger.balances(db, tenant_id=self.w.tenant_id, customer_id=customer)
                for asset in ASSETS:
                    expected = tuple(self.model[(customer, asset)])
                    assert actual.get(asset, (0, 0)) == expected, (customer, asset)
            report = check(db, tenant_id=self.w.tenant_id)
        assert report["violations"] == 0, report


def machine_for(engine: Engine) -> type[RuleBasedStateMachine]:
    """The machine on one engine (each run its own brand)."""
    return type("LedgerOn" + engine.dialect.name.title(), (Ledger,), {"engine": engine})


@pytest.mark.parametrize("engine_name", ["sqlite_engine", "pg_engine"])
def test_the_ledger_state_machine(engine_name: str, request: pytest.FixtureRequest) -> None:
    engine: Engine = request.getfixturevalue(engine_name)
    machine = machine_for(engine)
    machine.TestCase.settings = settings(
        max_examples=12, stateful_step_count=25, deadline=None, suppress_health_check=list(HealthCheck)
    )
    machine.TestCase().runTest()
