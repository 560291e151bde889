"""Every column that points at a customer, and what a merge does with it.

A merge moves the rows of every registered column from the merged record to the survivor and keeps
their ids on the merge record; an unmerge moves exactly those rows back. A table whose unique keys
make a plain move impossible (a tag both records hold, the one guide binding per customer)
registers a handler instead: it decides row by row, returns what it did as a JSON snapshot, and
undoes that snapshot on unmerge. Columns that must not move (the merge record itself …) are exempt,
each with its reason.

Completeness by construction: each domain registers its tables in its `facade.py`; HOLDERS names
those modules and the registry imports them before it answers, so no merge runs with a domain's
registrations missing; and `unaccounted` lists every column of the metadata that points at a
customer but is neither registered nor exempt (a merge refuses to run while there is one, and a test
fails). A new table with a customer column therefore needs a decision before anything merges.
"""

from __future__ import annotations

import datetime as dt
import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, MetaData, Table
from sqlalchemy.orm import Session

# The modules that register (imported in this order before a merge; handlers run in it too).
HOLDERS = (
    "siyu.customers.service",
    "siyu.orders.facade",
    "siyu.guides.facade",
    "siyu.tags.facade",
    "siyu.wecom.facade",
    "siyu.loyalty.facade",
)
# Column names that hold a customer's id or dense number even without a foreign key.
CUSTOMER_COLUMN_NAMES = ("customer_id", "customer_number")


@dataclass(frozen=True)
class MergeParties:
    """The two records of a merge (or of its undoing) as a handler sees them."""

    tenant_id: int
    merge_id: int
    survivor_id: int
    survivor_number: int
    merged_id: int
    merged_number: int
    at: dt.datetime


@dataclass(frozen=True)
class MergeHandler:
    """Row-by-row rules for one table: `merge` returns a JSON snapshot, `unmerge` undoes it and
    returns how many rows it restored. `locks`: the tenant locks (`lock_tenant` names) it takes."""

    merge: Callable[[Session, MergeParties], dict[str, Any]]
    unmerge: Callable[[Session, MergeParties, dict[str, Any]], int]
    locks: tuple[str, ...] = ()


@dataclass(frozen=True)
class Reference:
    """A registered column: moved as it is, or by its handler."""

    table: Table
    column: str
    handler: MergeHandler | None = None

    @property
    def name(self) -> str:
        """`table.column`, the key in merge snapshots."""
        return f"{self.table.name}.{self.column}"

    @property
    def col(self) -> Column[int]:
        """The column itself."""
        return self.table.c[self.column]


_REFERENCES: dict[str, Reference] = {}
_EXEMPT: dict[str, str] = {}
_loaded = False


def register(table: Table, column: str = "customer_id", *, handler: MergeHandler | None = None) -> None:
    """Declare that table.column holds a customer id: merges move it (or its handler decides)."""
    ref = Reference(table, column, handler)
    _REFERENCES.setdefault(ref.name, ref)


def exempt(table: Table, column: str, reason: str) -> None:
    """Declare that table.column points at a customer but must not move on a merge, and why."""
    if not reason.strip():
        raise ValueError("an exemption needs a reason")
    _EXEMPT.setdefault(f"{table.name}.{column}", reason)


def load() -> None:
    """Import every registering module (once)."""
    global _loaded
    if not _loaded:
        for module in HOLDERS:
            importlib.import_module(module)
        _loaded = True


def all_references() -> list[Reference]:
    """Every registered column, in registration order."""
    load()
    return list(_REFERENCES.values())


def exemptions() -> dict[str, str]:
    """Exempt columns (`table.column`) with their reasons."""
    load()
    return dict(_EXEMPT)


def customer_columns(metadata: MetaData) -> list[str]:
    """Every `table.column` of the metadata that holds a customer: a foreign key to customers.id,
    or a customer column by name."""
    found = []
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.name in CUSTOMER_COLUMN_NAMES or any(
                fk.target_fullname == "customers.id" for fk in column.foreign_keys
            ):
                found.append(f"{table.name}.{column.name}")
    return found


def unaccounted(metadata: MetaData) -> list[str]:
    """Customer columns that are neither registered nor exempt (should be none)."""
    load()
    return [name for name in customer_columns(metadata) if name not in _REFERENCES and name not in _EXEMPT]
