"""The rule language and its compiler without a database: validation, canonical form, and SQL
that binds every value and compiles for SQLite and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy.dialects import postgresql, sqlite

from siyu.core.errors import DomainError
from siyu.segments import rules as r
from siyu.segments.compiler import COMPILERS, Context, holds_for_zero

NOW = dt.datetime(2026, 6, 15, 4, tzinfo=dt.UTC)
CTX = Context(
    tenant_id=7,
    now=NOW,
    zone=ZoneInfo("Asia/Shanghai"),
    store_ids={"S1": 11},
    product_ids={"sku:A": [101], "category:女装": [101, 102]},
)


def test_windows_are_whole_local_days_or_the_last_hours() -> None:
    window = r.Window.model_validate({"from": "2026-06-01", "to": "2026-06-01"})
    assert CTX.bounds(window) == (
        dt.datetime(2026, 5, 31, 16, tzinfo=dt.UTC),
        dt.datetime(2026, 6, 1, 16, tzinfo=dt.UTC),
    )
    assert CTX.bounds(r.Window(last_days=2)) == (NOW - dt.timedelta(days=2), NOW)


@pytest.mark.parametrize(
    ("op", "value", "zero"),
    [(">=", 1, False), ("<", 2, True), ("=", 0, True), ("!=", 0, False), ("<=", 0, True)],
)
def test_conditions_that_hold_for_nobody_with_rows_are_complements(op: str, value: int, zero: bool) -> None:
    assert holds_for_zero(op, value) is zero
    node = r.parse_rule(
        {"type": "orders", "window": {"last_days": 30}, "measure": "count", "op": op, "value": value}
    )
    assert COMPILERS[r.Orders](node, CTX).complement is zero


def test_every_sql_leaf_binds_its_values_and_compiles_on_both_dialects() -> None:
    leaves = [
        {
            "type": "orders",
            "window": {"last_days": 90},
            "measure": "aov_fen",
            "op": ">=",
            "value": 98765,
            "channels": ["pos"],
            "store_codes": ["S1"],
            "categories": ["女装"],
        },
        {"type": "last_purchase", "op": "=", "days": 180},
        {"type": "interactions", "window": {"last_days": 30}, "kinds": ["page_view"], "op": ">", "value": 4},
        {"type": "consent", "purpose": "marketing_sms"},
        {"type": "reachable", "via": "wecom"},
        {"type": "reachable", "via": "official_account"},
    ]
    for raw in leaves:
        node = r.parse_rule(raw)
        query = COMPILERS[type(node)](node, CTX).query
        for dialect in (sqlite.dialect(), postgresql.dialect()):
            sql = str(query.compile(dialect=dialect))
            assert (
                "98765" not in sql and "page_view" not in sql and "marketing_sms" not in sql
            )  # bound, not inlined
            assert sql.lstrip().startswith("SELECT")
        params = query.compile().params
        assert 7 in params.values()  # scoped to the tenant
    aov = COMPILERS[r.Orders](r.parse_rule(leaves[0]), CTX).query.compile(dialect=postgresql.dialect())
    assert "HAVING sum(order_lines.amount_fen - order_lines.refunded_fen) >=" in str(aov)


def test_canonical_form_and_limits() -> None:
    rule = {"type": "all", "of": [{"type": "gender", "values": ["female"]}, {"type": "age", "min": 20}]}
    assert r.dump_rule(r.parse_rule(rule)) == {
        "type": "all",
        "of": [{"type": "gender", "values": ["female"]}, {"type": "age", "min": 20, "max": 130}],
    }
    wide = {"type": "any", "of": [{"type": "any", "of": [{"type": "has_guide", "value": True}] * 50}] * 5}
    with pytest.raises(DomainError) as too_many:
        r.parse_rule(wide)
    assert "200" in too_many.value.message("en")
    with pytest.raises(DomainError) as window:
        r.parse_rule(
            {
                "type": "interactions",
                "window": {"last_days": 5, "from": "2026-01-01"},
                "kinds": ["x"],
                "op": ">",
                "value": 0,
            }
        )
    assert window.value.details[0]["path"] == "interactions/window"
