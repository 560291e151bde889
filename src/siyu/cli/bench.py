"""`siyu bench …`: the benchmarks (JSON output; the code lives in siyu.bench)."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from siyu.settings import get_settings

bench_app = typer.Typer(help="Benchmarks (JSON output) 基准测试", no_args_is_help=True)


@bench_app.command("customers")
def bench_customers(
    customers: int = typer.Option(20_000, help="customers to upsert"),
    batch: int = typer.Option(1000, max=1000),
    lookups: int = typer.Option(2000, help="API identity lookups to time"),
    database_url: Annotated[str | None, typer.Option(help="defaults to SIYU_DATABASE_URL")] = None,
) -> None:
    """Batch upsert throughput and API lookup latency; prints JSON 客户写入与查询基准."""
    from siyu.bench.customers import run

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
    from siyu.bench.orders import run_ingest, run_reports

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
    from siyu.bench.console import run

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
    from siyu.bench.wecom import run

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
    from siyu.bench.audiences import run

    with Console(stderr=True).status("…") as status:
        result = run(
            database_url or get_settings().database_url,
            customers=customers,
            tags_per_customer=tags_per_customer,
            progress=lambda message: status.update(f"[bold]bench audiences[/] {message}"),
        )
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@bench_app.command("jobs")
def bench_jobs(
    jobs: int = typer.Option(5000, help="no-op jobs per throughput run"),
    samples: int = typer.Option(50, help="events whose commit-to-dispatch lag is measured"),
    database_url: Annotated[
        str | None, typer.Option(help="a fresh database; defaults to SIYU_DATABASE_URL")
    ] = None,
) -> None:
    """Jobs per second with 1 and 4 worker processes, and event dispatch lag; prints JSON 后台任务基准."""
    from siyu.bench.jobs import run

    result = run(database_url or get_settings().database_url, jobs_count=jobs, samples=samples)
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@bench_app.command("lookups")
def bench_lookups(
    customers: int = typer.Option(1_000_000, help="customers of the demo brand it builds"),
    lookups: int = typer.Option(2000, help="API identity lookups to time"),
    stores: int = typer.Option(30, help="stores of the demo brand it builds"),
    order_days: int = typer.Option(365, help="days of orders of the demo brand"),
    database_url: Annotated[str | None, typer.Option(help="defaults to SIYU_DATABASE_URL")] = None,
) -> None:
    """Identity lookups through the API on a large demo brand (built when missing); prints JSON 大规模查询基准."""
    from siyu.bench.lookups import run

    result = run(
        database_url or get_settings().database_url,
        customers=customers,
        lookups=lookups,
        stores=stores,
        order_days=order_days,
    )
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


@bench_app.command("ledger")
def bench_ledger(
    clients: int = typer.Option(8, min=1, help="concurrent HTTP clients"),
    operations: int = typer.Option(300, min=1, help="operations per client (and per worker)"),
    workers: int = typer.Option(16, min=2, help="threads of the concurrent transfer test"),
    postings: int = typer.Option(
        10_000_000, min=2, help="postings of the synthetic brand `ledger check` reads"
    ),
    database_url: Annotated[str | None, typer.Option(help="defaults to SIYU_DATABASE_URL")] = None,
) -> None:
    """Ledger operations per second (HTTP), exactness under concurrency against a read-check-write
    peer, and `ledger check` at scale; prints JSON 会员资产账本基准."""
    from siyu.bench.ledger import run

    with Console(stderr=True).status("ledger benchmark…"):
        result = run(
            database_url or get_settings().database_url,
            clients=clients,
            operations=operations,
            workers=workers,
            postings=postings,
        )
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
