"""The ledger's one way to change a balance: a balanced transaction, applied by conditional updates.

Every write goes through `post` (or a hold, which only freezes units). A transaction's legs sum to
zero per unit; each customer account it touches changes by one

    UPDATE loyalty_accounts SET balance = balance + :amount, held = held - :release
    WHERE id = :id AND held >= :release AND balance + :amount >= held - :release RETURNING …

so a balance can never go below what is held, and held never below zero, whatever runs at the same
time; no balance is read, checked and then written. Brand counter-accounts are not updated (see
`LedgerAccount`).

Idempotency: a write that names a key is done once. A replay with the same key and the same request
returns the first answer; the same key with another request is refused (409). The key is a unique
constraint, and the transaction row is inserted in the same savepoint as the balance updates: of two
concurrent requests with one key, the second waits for the first, fails on the constraint, rolls its
savepoint back (its balance updates with it) and returns the first one's answer.

Locks, in this order only: a hold (its conditional status update), then the transaction a reversal
reverses (`FOR UPDATE`), then accounts in ascending id order.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.core.ids import sha256_hex
from siyu.db.base import table_of
from siyu.loyalty import lots
from siyu.loyalty.models import (
    BRAND_ACCOUNTS,
    CUSTOMER_ASSETS,
    LedgerAccount,
    LedgerHold,
    LedgerPosting,
    LedgerTransaction,
)

ACCOUNTS = table_of(LedgerAccount)
POSTINGS = table_of(LedgerPosting)
HOLDS = table_of(LedgerHold)


@dataclass(frozen=True)
class Leg:
    """One side of a transaction: a signed amount on an account; `release_held` units of a hold
    the leg consumes (a capture takes from what the hold froze)."""

    account_id: int
    amount: int
    release_held: int = 0


@dataclass(frozen=True)
class Posted:
    """A transaction's answer: the transaction and whether this call made it (False: a replay)."""

    transaction: LedgerTransaction
    created: bool


def digest(request: Mapping[str, Any], actor: Principal | None = None) -> str:
    """The fingerprint of what was asked and by whom (keys sorted), compared on a replay: a key is
    bound to the caller, so another caller reusing it is refused, never shown the first answer."""
    who = f"{actor.actor_type}:{actor.actor_id}" if actor else "system"
    return sha256_hex(json.dumps({**request, "_by": who}, sort_keys=True, separators=(",", ":"), default=str))


def _key_reused(what_zh: str, what_en: str) -> DomainError:
    return DomainError("ledger_key_reused", what_zh=what_zh, what_en=what_en)


# --- accounts --------------------------------------------------------------------------------------


def customer_account(session: Session, *, tenant_id: int, customer_id: int, asset: str) -> LedgerAccount:
    """The customer's account of an asset, opened at zero the first time it is needed."""
    if asset not in CUSTOMER_ASSETS:
        raise ValueError(f"not a customer asset: {asset}")
    found = session.scalar(
        select(LedgerAccount).where(
            LedgerAccount.tenant_id == tenant_id,
            LedgerAccount.customer_id == customer_id,
            LedgerAccount.asset == asset,
        )
    )
    if found is not None:
        return found
    return _open(session, tenant_id, customer_id, asset, CUSTOMER_ASSETS[asset])


def brand_account(session: Session, *, tenant_id: int, name: str) -> LedgerAccount:
    """The brand's counter-account `name` (BRAND_ACCOUNTS), opened the first time it is needed."""
    if name not in BRAND_ACCOUNTS:
        raise ValueError(f"not a brand account: {name}")
    found = session.scalar(
        select(LedgerAccount).where(
            LedgerAccount.tenant_id == tenant_id,
            LedgerAccount.customer_id.is_(None),
            LedgerAccount.asset == name,
        )
    )
    if found is not None:
        return found
    return _open(session, tenant_id, None, name, BRAND_ACCOUNTS[name])


def accounts(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    assets: Sequence[str],
    brand: Sequence[str] = (),
) -> dict[str, LedgerAccount]:
    """The customer's accounts of `assets` and the brand's counter-accounts `brand`, by name, read in
    one query; any not there yet are opened at zero (as `customer_account` and `brand_account` do)."""
    for asset in assets:
        if asset not in CUSTOMER_ASSETS:
            raise ValueError(f"not a customer asset: {asset}")
    for name in brand:
        if name not in BRAND_ACCOUNTS:
            raise ValueError(f"not a brand account: {name}")
    wanted = [LedgerAccount.customer_id == customer_id, LedgerAccount.asset.in_(list(assets))]
    found: dict[str, LedgerAccount] = {}
    for row in session.scalars(
        select(LedgerAccount).where(
            LedgerAccount.tenant_id == tenant_id,
            or_(
                and_(*wanted),
                and_(LedgerAccount.customer_id.is_(None), LedgerAccount.asset.in_(list(brand))),
            ),
        )
    ):
        found[row.asset] = row
    for asset in assets:
        if asset not in found:
            found[asset] = _open(session, tenant_id, customer_id, asset, CUSTOMER_ASSETS[asset])
    for name in brand:
        if name not in found:
            found[name] = _open(session, tenant_id, None, name, BRAND_ACCOUNTS[name])
    return found


def _open(session: Session, tenant_id: int, customer_id: int | None, asset: str, unit: str) -> LedgerAccount:
    account = LedgerAccount(
        tenant_id=tenant_id,
        customer_id=customer_id,
        asset=asset,
        unit=unit,
        balance=0,
        held=0,
        created_at=utcnow(),
    )
    try:
        with session.begin_nested():  # two first uses at once: the second finds the first's row
            session.add(account)
            session.flush()
    except IntegrityError:
        where = [LedgerAccount.tenant_id == tenant_id, LedgerAccount.asset == asset]
        where.append(
            LedgerAccount.customer_id.is_(None)
            if customer_id is None
            else LedgerAccount.customer_id == customer_id
        )
        return session.scalars(select(LedgerAccount).where(*where)).one()
    return account


def balances(session: Session, *, tenant_id: int, customer_id: int) -> dict[str, tuple[int, int]]:
    """A customer's (balance, held) per asset; assets never used are absent."""
    rows = session.execute(
        select(LedgerAccount.asset, LedgerAccount.balance, LedgerAccount.held).where(
            LedgerAccount.tenant_id == tenant_id, LedgerAccount.customer_id == customer_id
        )
    )
    return {asset: (int(balance), int(held)) for asset, balance, held in rows}


# --- transactions ----------------------------------------------------------------------------------


def prior_transaction(session: Session, *, tenant_id: int, key: str) -> LedgerTransaction | None:
    """The transaction made under an idempotency key, if any."""
    return session.scalar(
        select(LedgerTransaction).where(
            LedgerTransaction.tenant_id == tenant_id, LedgerTransaction.idempotency_key == key
        )
    )


def replay(
    session: Session, *, tenant_id: int, key: str, request: Mapping[str, Any], actor: Principal | None = None
) -> Posted | None:
    """The first answer to a key already used for this request (None: the key is new); refused when
    the key was used for another request or by another caller."""
    prior = prior_transaction(session, tenant_id=tenant_id, key=key)
    return None if prior is None else _replay(prior, digest(request, actor))


def _replay(prior: LedgerTransaction, request_sha256: str) -> Posted:
    if prior.request_sha256 != request_sha256:
        raise _key_reused("交易", "transaction")
    return Posted(prior, created=False)


def post(
    session: Session,
    *,
    tenant_id: int,
    kind: str,
    legs: Sequence[Leg],
    key: str | None,
    request: Mapping[str, Any],
    customer_id: int | None = None,
    actor: Principal | None = None,
    reverses_id: int | None = None,
    hold_id: int | None = None,
    store_id: int | None = None,
    order_ref: str | None = None,
    reason: str | None = None,
    prepare: Any = None,
    noted: Mapping[str, Any] | None = None,
    key_checked: bool = False,
    track_lots: bool = True,
    lot_expires_at: datetime | str | None = "programme",
) -> Posted:
    """Apply a balanced transaction once (per key): the legs' conditional updates, the transaction
    row and its postings in one savepoint. Refused, nothing changes: `insufficient_balance` when a
    customer account would fall below what it holds. `prepare()`, if given, runs first inside the
    savepoint (a hold's status change) and is undone with it. `key_checked`: the caller has just
    looked the key up (`replay`), so it is not looked up twice; a race is still caught below.
    Points lots follow each customer `points` account the legs change (`track_lots`; a credit opens a
    lot expiring at `lot_expires_at`, "programme" for the programme's rule) — unless the caller
    moves lots itself (a merge, an expiry)."""
    request_sha256 = digest(request, actor)
    if (
        key is not None
        and not key_checked
        and (prior := prior_transaction(session, tenant_id=tenant_id, key=key)) is not None
    ):
        return _replay(prior, request_sha256)
    customer_accounts = _check_balanced(session, tenant_id, legs)
    try:
        with session.begin_nested():
            if prepare is not None:
                prepare()
            after, changed = _apply(session, tenant_id, legs, customer_accounts)
            tx = LedgerTransaction(
                tenant_id=tenant_id,
                kind=kind,
                customer_id=customer_id,
                idempotency_key=key,
                request_sha256=request_sha256,
                reverses_id=reverses_id,
                hold_id=hold_id,
                store_id=store_id,
                order_ref=order_ref,
                reason=reason,
                actor_type=actor.actor_type if actor else "system",
                actor_id=actor.actor_id if actor else None,
                result={"balances": after, **(noted or {})},
                created_at=utcnow(),
            )
            session.add(tx)
            session.flush()
            rows = [
                {
                    "tenant_id": tenant_id,
                    "transaction_id": tx.id,
                    "account_id": leg.account_id,
                    "amount": leg.amount,
                }
                for leg in legs
                if leg.amount != 0
            ]
            if rows:
                session.execute(insert(POSTINGS), rows)
            if track_lots:
                for account_id, (asset, amount) in changed.items():
                    if asset != "points" or amount == 0:
                        continue
                    owner = customer_accounts[account_id]
                    if amount > 0:
                        lots.credit(
                            session,
                            tenant_id=tenant_id,
                            customer_id=owner,
                            transaction_id=tx.id,
                            points=amount,
                            expires_at=lot_expires_at,
                        )
                    else:
                        lots.debit(session, tenant_id=tenant_id, customer_id=owner, points=-amount)
    except IntegrityError:
        if key is None:
            raise
        prior = prior_transaction(session, tenant_id=tenant_id, key=key)
        if prior is None:
            raise
        return _replay(prior, request_sha256)
    return Posted(tx, created=True)


def _check_balanced(session: Session, tenant_id: int, legs: Sequence[Leg]) -> dict[int, int]:
    """Refuse (a defect, not a person's mistake) legs that do not sum to zero per unit or name an
    account of another brand; the customer accounts among them (account id → customer id)."""
    ids = sorted({leg.account_id for leg in legs})
    # An account's brand, unit and owner never change: those the session has loaded need no query.
    known = [session.identity_map.get(identity_key(LedgerAccount, account_id)) for account_id in ids]
    if all(isinstance(a, LedgerAccount) and a.tenant_id == tenant_id for a in known):
        found = [(a.id, a.unit, a.customer_id) for a in known if isinstance(a, LedgerAccount)]
    else:
        found = [
            (row.id, row.unit, row.customer_id)
            for row in session.execute(
                select(LedgerAccount.id, LedgerAccount.unit, LedgerAccount.customer_id).where(
                    LedgerAccount.tenant_id == tenant_id, LedgerAccount.id.in_(ids)
                )
            )
        ]
    units = {account_id: unit for account_id, unit, _ in found}
    if len(units) != len(ids):
        raise ValueError("a leg names an account of another brand or none at all")
    sums: dict[str, int] = defaultdict(int)
    for leg in legs:
        sums[units[leg.account_id]] += leg.amount
        if leg.release_held < 0:
            raise ValueError("a leg cannot add to what is held")
    if any(sums.values()):
        raise ValueError(f"unbalanced transaction: {dict(sums)}")
    return {account_id: customer_id for account_id, _, customer_id in found if customer_id is not None}


def _apply(
    session: Session, tenant_id: int, legs: Sequence[Leg], customer_accounts: Mapping[int, int]
) -> tuple[dict[str, int], dict[int, tuple[str, int]]]:
    """The legs' conditional updates on customer accounts, in ascending account id; the balances
    after (by asset) and what changed (account id → asset, amount)."""
    per_account: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for leg in legs:
        if leg.account_id not in customer_accounts:
            continue  # counter-accounts keep no running balance
        per_account[leg.account_id][0] += leg.amount
        per_account[leg.account_id][1] += leg.release_held
    after: dict[str, int] = {}
    changed: dict[int, tuple[str, int]] = {}
    for account_id in sorted(per_account):
        amount, release = per_account[account_id]
        row = session.execute(
            update(ACCOUNTS)
            .where(
                ACCOUNTS.c.id == account_id,
                ACCOUNTS.c.tenant_id == tenant_id,
                ACCOUNTS.c.held >= release,
                ACCOUNTS.c.balance + amount >= ACCOUNTS.c.held - release,
            )
            .values(balance=ACCOUNTS.c.balance + amount, held=ACCOUNTS.c.held - release)
            .returning(ACCOUNTS.c.asset, ACCOUNTS.c.balance)
        ).first()
        if row is None:
            raise DomainError("insufficient_balance")
        after[row.asset] = int(row.balance)
        changed[account_id] = (row.asset, amount)
    return after, changed


# --- holds -----------------------------------------------------------------------------------------


def hold(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    asset: str,
    amount: int,
    key: str,
    expires_at: datetime,
    order_ref: str | None = None,
    store_id: int | None = None,
    actor: Principal | None = None,
) -> tuple[LedgerHold, bool]:
    """Freeze `amount` of a customer's asset for a checkout (once per key); (the hold, made now).
    Refused, nothing changes: `insufficient_balance` when less than that is available."""
    if amount <= 0:
        raise ValueError("a hold freezes a positive amount")
    request_sha256 = digest(
        {
            "customer_id": customer_id,
            "asset": asset,
            "amount": amount,
            "order_ref": order_ref,
            "store_id": store_id,
        }
    )
    prior = _prior_hold(session, tenant_id, key)
    if prior is not None:
        if prior.request_sha256 != request_sha256:
            raise _key_reused("冻结", "hold")
        return prior, False
    account = customer_account(session, tenant_id=tenant_id, customer_id=customer_id, asset=asset)
    now = utcnow()
    try:
        with session.begin_nested():
            frozen = session.execute(
                update(ACCOUNTS)
                .where(ACCOUNTS.c.id == account.id, ACCOUNTS.c.balance - ACCOUNTS.c.held >= amount)
                .values(held=ACCOUNTS.c.held + amount)
                .returning(ACCOUNTS.c.held)
            ).first()
            if frozen is None:
                raise DomainError("insufficient_balance")
            row = LedgerHold(
                tenant_id=tenant_id,
                account_id=account.id,
                customer_id=customer_id,
                asset=asset,
                amount=amount,
                status="active",
                order_ref=order_ref,
                store_id=store_id,
                idempotency_key=key,
                request_sha256=request_sha256,
                expires_at=expires_at,
                created_at=now,
            )
            session.add(row)
            session.flush()
    except IntegrityError:
        prior = _prior_hold(session, tenant_id, key)
        if prior is None:
            raise
        if prior.request_sha256 != request_sha256:
            raise _key_reused("冻结", "hold") from None
        return prior, False
    return row, True


def _prior_hold(session: Session, tenant_id: int, key: str) -> LedgerHold | None:
    return session.scalar(
        select(LedgerHold).where(LedgerHold.tenant_id == tenant_id, LedgerHold.idempotency_key == key)
    )


def get_hold(session: Session, *, tenant_id: int, hold_id: int) -> LedgerHold:
    """A hold of the brand, or not found."""
    found = session.scalar(
        select(LedgerHold).where(LedgerHold.tenant_id == tenant_id, LedgerHold.id == hold_id)
    )
    if found is None:
        raise not_found("hold")
    return found


def _close_hold(session: Session, tenant_id: int, hold_id: int, status: str, *, live_only: bool) -> None:
    """active → status, by one conditional update; refused when the hold is no longer active."""
    now = utcnow()
    conditions = [HOLDS.c.id == hold_id, HOLDS.c.tenant_id == tenant_id, HOLDS.c.status == "active"]
    if live_only:
        conditions.append(HOLDS.c.expires_at > now)
    closed = session.execute(
        update(HOLDS).where(and_(*conditions)).values(status=status, closed_at=now).returning(HOLDS.c.id)
    ).first()
    if closed is None:
        raise DomainError("hold_not_active")


def capture(
    session: Session,
    *,
    tenant_id: int,
    hold_id: int,
    amount: int,
    to_account: str,
    key: str,
    actor: Principal | None = None,
    kind: str = "capture",
) -> Posted:
    """Take `amount` (at most what the hold froze) of a hold into the brand account `to_account`;
    the rest is released. Once per key; a hold captures or releases once."""
    found = get_hold(session, tenant_id=tenant_id, hold_id=hold_id)
    if not 0 < amount <= found.amount:
        raise DomainError(
            "validation_error", summary=f"amount 须在 1–{found.amount} 之间 / must be 1–{found.amount}"
        )
    target = brand_account(session, tenant_id=tenant_id, name=to_account)
    return post(
        session,
        tenant_id=tenant_id,
        kind=kind,
        legs=[
            Leg(found.account_id, -amount, release_held=found.amount),
            Leg(target.id, amount),
        ],
        key=key,
        request={"hold_id": hold_id, "amount": amount, "to": to_account, "op": "capture"},
        customer_id=found.customer_id,
        actor=actor,
        hold_id=hold_id,
        store_id=found.store_id,
        order_ref=found.order_ref,
        prepare=lambda: _close_hold(session, tenant_id, hold_id, "captured", live_only=True),
    )


def release(
    session: Session,
    *,
    tenant_id: int,
    hold_id: int,
    key: str,
    actor: Principal | None = None,
    expired: bool = False,
) -> Posted:
    """Give a hold's units back (a cancelled checkout, or its expiry): a transaction with no
    postings, for the history and the key."""
    found = get_hold(session, tenant_id=tenant_id, hold_id=hold_id)
    status = "expired" if expired else "released"

    def close() -> None:
        _close_hold(session, tenant_id, hold_id, status, live_only=False)
        freed = session.execute(
            update(ACCOUNTS)
            .where(ACCOUNTS.c.id == found.account_id, ACCOUNTS.c.held >= found.amount)
            .values(held=ACCOUNTS.c.held - found.amount)
            .returning(ACCOUNTS.c.held)
        ).first()
        if freed is None:  # cannot happen while the invariants hold; refuse rather than go negative
            raise DomainError("hold_not_active")

    return post(
        session,
        tenant_id=tenant_id,
        kind="expire_hold" if expired else "release",
        legs=[],
        key=key,
        request={"hold_id": hold_id, "op": status},
        customer_id=found.customer_id,
        actor=actor,
        hold_id=hold_id,
        store_id=found.store_id,
        order_ref=found.order_ref,
        prepare=close,
    )


def expire_holds(session: Session, *, tenant_id: int, now: datetime | None = None, limit: int = 500) -> int:
    """Release every active hold past its expiry (a job); how many."""
    moment = now or utcnow()
    due = session.scalars(
        select(LedgerHold.id)
        .where(
            LedgerHold.tenant_id == tenant_id, LedgerHold.status == "active", LedgerHold.expires_at <= moment
        )
        .order_by(LedgerHold.id)
        .limit(limit)
    ).all()
    done = 0
    for hold_id in due:
        try:
            release(session, tenant_id=tenant_id, hold_id=hold_id, key=f"hold-expiry:{hold_id}", expired=True)
            done += 1
        except DomainError:  # captured or released meanwhile
            continue
    return done


# --- reversals -------------------------------------------------------------------------------------


def reverse(
    session: Session,
    *,
    tenant_id: int,
    transaction_id: int,
    share: Fraction,
    key: str,
    actor: Principal | None = None,
    reason: str | None = None,
    shortfall_to: str | None = None,
) -> Posted:
    """Undo `share` (0 < share ≤ 1) of a transaction's postings — never more in total than the
    transaction moved. Customer legs are rounded down; the brand's legs take the remainder, so each
    unit still sums to zero. When a customer no longer holds what the reversal takes back (points
    already spent), `shortfall_to` names the brand account that absorbs the part they cannot give
    (their balance goes to zero, never below); without it the reversal is refused."""
    if not 0 < share <= 1:
        raise ValueError("share must be in (0, 1]")
    request = {"reverses": transaction_id, "share": str(share), "shortfall_to": shortfall_to}
    if (prior := prior_transaction(session, tenant_id=tenant_id, key=key)) is not None:
        return _replay(prior, digest(request, actor))
    original = session.scalar(
        select(LedgerTransaction)
        .where(LedgerTransaction.tenant_id == tenant_id, LedgerTransaction.id == transaction_id)
        .with_for_update()
    )
    if original is None:
        raise not_found("transaction")
    remaining = _remaining(session, tenant_id, original.id)
    legs, shortfalls = _reversal_legs(session, tenant_id, remaining, share, shortfall_to)
    if not legs:
        raise DomainError("nothing_to_reverse")
    return post(
        session,
        tenant_id=tenant_id,
        kind="reversal",
        legs=legs,
        key=key,
        request=request,
        customer_id=original.customer_id,
        actor=actor,
        reverses_id=original.id,
        store_id=original.store_id,
        order_ref=original.order_ref,
        reason=reason,
        noted={"shortfall": {str(a): v for a, v in shortfalls.items()}} if shortfalls else None,
    )


def get_transaction(session: Session, *, tenant_id: int, transaction_id: int) -> LedgerTransaction:
    """A transaction of the brand, or not found."""
    found = session.scalar(
        select(LedgerTransaction).where(
            LedgerTransaction.tenant_id == tenant_id, LedgerTransaction.id == transaction_id
        )
    )
    if found is None:
        raise not_found("transaction")
    return found


def _remaining(session: Session, tenant_id: int, transaction_id: int) -> dict[int, int]:
    """Per account, what a transaction moved less what its reversals already moved back — counting
    a shortfall (what a customer could not give back) as given back: it was reversed, at a loss."""
    moved: dict[int, int] = defaultdict(int)
    reversals = select(LedgerTransaction.id).where(
        LedgerTransaction.tenant_id == tenant_id, LedgerTransaction.reverses_id == transaction_id
    )
    for result in session.scalars(
        select(LedgerTransaction.result).where(
            LedgerTransaction.tenant_id == tenant_id, LedgerTransaction.reverses_id == transaction_id
        )
    ):
        for account_id, amount in (result or {}).get("shortfall", {}).items():
            moved[int(account_id)] -= int(amount)
    rows = session.execute(
        select(LedgerPosting.account_id, LedgerPosting.amount, LedgerPosting.transaction_id).where(
            LedgerPosting.tenant_id == tenant_id,
            (LedgerPosting.transaction_id == transaction_id) | LedgerPosting.transaction_id.in_(reversals),
        )
    )
    for account_id, amount, _ in rows:
        moved[account_id] += int(amount)
    return {a: v for a, v in moved.items() if v}


def _reversal_legs(
    session: Session, tenant_id: int, remaining: dict[int, int], share: Fraction, shortfall_to: str | None
) -> tuple[list[Leg], dict[int, int]]:
    """The reversal's legs, and per customer account the part it could not take back."""
    accounts = {
        a.id: a
        for a in session.scalars(
            select(LedgerAccount).where(
                LedgerAccount.tenant_id == tenant_id, LedgerAccount.id.in_(sorted(remaining))
            )
        )
    }
    legs: list[Leg] = []
    by_unit: dict[str, int] = defaultdict(int)
    shortfall_by_unit: dict[str, int] = defaultdict(int)
    shortfalls: dict[int, int] = {}
    for account_id in sorted(remaining):
        account = accounts[account_id]
        if account.customer_id is None:
            continue
        moved = remaining[account_id]
        back = -int(moved * share) if moved > 0 else int(-moved * share)  # toward zero
        if back < 0 and shortfall_to is not None and BRAND_ACCOUNTS[shortfall_to] == account.unit:
            available = account.balance - account.held
            if -back > available:
                shortfall_by_unit[account.unit] += -back - available
                shortfalls[account_id] = -back - available
                back = -available
        if back:
            legs.append(Leg(account_id, back))
        by_unit[account.unit] += back
    # The brand's side: each counter-account gives back its share, the largest taking the rounding.
    for unit, customer_total in by_unit.items():
        counters = [
            (a, v)
            for a, v in remaining.items()
            if accounts[a].customer_id is None and accounts[a].unit == unit
        ]
        # What the brand's side gives back in full; the part the customer could not return is the
        # brand's loss, booked on `shortfall_to`.
        need = -customer_total + shortfall_by_unit[unit]
        parts = _split(need, counters)
        legs.extend(Leg(a, amount) for a, amount in parts if amount)
        if shortfall_by_unit[unit]:
            sink = brand_account(session, tenant_id=tenant_id, name=shortfall_to or "")
            legs.append(Leg(sink.id, -shortfall_by_unit[unit]))
    return legs, shortfalls


def _split(total: int, counters: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """`total` over counter-accounts in proportion to what each moved (largest remainder)."""
    if not counters or total == 0:
        return []
    weight = sum(abs(v) for _, v in counters)
    if weight == 0:
        return [(counters[0][0], total)]
    sign = 1 if total > 0 else -1
    shares = [(a, Fraction(abs(total) * abs(v), weight)) for a, v in counters]
    floors = [(a, int(s)) for a, s in shares]
    left = abs(total) - sum(f for _, f in floors)
    order = sorted(range(len(shares)), key=lambda i: (-(shares[i][1] - floors[i][1]), counters[i][0]))
    result = dict(floors)
    for i in order[:left]:
        result[shares[i][0]] += 1
    return [(a, sign * v) for a, v in result.items()]
