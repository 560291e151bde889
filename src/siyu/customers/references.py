"""Columns that point at a customer; a merge moves every one of them, an unmerge moves them back.

Each capability registers its own tables here (orders, coupons, …) so merges stay complete.
"""

from __future__ import annotations

from sqlalchemy import Column, Table

_REFERENCES: list[tuple[Table, str]] = []


def register(table: Table, column: str = "customer_id") -> None:
    """Declare that table.column holds a customer id."""
    if (table, column) not in _REFERENCES:
        _REFERENCES.append((table, column))


def all_references() -> list[tuple[Table, Column[int]]]:
    """Every registered (table, column)."""
    return [(t, t.c[c]) for t, c in _REFERENCES]
