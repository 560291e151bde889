"""`siyu import|export|tags …`: sheets in and out, rule-tag refresh by hand."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from sqlalchemy import select

from siyu.cli.common import (
    _engine,
    _fail,
    _tenant_id,
    console,
    err_console,
)

import_app = typer.Typer(help="Import CSV/Excel 导入", no_args_is_help=True)
export_app = typer.Typer(help="Export CSV/Excel 导出", no_args_is_help=True)
tags_app = typer.Typer(help="Tags 标签", no_args_is_help=True)


def _run_import(kind: str, tenant: str, file: Path) -> None:
    from siyu.api.platform import IMPORTERS
    from siyu.db.session import unit_of_work
    from siyu.platform.tabular import read_table

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
    from siyu.segments.jobs import refresh_tenant, tenants_with_work

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
