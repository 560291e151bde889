"""`siyu worker` and `siyu jobs …`: run background jobs, see them, retry the failed ones."""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import threading
import time
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy import func, select

from siyu.cli.common import _engine, console, err_console
from siyu.settings import get_settings

jobs_app = typer.Typer(help="Background jobs 后台任务", no_args_is_help=True)
STATUS_ZH = {"queued": "排队", "running": "运行中", "done": "完成", "failed": "失败"}


def worker(
    processes: Annotated[int, typer.Option(min=1, max=64, help="worker processes 进程数")] = 1,
    threads: Annotated[int | None, typer.Option(min=1, max=32, help="job threads per process")] = None,
    poll: Annotated[float, typer.Option(min=0.05, max=60, help="seconds between looks 轮询间隔")] = 0.5,
    once: Annotated[bool, typer.Option(help="run what is due, then stop")] = False,
) -> None:
    """Run background jobs until stopped (production: set SIYU_WORKERS=external on the servers) 运行后台任务."""
    from siyu.jobs.runner import Runner, run_due

    settings = get_settings()
    context: dict[str, Any] = {"wecom_api_base": settings.wecom_api_base}
    if once:
        ran = run_due(_engine(), context=context)
        console.print(f"[green]✓[/green] {ran:,} jobs run 已运行")
        return
    if processes > 1:  # N processes of one each: they share the queue through row claims
        _supervise(processes, threads, poll)
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    runner = Runner(_engine(), threads=threads or settings.worker_threads, poll_s=poll, context=context)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    runner.start()
    err_console.print(f"worker started 后台任务已启动 ({runner.threads} threads, poll {poll}s)")
    last, last_ran = time.monotonic(), 0
    while not stop.wait(10.0):  # a line every 10 s, also when logged to a file
        now = time.monotonic()
        err_console.print(f"jobs run 已运行 {runner.ran:,} ({(runner.ran - last_ran) / (now - last):.1f}/s)")
        last, last_ran = now, runner.ran
    runner.stop()
    err_console.print(f"worker stopped 已停止 after {runner.ran:,} jobs")


def _supervise(processes: int, threads: int | None, poll: float) -> None:
    command = [sys.executable, "-m", "siyu.cli", "worker", "--processes", "1", "--poll", str(poll)]
    if threads:
        command += ["--threads", str(threads)]
    children = [subprocess.Popen(command) for _ in range(processes)]  # noqa: S603 - our own command line

    def forward(signum: int, _frame: Any) -> None:
        for child in children:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [child.wait() for child in children]
    if any(codes):
        raise typer.Exit(code=max(codes))


@jobs_app.command("list")
def jobs_list(
    status: Annotated[str | None, typer.Option(help="queued | running | done | failed")] = None,
    kind: Annotated[str | None, typer.Option(help="e.g. wecom.inbox")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """Jobs, newest first, and how many there are per kind and status 任务列表."""
    from siyu.db.session import unit_of_work
    from siyu.jobs import JOBS, KINDS
    from siyu.org.facade import Tenant

    with unit_of_work(_engine()) as session:
        counts = session.execute(
            select(JOBS.c.kind, JOBS.c.status, func.count()).group_by(JOBS.c.kind, JOBS.c.status)
        ).all()
        query = select(JOBS, Tenant.slug).outerjoin(Tenant, Tenant.id == JOBS.c.tenant_id)
        if status:
            query = query.where(JOBS.c.status == status)
        if kind:
            query = query.where(JOBS.c.kind == kind)
        rows = session.execute(query.order_by(JOBS.c.id.desc()).limit(limit)).all()
    summary = Table("任务 kind", "排队 queued", "运行中 running", "完成 done", "失败 failed")
    per: dict[str, dict[str, int]] = {}
    for k, s, n in counts:
        per.setdefault(k, {})[s] = n
    for k in sorted(per):
        summary.add_row(k, *(f"{per[k].get(s, 0):,}" for s in ("queued", "running", "done", "failed")))
    console.print(summary)
    table = Table(
        "id", "任务 kind", "品牌 brand", "状态 status", "运行于 run at (UTC)", "次数 tries", "错误 error"
    )
    for row in rows:
        label = KINDS[row.kind].label_zh if row.kind in KINDS else row.kind
        table.add_row(
            str(row.id),
            f"{label} ({row.kind})",
            row.slug or "—",
            f"{STATUS_ZH.get(row.status, row.status)} {row.status}",
            row.run_at.strftime("%Y-%m-%d %H:%M:%S"),
            f"{row.attempts}/{row.max_attempts}",
            (row.last_error or "")[:80],
        )
    console.print(table)


@jobs_app.command("retry")
def jobs_retry(job_id: int) -> None:
    """Queue a failed job again now 重试失败任务."""
    from siyu.db.session import unit_of_work
    from siyu.jobs import retry

    with unit_of_work(_engine()) as session:
        done = retry(session, job_id)
    if not done:
        err_console.print(f"[red]✗ 任务 {job_id} 不存在或未失败 / job {job_id} is not a failed job")
        raise typer.Exit(code=2)
    console.print(f"[green]✓[/green] job {job_id} queued again 已重新排队")
