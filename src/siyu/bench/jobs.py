"""`siyu bench jobs`: how many jobs per second the worker mechanism runs with 1 and with 4 worker
processes on one database, and the lag from a commit that records an event to its dispatch.

Throughput: `jobs` no-op jobs are queued, then `siyu worker --once` processes drain them (each job is
claimed, run and marked done in transactions of its own, as real jobs are); jobs per second are
counted from the first job done to the last, as the database recorded them. On PostgreSQL the
processes claim with `FOR UPDATE SKIP LOCKED`; on SQLite they take turns at the write lock, so more
processes add little there — the figure says so.

Lag: events recorded one at a time while a runner is running; the lag is the outbox row's
`dispatched_at - recorded_at`, measured in the database. "in-process" is the embedded default (the
commit wakes the runner); "external" is a separate `siyu worker` process that polls every 0.5 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from typing import Any

from sqlalchemy import func, select

from siyu import events
from siyu.bench.common import percentile
from siyu.core.clock import utcnow
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, unit_of_work
from siyu.events import OUTBOX
from siyu.jobs import JOBS
from siyu.jobs.runner import Runner
from siyu.org.models import Tenant
from siyu.settings import normalise_database_url

EVENT = "bench.pinged"


@events.subscriber(EVENT)
def _pinged(session: Any, event: events.Event) -> None:
    """The benchmark's subscriber: nothing to do but be dispatched."""


def _queue(engine: Any, count: int) -> None:
    with unit_of_work(engine) as session:
        session.execute(
            JOBS.insert(),
            [
                {
                    "kind": "jobs.noop",
                    "payload": {},
                    "status": "queued",
                    "run_at": utcnow(),
                    "attempts": 0,
                    "max_attempts": 3,
                    "created_at": utcnow(),
                }
                for _ in range(count)
            ],
        )


def _drain_with(url: str, processes: int, count: int, engine: Any) -> float:
    _queue(engine, count)
    env = {**os.environ, "SIYU_DATABASE_URL": url}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "siyu.cli", "worker", "--once"], env=env, stdout=subprocess.DEVNULL
        )
        for _ in range(processes)
    ]
    for worker in workers:
        worker.wait(timeout=3600)
    with unit_of_work(engine) as session:
        left = session.scalar(select(JOBS.c.id).where(JOBS.c.status != "done").limit(1))
        first, last = session.execute(
            select(func.min(JOBS.c.finished_at), func.max(JOBS.c.finished_at))
        ).one()
        session.execute(JOBS.delete())
    if left is not None:
        raise RuntimeError("jobs left undone")
    # From the first job done to the last, as the database saw it (process start-up excluded).
    return float((count - 1) / max((last - first).total_seconds(), 1e-6))


def _lags(engine: Any, tenant_id: int, samples: int) -> list[float]:
    ids = []
    for _ in range(samples):
        with unit_of_work(engine, tenant_id=tenant_id) as session:
            events.record(session, EVENT, tenant_id=tenant_id, aggregate="bench")
        time.sleep(0.02)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with unit_of_work(engine) as session:
            rows = session.execute(
                select(OUTBOX.c.recorded_at, OUTBOX.c.dispatched_at).where(OUTBOX.c.name == EVENT)
            ).all()
        if rows and all(d is not None for _, d in rows):
            ids = [(d - r).total_seconds() * 1000 for r, d in rows]
            break
        time.sleep(0.1)
    with unit_of_work(engine) as session:
        session.execute(OUTBOX.delete().where(OUTBOX.c.name == EVENT))
    if not ids:
        raise RuntimeError("events not dispatched within a minute")
    return ids


def _summary(values: list[float]) -> dict[str, float]:
    return {"p50": round(percentile(values, 50), 1), "p95": round(percentile(values, 95), 1)}


def run(database_url: str, *, jobs_count: int = 5000, samples: int = 50) -> dict[str, Any]:
    url = normalise_database_url(database_url)
    engine = make_engine(url)
    upgrade(engine)
    one = _drain_with(url, 1, jobs_count, engine)
    four = _drain_with(url, 4, jobs_count, engine)
    with unit_of_work(engine) as session:
        tenant = Tenant(slug=f"jb-{uuid.uuid4().hex[:8]}", name="bench", timezone="Asia/Shanghai")
        session.add(tenant)
        session.flush()
        tenant_id = tenant.id
    runner = Runner(engine, threads=2)
    runner.start()
    try:
        in_process = _lags(engine, tenant_id, samples)
    finally:
        runner.stop()
    env = {**os.environ, "SIYU_DATABASE_URL": url}
    worker = subprocess.Popen(
        [sys.executable, "-m", "siyu.cli", "worker", "--poll", "0.5", "--threads", "1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(2)  # started and polling
        external = _lags(engine, tenant_id, samples)
    finally:
        worker.terminate()
        worker.wait(timeout=60)
    return {
        "benchmark": "jobs",
        "engine": engine.dialect.name,
        "workload": {"jobs": jobs_count, "lag_samples": samples, "job": "jobs.noop (claim, run, mark done)"},
        "jobs_per_s_4_processes": round(four, 1),
        "peer_jobs_per_s_1_process": round(one, 1),
        "ratio_vs_peer": round(four / one, 2),
        "commit_to_dispatch_ms": {
            "in_process": _summary(in_process),
            "external_worker_poll_0_5s": _summary(external),
        },
    }
