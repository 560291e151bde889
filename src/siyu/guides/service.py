"""Use cases of the exclusive-guide binding: offer a guide to a customer, read, and history.

A customer has at most one exclusive guide per tenant. The first add or the first purchase through a
guide's link binds; the same guide again renews the protection window; another guide takes over only
once the window has passed (otherwise the offer is refused and recorded).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import bindparam, select, text, update
from sqlalchemy.orm import Session

from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.customers.facade import Customer, MergeParties
from siyu.db.base import table_of
from siyu.db.bulk import bulk_insert
from siyu.db.expressions import one_of
from siyu.db.session import lock_tenant
from siyu.guides.models import GuideBinding, GuideBindingEvent
from siyu.org.facade import Staff, Tenant

BINDINGS = table_of(GuideBinding)
EVENTS = table_of(GuideBindingEvent)
CUSTOMERS = table_of(Customer)


@dataclass
class BindingState:
    """The current binding of one customer, as kept in memory while a use case runs."""

    guide_id: int
    store_id: int | None
    source: str
    started_at: dt.datetime
    protected_until: dt.datetime
    guide_active: bool = True
    row_id: int | None = None
    dirty: bool = False
    guide_changed: bool = False  # bound or taken over: the customer's scope follows the guide


@dataclass
class BindingBook:
    """Loads the bindings of some customers, applies offers in order, then writes once."""

    tenant_id: int
    protection: dt.timedelta
    states: dict[int, BindingState] = field(default_factory=dict)
    events: list[dict[str, object]] = field(default_factory=list)

    @classmethod
    def load(
        cls, session: Session, *, tenant_id: int, customer_ids: set[int], for_update: bool = False
    ) -> BindingBook:
        """Read the tenant's protection window and the customers' current bindings.

        for_update: this use case will offer guides, so concurrent ones that also do wait here
        until it commits (they then read its bindings instead of racing to insert the same one).
        """
        if for_update:
            lock_tenant(session, "guide_bindings", tenant_id)
        days = session.scalar(select(Tenant.binding_protection_days).where(Tenant.id == tenant_id))
        if days is None:  # 0 is a valid setting: no protection
            days = 30
        book = cls(tenant_id=tenant_id, protection=dt.timedelta(days=days))
        if customer_ids:
            rows = session.execute(
                select(GuideBinding, Staff.status)
                .join(Staff, Staff.id == GuideBinding.guide_id)
                .where(
                    GuideBinding.tenant_id == tenant_id,
                    one_of(session, GuideBinding.customer_id, customer_ids),
                )
            )
            for binding, status in rows:
                book.states[binding.customer_id] = BindingState(
                    guide_id=binding.guide_id,
                    store_id=binding.store_id,
                    source=binding.source,
                    started_at=binding.started_at,
                    protected_until=binding.protected_until,
                    guide_active=status == "active",
                    row_id=binding.id,
                )
        return book

    def active(self, customer_id: int | None) -> BindingState | None:
        """The customer's binding when its guide is still with the brand."""
        if customer_id is None:
            return None
        state = self.states.get(customer_id)
        return state if state is not None and state.guide_active else None

    def offer(
        self,
        *,
        customer_id: int,
        guide_id: int,
        store_id: int | None,
        source: str,
        at: dt.datetime,
        reference: str | None = None,
        override: bool = False,
    ) -> str:
        """Offer a guide; returns bound | renewed | taken_over | refused (`override`: a transfer HQ
        decided hands the customer over even inside the protection window)."""
        state = self.states.get(customer_id)
        until = at + self.protection
        kind: str
        previous = None
        if state is None:
            self.states[customer_id] = BindingState(
                guide_id, store_id, source, at, until, dirty=True, guide_changed=True
            )
            kind = "bound"
        elif state.guide_id == guide_id:
            state.protected_until = max(state.protected_until, until)
            state.store_id = state.store_id or store_id
            state.dirty = True
            kind = "renewed"
        elif override or at >= state.protected_until or not state.guide_active:
            previous = state.guide_id
            state.guide_id, state.store_id, state.source = guide_id, store_id, source
            state.started_at, state.protected_until, state.guide_active, state.dirty = at, until, True, True
            state.guide_changed = True
            kind = "taken_over"
        else:
            previous = state.guide_id
            kind = "refused"
        self.events.append(
            {
                "tenant_id": self.tenant_id,
                "customer_id": customer_id,
                "kind": kind,
                "guide_id": guide_id,
                "previous_guide_id": previous,
                "store_id": store_id,
                "source": source,
                "occurred_at": at,
                "reference": reference,
            }
        )
        return kind

    def flush(self, session: Session) -> None:
        """Write changed bindings, their history, and the customers' guide (their data scope)."""
        new = [(cid, st) for cid, st in self.states.items() if st.dirty and st.row_id is None]
        changed = [(cid, st) for cid, st in self.states.items() if st.dirty and st.row_id is not None]
        conn = session.connection()
        returned = bulk_insert(
            conn,
            BINDINGS,
            [
                {
                    "tenant_id": self.tenant_id,
                    "customer_id": cid,
                    "guide_id": st.guide_id,
                    "store_id": st.store_id,
                    "source": st.source,
                    "started_at": st.started_at,
                    "protected_until": st.protected_until,
                    "renewed_at": st.started_at,
                }
                for cid, st in new
            ],
            returning=("customer_id", "id"),
        )
        if changed:
            conn.execute(
                update(BINDINGS)
                .where(BINDINGS.c.id == bindparam("b_id"))
                .values(
                    guide_id=bindparam("b_guide"),
                    store_id=bindparam("b_store"),
                    source=bindparam("b_source"),
                    started_at=bindparam("b_started"),
                    protected_until=bindparam("b_until"),
                ),
                [
                    {
                        "b_id": st.row_id,
                        "b_guide": st.guide_id,
                        "b_store": st.store_id,
                        "b_source": st.source,
                        "b_started": st.started_at,
                        "b_until": st.protected_until,
                    }
                    for _, st in changed
                ],
            )
        moved = sorted((cid, st.guide_id) for cid, st in new + changed if st.guide_changed)
        if moved and conn.dialect.name == "postgresql":
            # One statement for all of them (arrays in, in id order so concurrent writers agree).
            conn.execute(
                text(
                    "UPDATE customers SET guide_id = v.guide_id, updated_at = now() FROM unnest("
                    "CAST(:ids AS bigint[]), CAST(:guides AS bigint[])) AS v(id, guide_id) "
                    "WHERE customers.id = v.id AND customers.tenant_id = :tenant_id"
                ),
                {"ids": [c for c, _ in moved], "guides": [g for _, g in moved], "tenant_id": self.tenant_id},
            )
        elif moved:
            conn.execute(
                update(CUSTOMERS)
                .where(CUSTOMERS.c.id == bindparam("c_id"), CUSTOMERS.c.tenant_id == self.tenant_id)
                .values(guide_id=bindparam("c_guide"), updated_at=utcnow()),
                [{"c_id": cid, "c_guide": guide} for cid, guide in moved],
            )
        bulk_insert(conn, EVENTS, self.events)
        for st in self.states.values():
            st.dirty = st.guide_changed = False
        self.events = []
        if new:  # later offers in the same use case update these rows
            if returned is None:  # SQLite: read the ids back by the unique customer
                returned = [
                    (customer_id, binding_id)
                    for customer_id, binding_id in session.execute(
                        select(BINDINGS.c.customer_id, BINDINGS.c.id).where(
                            BINDINGS.c.tenant_id == self.tenant_id,
                            one_of(session, BINDINGS.c.customer_id, [cid for cid, _ in new]),
                        )
                    )
                ]
            ids = dict(returned)
            for cid, st in new:
                st.row_id = ids[cid]


def bind(
    session: Session,
    *,
    tenant_id: int,
    customer_id: int,
    guide_id: int,
    store_id: int | None,
    source: str,
    at: dt.datetime,
    reference: str | None = None,
) -> BindingState:
    """Offer one guide to one customer; a refusal (protected by another guide) is an error."""
    guide = session.scalar(
        select(Staff).where(Staff.tenant_id == tenant_id, Staff.id == guide_id, Staff.status == "active")
    )
    if guide is None:
        raise DomainError("not_found", object="guide")
    book = BindingBook.load(session, tenant_id=tenant_id, customer_ids={customer_id}, for_update=True)
    outcome = book.offer(
        customer_id=customer_id,
        guide_id=guide_id,
        store_id=store_id,
        source=source,
        at=at,
        reference=reference,
    )
    book.flush(session)
    state = book.states[customer_id]
    if outcome == "refused":
        raise DomainError("binding_protected", until=state.protected_until.isoformat())
    return state


def binding_of(session: Session, *, tenant_id: int, customer_id: int) -> BindingState | None:
    """The customer's binding, if any (active or with a departed guide)."""
    return BindingBook.load(session, tenant_id=tenant_id, customer_ids={customer_id}).states.get(customer_id)


# --- merges ------------------------------------------------------------------------------------
def _binding_values(row: GuideBinding) -> dict[str, object]:
    return {
        "guide_id": row.guide_id,
        "store_id": row.store_id,
        "source": row.source,
        "started_at": row.started_at.isoformat(),
        "protected_until": row.protected_until.isoformat(),
        "renewed_at": row.renewed_at.isoformat(),
    }


def _merge_event(
    parties: MergeParties, customer_id: int, kind: str, values: dict[str, object]
) -> dict[str, object]:
    return {
        "tenant_id": parties.tenant_id,
        "customer_id": customer_id,
        "kind": kind,
        "guide_id": values["guide_id"],
        "previous_guide_id": None,
        "store_id": values["store_id"],
        "source": "merge",
        "occurred_at": parties.at,
        "reference": f"merge:{parties.merge_id}",
    }


def _bindings_of(session: Session, parties: MergeParties) -> dict[int, GuideBinding]:
    return {
        b.customer_id: b
        for b in session.scalars(
            select(GuideBinding).where(
                GuideBinding.tenant_id == parties.tenant_id,
                GuideBinding.customer_id.in_([parties.survivor_id, parties.merged_id]),
            )
        )
    }


def merge_bindings(session: Session, parties: MergeParties) -> dict[str, object]:
    """A customer has one binding: the survivor keeps its own; the merged record's moves over only
    when the survivor has none, otherwise it ends (an `ended` event with source `merge`)."""
    lock_tenant(session, "guide_bindings", parties.tenant_id)
    bindings = _bindings_of(session, parties)
    mine = bindings.get(parties.merged_id)
    if mine is None:
        return {}
    if parties.survivor_id not in bindings:
        mine.customer_id = parties.survivor_id
        session.flush()
        return {"moved": mine.id}
    values = _binding_values(mine)
    session.delete(mine)
    session.flush()
    bulk_insert(session.connection(), EVENTS, [_merge_event(parties, parties.merged_id, "ended", values)])
    return {"ended": values}


def unmerge_bindings(session: Session, parties: MergeParties, snapshot: dict[str, object]) -> int:
    """Undo `merge_bindings`: a moved binding goes back, an ended one is restored (unless the
    record has had a binding since)."""
    lock_tenant(session, "guide_bindings", parties.tenant_id)
    bindings = _bindings_of(session, parties)
    if parties.merged_id in bindings:
        return 0
    moved = snapshot.get("moved")
    if isinstance(moved, int):
        row = bindings.get(parties.survivor_id)
        if row is None or row.id != moved:
            return 0
        row.customer_id = parties.merged_id
        session.flush()
        return 1
    values = snapshot.get("ended")
    if not isinstance(values, dict):
        return 0
    session.add(
        GuideBinding(
            tenant_id=parties.tenant_id,
            customer_id=parties.merged_id,
            guide_id=values["guide_id"],
            store_id=values["store_id"],
            source=values["source"],
            started_at=dt.datetime.fromisoformat(values["started_at"]),
            protected_until=dt.datetime.fromisoformat(values["protected_until"]),
            renewed_at=dt.datetime.fromisoformat(values["renewed_at"]),
        )
    )
    session.flush()
    bulk_insert(session.connection(), EVENTS, [_merge_event(parties, parties.merged_id, "bound", values)])
    return 1
