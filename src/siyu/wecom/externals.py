"""Customers behind WeCom external user ids: found by identity, or created when new."""

from __future__ import annotations

from sqlalchemy.orm import Session

from siyu.customers import facade as customers
from siyu.customers.facade import IdentityKey


def customers_of(
    session: Session, *, tenant_id: int, keys: dict[str, IdentityKey], source: str
) -> dict[str, int]:
    """Customer id per external user id (keys: their normalised identities); the unknown ones are
    created in one write, as a friend add or a group join would."""
    owners = customers.identity_owners(session, tenant_id=tenant_id, keys=list(keys.values()))
    unknown = [ext for ext, key in keys.items() if key not in owners]
    created = customers.attach_identities(
        session,
        tenant_id=tenant_id,
        groups=[([keys[ext]], None, None) for ext in unknown],
        known=set(owners),
        source=source,
        actor=None,
    )
    found = {ext: owners[key] for ext, key in keys.items() if key in owners}
    found.update(zip(unknown, created, strict=True))
    return found
