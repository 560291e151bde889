"""Domain events and the transactional outbox.

A use case says what happened — `events.record(session, "orders.ingested", …)` — in the transaction
of its writes. Two kinds of subscriber hear it:

- **policies** (`policy`) run at once, inside that transaction, for rules that must hold when it
  commits (a departed guide's sign-ins end with the departure, not a moment later);
- **subscribers** (`subscriber`) run after the commit, from the outbox row written with the event:
  the relay (a job, see `siyu.events.relay`) hands each pending event to them in a savepoint of its
  own transaction and marks it dispatched in the same transaction, so their database work happens
  exactly once, and anything they cause outside (a WeCom call) at least once — they are idempotent.
  Events of one aggregate are dispatched in the order they were recorded; a failing subscriber holds
  its aggregate back (with backoff) and not the others. A crash after the commit loses nothing: the
  row waits in the outbox until a relay runs.

An event nobody subscribes to after commit writes no outbox row.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from siyu.core.clock import utcnow
from siyu.db.base import table_of
from siyu.events.models import OutboxEvent
from siyu.jobs import mark_for_wake

OUTBOX = table_of(OutboxEvent)


@dataclass(frozen=True)
class Event:
    """What happened, to which aggregate, with what the subscribers need to know."""

    name: str
    tenant_id: int
    aggregate: str
    aggregate_id: int | None
    data: dict[str, Any] = field(default_factory=dict)
    recorded_at: datetime = field(default_factory=utcnow)
    id: int | None = None  # the outbox row's id (after-commit subscribers)


Handler = Callable[[Session, Event], None]
POLICIES: dict[str, list[tuple[str, Handler]]] = {}
SUBSCRIBERS: dict[str, list[tuple[str, Handler]]] = {}


def _register(table: dict[str, list[tuple[str, Handler]]], names: tuple[str, ...], fn: Handler) -> Handler:
    label = f"{fn.__module__}.{fn.__qualname__}"
    for name in names:
        entries = table.setdefault(name, [])
        if all(existing != label for existing, _ in entries):
            entries.append((label, fn))
    return fn


def policy(*names: str) -> Callable[[Handler], Handler]:
    """Run `fn(session, event)` inside the recording transaction (a failure rolls it all back)."""
    return lambda fn: _register(POLICIES, names, fn)


def subscriber(*names: str) -> Callable[[Handler], Handler]:
    """Run `fn(session, event)` after the recording transaction commits (at least once)."""
    return lambda fn: _register(SUBSCRIBERS, names, fn)


def record(
    session: Session,
    name: str,
    *,
    tenant_id: int,
    aggregate: str,
    aggregate_id: int | None = None,
    data: dict[str, Any] | None = None,
    required: bool = False,
) -> Event:
    """Record that something happened: policies run now, the outbox row is written for later.
    `required`: the event carries a rule that must hold (a departed guide signs in no more), so a
    process in which no policy for it is loaded fails here instead of skipping the rule."""
    if required and not POLICIES.get(name):
        raise RuntimeError(f"no policy loaded for {name!r}: load the domains (siyu.domains.load)")
    event = Event(name, tenant_id, aggregate, aggregate_id, data or {})
    record_many(session, [event])
    return event


def record_many(session: Session, events: list[Event]) -> None:
    """Record several events with one insert (a batch use case: callbacks, order ingest)."""
    rows = []
    for event in events:
        for _label, fn in POLICIES.get(event.name, ()):
            fn(session, event)
        if SUBSCRIBERS.get(event.name):
            rows.append(
                {
                    "tenant_id": event.tenant_id,
                    "name": event.name,
                    "aggregate": event.aggregate,
                    "aggregate_id": event.aggregate_id,
                    "data": event.data,
                    "recorded_at": event.recorded_at,
                    "attempts": 0,
                }
            )
    if rows:
        session.execute(OUTBOX.insert(), rows)
        mark_for_wake(session, "events")


__all__ = ["OUTBOX", "Event", "OutboxEvent", "policy", "record", "record_many", "subscriber"]
