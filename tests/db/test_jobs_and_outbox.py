"""The worker mechanism and the outbox, on both engines, each on a database of its own (the shared
test database has a server's job threads running against it)."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text, update
from sqlalchemy.engine import make_url

from siyu import events, jobs
from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, unit_of_work
from siyu.events.relay import relay
from siyu.jobs import JOBS, enqueue, ensure_schedules, retry
from siyu.jobs.runner import Runner, claim, run_due
from siyu.org.models import Tenant

SRC = Path(__file__).resolve().parents[2] / "src"
CALLS: list[tuple[str, int | None, int]] = []
FAIL_ONCE: set[int] = set()


@events.subscriber("test.thing_happened")
def _remember(session: Any, event: events.Event) -> None:
    """A subscriber with a database effect (a job) and a memory of the order it was called in."""
    assert event.id is not None
    if event.data.get("n") in FAIL_ONCE:
        FAIL_ONCE.discard(event.data["n"])
        jobs.enqueue(session, "jobs.noop", payload={"from_failed_attempt": event.data["n"]})
        raise RuntimeError("subscriber failed this time")
    CALLS.append((event.aggregate, event.aggregate_id, event.data["n"]))
    jobs.enqueue(session, "jobs.noop", payload={"from_event": event.id})


@jobs.handler("test.flaky", label_zh="测试", label_en="test", max_attempts=3)
def _flaky(engine: Engine, run: jobs.JobRun) -> None:
    raise ValueError(f"flaky {run.attempt}")


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    """A migrated database of its own: a SQLite file, or a PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    else:
        request.getfixturevalue("pg_engine")  # skips (or fails in CI) without PostgreSQL
        base = os.environ["SIYU_TEST_POSTGRES_URL"]
        schema = f"jobs_{uuid.uuid4().hex[:10]}"
        admin = make_engine(base)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE SCHEMA {schema}"))
        url = str(
            make_url(base.replace("postgresql://", "postgresql+psycopg://", 1)).update_query_dict(
                {"options": f"-csearch_path={schema}"}
            )
        )
    engine = make_engine(url)
    upgrade(engine)
    CALLS.clear()
    FAIL_ONCE.clear()
    yield engine
    engine.dispose()
    if request.param == "postgresql":
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def _tenant(engine: Engine) -> int:
    with unit_of_work(engine) as session:
        tenant = Tenant(
            slug=f"t{uuid.uuid4().hex[:8]}", name="T", timezone="Asia/Shanghai", created_at=datetime.now(UTC)
        )
        session.add(tenant)
        session.flush()
        return tenant.id


def _record(engine: Engine, tenant_id: int, n: int, aggregate_id: int) -> None:
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        events.record(
            session,
            "test.thing_happened",
            tenant_id=tenant_id,
            aggregate="thing",
            aggregate_id=aggregate_id,
            data={"n": n},
        )


def _jobs(engine: Engine, **where: Any) -> list[Any]:
    with engine.begin() as conn:
        query = select(JOBS).order_by(JOBS.c.id)
        for column, value in where.items():
            query = query.where(JOBS.c[column] == value)
        return list(conn.execute(query))


def test_an_event_exists_exactly_when_its_use_case_committed(fresh: Engine) -> None:
    tenant_id = _tenant(fresh)
    _record(fresh, tenant_id, 1, 7)
    with pytest.raises(RuntimeError), unit_of_work(fresh, tenant_id=tenant_id) as session:
        events.record(
            session,
            "test.thing_happened",
            tenant_id=tenant_id,
            aggregate="thing",
            aggregate_id=7,
            data={"n": 2},
        )
        raise RuntimeError("the use case failed after recording")
    with fresh.begin() as conn:
        rows = conn.execute(select(events.OUTBOX.c.data, events.OUTBOX.c.dispatched_at)).all()
    assert rows == [({"n": 1}, None)]
    # An event nobody hears after commit writes no row.
    with unit_of_work(fresh, tenant_id=tenant_id) as session:
        events.record(session, "test.nobody_listens", tenant_id=tenant_id, aggregate="thing")
    with fresh.begin() as conn:
        assert conn.scalar(select(func.count()).select_from(events.OUTBOX)) == 1


def test_the_relay_keeps_each_aggregates_order_and_retries_what_failed(fresh: Engine) -> None:
    tenant_id = _tenant(fresh)
    FAIL_ONCE.add(1)
    for n, aggregate_id in [(1, 10), (2, 10), (3, 20), (4, 10)]:
        _record(fresh, tenant_id, n, aggregate_id)
    assert relay(fresh) == 1  # 1 failed, so 2 and 4 (same aggregate) wait; 3 goes
    assert CALLS == [("thing", 20, 3)]
    # The failed attempt's database work was undone with it: one job, from event 3.
    assert [j.payload for j in _jobs(fresh, kind="jobs.noop")] == [{"from_event": 3}]
    assert relay(fresh) == 0  # backing off: nothing of aggregate 10 moves yet
    with fresh.begin() as conn:
        conn.execute(update(events.OUTBOX).values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1)))
    assert relay(fresh) == 3
    assert CALLS == [("thing", 20, 3), ("thing", 10, 1), ("thing", 10, 2), ("thing", 10, 4)]
    assert relay(fresh) == 0  # dispatched once: nothing runs twice
    assert len(_jobs(fresh, kind="jobs.noop")) == 4


def test_an_event_committed_before_a_crash_is_dispatched_after_the_restart(fresh: Engine) -> None:
    tenant_id = _tenant(fresh)
    # A process that records an event, commits, and dies before anything dispatches it.
    script = (
        "import os, sys\n"
        "from siyu import domains, events\n"
        "from siyu.db.session import make_engine, unit_of_work\n"
        "domains.load()\n"
        "engine = make_engine(sys.argv[1])\n"
        "with unit_of_work(engine, tenant_id=int(sys.argv[2])) as s:\n"
        "    events.record(s, 'orders.ingested', tenant_id=int(sys.argv[2]), aggregate='orders', data={'order_ids': [1]})\n"
        "os._exit(9)\n"
    )
    url = fresh.url.render_as_string(hide_password=False)
    done = subprocess.run(
        [sys.executable, "-c", script, url, str(tenant_id)],
        env={**os.environ, "PYTHONPATH": str(SRC)},
        check=False,
    )
    assert done.returncode == 9
    # The restart: a runner drains what the outbox holds — the subscriber queues the brand's refresh.
    Runner(fresh).drain()
    assert [(j.kind, j.tenant_id, j.status) for j in _jobs(fresh, key=f"segments.refresh:{tenant_id}")] == [
        ("segments.refresh_tenant", tenant_id, "queued")
    ]
    with fresh.begin() as conn:
        assert conn.scalar(select(func.count()).where(events.OUTBOX.c.dispatched_at.is_(None))) == 0


def test_a_failing_job_backs_off_then_fails_and_can_be_retried(fresh: Engine) -> None:
    with unit_of_work(fresh) as session:
        enqueue(session, "test.flaky")
    started = datetime.now(UTC)
    assert run_due(fresh) == 1
    (job,) = _jobs(fresh, kind="test.flaky")
    assert (job.status, job.attempts, job.last_error) == ("queued", 1, "ValueError: flaky 1")
    assert timedelta(seconds=1) < job.run_at - started < timedelta(seconds=4)  # 2 s after the first try
    assert run_due(fresh) == 0  # not due yet
    for attempt in (2, 3):
        with fresh.begin() as conn:
            conn.execute(update(JOBS).values(run_at=datetime.now(UTC)))
        assert run_due(fresh) == 1
        assert _jobs(fresh, kind="test.flaky")[0].attempts == attempt
    (job,) = _jobs(fresh, kind="test.flaky")
    assert (job.status, job.attempts, job.last_error) == ("failed", 3, "ValueError: flaky 3")
    with unit_of_work(fresh) as session:
        assert retry(session, job.id) is True
        assert retry(session, job.id) is False  # queued now, not failed
    (job,) = _jobs(fresh, kind="test.flaky")
    assert (job.status, job.attempts) == ("queued", 0)


def test_a_claim_whose_worker_died_is_taken_again_and_the_dead_one_cannot_finish_it(fresh: Engine) -> None:
    from siyu.jobs.runner import finish

    with unit_of_work(fresh) as session:
        enqueue(session, "jobs.noop")
    (first,) = claim(fresh, worker="dead")
    assert claim(fresh, worker="other") == []  # leased
    with fresh.begin() as conn:
        conn.execute(update(JOBS).values(locked_until=datetime.now(UTC) - timedelta(seconds=1)))
    (again,) = claim(fresh, worker="alive")
    assert (again.id, again.attempt) == (first.id, 2)
    assert finish(fresh, first, worker="dead", error=None) == "lost"
    assert finish(fresh, again, worker="alive", error=None) == "done"
    (job,) = _jobs(fresh)
    assert (job.status, job.locked_by) == ("done", "alive")


def test_a_keyed_job_is_queued_once_and_a_schedule_queues_itself_again(fresh: Engine) -> None:
    tenant_id = _tenant(fresh)
    with unit_of_work(fresh) as session:
        assert enqueue(session, "jobs.noop", tenant_id=tenant_id, key="k") is True
        assert enqueue(session, "jobs.noop", tenant_id=tenant_id, key="k") is False
    assert len(_jobs(fresh, key="k")) == 1
    assert run_due(fresh) == 1
    with unit_of_work(fresh) as session:  # done: the key is free again
        assert enqueue(session, "jobs.noop", tenant_id=tenant_id, key="k") is True
    jobs.schedule("jobs.noop", 60)
    try:
        with unit_of_work(fresh) as session:
            assert ensure_schedules(session) >= 1
            assert ensure_schedules(session) == 0  # already queued
        (scheduled,) = _jobs(fresh, key="schedule:jobs.noop")
        assert scheduled.every_s == 60 and scheduled.run_at > datetime.now(UTC) + timedelta(seconds=50)
        with fresh.begin() as conn:
            conn.execute(update(JOBS).where(JOBS.c.id == scheduled.id).values(run_at=datetime.now(UTC)))
        run_due(fresh)
        (scheduled,) = _jobs(fresh, key="schedule:jobs.noop")
        assert scheduled.status == "queued" and scheduled.run_at > datetime.now(UTC) + timedelta(seconds=50)
    finally:
        del jobs.SCHEDULES["jobs.noop"]


def test_four_worker_processes_share_the_queue_and_never_run_a_job_twice(fresh: Engine) -> None:
    with unit_of_work(fresh) as session:
        for _ in range(120):
            enqueue(session, "jobs.noop", payload={"sleep_ms": 5})
    url = fresh.url.render_as_string(hide_password=False)
    env = {**os.environ, "PYTHONPATH": str(SRC), "SIYU_DATABASE_URL": url}
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "siyu.cli", "worker", "--once"], env=env, stdout=subprocess.DEVNULL
        )
        for _ in range(4)
    ]
    assert [w.wait(timeout=120) for w in workers] == [0, 0, 0, 0]
    rows = _jobs(fresh, kind="jobs.noop")
    assert {(r.status, r.attempts) for r in rows} == {("done", 1)}  # each claimed exactly once
    processes = {r.locked_by.split(":")[1] for r in rows}
    assert len(rows) == 120 and len(processes) >= 2  # the work was shared


def test_finished_jobs_and_dispatched_events_are_pruned_after_a_week(fresh: Engine) -> None:
    from siyu.events.relay import prune as prune_events
    from siyu.jobs import prune as prune_jobs

    tenant_id = _tenant(fresh)
    with unit_of_work(fresh) as session:
        for _ in range(3):
            enqueue(session, "jobs.noop")
        enqueue(session, "test.flaky")
    run_due(fresh)
    _record(fresh, tenant_id, 1, 1)
    _record(fresh, tenant_id, 2, 2)
    relay(fresh)
    _record(fresh, tenant_id, 3, 3)  # still pending
    old = datetime.now(UTC) - timedelta(days=8)
    with fresh.begin() as conn:
        conn.execute(update(JOBS).where(JOBS.c.status == "done").values(finished_at=old))
        conn.execute(
            update(events.OUTBOX).where(events.OUTBOX.c.dispatched_at.is_not(None)).values(dispatched_at=old)
        )
    noop_run = jobs.JobRun(0, "jobs.prune", None, {}, 1)
    prune_jobs(fresh, noop_run)
    prune_events(fresh, noop_run)
    # The three done a week ago are gone; the two the subscriber queued and the retrying one stay.
    assert sorted((j.kind, j.status) for j in _jobs(fresh)) == [
        ("jobs.noop", "queued"),
        ("jobs.noop", "queued"),
        ("test.flaky", "queued"),
    ]
    with fresh.begin() as conn:
        left = conn.execute(select(events.OUTBOX.c.data, events.OUTBOX.c.dispatched_at)).all()
    assert left == [({"n": 3}, None)]
