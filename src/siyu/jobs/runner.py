"""Claiming and running jobs: the in-process runner of the embedded default and `siyu worker`.

A runner is a few threads that claim due jobs, run their handlers and record the outcome. In the
embedded default the server starts one (`SIYU_WORKERS=in-process`), woken at once after a commit that
queued work; in production `siyu worker --processes N` runs N of them as separate processes (the
server then runs none), each polling every `poll_s` as well, and they share the queue safely.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine, and_, or_, select, update

from siyu.core.clock import utcnow
from siyu.db.session import read_connection, unit_of_work
from siyu.jobs import DEFAULT_LEASE_S, JOBS, KINDS, WATCHES, JobRun, add_waker, ensure_schedules, remove_waker

log = logging.getLogger("siyu.jobs")
MAX_BACKOFF_S = 600
# Jobs a worker claims in one transaction (each is finished in a transaction of its own): fewer
# commits per job, and small enough that a worker never sits on much of the queue.
CLAIM_BATCH = 10


def backoff_s(attempt: int) -> int:
    """Seconds before try `attempt + 1`: 2, 4, 8 … capped at ten minutes."""
    return int(min(MAX_BACKOFF_S, 2**attempt))


def worker_name() -> str:
    """Who holds a claim: host, process and thread (shown by `siyu jobs list`)."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident() % 100000}"


def claim(engine: Engine, *, worker: str, limit: int = 1, kinds: set[str] | None = None) -> list[JobRun]:
    """Take up to `limit` due jobs (queued and due, or running with a lapsed lease)."""
    now = utcnow()
    # Two looks, each on the (status, run_at) index: due queued jobs oldest first, then jobs whose
    # worker died (running, lease lapsed) — one OR would make the planner scan the table.
    queued = and_(JOBS.c.status == "queued", JOBS.c.run_at <= now)
    lapsed = and_(JOBS.c.status == "running", JOBS.c.locked_until < now)
    due = or_(queued, lapsed)

    def wanted(condition: Any) -> Any:
        query = select(JOBS.c.id).where(condition)
        if kinds is not None:
            query = query.where(JOBS.c.kind.in_(sorted(kinds)))
        return query.order_by(JOBS.c.run_at, JOBS.c.id).limit(limit)

    # Look first without taking SQLite's write lock: most looks find nothing, and the server's
    # requests must not queue behind an idle worker.
    with read_connection(engine) as connection, connection.begin():
        found = [c for c in (queued, lapsed) if connection.execute(wanted(c)).first() is not None]
    if not found:
        return []
    with unit_of_work(engine) as session:
        ids: list[int] = []
        for condition in found:
            query = wanted(condition)
            if session.get_bind().dialect.name == "postgresql":
                query = query.with_for_update(skip_locked=True)
            ids = list(session.scalars(query))
            if ids:
                break
        if not ids:
            return []
        rows = session.execute(
            update(JOBS)
            .where(JOBS.c.id.in_(ids), due)
            .values(status="running", locked_by=worker, attempts=JOBS.c.attempts + 1, locked_until=now)
            .returning(
                JOBS.c.id,
                JOBS.c.kind,
                JOBS.c.tenant_id,
                JOBS.c.payload,
                JOBS.c.attempts,
                JOBS.c.every_s,
                JOBS.c.max_attempts,
            )
        ).all()
        runs = [
            JobRun(r.id, r.kind, r.tenant_id, r.payload or {}, r.attempts, {}, r.every_s, r.max_attempts)
            for r in rows
        ]
        by_lease: dict[int, list[int]] = {}  # each kind's own lease: one UPDATE per lease length
        for run in runs:
            lease = KINDS[run.kind].lease_s if run.kind in KINDS else DEFAULT_LEASE_S
            by_lease.setdefault(lease, []).append(run.id)
        for lease, job_ids in by_lease.items():
            session.execute(
                update(JOBS).where(JOBS.c.id.in_(job_ids)).values(locked_until=now + timedelta(seconds=lease))
            )
    return runs


def finish(engine: Engine, run: JobRun, *, worker: str, error: BaseException | None) -> str:
    """Record how a run went; answers the job's new status. Only the claim's holder writes."""
    now = utcnow()
    values: dict[str, Any] = {"locked_until": None}  # locked_by stays: who ran it last
    if error is None and run.every_s:
        values |= {"status": "queued", "run_at": now + timedelta(seconds=run.every_s), "attempts": 0}
        values |= {"finished_at": now, "last_error": None}
    elif error is None:
        values |= {"status": "done", "finished_at": now, "last_error": None}
    else:
        text = "".join(traceback.format_exception_only(type(error), error)).strip()[:1000]
        values["last_error"] = text
        if run.every_s or run.attempt < run.max_attempts:
            values |= {"status": "queued", "run_at": now + timedelta(seconds=backoff_s(run.attempt))}
        else:
            values |= {"status": "failed", "finished_at": now}
    with unit_of_work(engine) as session:
        # One conditional UPDATE: a claim whose lease lapsed and was taken over writes nothing.
        mine = and_(JOBS.c.id == run.id, JOBS.c.locked_by == worker, JOBS.c.status == "running")
        written = session.execute(update(JOBS).where(mine).values(**values)).rowcount  # type: ignore[attr-defined]
    return str(values["status"]) if written else "lost"


def run_one(engine: Engine, run: JobRun, *, worker: str, context: dict[str, Any]) -> str:
    """Run a claimed job's handler and record the outcome."""
    kind = KINDS.get(run.kind)
    error: BaseException | None = None
    try:
        if kind is None:
            raise LookupError(f"no handler for job kind {run.kind!r} in this process")
        kind.handler(
            engine,
            JobRun(
                run.id,
                run.kind,
                run.tenant_id,
                run.payload,
                run.attempt,
                context,
                run.every_s,
                run.max_attempts,
            ),
        )
    except Exception as exc:  # a job's failure is recorded and retried; the worker goes on
        log.warning("job %s (%s) failed on attempt %s: %s", run.id, run.kind, run.attempt, exc)
        error = exc
    return finish(engine, run, worker=worker, error=error)


def run_due(
    engine: Engine,
    *,
    context: dict[str, Any] | None = None,
    limit: int | None = None,
    worker: str | None = None,
) -> int:
    """Run due jobs in this thread until none is due (or `limit` ran); answers how many ran.
    `siyu jobs run`, the tests and the benchmarks drive the queue with it."""
    worker = worker or worker_name()
    ran = 0
    while limit is None or ran < limit:
        runs = claim(
            engine, worker=worker, limit=CLAIM_BATCH if limit is None else min(CLAIM_BATCH, limit - ran)
        )
        if not runs:
            return ran
        for run in runs:
            run_one(engine, run, worker=worker, context=context or {})
            ran += 1
    return ran


@dataclass
class Runner:
    """Threads that run jobs while the process lives (the server's lifespan, or `siyu worker`)."""

    engine: Engine
    threads: int = 2
    poll_s: float = 1.0
    context: dict[str, Any] = field(default_factory=dict)
    batch: int = CLAIM_BATCH  # jobs claimed at a time (the server claims one: latency before throughput)

    def __post_init__(self) -> None:
        self._wake = threading.Condition()
        self._pending_wakes = 0
        self._stopping = threading.Event()
        self._workers: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._users = 0
        self._busy = 0
        self.ran = 0
        self._claim_now = False  # a commit queued work: claim at once instead of at the next poll
        # kind -> (first trigger, due, brands): in-memory nudges, see trigger()
        self._triggers: dict[str, tuple[float, float, set[int]]] = {}

    def start(self) -> None:
        """Queue the schedules and start the threads (once, however many lifespans share it)."""
        with self._lock:
            self._users += 1
            if self._workers:
                return
            with unit_of_work(self.engine) as session:
                ensure_schedules(session)
            self._stopping.clear()
            add_waker(self._on_commit)
            for i in range(self.threads):
                thread = threading.Thread(target=self._loop, name=f"siyu-jobs-{i}", daemon=True)
                thread.start()
                self._workers.append(thread)

    def stop(self, timeout_s: float = 10.0) -> None:
        """When the last user stops: finish the running jobs, then end the threads."""
        with self._lock:
            self._users -= 1
            if self._users > 0 or not self._workers:
                return
            workers, self._workers = self._workers, []
        remove_waker(self._on_commit)
        self._stopping.set()
        self.wake()
        for thread in workers:
            thread.join(timeout=timeout_s)

    @property
    def running(self) -> bool:
        return bool(self._workers)

    def _on_commit(self, reasons: set[str]) -> None:
        if "events" in reasons and "events.relay" in KINDS:  # dispatch now, not at the next schedule
            self.trigger("events.relay", quiet_s=0.0, max_wait_s=0.0)
        self.wake()

    def wake(self) -> None:
        """Something was queued: look now instead of at the next poll."""
        with self._wake:
            self._pending_wakes += 1
            self._claim_now = True
            self._wake.notify_all()

    def trigger(
        self, kind: str, *, tenant_id: int | None = None, quiet_s: float = 0.02, max_wait_s: float = 1.0
    ) -> None:
        """Run `kind` soon in this process, without a job row: for hot paths whose own table is the
        durable queue (stored WeCom callbacks), with a schedule of the same kind as the catch-up. A
        burst of triggers is gathered: the run starts once no trigger came for `quiet_s`, but never
        later than `max_wait_s` after the first. Without threads (a server without workers), the
        handler runs here and now."""
        if not self._workers:
            run_now = JobRun(0, kind, None, {"tenants": [tenant_id]} if tenant_id else {}, 1, self.context)
            KINDS[kind].handler(self.engine, run_now)
            return
        now = time.monotonic()
        with self._wake:
            known = kind in self._triggers
            first, _due, tenants = self._triggers.get(kind, (now, now, set()))
            if tenant_id is not None:
                tenants.add(tenant_id)
            self._triggers[kind] = (first, min(now + quiet_s, first + max_wait_s), tenants)
            if not known:  # a burst's later triggers only move the due time on: nobody to wake
                self._wake.notify()

    def _due_trigger(self) -> tuple[str, set[int]] | float | None:
        """A trigger that is due (taken), or seconds until the next one, or None."""
        now = time.monotonic()
        with self._wake:
            if not self._triggers:
                return None
            kind, (_first, due, tenants) = min(self._triggers.items(), key=lambda item: item[1][1])
            if due > now:
                return due - now
            del self._triggers[kind]
            return kind, tenants

    def drain(self, timeout_s: float = 30.0) -> None:
        """Wait until no job is due and none is running here (tests, benchmarks, demo sessions).
        Without threads, run the due jobs in this thread."""
        if not self._workers:
            while True:
                watched = self._watched()
                for kind in watched:
                    KINDS[kind].handler(self.engine, JobRun(0, kind, None, {}, 1, self.context))
                if run_due(self.engine, context=self.context) + len(watched) == 0:
                    return
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            self.wake()
            time.sleep(0.02)
            with self._wake:
                idle = self._busy == 0
            if idle and not self._triggers and not self._has_due():
                watched = self._watched()
                for kind in watched:
                    self.trigger(kind, quiet_s=0.0, max_wait_s=0.0)
                if watched:
                    continue
                with self._wake:
                    if self._busy == 0:
                        return
        raise TimeoutError("jobs still running after the drain timeout")

    def _watched(self) -> list[str]:
        """The watched kinds that have work now (see jobs.watch)."""
        found = []
        for kind, has_work in WATCHES.items():
            try:
                if kind in KINDS and has_work(self.engine):
                    found.append(kind)
            except Exception:  # the database went away for a moment: the next look will tell
                log.exception("looking for %s work failed", kind)
        return found

    def _has_due(self) -> bool:
        now = utcnow()
        with unit_of_work(self.engine) as session:
            return (
                session.scalar(
                    select(JOBS.c.id).where(JOBS.c.status == "queued", JOBS.c.run_at <= now).limit(1)
                )
                is not None
            )

    def _run_trigger(self, kind: str, tenants: set[int]) -> None:
        payload: dict[str, Any] = {"tenants": sorted(tenants)} if tenants else {}
        try:
            KINDS[kind].handler(self.engine, JobRun(0, kind, None, payload, 1, self.context))
        except Exception:  # the schedule of the same kind catches up
            log.exception("triggered %s failed", kind)

    def _loop(self) -> None:
        worker = worker_name()
        last_claim = 0.0
        ran_last = False  # a job ran: look for the next one at once
        while not self._stopping.is_set():
            with self._wake:
                self._busy += 1
            wait: float = self.poll_s
            runs: list[JobRun] = []
            try:
                due = self._due_trigger()
                if isinstance(due, tuple):
                    self._run_trigger(*due)
                    continue
                if due is not None:
                    wait = min(wait, due)
                with self._wake:
                    look, self._claim_now = self._claim_now, False
                # Claim when a commit queued work or a poll interval passed — not on every wake-up
                # of a burst of triggers (a WeCom burst wakes the thread once per callback).
                if look or ran_last or time.monotonic() - last_claim >= self.poll_s:
                    last_claim = time.monotonic()
                    runs = claim(self.engine, worker=worker, limit=self.batch)
                ran_last = bool(runs)
                for run in runs:
                    run_one(self.engine, run, worker=worker, context=self.context)
                    self.ran += 1
            except Exception:  # the database went away for a moment: log, wait, go on
                log.exception("claiming jobs failed")
            finally:
                with self._wake:
                    self._busy -= 1
            if runs:
                continue
            with self._wake:
                woken = self._pending_wakes > 0 or self._stopping.is_set()
                if not woken:
                    woken = self._wake.wait(timeout=wait)
                self._pending_wakes = 0
            # A quiet poll: work another process wrote (events, callbacks) — at most one look per
            # poll, so events held back by a failing one never spin the loop.
            if not woken and wait == self.poll_s:
                for kind in self._watched():
                    self.trigger(kind, quiet_s=0.0, max_wait_s=0.0)
