"""`siyu …` — the command line (typer + rich). Every command honours SIYU_DATABASE_URL."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine, select

from siyu.settings import get_settings

app = typer.Typer(
    help="Siyu 私域 — private-domain customer operations.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
tenant_app = typer.Typer(help="Brands 品牌", no_args_is_help=True)
user_app = typer.Typer(help="Staff accounts 员工账号", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for integrations 集成密钥", no_args_is_help=True)
import_app = typer.Typer(help="Import CSV/Excel 导入", no_args_is_help=True)
export_app = typer.Typer(help="Export CSV/Excel 导出", no_args_is_help=True)
bench_app = typer.Typer(help="Benchmarks (JSON output) 基准测试", no_args_is_help=True)
report_app = typer.Typer(help="Reports 报表", no_args_is_help=True)
wecom_app = typer.Typer(help="WeCom 企业微信", no_args_is_help=True)
app.add_typer(tenant_app, name="brand")
app.add_typer(tenant_app, name="tenant", hidden=True)  # the earlier name of `siyu brand`
app.add_typer(user_app, name="user")
app.add_typer(apikey_app, name="apikey")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
app.add_typer(bench_app, name="bench")
tags_app = typer.Typer(help="Tags 标签", no_args_is_help=True)
app.add_typer(tags_app, name="tags")
app.add_typer(report_app, name="report")
app.add_typer(wecom_app, name="wecom")
console = Console()
err_console = Console(stderr=True)


def _engine() -> Engine:
    from siyu.db.session import get_engine

    return get_engine(get_settings().database_url)


def _fail(exc: Exception) -> None:
    from siyu.core.errors import DomainError

    if isinstance(exc, DomainError):
        err_console.print(f"[red]✗ {exc.message()}[/red]\n  {exc.message('en')}")
        errors = (exc.details or {}).get("errors") if isinstance(exc.details, dict) else None
        if errors:
            table = Table("行 row", "列 column", "原因 why")
            for e in errors[:200]:
                table.add_row(
                    str(e["row"]), str(e.get("column") or ""), f"{e['message']} / {e['message_en']}"
                )
            err_console.print(table)
        elif exc.details:
            err_console.print(json.dumps(exc.details, ensure_ascii=False, default=str))
        raise typer.Exit(code=2)
    raise exc


def _tenant_id(slug: str) -> int:
    from siyu.db.session import unit_of_work
    from siyu.org.service import get_tenant_by_slug

    with unit_of_work(_engine()) as session:
        try:
            return get_tenant_by_slug(session, slug=slug).id
        except Exception as exc:
            _fail(exc)
            raise


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


class StageProgress:
    """Progress of a long command by stage: bars on a terminal; on a pipe or a log file (no
    terminal) one plain line per stage whenever it moves on by a tenth, or every 10 s, and at
    its end — so a build logged to a file is never silent for minutes."""

    LINE_EVERY_S = 10.0

    def __init__(self, out: Console) -> None:
        self.out = out
        self.bars: Progress | None = None
        self.tasks: dict[str, Any] = {}
        self.started = time.monotonic()
        self.last: dict[str, tuple[float, int]] = {}  # label -> (when printed, tenth printed)

    def __enter__(self) -> StageProgress:
        if self.out.is_terminal:
            self.bars = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=self.out,
            )
            self.bars.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bars is not None:
            self.bars.__exit__(None, None, None)

    def update(self, label: str, done: int, total: int) -> None:
        """Stage `label` has done `done` of `total`."""
        if self.bars is not None:
            if label not in self.tasks:
                self.tasks[label] = self.bars.add_task(label, total=total)
            self.bars.update(self.tasks[label], completed=done, total=total)
            return
        now = time.monotonic()
        tenth = 10 * done // total if total > 0 else 10
        printed_at, printed_tenth = self.last.get(label, (-1e9, -1))
        if tenth > printed_tenth or (now - printed_at >= self.LINE_EVERY_S and done < total) or done == total:
            if (tenth, done == total) == (printed_tenth, True):
                return  # the end of this stage was already said
            self.last[label] = (now, tenth)
            share = f" ({100 * done // total}%)" if total > 0 else ""
            self.out.print(f"{label} {done:,}/{total:,}{share} {now - self.started:.0f}s", highlight=False)


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


@tenant_app.command("create")
def tenant_create(
    slug: str = typer.Option(...),
    name: str = typer.Option(...),
    timezone: str = "Asia/Shanghai",
    currency: str = "CNY",
) -> None:
    """Create a brand 新建品牌."""
    from pydantic import ValidationError

    from siyu.db.session import unit_of_work
    from siyu.org.schemas import TenantCreate
    from siyu.org.service import create_tenant

    try:
        data = TenantCreate.model_validate(
            {"slug": slug, "name": name, "timezone": timezone, "currency": currency}
        )
    except ValidationError as exc:
        err_console.print(f"[red]✗ {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
        raise typer.Exit(code=2) from exc
    try:
        with unit_of_work(_engine()) as session:
            tenant = create_tenant(session, data=data)
            tenant_id = tenant.id
    except Exception as exc:
        _fail(exc)
    console.print(f"[green]✓[/green] tenant {slug} (id {tenant_id})")


@user_app.command("create")
def user_create(
    tenant: str = typer.Option(..., "--brand", "--tenant", help="the brand's code 品牌代码"),
    username: str = typer.Option(...),
    name: str = typer.Option(...),
    role: str = typer.Option(..., help="owner | hq_operator | analyst | store_manager | guide"),
    password: str = typer.Option(..., prompt=True, hide_input=True, confirmation_prompt=True),
    employee_no: str | None = None,
    store: Annotated[list[str] | None, typer.Option(help="store code (repeatable)")] = None,
) -> None:
    """Create a staff account 新建员工账号."""
    from pydantic import ValidationError
    from sqlalchemy import select

    from siyu.db.session import unit_of_work
    from siyu.org.models import Store
    from siyu.org.schemas import StaffCreate
    from siyu.org.service import create_staff

    tenant_id = _tenant_id(tenant)
    try:
        with unit_of_work(_engine()) as session:
            codes = store or []
            ids = dict(
                session.execute(
                    select(Store.code, Store.id).where(Store.tenant_id == tenant_id, Store.code.in_(codes))
                ).all()
            )
            if missing := [c for c in codes if c not in ids]:
                err_console.print(f"[red]✗ 门店不存在 unknown store: {', '.join(missing)}")
                raise typer.Exit(code=2)
            data = StaffCreate.model_validate(
                {
                    "employee_no": employee_no or username,
                    "username": username,
                    "name": name,
                    "role": role,
                    "password": password,
                    "store_ids": [ids[c] for c in codes],
                }
            )
            staff = create_staff(session, tenant_id=tenant_id, data=data, actor=None)
            staff_id = staff.id
    except ValidationError as exc:
        err_console.print(f"[red]✗ {exc.errors()[0]['loc'][0]}: {exc.errors()[0]['msg']}")
        raise typer.Exit(code=2) from exc
    except typer.Exit:
        raise
    except Exception as exc:
        _fail(exc)
    console.print(f"[green]✓[/green] user {username} ({role}, id {staff_id})")


@apikey_app.command("create")
def apikey_create(
    tenant: str = typer.Option(..., "--brand", "--tenant", help="the brand's code 品牌代码"),
    name: str = "cli",
) -> None:
    """Create an API key and print it once 新建集成密钥."""
    from siyu.auth.service import create_api_key
    from siyu.db.session import unit_of_work

    tenant_id = _tenant_id(tenant)
    with unit_of_work(_engine()) as session:
        _, plaintext = create_api_key(session, tenant_id=tenant_id, name=name, actor=None)
    err_console.print("[dim]Use as: Authorization: Bearer <key>  (shown once 仅显示一次)[/dim]")
    typer.echo(plaintext)


def _run_import(kind: str, tenant: str, file: Path) -> None:
    from siyu.db.session import unit_of_work
    from siyu.platform.tabular import read_table
    from siyu.platform.views import IMPORTERS

    importer = IMPORTERS[kind][0]
    tenant_id = _tenant_id(tenant)
    if not file.is_file():
        err_console.print(f"[red]✗ 文件不存在 file not found: {file}")
        raise typer.Exit(code=2)
    try:
        with console.status(f"importing {kind} 导入中…"):
            table = read_table(file.name, file.read_bytes())
            with unit_of_work(_engine(), tenant_id=tenant_id) as session:
                counts = importer(session, tenant_id=tenant_id, table=table, actor=None)
    except Exception as exc:
        _fail(exc)
        raise
    console.print(
        f"[green]✓[/green] {kind}: {len(table.rows)} rows, {counts['created']} created, "
        f"{counts['updated']} updated"
    )


@import_app.command("customers")
def import_customers_cmd(
    file: Path, tenant: str = typer.Option(..., "--brand", "--tenant", help="the brand's code 品牌代码")
) -> None:
    """Import customers from CSV/XLSX (all rows or none) 导入客户."""
    _run_import("customers", tenant, file)


@import_app.command("stores")
def import_stores_cmd(
    file: Path, tenant: str = typer.Option(..., "--brand", "--tenant", help="the brand's code 品牌代码")
) -> None:
    """Import stores from CSV/XLSX 导入门店."""
    _run_import("stores", tenant, file)


@import_app.command("staff")
def import_staff_cmd(
    file: Path, tenant: str = typer.Option(..., "--brand", "--tenant", help="the brand's code 品牌代码")
) -> None:
    """Import staff from CSV/XLSX 导入员工."""
    _run_import("staff", tenant, file)


@import_app.command("products")
def import_products_cmd(
    file: Path, tenant: str = typer.Option(..., "--brand", "--tenant", help="the brand's code 品牌代码")
) -> None:
    """Import SKUs from CSV/XLSX (prices in yuan) 导入商品."""
    _run_import("products", tenant, file)


@import_app.command("orders")
def import_orders_cmd(
    file: Path, tenant: str = typer.Option(..., "--brand", "--tenant", help="the brand's code 品牌代码")
) -> None:
    """Import orders from CSV/XLSX, one row per line (all rows or none) 导入订单."""
    _run_import("orders", tenant, file)


@tags_app.command("refresh")
def tags_refresh(
    tenant: Annotated[
        str | None,
        typer.Option("--brand", "--tenant", help="the brand's code 品牌代码 (default: every brand)"),
    ] = None,
) -> None:
    """Refresh rule tags and sweep lapsed tags now (the server also does it on a schedule) 刷新规则标签."""
    from siyu.db.session import cross_tenant_access, unit_of_work
    from siyu.org.models import Tenant
    from siyu.tags.worker import refresh_tenant, tenants_with_work

    engine = _engine()
    tenant_ids = [_tenant_id(tenant)] if tenant else tenants_with_work(engine)
    with unit_of_work(engine) as session, cross_tenant_access(session):
        slugs = {tid: slug for tid, slug in session.execute(select(Tenant.id, Tenant.slug))}
    table = Table("brand 品牌", "rule tags 规则标签", "lapsed 过期清理")
    with console.status("refreshing 刷新中…"):
        for tenant_id in tenant_ids:
            refreshed, swept = refresh_tenant(engine, tenant_id)
            table.add_row(slugs.get(tenant_id, str(tenant_id)), f"{refreshed:,}", f"{swept:,}")
    console.print(table)


@import_app.command("tags")
def import_tags_cmd(
    file: Path, tenant: str = typer.Option(..., "--brand", "--tenant", help="the brand's code 品牌代码")
) -> None:
    """Import tag assignments from CSV/XLSX, one row per (customer, tag) 导入标签."""
    _run_import("tags", tenant, file)


@export_app.command("customers")
def export_customers_cmd(
    file: Path,
    tenant: str = typer.Option(..., "--brand", "--tenant", help="the brand's code 品牌代码"),
    reveal_phones: Annotated[bool, typer.Option(help="full phone numbers (audited)")] = False,
) -> None:
    """Export customers to .csv or .xlsx 导出客户 (phones masked by default)."""
    from siyu.customers.imports import export_customers
    from siyu.db.session import unit_of_work
    from siyu.platform import audit

    if file.suffix.lower() not in (".csv", ".xlsx"):
        err_console.print("[red]✗ 文件须为 .csv 或 .xlsx / file must end in .csv or .xlsx")
        raise typer.Exit(code=2)
    tenant_id = _tenant_id(tenant)
    with console.status("exporting 导出中…"), unit_of_work(_engine(), tenant_id=tenant_id) as session:
        count = export_customers(session, tenant_id=tenant_id, path=file, reveal_phones=reveal_phones)
        audit.record(
            session,
            tenant_id=tenant_id,
            actor=None,
            action="customer.export",
            object_type="customer",
            object_id=None,
            data={"rows": count, "reveal_phones": reveal_phones, "via": "cli"},
        )
    console.print(f"[green]✓[/green] {count:,} customers → {file}")


@bench_app.command("customers")
def bench_customers(
    customers: int = typer.Option(20_000, help="customers to upsert"),
    batch: int = typer.Option(1000, max=1000),
    lookups: int = typer.Option(2000, help="API identity lookups to time"),
    database_url: Annotated[str | None, typer.Option(help="defaults to SIYU_DATABASE_URL")] = None,
) -> None:
    """Batch upsert throughput and API lookup latency; prints JSON 客户写入与查询基准."""
    from siyu.benchmarks.customers import run

    result = run(
        database_url or get_settings().database_url, customers=customers, batch=batch, lookups=lookups
    )
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@bench_app.command("orders")
def bench_orders(
    orders: int = typer.Option(20_000, help="orders to ingest (3 lines each)"),
    history: int = typer.Option(10_000_000, help="orders in the synthetic history for the report timings"),
    stores: int = typer.Option(1000, help="stores of the synthetic brand"),
    customers: int = typer.Option(1_000_000, min=1, help="customers of the synthetic history"),
    peer_orders: int = typer.Option(1000, min=1, help="orders sent one per request (the peer)"),
    samples: int = typer.Option(60, min=1, help="store-day reports to time"),
    skip_reports: Annotated[bool, typer.Option(help="only the ingest figures")] = False,
    database_url: Annotated[str | None, typer.Option(help="defaults to SIYU_DATABASE_URL")] = None,
) -> None:
    """Order ingest throughput and store daily report latency; prints JSON 订单写入与日报基准."""
    from siyu.benchmarks.orders import run_ingest, run_reports

    url = database_url or get_settings().database_url
    results = [run_ingest(url, orders=orders, peer_orders=peer_orders)]
    if not skip_reports:
        with Console(stderr=True).status(f"writing a {history:,}-order history, then timing reports…"):
            results.append(
                run_reports(url, history=history, stores=stores, customers=customers, samples=samples)
            )
    typer.echo(json.dumps(results, ensure_ascii=False, indent=2))


@bench_app.command("console")
def bench_console(
    rounds: int = typer.Option(30, min=1, help="fetches per page"),
    stores: int = typer.Option(30, min=1, help="stores of the demo brand, when it must be built"),
    customers: int = typer.Option(50_000, min=1, help="customers of the demo brand, when it must be built"),
    order_days: int = typer.Option(
        365, min=1, help="days of orders of the demo brand, when it must be built"
    ),
    database_url: Annotated[
        str | None,
        typer.Option(help="defaults to SIYU_DATABASE_URL; the demo brand is built when it is not there"),
    ] = None,
) -> None:
    """Server time of every console page on the demo brand, p50/p95; prints JSON 控制台页面基准."""
    from siyu.benchmarks.console import run

    with Console(stderr=True).status("…"):
        result = run(
            database_url or get_settings().database_url,
            rounds=rounds,
            demo={"stores": stores, "customers": customers, "order_days": order_days},
        )
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@bench_app.command("wecom")
def bench_wecom(
    events: int = typer.Option(5000, help="friend-add callbacks to send"),
    clients: int = typer.Option(4, help="concurrent senders"),
    database_url: Annotated[str | None, typer.Option(help="defaults to SIYU_DATABASE_URL")] = None,
) -> None:
    """Callbacks stored per second and processing lag; prints JSON 企业微信回调基准."""
    from siyu.benchmarks.wecom import run

    result = run(database_url or get_settings().database_url, events=events, clients=clients)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@bench_app.command("audiences")
def bench_audiences(
    customers: int = typer.Option(1_000_000, help="customers in the synthetic brand"),
    tags_per_customer: int = typer.Option(80, help="mean tags per customer (400 tags)"),
    database_url: Annotated[
        str | None, typer.Option(help="a fresh database; defaults to SIYU_DATABASE_URL")
    ] = None,
) -> None:
    """Bitmap engine vs EXISTS/GROUP BY on the same data; prints JSON 人群圈选基准."""
    from siyu.benchmarks.audiences import run

    with Console(stderr=True).status("…") as status:
        result = run(
            database_url or get_settings().database_url,
            customers=customers,
            tags_per_customer=tags_per_customer,
            progress=lambda message: status.update(f"[bold]bench audiences[/] {message}"),
        )
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@wecom_app.command("session")
def wecom_session(
    tenant: Annotated[
        str, typer.Option(help="the demo brand (or another with three guides in a store)")
    ] = "demo",
    password: Annotated[str | None, typer.Option(help="the owner's password (default: the demo's)")] = None,
) -> None:
    """Run a WeCom session against the fake WeCom: code, adds, a group, a departure 企微演示会话."""
    from siyu.demo.builder import DEMO_PASSWORD
    from siyu.demo.wecom_session import run_session

    with console.status("…") as status:
        result = run_session(
            _engine(),
            slug=tenant,
            password=password or DEMO_PASSWORD,
            say=lambda m: status.update(f"[bold]WeCom[/] {m}"),
        )
    table = Table("step 步骤", "what happened 结果")
    code, group, moved = result["code"], result["group"], result["transfer"]
    table.add_row(
        "channel code 渠道活码",
        f"{code['adds']} adds, {code['welcomes']} welcomed, pointed at {' → '.join(code['pointed_at'])}",
    )
    table.add_row(
        "group 社群",
        f"{group['name']}: {group['members']} members ({group['customers']} customers), "
        f"{group['joins_30d']} joined, {group['quits_30d']} quit",
    )
    table.add_row(
        "departure 离职继承",
        f"{moved['leaving']}: {moved['requested']} handed over, {moved['refused']} at the limit, {moved['failed']} failed",
    )
    console.print(table)


@wecom_app.command("check-transfers")
def wecom_check_transfers(
    tenant: str = typer.Option(..., "--brand", "--tenant", help="the brand's code 品牌代码"),
) -> None:
    """Ask WeCom how requested transfers went (run it hourly from cron) 查询转接结果."""
    from siyu.db.session import unit_of_work
    from siyu.settings import get_settings
    from siyu.wecom import codes, transfers

    tenant_id = _tenant_id(tenant)
    engine = _engine()
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        client = codes.client_for(session, tenant_id=tenant_id, api_base=get_settings().wecom_api_base)
    counts = transfers.check_transfers(engine, tenant_id=tenant_id, client=client)
    console.print(
        f"[green]✓[/green] {counts.get('completed', 0)} completed, {counts.get('failed', 0)} failed"
    )


@wecom_app.command("sync-members")
def wecom_sync_members(
    tenant: str = typer.Option(..., "--brand", "--tenant", help="the brand's code 品牌代码"),
) -> None:
    """Read the WeCom member directory, map members to staff, attach parked friends 同步企微成员."""
    from siyu.db.session import unit_of_work
    from siyu.settings import get_settings
    from siyu.wecom import codes, members
    from siyu.wecom.client import WeComApiError

    tenant_id = _tenant_id(tenant)
    engine = _engine()
    try:
        with unit_of_work(engine, tenant_id=tenant_id) as session:
            client = codes.client_for(session, tenant_id=tenant_id, api_base=get_settings().wecom_api_base)
        result = members.sync_members(engine, tenant_id=tenant_id, client=client)
    except WeComApiError as exc:
        _fail(codes.wecom_failed(exc))
        raise
    except Exception as exc:
        _fail(exc)
        raise
    console.print(
        f"[green]✓[/green] {result.members} members ({result.new} new, {result.left} left): "
        f"{result.mapped} mapped to staff ({result.created_staff} guides created), "
        f"{result.unmapped} unmapped, {result.attached} parked friends attached"
    )


@wecom_app.command("configure")
def wecom_configure(
    tenant: str = typer.Option(..., "--brand", "--tenant", help="the brand's code 品牌代码"),
    corp_id: str = typer.Option(..., help="企业ID (corp id)"),
    token: str = typer.Option(..., help="callback Token"),
    aes_key: str = typer.Option(..., help="callback EncodingAESKey (43 characters)"),
    secret: str | None = typer.Option(None, help="app Secret (for calling WeCom)"),
    create_staff: bool | None = typer.Option(
        None,
        "--create-staff/--no-create-staff",
        help="members no staff member carries become guides (default: keep the stored choice, on at first)",
    ),
) -> None:
    """Store a brand's WeCom callback settings (secrets sealed) 配置企业微信."""
    from siyu.db.session import unit_of_work
    from siyu.wecom import service

    tenant_id = _tenant_id(tenant)
    try:
        with unit_of_work(_engine(), tenant_id=tenant_id) as session:
            service.configure(
                session,
                tenant_id=tenant_id,
                corp_id=corp_id,
                token=token,
                aes_key=aes_key,
                secret=secret,
                actor=None,
                create_staff_for_members=create_staff,
            )
    except Exception as exc:
        _fail(exc)
        raise
    console.print(f"[green]✓[/green] WeCom settings stored; callback URL: /api/v1/wecom/{tenant}/callback")


@wecom_app.command("process")
def wecom_process(
    tenant: str = typer.Option(..., "--brand", "--tenant", help="the brand's code 品牌代码"),
) -> None:
    """Process stored callbacks not processed yet (catch-up and retries) 处理回调."""
    from siyu.wecom import service

    counts = service.process_pending(_engine(), tenant_id=_tenant_id(tenant))
    console.print(f"[green]✓[/green] {counts or 'nothing to do'}")


def _default_tenant(slug: str | None) -> str:
    """The tenant named, or the only one there is (the demo brand on a fresh install)."""
    if slug:
        return slug
    from sqlalchemy import select

    from siyu.db.session import unit_of_work
    from siyu.org.models import Tenant

    with unit_of_work(_engine()) as session:
        slugs = list(session.scalars(select(Tenant.slug).order_by(Tenant.slug).limit(20)))
    if len(slugs) == 1:
        return slugs[0]
    if "demo" in slugs:
        return "demo"
    err_console.print(f"[red]✗ 请用 --tenant 指定品牌 / pick one with --tenant: {', '.join(slugs) or '—'}")
    raise typer.Exit(code=2)


def _parse_day(value: str) -> Any:
    import datetime as dt

    from siyu.core.errors import DomainError

    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(DomainError("invalid_date", value=value))
        raise


def _pct(value: float | None) -> str:
    if value is None:
        return "—"
    arrow = "[green]▲" if value > 0 else ("[red]▼" if value < 0 else "")
    return f"{arrow}{abs(value) * 100:.1f}%[/]" if arrow else "0.0%"


def _pp(value: float | None) -> str:
    """A share's change in percentage points, as the report gives it (2 places)."""
    if value is None:
        return "—"
    arrow = "[green]▲" if value > 0 else ("[red]▼" if value < 0 else "")
    return f"{arrow}{abs(value):.2f} pp[/]" if arrow else "0.00 pp"


def _show(name: str, value: Any) -> str:
    from siyu.core.money import format_fen
    from siyu.reports.store_daily import MONEY, SHARES

    if value is None:
        return "—"
    if name in MONEY:
        return format_fen(int(value))
    if name in SHARES or name.endswith("_share"):
        return f"{value * 100:.2f}%"  # a fraction to 4 places: shown exactly
    return f"{value:,}"


@report_app.command("store-daily")
def report_store_daily(
    store: str = typer.Option(..., help="store code 门店编码"),
    date: str = typer.Option(..., help="YYYY-MM-DD in the brand's time zone"),
    tenant: Annotated[
        str | None,
        typer.Option(
            "--brand", "--tenant", help="the brand's code 品牌代码 (default: the only brand, or demo)"
        ),
    ] = None,
    xlsx: Annotated[Path | None, typer.Option(help="where to write the .xlsx")] = None,
    no_xlsx: Annotated[bool, typer.Option("--no-xlsx", help="print only")] = False,
) -> None:
    """The store daily report as a table, and as an Excel file 门店日报."""
    from siyu.core.errors import not_found
    from siyu.core.money import format_fen
    from siyu.db.session import unit_of_work
    from siyu.org import facade as org
    from siyu.reports import store_daily as report
    from siyu.reports.periods import COMPARISONS, LABELS
    from siyu.reports.xlsx import store_daily_xlsx

    day = _parse_day(date)
    tenant_id = _tenant_id(_default_tenant(tenant))
    with unit_of_work(_engine(), tenant_id=tenant_id) as session:
        info = org.stores_by_code(session, tenant_id=tenant_id, codes={store}).get(store)
        if info is None:
            _fail(not_found("store"))
        assert info is not None
        data = report.store_daily(session, tenant_id=tenant_id, store=info, day=day)
    table = Table(
        title=f"门店日报 Store daily — {info.name} ({info.code}) {day.isoformat()}  [{data['timezone']}]"
    )
    table.add_column("指标 Figure", no_wrap=True)
    table.add_column("当日 Day", justify="right")
    for c in COMPARISONS:
        table.add_column(f"{LABELS[c][0]}\n{data['comparison_dates'][c]}", justify="right")
    for name, fig in data["figures"].items():
        row = [report.FIGURE_LABELS[name][0], _show(name, fig["value"])]
        for c in COMPARISONS:
            vs = fig["vs"][c]
            change = _pp(vs["delta_pp"]) if name in report.SHARES else _pct(vs["pct"])
            row.append(f"{_show(name, vs['value'])} {change}")
        table.add_row(*row)
    console.print(table)
    channels = Table(title="渠道占比 Share by channel")
    for title in ("渠道 Channel", "订单 Orders", "支付 Paid", "GMV", "订单占比", "支付占比"):
        channels.add_column(title, justify="right" if title != "渠道 Channel" else "left")
    for ch in data["channels"]:
        channels.add_row(
            f"{ch['label']} {ch['label_en']}",
            str(ch["orders"]),
            format_fen(ch["paid_fen"]),
            format_fen(ch["gmv_fen"]),
            _show("x_share", ch["order_share"]),
            _show("x_share", ch["paid_share"]),
        )
    console.print(channels)
    guides = Table(title="导购排行 Guide ranking")
    for title in ("#", "导购 Guide", "订单 Orders", "GMV", "新客户 New customers"):
        guides.add_column(title)
    for g in data["guides"][:10]:
        guides.add_row(
            str(g["rank"]),
            f"{g['name']} ({g['employee_no']})",
            str(g["orders"]),
            format_fen(g["gmv_fen"]),
            str(g["new_customers"]),
        )
    console.print(guides)
    if not no_xlsx:
        path = xlsx or Path(f"store-daily-{info.code}-{day.isoformat()}.xlsx")
        path.write_bytes(store_daily_xlsx(data))
        console.print(f"[green]✓[/green] Excel: {path}")


@report_app.command("rollup")
def report_rollup(
    date: str = typer.Option(..., help="YYYY-MM-DD"),
    tenant: Annotated[
        str | None, typer.Option("--brand", "--tenant", help="the brand's code 品牌代码")
    ] = None,
) -> None:
    """Every store's day, per region and for the brand 区域/总部汇总."""
    from siyu.db.session import unit_of_work
    from siyu.reports import store_daily as report

    day = _parse_day(date)
    tenant_id = _tenant_id(_default_tenant(tenant))
    with unit_of_work(_engine(), tenant_id=tenant_id) as session:
        data = report.rollup(session, tenant_id=tenant_id, day=day, store_ids=None)
    table = Table(title=f"汇总 Roll-up {day.isoformat()}")
    for title in ("", "GMV", "较昨日", "订单 Orders", "客单价 AOV", "到店占比 In-store", "新客 New buyers"):
        table.add_column(title, justify="right" if title else "left")

    def add(label: str, f: dict[str, Any]) -> None:
        table.add_row(
            label,
            _show("gmv_fen", f["gmv_fen"]["value"]),
            _pct(f["gmv_fen"]["vs"]["yesterday"]["pct"]),
            _show("orders", f["orders"]["value"]),
            _show("aov_fen", f["aov_fen"]["value"]),
            _show("in_store_share", f["in_store_share"]["value"]),
            _show("new_buyers", f["new_buyers"]["value"]),
        )

    for s in data["stores"]:
        add(f"{s['code']} {s['name']}", s["figures"])
    table.add_section()
    for r in data["regions"]:
        add(f"[bold]{r['name']}[/bold]", r["figures"])
    table.add_section()
    add("[bold]品牌合计 Brand total[/bold]", data["total"]["figures"])
    console.print(table)


if __name__ == "__main__":
    app()
