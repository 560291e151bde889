"""One worker mechanism for all background work: durable jobs in the database.

A use case enqueues work in its own transaction (`enqueue`), so the work exists exactly when the
writes it follows do. Workers claim due jobs with one conditional UPDATE — `FOR UPDATE SKIP LOCKED`
on PostgreSQL, so any number of `siyu worker` processes on any number of machines share the queue
without taking the same job; SQLite serialises writers anyway — run them, and mark them done, retry
them with exponential backoff, or park them as failed after `max_attempts`. A job whose worker died
is claimed again when its lease runs out, so handlers are idempotent. Schedules (`schedule`) are jobs
that queue themselves again `every_s` after they finish.

Why not a library: the maintained queues either need a broker (Celery, Dramatiq, RQ, SAQ: Redis or
RabbitMQ) or one engine (Procrastinate and PgQueuer: PostgreSQL only; Huey: SQLite or Redis, not
PostgreSQL), and none enqueues inside the caller's SQLAlchemy transaction on both of Siyu's engines.
The mechanism is this package and `runner.py`, about 400 lines; `docs/architecture.md` says more.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from siyu.core.clock import utcnow
from siyu.db.base import table_of
from siyu.db.session import unit_of_work
from siyu.jobs.models import Job

JOBS = table_of(Job)
DEFAULT_ATTEMPTS = 8
DEFAULT_LEASE_S = 300


@dataclass(frozen=True)
class JobRun:
    """A claimed job as its handler sees it."""

    id: int
    kind: str
    tenant_id: int | None
    payload: dict[str, Any]
    attempt: int  # 1 on the first run
    context: dict[str, Any] = field(default_factory=dict)  # what the process passes (the WeCom API base…)
    every_s: int | None = None  # a schedule's interval (the runner's, for finishing the run)
    max_attempts: int = DEFAULT_ATTEMPTS


Handler = Callable[[Engine, JobRun], None]


@dataclass(frozen=True)
class Kind:
    """A registered kind of job."""

    name: str
    handler: Handler
    lease_s: int
    max_attempts: int
    label_zh: str
    label_en: str


@dataclass(frozen=True)
class Schedule:
    """A job that repeats: `every_s` seconds after each run; `every_s` may come from settings."""

    kind: str
    every_s: Callable[[], int]


KINDS: dict[str, Kind] = {}
SCHEDULES: dict[str, Schedule] = {}
# Called after a transaction that enqueued work commits, with what it queued ("jobs", "events"): the
# in-process runner wakes up at once instead of at its next poll.
_wakers: list[Callable[[set[str]], None]] = []
# Kinds a runner starts whenever a cheap read finds work for them (pending events in the outbox,
# stored WeCom callbacks not applied yet): looked at on every quiet poll and by a drain, so work
# written by another process starts within a poll, without a write every few seconds.
WATCHES: dict[str, Callable[[Engine], bool]] = {}


def watch(kind: str, has_work: Callable[[Engine], bool]) -> None:
    """Run `kind` (as an in-memory trigger) whenever `has_work(engine)` answers true."""
    WATCHES[kind] = has_work


def handler(
    name: str,
    *,
    label_zh: str,
    label_en: str,
    lease_s: int = DEFAULT_LEASE_S,
    max_attempts: int = DEFAULT_ATTEMPTS,
) -> Callable[[Handler], Handler]:
    """Register the handler of a kind of job (a domain does this in its `jobs.py`)."""

    def register(fn: Handler) -> Handler:
        KINDS[name] = Kind(name, fn, lease_s, max_attempts, label_zh, label_en)
        return fn

    return register


@handler("jobs.noop", label_zh="空任务（基准与自检）", label_en="No-op (benchmarks, self-checks)")
def noop(engine: Engine, run: JobRun) -> None:
    """Does nothing for `sleep_ms` milliseconds: the jobs benchmark and the tests measure the queue."""
    time.sleep(float(run.payload.get("sleep_ms", 0)) / 1000)


KEEP_DONE_DAYS = 7


@handler("jobs.prune", label_zh="清理已完成任务", label_en="Prune finished jobs")
def prune(engine: Engine, run: JobRun) -> None:
    """Delete jobs done more than a week ago (failed ones stay until retried or looked at)."""
    cutoff = utcnow() - dt.timedelta(days=KEEP_DONE_DAYS)
    with unit_of_work(engine) as session:
        session.execute(JOBS.delete().where(JOBS.c.status == "done", JOBS.c.finished_at < cutoff))


def schedule(kind: str, every_s: int | Callable[[], int]) -> None:
    """Run `kind` every `every_s` seconds (0 disables it), across brands."""
    SCHEDULES[kind] = Schedule(kind, every_s if callable(every_s) else (lambda: every_s))


def add_waker(waker: Callable[[set[str]], None]) -> None:
    """Called after every commit that enqueued a job or recorded an event."""
    if waker not in _wakers:
        _wakers.append(waker)


def remove_waker(waker: Callable[[set[str]], None]) -> None:
    if waker in _wakers:
        _wakers.remove(waker)


def wake_all(reasons: set[str]) -> None:
    for waker in list(_wakers):
        waker(reasons)


def mark_for_wake(session: Session, reason: str = "jobs") -> None:
    """Wake the in-process runner when this session's transaction commits."""
    session.info.setdefault("siyu_wake", set()).add(reason)


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    reasons = session.info.pop("siyu_wake", None)
    if reasons:
        wake_all(reasons)


@event.listens_for(Session, "after_soft_rollback")
def _forget_after_rollback(session: Session, _previous: Any) -> None:
    if not session.in_transaction():
        session.info.pop("siyu_wake", None)


def enqueue(
    session: Session,
    kind: str,
    *,
    tenant_id: int | None = None,
    payload: dict[str, Any] | None = None,
    key: str | None = None,
    run_at: dt.datetime | None = None,
    every_s: int | None = None,
) -> bool:
    """Queue a job in the caller's transaction; with a `key`, nothing happens when a job with that
    key is already queued (answers False). The kind must be registered (a typo fails here, not in
    the worker)."""
    if kind not in KINDS:
        raise KeyError(f"unknown job kind {kind!r}")
    now = utcnow()
    values = {
        "tenant_id": tenant_id,
        "kind": kind,
        "key": key,
        "payload": payload or {},
        "status": "queued",
        "run_at": run_at or now,
        "every_s": every_s,
        "attempts": 0,
        "max_attempts": KINDS[kind].max_attempts,
        "created_at": now,
    }
    mark_for_wake(session)
    if key is None:
        session.execute(JOBS.insert().values(**values))
        return True
    dialect = session.get_bind().dialect.name
    insert = pg_insert(JOBS) if dialect == "postgresql" else sqlite_insert(JOBS)
    statement = (
        insert.values(**values)
        .on_conflict_do_nothing(index_elements=["key"], index_where=text("status = 'queued'"))
        .returning(JOBS.c.id)
    )
    return session.execute(statement).first() is not None


def ensure_schedules(session: Session) -> int:
    """Queue every registered schedule that has no queued or running job yet; answers how many."""
    added = 0
    for item in SCHEDULES.values():
        every = item.every_s()
        key = f"schedule:{item.kind}"
        live = session.scalar(
            select(JOBS.c.id).where(JOBS.c.key == key, JOBS.c.status.in_(("queued", "running"))).limit(1)
        )
        if every > 0 and live is None:  # the first run one interval from now, like every later one
            first = utcnow() + dt.timedelta(seconds=every)
            added += enqueue(session, item.kind, key=key, every_s=every, run_at=first)
        elif every > 0:  # the interval may have changed since it was queued
            session.execute(update(JOBS).where(JOBS.c.key == key).values(every_s=every))
    return added


def retry(session: Session, job_id: int) -> bool:
    """Queue a failed job again now, attempts reset (`siyu jobs retry`, the console)."""
    try:
        with session.begin_nested():
            result = session.execute(
                update(JOBS)
                .where(JOBS.c.id == job_id, JOBS.c.status == "failed")
                .values(status="queued", run_at=utcnow(), attempts=0, finished_at=None)
            )
    except IntegrityError:  # the same work is queued already (its key is taken)
        return False
    mark_for_wake(session)
    return bool(result.rowcount)  # type: ignore[attr-defined]


schedule("jobs.prune", 3600)

__all__ = [
    "JOBS",
    "KINDS",
    "SCHEDULES",
    "WATCHES",
    "Job",
    "JobRun",
    "add_waker",
    "enqueue",
    "ensure_schedules",
    "handler",
    "mark_for_wake",
    "remove_waker",
    "retry",
    "schedule",
    "wake_all",
    "watch",
]
