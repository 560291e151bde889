"""Checks that an id names an object of the brand, for domains that may not import each other.

A domain that owns a kind of object registers how to look one up (`register`); another domain
that receives such an id in a request asks `exists` (loyalty records the channel code a member
card was opened through, and the channel codes belong to WeCom, a sibling it does not import)."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy.orm import Session

Checker = Callable[[Session, int, int], bool]
CHECKERS: dict[str, Checker] = {}


def register(kind: str, checker: Checker) -> None:
    """`checker(session, tenant_id, id)` says whether the brand has that object of `kind`."""
    CHECKERS[kind] = checker


def exists(session: Session, *, tenant_id: int, kind: str, object_id: int) -> bool:
    """Whether the brand has the object (a kind nobody registered: a defect, raised)."""
    if kind not in CHECKERS:
        raise RuntimeError(f"no checker for {kind!r}: load the domains (siyu.domains.load)")
    return CHECKERS[kind](session, tenant_id, object_id)
