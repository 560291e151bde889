"""The relay: hands pending outbox events to their subscribers, in order per aggregate.

It runs as one job (`events.relay`, a schedule every two seconds, woken at once in-process after a
commit that recorded an event); being one job, one relay runs at a time across every worker, which
is what keeps each aggregate's events in order.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from sqlalchemy import Engine, select, text, update

from siyu.core.clock import utcnow
from siyu.db.session import clear_session_tenant, read_connection, set_session_tenant, unit_of_work
from siyu.events import OUTBOX, SUBSCRIBERS, Event
from siyu.jobs import JobRun, handler, schedule, watch

log = logging.getLogger("siyu.events")
BATCH = 200
# One relay transaction holds the SQLite write lock while subscribers work (loyalty earns points for
# a batch of orders); past this many seconds it commits what it dispatched and the job goes on in a
# new transaction, so other jobs and requests get the database in between.
BUDGET_S = 2.0
# Relays wait for each other: two at once could dispatch one aggregate's events out of order.
RELAY_LOCK_SQL = "hashtext(current_schema() || ' outbox relay')"
MAX_BACKOFF_S = 600


def relay(engine: Engine, *, batch: int = BATCH, budget_s: float = BUDGET_S) -> int:
    """Dispatch up to `batch` pending events (one transaction, stopping after `budget_s` seconds of
    work); answers how many were dispatched."""
    now = utcnow()
    started = time.monotonic()
    dispatched = 0
    with unit_of_work(engine) as session:
        if session.get_bind().dialect.name == "postgresql":  # one relay at a time (SQLite: BEGIN IMMEDIATE)
            session.execute(text(f"SELECT pg_advisory_xact_lock({RELAY_LOCK_SQL})"))
        rows = session.execute(
            select(OUTBOX).where(OUTBOX.c.dispatched_at.is_(None)).order_by(OUTBOX.c.id).limit(batch)
        ).all()
        held: set[tuple[int, str, int | None]] = set()
        for row in rows:
            if dispatched and time.monotonic() - started > budget_s:
                break  # commit what is done; the job goes on in a new transaction
            aggregate = (row.tenant_id, row.aggregate, row.aggregate_id)
            if aggregate in held or (row.next_attempt_at is not None and row.next_attempt_at > now):
                held.add(aggregate)  # a later event of this aggregate waits for the earlier one
                continue
            event = Event(
                row.name,
                row.tenant_id,
                row.aggregate,
                row.aggregate_id,
                row.data or {},
                row.recorded_at,
                row.id,
            )
            try:
                with session.begin_nested():
                    set_session_tenant(session, row.tenant_id)
                    for _label, fn in SUBSCRIBERS.get(row.name, ()):
                        fn(session, event)
                    session.execute(
                        update(OUTBOX).where(OUTBOX.c.id == row.id).values(dispatched_at=utcnow())
                    )
                dispatched += 1
                clear_session_tenant(session)
            except Exception as exc:  # this aggregate waits and retries; the others go on
                clear_session_tenant(session)
                log.warning("dispatching event %s (%s) failed: %s", row.id, row.name, exc)
                held.add(aggregate)
                attempts = row.attempts + 1
                session.execute(
                    update(OUTBOX)
                    .where(OUTBOX.c.id == row.id)
                    .values(
                        attempts=attempts,
                        last_error=str(exc)[:1000],
                        next_attempt_at=now + timedelta(seconds=min(MAX_BACKOFF_S, 2**attempts)),
                    )
                )
    return dispatched


@handler("events.relay", label_zh="分发领域事件", label_en="Dispatch domain events", lease_s=120)
def relay_job(engine: Engine, run: JobRun) -> None:
    """Dispatch until the outbox has nothing ready (bounded, so other jobs get their turn)."""
    for _ in range(50):
        if relay(engine) == 0 or not pending(engine):
            return


def pending(engine: Engine) -> bool:
    """Whether any event is ready to dispatch (a drain waits for the outbox too)."""
    now = utcnow()
    with read_connection(engine) as connection, connection.begin():
        row = connection.execute(
            select(OUTBOX.c.id)
            .where(
                OUTBOX.c.dispatched_at.is_(None),
                (OUTBOX.c.next_attempt_at.is_(None)) | (OUTBOX.c.next_attempt_at <= now),
            )
            .limit(1)
        ).first()
    return row is not None


KEEP_DISPATCHED_DAYS = 7


@handler("events.prune", label_zh="清理已分发事件", label_en="Prune dispatched events")
def prune(engine: Engine, run: JobRun) -> None:
    """Delete events dispatched more than a week ago (pending ones always stay)."""
    cutoff = utcnow() - timedelta(days=KEEP_DISPATCHED_DAYS)
    with unit_of_work(engine) as session:
        session.execute(
            OUTBOX.delete().where(OUTBOX.c.dispatched_at.is_not(None), OUTBOX.c.dispatched_at < cutoff)
        )


# A commit in this process triggers the relay at once; other processes' events are seen by the
# watch on every quiet poll; the schedule is the safety net.
watch("events.relay", pending)
schedule("events.relay", 60)
schedule("events.prune", 3600)
