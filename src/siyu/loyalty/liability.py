"""The liability report: what the brand owes its members at the end of each day — points
outstanding (available and frozen) and what they are worth at checkout, stored value split principal
and bonus, membership revenue not yet recognised — and the breakage of the day (points that expired,
bonus forfeited on refunds), per store, region and brand.

Everything is read from the ledger's postings (never from running balances): the balance at the end
of a day is the sum of the postings of transactions before it. A customer's liability counts at
their home store (customers without one under "no store").
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.customers.facade import Customer
from siyu.loyalty.models import LedgerAccount, LedgerPosting, LedgerTransaction, LoyaltyProgram

ASSETS = ("points", "points_pending", "sv_principal", "sv_bonus", "membership_deferred")
FIGURES: dict[str, tuple[str, str, str]] = {
    # key: (zh, en, unit)
    "points": ("可用积分", "Points available", "point"),
    "points_pending": ("冻结积分", "Points frozen (refund window)", "point"),
    "points_value_fen": ("积分价值", "Points' value at checkout", "fen"),
    "sv_principal_fen": ("储值本金", "Stored value: principal", "fen"),
    "sv_bonus_fen": ("储值赠送", "Stored value: bonus", "fen"),
    "membership_deferred_fen": ("待确认会员费", "Membership fees not yet earned", "fen"),
    "liability_fen": ("负债合计", "Total liability", "fen"),
    "expired_points": ("当日过期积分", "Points expired that day", "point"),
    "forfeited_fen": ("当日作废赠送金", "Bonus forfeited that day", "fen"),
}
DEFINITIONS = {
    "points": (
        "会员可用的积分余额（含结账中冻结的部分）。",
        "Points members hold, including any held by an open checkout.",
    ),
    "points_pending": (
        "已获得、在退款期内冻结的积分。",
        "Points earned and frozen through the refund window.",
    ),
    "points_value_fen": (
        "（可用积分 + 冻结积分）按结账抵扣比例折算的金额。",
        "(Available + frozen points) at the programme's checkout rate.",
    ),
    "sv_principal_fen": (
        "会员已充值、未使用的本金（可退）。",
        "Stored value members paid in and have not used (refundable).",
    ),
    "sv_bonus_fen": (
        "充值赠送、未使用的金额（退款时作废）。",
        "Bonus given on top-ups and not used (forfeited on a refund).",
    ),
    "membership_deferred_fen": (
        "已收付费会员费中尚未按会期确认为收入的部分。",
        "Membership fees received and not yet earned over the term.",
    ),
    "liability_fen": (
        "积分价值 + 储值本金 + 储值赠送 + 待确认会员费。",
        "Points' value + stored value (principal and bonus) + membership fees not yet earned.",
    ),
    "expired_points": (
        "当天到期未用、记为过期收益的积分。",
        "Points that expired unused that day (breakage).",
    ),
    "forfeited_fen": (
        "当天因储值退款作废的赠送金额。",
        "Bonus forfeited that day when principal was refunded.",
    ),
}


@dataclass
class Figures:
    """One day's figures of a store (or region, or the brand)."""

    points: int = 0
    points_pending: int = 0
    sv_principal_fen: int = 0
    sv_bonus_fen: int = 0
    membership_deferred_fen: int = 0
    expired_points: int = 0
    forfeited_fen: int = 0
    points_per_yuan: int = field(default=100, repr=False)

    @property
    def points_value_fen(self) -> int:
        return (self.points + self.points_pending) * 100 // max(self.points_per_yuan, 1)

    @property
    def liability_fen(self) -> int:
        return (
            self.points_value_fen + self.sv_principal_fen + self.sv_bonus_fen + self.membership_deferred_fen
        )

    def add(self, other: Figures) -> None:
        for name in (
            "points",
            "points_pending",
            "sv_principal_fen",
            "sv_bonus_fen",
            "membership_deferred_fen",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.expired_points += other.expired_points
        self.forfeited_fen += other.forfeited_fen

    def as_dict(self) -> dict[str, int]:
        return {key: int(getattr(self, key)) for key in FIGURES}


_BALANCE_FIELD = {
    "points": "points",
    "points_pending": "points_pending",
    "sv_principal": "sv_principal_fen",
    "sv_bonus": "sv_bonus_fen",
    "membership_deferred": "membership_deferred_fen",
}


def _hour(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return func.date_trunc("hour", func.timezone("UTC", column))
    return func.substr(column, 1, 13)


def _as_utc(value: Any) -> dt.datetime:
    if isinstance(value, str):
        return dt.datetime.strptime(value, "%Y-%m-%d %H").replace(tzinfo=dt.UTC)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC)


def daily(
    session: Session, *, tenant_id: int, first: dt.date, last: dt.date, zone: ZoneInfo
) -> dict[dt.date, dict[int | None, Figures]]:
    """Each day's figures per home store (None: customers without one), from `first` to `last`."""
    start = dt.datetime.combine(first, dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(0), tzinfo=zone).astimezone(dt.UTC)
    program = session.scalar(select(LoyaltyProgram).where(LoyaltyProgram.tenant_id == tenant_id))
    per_yuan = program.points_per_yuan_burn if program else 100
    base = (
        select(LedgerAccount.asset, Customer.store_id, func.sum(LedgerPosting.amount))
        .select_from(LedgerPosting)
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerPosting.transaction_id)
        .outerjoin(Customer, Customer.id == LedgerAccount.customer_id)
        .where(
            LedgerPosting.tenant_id == tenant_id,
            LedgerAccount.customer_id.is_not(None),
            LedgerAccount.asset.in_(ASSETS),
        )
    )
    opening: dict[int | None, Figures] = defaultdict(lambda: Figures(points_per_yuan=per_yuan))
    for asset, store_id, total in session.execute(
        base.where(LedgerTransaction.created_at < start).group_by(LedgerAccount.asset, Customer.store_id)
    ):
        figures = opening[store_id]
        name = _BALANCE_FIELD[asset]
        setattr(figures, name, getattr(figures, name) + int(total or 0))
    hour = _hour(session, LedgerTransaction.created_at)
    changes: dict[dt.date, dict[int | None, Figures]] = defaultdict(
        lambda: defaultdict(lambda: Figures(points_per_yuan=per_yuan))
    )
    stmt = (
        base.add_columns(LedgerTransaction.kind, hour)
        .where(LedgerTransaction.created_at >= start, LedgerTransaction.created_at < end)
        .group_by(LedgerAccount.asset, Customer.store_id, LedgerTransaction.kind, hour)
    )
    for asset, store_id, total, kind, at in session.execute(stmt):
        day = _as_utc(at).astimezone(zone).date()
        figures = changes[day][store_id]
        name = _BALANCE_FIELD[asset]
        setattr(figures, name, getattr(figures, name) + int(total or 0))
        if kind == "expire" and asset == "points":
            figures.expired_points -= int(total or 0)
        if kind == "sv_refund" and asset == "sv_bonus":
            figures.forfeited_fen -= int(total or 0)
    result: dict[dt.date, dict[int | None, Figures]] = {}
    running = {store: _copy(f) for store, f in opening.items()}
    day = first
    while day <= last:
        today: dict[int | None, Figures] = {}
        for store in set(running) | set(changes.get(day, {})):
            figures = running.setdefault(store, Figures(points_per_yuan=per_yuan))
            change = changes.get(day, {}).get(store)
            if change is not None:
                figures.add(change)
            snapshot = _copy(figures)
            snapshot.expired_points = change.expired_points if change else 0
            snapshot.forfeited_fen = change.forfeited_fen if change else 0
            today[store] = snapshot
        result[day] = today
        day += dt.timedelta(days=1)
    return result


def _copy(figures: Figures) -> Figures:
    return Figures(**{k: getattr(figures, k) for k in Figures.__dataclass_fields__})


def roll_up(per_store: dict[int | None, Figures], key: dict[int, Any] | None = None) -> dict[Any, Figures]:
    """Add stores up by `key` (store id → region id; None: the whole brand under one key)."""
    out: dict[Any, Figures] = {}
    for store, figures in per_store.items():
        group = "brand" if key is None else (key.get(store) if store is not None else None)
        target = out.setdefault(group, Figures(points_per_yuan=figures.points_per_yuan))
        target.add(figures)
    return out


def rows(
    days: dict[dt.date, dict[Any, Figures]], names: Iterable[tuple[Any, str]] | None = None
) -> list[list[Any]]:
    """Flat rows for a sheet: date, name, then every figure (money in yuan)."""
    label = dict(names or [])
    out: list[list[Any]] = []
    for day, groups in sorted(days.items()):
        for key, figures in sorted(groups.items(), key=lambda kv: str(label.get(kv[0], kv[0]))):
            values = figures.as_dict()
            out.append(
                [day.isoformat(), label.get(key, "—" if key is None else str(key))]
                + [values[k] / 100 if FIGURES[k][2] == "fen" else values[k] for k in FIGURES]
            )
    return out
