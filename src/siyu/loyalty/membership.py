"""Membership: the brand's programme rules, tiers, member cards and growth value.

A member card is opened once per customer (where: a store, a guide, a channel, a channel code — the
store daily report counts cards opened here). The tier is derived from **earned growth value** —
never from a spendable balance: growth comes from paid orders (net of refunds) and actions, each
change an append-only entry with an idempotency key next to one conditional update of the card.

Tier rules: an upgrade happens at once (or, for a tier that requires approval, a request is
recorded); a downgrade follows the programme's rule — `none` (a tier once reached is kept),
`by_period` (at each period end the member keeps the tier only if the growth earned in that period
reaches it, else takes the tier it reaches), `after_days_below` (growth that fell below the tier's
threshold — refunds — for N days). A migrated member's initial tier is a floor until the first
review, and moving them there is recorded as `initial`, which grants no welcome benefits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu import events
from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.customers.facade import (
    append_timeline,
    attach_identities,
    customers_in_scope,
    identity_owners,
    normalise,
    set_member_tiers,
)
from siyu.db.base import table_of
from siyu.loyalty.models import GrowthEntry, LoyaltyProgram, LoyaltyTier, MemberCard, TierChange
from siyu.platform import audit

CARDS = table_of(MemberCard)


def _rule(reason_zh: str, reason_en: str) -> DomainError:
    return DomainError("invalid_loyalty_rule", reason_zh=reason_zh, reason_en=reason_en)


# --- the programme and its tiers ---------------------------------------------------------------------


def program(session: Session, *, tenant_id: int) -> LoyaltyProgram | None:
    """The brand's programme rules (None: the brand has not set them up, and nothing is earned)."""
    return session.scalar(select(LoyaltyProgram).where(LoyaltyProgram.tenant_id == tenant_id))


def save_program(
    session: Session, *, tenant_id: int, values: dict[str, Any], actor: Principal | None
) -> LoyaltyProgram:
    """Create or change the programme's rules (validated by the schema); audited."""
    row = program(session, tenant_id=tenant_id)
    if row is None:
        now = utcnow()
        row = LoyaltyProgram(tenant_id=tenant_id, **{"effective_from": now, **values}, updated_at=now)
        session.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
        row.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="loyalty.program.save",
        object_type="loyalty_program",
        object_id=row.id,
        data={k: v.isoformat() if isinstance(v, datetime) else v for k, v in values.items()},
    )
    return row


def tiers(session: Session, *, tenant_id: int) -> list[LoyaltyTier]:
    """The brand's tiers, lowest first."""
    return list(
        session.scalars(
            select(LoyaltyTier).where(LoyaltyTier.tenant_id == tenant_id).order_by(LoyaltyTier.rank)
        )
    )


def save_tiers(
    session: Session, *, tenant_id: int, wanted: Sequence[dict[str, Any]], actor: Principal | None
) -> list[LoyaltyTier]:
    """Replace the tier ladder (matched by code). Refused, nothing changes: thresholds that do not
    rise with the rank, a lowest tier above zero, or dropping a tier members hold."""
    ordered = sorted(wanted, key=lambda t: t["threshold"])
    codes = [t["code"] for t in ordered]
    if not ordered:
        raise _rule("至少需要一个会员等级", "At least one tier is needed")
    if len(set(codes)) != len(codes):
        raise _rule("等级代码不能重复", "Tier codes must be unique")
    thresholds = [t["threshold"] for t in ordered]
    if len(set(thresholds)) != len(thresholds):
        raise _rule("每个等级的成长值门槛必须不同", "Each tier needs its own growth threshold")
    if thresholds[0] != 0:
        raise _rule("最低等级的成长值门槛必须为 0", "The lowest tier's threshold must be 0")
    current = {t.code: t for t in tiers(session, tenant_id=tenant_id)}
    dropped = [t for code, t in current.items() if code not in codes]
    if dropped:
        held = session.scalar(
            select(func.count())
            .select_from(MemberCard)
            .where(
                MemberCard.tenant_id == tenant_id,
                (MemberCard.tier_id.in_([t.id for t in dropped]))
                | (MemberCard.initial_tier_id.in_([t.id for t in dropped])),
            )
        )
        if held:
            names = "、".join(t.name_zh for t in dropped)
            raise _rule(
                f"等级“{names}”仍有 {held} 位会员持有，不能删除",
                f"{held} members hold tier(s) {', '.join(t.code for t in dropped)}; they cannot be removed",
            )
        for t in dropped:
            session.delete(t)
    # Ranks are unique: move the kept tiers out of the way first, then write the new ranks.
    for offset, t in enumerate(current.values()):
        t.rank = -1 - offset
    session.flush()
    now = utcnow()
    result = []
    for rank, spec in enumerate(ordered):
        row = current.get(spec["code"])
        if row is None:
            row = LoyaltyTier(tenant_id=tenant_id, created_at=now, **{**spec, "rank": rank})
            session.add(row)
        else:
            for name, value in spec.items():
                setattr(row, name, value)
            row.rank = rank
        result.append(row)
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="loyalty.tiers.save",
        object_type="tier",
        object_id=None,
        data={"tiers": [dict(spec) for spec in ordered]},
    )
    return result


def tier_for(ladder: Sequence[LoyaltyTier], growth: int) -> LoyaltyTier | None:
    """The highest tier whose threshold the growth value reaches (None: the brand has no tiers)."""
    reached = None
    for tier in ladder:
        if tier.threshold <= growth:
            reached = tier
    return reached


# --- member cards ------------------------------------------------------------------------------------


def _check_digit(digits: str) -> str:
    """Luhn check digit, so a mistyped card number is caught at the till."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            d -= 9 if d > 9 else 0
        total += d
    return str((10 - total % 10) % 10)


def card_number(prefix: str, customer_number: int) -> str:
    """A generated card number: the brand's prefix, the customer's number in ten digits, a check digit."""
    digits = f"{customer_number:010d}"
    return f"{prefix}{digits}{_check_digit(digits)}"


def card_of(session: Session, *, tenant_id: int, customer_id: int) -> MemberCard | None:
    """The customer's member card, if they have one."""
    return session.scalar(
        select(MemberCard).where(MemberCard.tenant_id == tenant_id, MemberCard.customer_id == customer_id)
    )


@dataclass(frozen=True)
class CardSource:
    """Where a card is opened: the source kind and the store, guide, channel and channel code."""

    source: str
    store_id: int | None = None
    guide_id: int | None = None
    channel: str | None = None
    channel_code_id: int | None = None


def open_card(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    where: CardSource,
    card_no: str | None = None,
    initial_tier: str | None = None,
    initial_growth: int = 0,
    opened_at: datetime | None = None,
    actor: Principal | None = None,
) -> tuple[MemberCard, bool]:
    """Open the customer's member card (once: a customer who has one gets it back, created False).

    `card_no` keeps a migrated member's number (else one is generated); it becomes the customer's
    `member_card` identity, so a till that sends it finds them. `initial_tier` and
    `initial_growth` carry a migrated member's standing. Refused, nothing changes: an unknown
    customer or tier, a number that belongs to another customer."""
    existing = card_of(session, tenant_id=tenant_id, customer_id=customer_id)
    if existing is not None:
        return existing, False
    ref = customers_in_scope(session, tenant_id=tenant_id, ids=[customer_id], principal=None).get(customer_id)
    if ref is None:
        raise not_found("customer")
    ladder = tiers(session, tenant_id=tenant_id)
    floor = None
    if initial_tier is not None:
        floor = next((t for t in ladder if t.code == initial_tier), None)
        if floor is None:
            raise not_found("tier")
    settings = program(session, tenant_id=tenant_id)
    number = card_no or card_number(settings.card_prefix if settings else "", ref.number)
    key = normalise("member_card", number)
    owner = identity_owners(session, tenant_id=tenant_id, keys=[key]).get(key)
    if owner is not None and owner != customer_id:
        raise DomainError("card_no_taken", card_no=number)
    now = utcnow()
    opened = opened_at or now
    reached = tier_for(ladder, initial_growth)
    tier = floor if floor is not None and (reached is None or floor.rank > reached.rank) else reached
    card = MemberCard(
        tenant_id=tenant_id,
        customer_id=customer_id,
        card_no=number,
        status="active",
        source=where.source,
        store_id=where.store_id,
        guide_id=where.guide_id,
        channel=where.channel,
        channel_code_id=where.channel_code_id,
        tier_id=tier.id if tier else None,
        initial_tier_id=floor.id if floor else None,
        growth=initial_growth,
        tier_since=opened if tier else None,
        opened_at=opened,
        updated_at=now,
    )
    try:
        with session.begin_nested():  # two opens at once: the second finds the first's card
            session.add(card)
            session.flush()
    except IntegrityError:
        raced = card_of(session, tenant_id=tenant_id, customer_id=customer_id)
        if raced is not None:
            return raced, False
        raise DomainError("card_no_taken", card_no=number) from None
    if owner is None:
        attach_identities(
            session,
            tenant_id=tenant_id,
            groups=[([key], customer_id, None)],
            known=set(),
            source="member_card",
            actor=actor,
        )
    if initial_growth:
        session.add(
            GrowthEntry(
                tenant_id=tenant_id,
                card_id=card.id,
                amount=initial_growth,
                kind="migrated",
                idempotency_key=f"card-opened:{card.id}",
                created_at=now,
            )
        )
    if tier is not None:
        session.add(
            TierChange(
                tenant_id=tenant_id,
                card_id=card.id,
                from_tier_id=None,
                to_tier_id=tier.id,
                reason="initial" if floor is not None else "opened",
                status="applied",
                growth=initial_growth,
                created_at=now,
            )
        )
        set_member_tiers(session, tenant_id=tenant_id, tiers={customer_id: tier.name_zh})
    data = {
        "card_no": number,
        "source": where.source,
        "store_id": where.store_id,
        "guide_id": where.guide_id,
        "channel": where.channel,
        "channel_code_id": where.channel_code_id,
    }
    append_timeline(
        session,
        [
            {
                "tenant_id": tenant_id,
                "customer_id": customer_id,
                "kind": "member_card_opened",
                "occurred_at": opened,
                "actor_type": actor.actor_type if actor else "system",
                "actor_id": actor.actor_id if actor else None,
                "data": data,
            }
        ],
    )
    events.record(
        session,
        "loyalty.card_opened",
        tenant_id=tenant_id,
        aggregate="member_card",
        aggregate_id=card.id,
        data={"customer_id": customer_id, **data},
    )
    if actor is not None:
        audit.record(
            session,
            tenant_id=tenant_id,
            actor=actor,
            action="loyalty.card.open",
            object_type="customer",
            object_id=customer_id,
            data={**data, "initial_tier": initial_tier, "initial_growth": initial_growth},
        )
    return card, True


# --- growth value and tiers --------------------------------------------------------------------------


def add_growth(
    session: Session,
    *,
    tenant_id: int,
    card_id: int,
    amount: int,
    kind: str,
    key: str,
    order_ref: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Change a member's growth value once per key (False: the key was used already), then apply
    the tier rules. A negative amount never takes growth below zero."""
    if amount == 0:
        return False
    now = now or utcnow()
    try:
        with session.begin_nested():
            session.add(
                GrowthEntry(
                    tenant_id=tenant_id,
                    card_id=card_id,
                    amount=amount,
                    kind=kind,
                    order_ref=order_ref,
                    idempotency_key=key,
                    created_at=now,
                )
            )
            session.flush()
            row = session.execute(
                update(CARDS)
                .where(CARDS.c.tenant_id == tenant_id, CARDS.c.id == card_id, CARDS.c.growth + amount >= 0)
                .values(growth=CARDS.c.growth + amount, updated_at=now)
                .returning(CARDS.c.growth)
            ).first()
            if row is None:  # growth cannot go below zero: a defect in the caller
                raise ValueError(f"growth of card {card_id} would fall below zero")
    except IntegrityError:
        return False
    card = session.get(MemberCard, card_id)
    assert card is not None
    session.refresh(card)
    retier(session, card=card, now=now)
    return True


def retier(session: Session, *, card: MemberCard, now: datetime) -> TierChange | None:
    """Apply the tier rules after the card's growth changed: an upgrade at once (or a request when
    the tier requires approval); below the tier's threshold, start (or stop) the count of days
    below it for `after_days_below`. The periodic review (`review`) does the downgrades."""
    ladder = tiers(session, tenant_id=card.tenant_id)
    reached = tier_for(ladder, card.growth)
    current = next((t for t in ladder if t.id == card.tier_id), None)
    if reached is None:
        return None
    if current is None or reached.rank > current.rank:
        card.below_since = None
        if not reached.requires_approval:
            return _move(session, card, current, reached, "upgrade", now)
        # Request the tier that needs approval; meanwhile take the highest one that does not.
        _move(session, card, current, reached, "upgrade", now)
        free = [
            t
            for t in ladder
            if t.rank < reached.rank
            and (current is None or t.rank > current.rank)
            and not t.requires_approval
            and t.threshold <= card.growth
        ]
        return _move(session, card, current, free[-1], "upgrade", now) if free else None
    if current is not None and card.growth < current.threshold:
        card.below_since = card.below_since or now
    else:
        card.below_since = None
    return None


def _move(
    session: Session,
    card: MemberCard,
    current: LoyaltyTier | None,
    target: LoyaltyTier,
    reason: str,
    now: datetime,
) -> TierChange | None:
    if reason == "upgrade" and target.requires_approval:
        pending = session.scalar(
            select(TierChange.id).where(
                TierChange.tenant_id == card.tenant_id,
                TierChange.card_id == card.id,
                TierChange.to_tier_id == target.id,
                TierChange.status == "pending_approval",
            )
        )
        if pending is not None:
            return None
        change = TierChange(
            tenant_id=card.tenant_id,
            card_id=card.id,
            from_tier_id=current.id if current else None,
            to_tier_id=target.id,
            reason=reason,
            status="pending_approval",
            growth=card.growth,
            created_at=now,
        )
        session.add(change)
        return change
    change = TierChange(
        tenant_id=card.tenant_id,
        card_id=card.id,
        from_tier_id=current.id if current else None,
        to_tier_id=target.id,
        reason=reason,
        status="applied",
        growth=card.growth,
        created_at=now,
    )
    session.add(change)
    card.tier_id = target.id
    card.tier_since = now
    card.updated_at = now
    set_member_tiers(session, tenant_id=card.tenant_id, tiers={card.customer_id: target.name_zh})
    events.record(
        session,
        "loyalty.tier_changed",
        tenant_id=card.tenant_id,
        aggregate="member_card",
        aggregate_id=card.id,
        data={
            "customer_id": card.customer_id,
            "from": current.code if current else None,
            "to": target.code,
            "reason": reason,
            "upgrade": current is None or target.rank > current.rank,
        },
    )
    return change


def _months_before(moment: datetime, months: int) -> datetime:
    """The same day and time `months` earlier (the month's last day when that day does not exist)."""
    month = moment.month - 1 - months
    year = moment.year + month // 12
    month = month % 12 + 1
    for day in range(moment.day, 27, -1):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    return moment.replace(year=year, month=month, day=min(moment.day, 28))


def review(session: Session, *, tenant_id: int, now: datetime | None = None, limit: int = 1000) -> int:
    """Downgrades that are due under the programme's rule (the daily job); how many members moved."""
    now = now or utcnow()
    settings = program(session, tenant_id=tenant_id)
    if settings is None or settings.downgrade_rule == "none":
        return 0
    ladder = tiers(session, tenant_id=tenant_id)
    by_id = {t.id: t for t in ladder}
    moved = 0
    if settings.downgrade_rule == "after_days_below":
        due = session.scalars(
            select(MemberCard)
            .where(
                MemberCard.tenant_id == tenant_id,
                MemberCard.status == "active",
                MemberCard.below_since <= now - timedelta(days=settings.downgrade_after_days),
            )
            .order_by(MemberCard.id)
            .limit(limit)
            .with_for_update()
        )
        for card in due:
            target = tier_for(ladder, card.growth)
            current = by_id.get(card.tier_id) if card.tier_id else None
            card.below_since = None
            if target is not None and current is not None and target.rank < current.rank:
                _move(session, card, current, target, "downgrade", now)
                moved += 1
        return moved
    # by_period: each member's period ends `downgrade_period_months` after they reached their tier.
    period_start = _months_before(now, settings.downgrade_period_months)
    due = session.scalars(
        select(MemberCard)
        .where(
            MemberCard.tenant_id == tenant_id,
            MemberCard.status == "active",
            MemberCard.tier_since <= period_start,
        )
        .order_by(MemberCard.id)
        .limit(limit)
        .with_for_update()
    )
    for card in due:
        earned = int(
            session.scalar(
                select(func.coalesce(func.sum(GrowthEntry.amount), 0)).where(
                    GrowthEntry.tenant_id == tenant_id,
                    GrowthEntry.card_id == card.id,
                    GrowthEntry.created_at > period_start,
                    GrowthEntry.kind != "migrated",
                )
            )
            or 0
        )
        current = by_id.get(card.tier_id) if card.tier_id else None
        target = tier_for(ladder, max(earned, 0))
        if current is not None and target is not None and target.rank < current.rank:
            _move(session, card, current, target, "downgrade", now)
            moved += 1
        else:
            card.tier_since = now  # kept: the next period starts now
    return moved


@dataclass(frozen=True)
class Standing:
    """A member's tier and what the next one takes."""

    card: MemberCard
    tier: LoyaltyTier | None
    next_tier: LoyaltyTier | None
    gap_to_next: int | None  # growth value still needed (None at the top tier)


def standing(session: Session, *, tenant_id: int, customer_id: int) -> Standing | None:
    """The customer's card, tier, next tier and the gap to it (None: no card)."""
    card = card_of(session, tenant_id=tenant_id, customer_id=customer_id)
    if card is None:
        return None
    ladder = tiers(session, tenant_id=tenant_id)
    tier = next((t for t in ladder if t.id == card.tier_id), None)
    higher = [t for t in ladder if tier is None or t.rank > tier.rank]
    nxt = higher[0] if higher else None
    return Standing(card, tier, nxt, max(nxt.threshold - card.growth, 0) if nxt else None)


def cards_opened(
    session: Session,
    *,
    tenant_id: int,
    start: datetime,
    end: datetime,
    store_ids: Sequence[int] | None = None,
) -> dict[int, int]:
    """Member cards opened in [start, end) per store (cards opened without a store are not counted)."""
    stmt = (
        select(MemberCard.store_id, func.count())
        .where(
            MemberCard.tenant_id == tenant_id,
            MemberCard.opened_at >= start,
            MemberCard.opened_at < end,
            MemberCard.store_id.is_not(None),
        )
        .group_by(MemberCard.store_id)
    )
    if store_ids is not None:
        stmt = stmt.where(MemberCard.store_id.in_(list(store_ids)))
    return {int(store_id): int(n) for store_id, n in session.execute(stmt) if store_id is not None}
