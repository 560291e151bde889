"""The background-jobs page: HQ sees its brand's jobs in Chinese, retries a failed one; nobody else
does, and another brand's job is not found."""

from __future__ import annotations

from collections.abc import Callable

from fastapi.testclient import TestClient
from sqlalchemy import Engine, select, update

from siyu.db.session import unit_of_work
from siyu.jobs import JOBS, enqueue
from tests.console.support import as_role
from tests.factories import World


def _failed_job(engine: Engine, tenant_id: int) -> int:
    with unit_of_work(engine) as session:
        enqueue(session, "jobs.noop", tenant_id=tenant_id, payload={"page": True})
        job_id = session.scalar(
            select(JOBS.c.id).where(JOBS.c.tenant_id == tenant_id).order_by(JOBS.c.id.desc())
        )
        session.execute(
            update(JOBS)
            .where(JOBS.c.id == job_id)
            .values(
                status="failed", attempts=8, max_attempts=8, last_error="TimeoutError: WeCom did not answer"
            )
        )
    assert job_id is not None
    return job_id


def test_hq_sees_and_retries_the_brands_failed_job(
    browser: TestClient, world: World, make_world: Callable[[Engine], World]
) -> None:
    mine = _failed_job(world.engine, world.tenant_id)
    other = make_world(world.engine)
    theirs = _failed_job(world.engine, other.tenant_id)
    page = as_role(browser, world, "hq_operator").get("/settings/jobs?status=failed")
    assert page.status_code == 200
    assert "后台任务" in page.text and "空任务（基准与自检）" in page.text
    assert f'data-job="{mine}"' in page.text and f'data-job="{theirs}"' not in page.text
    assert "TimeoutError: WeCom did not answer" in page.text and "8 / 8" in page.text
    assert 'data-figure="jobs.noop:failed">1<' in page.text
    # Another brand's job: the same answer as a job that does not exist.
    assert browser.post(f"/settings/jobs/{theirs}/retry").status_code == 404
    assert browser.post("/settings/jobs/999999999/retry").status_code == 404
    answer = browser.post(f"/settings/jobs/{mine}/retry")
    assert answer.status_code == 303 and answer.headers["location"] == "/settings/jobs?status=queued"
    with world.engine.begin() as conn:
        states = dict(
            conn.execute(select(JOBS.c.id, JOBS.c.status).where(JOBS.c.id.in_([mine, theirs]))).all()
        )
    assert states[theirs] == "failed" and states[mine] in ("queued", "running", "done")
    for role in ("guide", "store_manager", "analyst"):
        assert as_role(browser, world, role).get("/settings/jobs").status_code == 403
        assert browser.post(f"/settings/jobs/{mine}/retry").status_code == 403
