"""`siyu report …`: the store daily report and the brand roll-up in the terminal."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from siyu.cli.common import (
    _default_tenant,
    _engine,
    _fail,
    _parse_day,
    _tenant_id,
    console,
)

report_app = typer.Typer(help="Reports 报表", no_args_is_help=True)


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
