"""`siyu …` — the command line (typer + rich). Every command honours SIYU_DATABASE_URL.

One module per command group; this one holds the app, `migrate`, `serve` and `demo`.
"""

from __future__ import annotations

from typing import Annotated

import typer

from siyu.cli.admin import apikey_app, tenant_app, user_app
from siyu.cli.bench import bench_app
from siyu.cli.common import (
    StageProgress,
    _engine,
    console,
)
from siyu.cli.data import export_app, import_app, tags_app
from siyu.cli.jobs import jobs_app, worker
from siyu.cli.ledger import ledger_app
from siyu.cli.reports import report_app
from siyu.cli.wecom import wecom_app
from siyu.settings import get_settings

app = typer.Typer(
    help="Siyu 私域 — private-domain customer operations.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _load_domains() -> None:
    """Every command runs with every domain's registrations in place (see siyu.domains)."""
    from siyu import domains

    domains.load()


app.add_typer(tenant_app, name="brand")
app.add_typer(tenant_app, name="tenant", hidden=True)  # the earlier name of `siyu brand`
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(bench_app, name="bench")
app.add_typer(tags_app, name="tags")
app.add_typer(report_app, name="report")
app.add_typer(wecom_app, name="wecom")
app.add_typer(jobs_app, name="jobs")
app.add_typer(ledger_app, name="ledger")
app.command()(worker)


@app.command()
def migrate(revision: str = "head") -> None:
    """Apply database migrations 升级数据库结构."""
    from siyu.db.migrate import upgrade

    upgrade(_engine(), revision)
    console.print(f"[green]✓[/green] database at {revision} ({_engine().dialect.name})")


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    banner: Annotated[bool, typer.Option(help="print the demo sign-in")] = False,
) -> None:
    """Run the HTTP server 启动服务."""
    import uvicorn

    from siyu.app import create_app
    from siyu.demo.builder import DEMO_PASSWORD, DEMO_SLUG

    if banner:
        console.rule("[bold]Siyu 私域")
        console.print(f"  Console 控制台    http://{host}:{port}/")
        console.print(f"  API docs 接口文档  http://{host}:{port}/docs")
        console.print(
            f"  Demo sign-in 演示登录  tenant [bold]{DEMO_SLUG}[/bold]  user [bold]owner[/bold]  "
            f"password [bold]{DEMO_PASSWORD}[/bold]"
        )
        console.print(
            f'  (POST /api/v1/auth/sign-in with {{"tenant": "{DEMO_SLUG}", "username": "owner", '
            f'"password": "{DEMO_PASSWORD}"}})'
        )
        console.rule()
    import logging

    logging.basicConfig(level=logging.INFO, format="%(message)s")  # siyu.request: one JSON line each
    uvicorn.run(create_app(), host=host, port=port, log_level="info", access_log=False)


@app.command()
def demo(
    stores: int = typer.Option(30, min=1, max=2000),
    customers: int = typer.Option(50_000, min=0, max=5_000_000),
    guides_per_store: int = typer.Option(5, min=0, max=50),
    seed: int = 20260101,
    order_days: int = typer.Option(365, min=0, max=1100, help="days of order history 订单天数"),
    orders_per_store_day: float = typer.Option(9.0, min=0, max=500),
    if_empty: Annotated[
        bool, typer.Option(help="do nothing when the demo brand already has customers")
    ] = False,
) -> None:
    """Build the demo brand 生成演示品牌 (replaces an earlier one)."""
    from siyu.app import tune_gc
    from siyu.demo.builder import DEMO_PASSWORD, build_demo, tenant_has_customers

    engine = _engine()
    if get_settings().gc_tuning:
        tune_gc()
    if if_empty and tenant_has_customers(engine):
        console.print("[green]✓[/green] demo brand already present 演示品牌已存在")
        return
    labels = {
        "customers": "demo customers 演示客户",
        "tags": "demo tags 演示标签（客户）",
        "rule tags": "rule tags 规则标签",
        "wecom": "WeCom friends, codes, groups 企微好友/活码/社群",
        "stored value": "stored value and paid members 储值与付费会员",
        "events": "points for the last month's orders 近一月订单积分",
    }
    with StageProgress(console) as progress:

        def report(stage: str, done: int, total: int) -> None:
            progress.update(labels.get(stage, "demo orders 演示订单（天）"), done, total)

        report("customers", 0, customers)
        result = build_demo(
            engine,
            stores=stores,
            customers=customers,
            guides_per_store=guides_per_store,
            seed=seed,
            order_days=order_days,
            orders_per_store_day=orders_per_store_day,
            progress=report,
        )
    console.print(
        f"[green]✓[/green] demo brand: {result.stores} stores, {result.staff} staff, "
        f"{result.customers:,} customers, {result.orders:,} orders, {result.tag_assignments:,} tags "
        f"in {result.seconds:.1f}s — "
        f"sign in as owner / {DEMO_PASSWORD}"
    )
