"""Points lots: every credit of a customer's `points` opens a lot, every debit takes from the open
lots first-in first-out (the one that expires first, then the oldest), and what is left of a lot
past its date expires (`expire_due`, the job `loyalty.expire_points`).

The ledger calls `credit` / `debit` for each customer `points` account a transaction changes, in the
same savepoint as the balance update (locks: after the account, whose conditional update already
serialises the customer's points), so the open lots always add up to the balance.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import nulls_last, select, update
from sqlalchemy.orm import Session

from siyu.core.clock import utcnow
from siyu.db.base import table_of
from siyu.loyalty.models import LoyaltyProgram, PointsLot
from siyu.org.facade import tenant_zone

LOTS = table_of(PointsLot)
ZONE = ZoneInfo("Asia/Shanghai")  # only a placeholder where the rule needs no zone


def add_months(moment: datetime, months: int) -> datetime:
    """The same day and time `months` later (the month's last day when that day does not exist)."""
    month = moment.month - 1 + months
    year = moment.year + month // 12
    month = month % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def expiry_for(program: LoyaltyProgram | None, credited_at: datetime, zone: ZoneInfo) -> datetime | None:
    """When points credited at `credited_at` expire under the programme (None: never)."""
    if program is None or program.points_expiry == "never":
        return None
    if program.points_expiry == "after_months":
        return add_months(credited_at, program.points_expiry_months)
    # year_end: the end of the year N years after (N = months // 12, at least the current year).
    local = credited_at.astimezone(zone)
    years = max(program.points_expiry_months // 12, 0)
    end = datetime(local.year + years + 1, 1, 1, tzinfo=zone)
    return end.astimezone(credited_at.tzinfo)


def credit(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    transaction_id: int,
    points: int,
    expires_at: datetime | str | None = "programme",
) -> None:
    """Open a lot for points just credited; `expires_at` "programme" takes the programme's rule."""
    if points <= 0:
        return
    now = utcnow()
    if expires_at == "programme":
        program = session.scalar(select(LoyaltyProgram).where(LoyaltyProgram.tenant_id == tenant_id))
        zone = (
            tenant_zone(session, tenant_id=tenant_id)
            if program and program.points_expiry == "year_end"
            else ZONE
        )
        expires_at = expiry_for(program, now, zone)
    assert expires_at is None or isinstance(expires_at, datetime)
    session.execute(
        LOTS.insert().values(
            tenant_id=tenant_id,
            customer_id=customer_id,
            transaction_id=transaction_id,
            points=points,
            remaining=points,
            expires_at=expires_at,
            created_at=now,
        )
    )


def debit(session: Session, *, tenant_id: int, customer_id: int, points: int) -> None:
    """Take `points` from the customer's open lots, first-in first-out. The balance update before it
    guaranteed the points are there; a shortfall here is a defect and is refused."""
    left = points
    while left > 0:
        lots = session.execute(
            select(LOTS.c.id, LOTS.c.remaining)
            .where(LOTS.c.tenant_id == tenant_id, LOTS.c.customer_id == customer_id, LOTS.c.remaining > 0)
            .order_by(nulls_last(LOTS.c.expires_at.asc()), LOTS.c.id)
            .limit(20)
        ).all()
        if not lots:
            raise ValueError(f"points lots of customer {customer_id} are short by {left}")
        for lot_id, remaining in lots:
            take = min(left, int(remaining))
            session.execute(
                update(LOTS)
                .where(LOTS.c.id == lot_id, LOTS.c.remaining >= take)
                .values(remaining=LOTS.c.remaining - take)
            )
            left -= take
            if left == 0:
                break


def due(
    session: Session, *, tenant_id: int, now: datetime | None = None, limit: int = 500
) -> list[PointsLot]:
    """Open lots past their date, oldest first."""
    moment = now or utcnow()
    return list(
        session.scalars(
            select(PointsLot)
            .where(
                PointsLot.tenant_id == tenant_id,
                PointsLot.remaining > 0,
                PointsLot.expires_at.is_not(None),
                PointsLot.expires_at <= moment,
            )
            .order_by(PointsLot.expires_at, PointsLot.id)
            .limit(limit)
        )
    )


def expiring(
    session: Session, *, tenant_id: int, customer_id: int, within: timedelta, now: datetime | None = None
) -> list[tuple[datetime, int]]:
    """(date, points) of the customer's points expiring within `within` (reminders, the 360)."""
    moment = now or utcnow()
    rows = session.execute(
        select(PointsLot.expires_at, PointsLot.remaining)
        .where(
            PointsLot.tenant_id == tenant_id,
            PointsLot.customer_id == customer_id,
            PointsLot.remaining > 0,
            PointsLot.expires_at.is_not(None),
            PointsLot.expires_at <= moment + within,
        )
        .order_by(PointsLot.expires_at)
    ).all()
    return [(at, int(n)) for at, n in rows if at is not None]
