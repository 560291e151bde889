"""A plain-Python evaluator of audience rules: the definition the engine is checked against.

It reads the rule as JSON (not the engine's parsed classes) and the data as plain records, and
follows the rule language's documented meaning literally, one customer at a time.
"""

from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

OPS = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
    "=": operator.eq,
    "!=": operator.ne,
}


@dataclass
class Line:
    sku: str
    amount_fen: int
    refunded_fen: int


@dataclass
class OrderRec:
    number: int
    paid_at: dt.datetime
    paid_fen: int
    refunded_fen: int
    channel: str
    store: str | None
    lines: list[Line]


@dataclass
class CustomerRec:
    number: int
    active: bool
    gender: str
    birthday: dt.date | None
    city: str | None
    tier: str | None
    store: str | None
    has_guide: bool
    phone: bool
    openid: bool = False
    wecom_friend: bool = False
    # (purpose, granted, recorded_at) in the order written (ids ascending)
    consents: list[tuple[str, bool, dt.datetime]] = field(default_factory=list)
    events: list[tuple[str, dt.datetime]] = field(default_factory=list)
    tags: dict[int, dt.datetime | None] = field(default_factory=dict)  # tag -> expires_at


@dataclass
class Data:
    customers: list[CustomerRec]
    orders: list[OrderRec]
    categories: dict[str, list[str]]  # sku -> category path


def window(w: dict[str, Any], now: dt.datetime, zone: ZoneInfo) -> tuple[dt.datetime, dt.datetime]:
    if "last_days" in w:
        return now - dt.timedelta(days=w["last_days"]), now
    start = dt.datetime.combine(dt.date.fromisoformat(w["from"]), dt.time(), zone)
    end = dt.datetime.combine(dt.date.fromisoformat(w["to"]) + dt.timedelta(days=1), dt.time(), zone)
    return start, end


def age(birthday: dt.date, today: dt.date) -> int:
    return today.year - birthday.year - ((today.month, today.day) < (birthday.month, birthday.day))


class Reference:
    def __init__(self, data: Data, now: dt.datetime, zone: ZoneInfo) -> None:
        self.data, self.now, self.zone = data, now, zone

    def members(self, rule: dict[str, Any]) -> set[int]:
        return {c.number for c in self.data.customers if c.active and self.holds(rule, c)}

    def has_tag(self, c: CustomerRec, tag: int) -> bool:
        return tag in c.tags and (c.tags[tag] is None or c.tags[tag] > self.now)  # type: ignore[operator]

    def holds(self, rule: dict[str, Any], c: CustomerRec) -> bool:  # noqa: C901 - to split (docs/architecture.md)
        kind = rule["type"]
        if kind == "all":
            return all(self.holds(r, c) for r in rule["of"])
        if kind == "any":
            return any(self.holds(r, c) for r in rule["of"])
        if kind == "not":
            return not self.holds(rule["rule"], c)
        if kind == "tags":
            have = [self.has_tag(c, t) for t in rule["tag_ids"]]
            return {"has": any, "any": any, "all": all}.get(rule["match"], lambda h: not any(h))(have)
        if kind == "gender":
            return c.gender in rule["values"]
        if kind == "age":
            today = self.now.astimezone(self.zone).date()
            return c.birthday is not None and rule.get("min", 0) <= age(c.birthday, today) <= rule.get(
                "max", 130
            )
        if kind == "city":
            return c.city in rule["values"]
        if kind == "birthday_month":
            return c.birthday is not None and c.birthday.month in rule["months"]
        if kind == "member_tier":
            return c.tier in rule["values"]
        if kind == "home_store":
            return c.store in rule["store_codes"]
        if kind == "has_guide":
            return c.has_guide == rule["value"]
        if kind == "reachable":
            return {"phone": c.phone, "wecom": c.wecom_friend, "official_account": c.openid}[rule["via"]]
        if kind == "consent":
            # In force: the latest recorded, ties by id (the order written).
            records = [
                (at, i, granted)
                for i, (purpose, granted, at) in enumerate(c.consents)
                if purpose == rule["purpose"]
            ]
            return bool(records) and max(records)[2]
        if kind == "orders":
            return self.orders(rule, c)
        if kind == "last_purchase":
            paid = [o.paid_at for o in self.data.orders if o.number == c.number]
            if not paid:
                return False
            days = (self.now - max(paid)) // dt.timedelta(days=1)
            return bool(OPS[rule["op"]](days, rule["days"]))
        if kind == "interactions":
            start, end = window(rule["window"], self.now, self.zone)
            n = sum(1 for k, at in c.events if k in rule["kinds"] and start <= at < end)
            return bool(OPS[rule["op"]](n, rule["value"]))
        raise AssertionError(kind)

    def orders(self, rule: dict[str, Any], c: CustomerRec) -> bool:
        start, end = window(rule["window"], self.now, self.zone)
        chosen = [
            o
            for o in self.data.orders
            if o.number == c.number
            and start <= o.paid_at < end
            and ("channels" not in rule or o.channel in rule["channels"])
            and ("store_codes" not in rule or o.store in rule["store_codes"])
        ]
        filtered = "skus" in rule or "categories" in rule
        if filtered:

            def matches(line: Line) -> bool:
                return line.sku in rule.get("skus", []) or bool(
                    set(self.data.categories[line.sku]) & set(rule.get("categories", []))
                )

            picked = [(o, [ln for ln in o.lines if matches(ln)]) for o in chosen]
            picked = [(o, lines) for o, lines in picked if lines]
            count = len(picked)
            total = sum(ln.amount_fen - ln.refunded_fen for _, lines in picked for ln in lines)
        else:
            count = len(chosen)
            total = sum(o.paid_fen - o.refunded_fen for o in chosen)
        compare = OPS[rule["op"]]
        if rule["measure"] == "count":
            return bool(compare(count, rule["value"]))
        if rule["measure"] == "gmv_fen":
            return bool(compare(total, rule["value"]))
        # Average order value: defined only for customers with orders, compared exactly.
        return count > 0 and bool(compare(total, rule["value"] * count))
