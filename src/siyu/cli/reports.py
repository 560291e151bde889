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


@report_app.command("liability")
def report_liability(
    tenant: Annotated[str, typer.Option("--brand", "--tenant", help="the brand's code 品牌代码")] = "demo",
    date: Annotated[
        str | None, typer.Option(help="the last day, YYYY-MM-DD (default: today, so far)")
    ] = None,
    days: Annotated[int, typer.Option(min=1, max=366, help="how many days up to it")] = 1,
    by: Annotated[str, typer.Option(help="brand | region | store")] = "brand",
    xlsx: Annotated[Path | None, typer.Option(help="also write the days per store to this .xlsx")] = None,
) -> None:
    """Members' balances the brand owes at the end of each day, and breakage 会员资产负债."""
    import datetime as dt

    from siyu.core.clock import utcnow
    from siyu.core.errors import DomainError
    from siyu.db.session import unit_of_work
    from siyu.loyalty.facade import liability
    from siyu.org import facade as org
    from siyu.platform.tabular import write_table

    if by not in ("brand", "region", "store"):
        _fail(
            DomainError(
                "validation_error",
                summary="--by 只能是 brand、region 或 store / must be brand, region or store",
            )
        )
    tenant_id = _tenant_id(tenant)
    with unit_of_work(_engine(), tenant_id=tenant_id) as session:
        zone = org.tenant_zone(session, tenant_id=tenant_id)
        last = _parse_day(date) if date else utcnow().astimezone(zone).date()
        per_store = liability.daily(
            session, tenant_id=tenant_id, first=last - dt.timedelta(days=days - 1), last=last, zone=zone
        )
        stores = {st.id: st for st in org.stores_of(session, tenant_id=tenant_id)}
        regions = org.regions_of(session, tenant_id=tenant_id)
    if by == "store":
        names: dict[Any, str] = {sid: f"{st.code} {st.name}" for sid, st in stores.items()}
        grouped: dict[Any, Any] = dict(per_store)
    elif by == "region":
        names = {rid: name for rid, (_, name) in regions.items()}
        key = {sid: st.region_id for sid, st in stores.items()}
        grouped = {day: liability.roll_up(g, key) for day, g in per_store.items()}
    else:
        names = {"brand": "品牌合计"}
        grouped = {day: liability.roll_up(g) for day, g in per_store.items()}
    names.setdefault(None, "无门店/区域")
    table = Table(
        "日期 Date",
        "范围 Scope",
        "积分 Points",
        "积分价值 Value",
        "储值本金 Principal",
        "储值赠送 Bonus",
        "待确认会员费 Deferred",
        "负债合计 Total",
        "过期积分 Expired",
    )
    for day, groups in sorted(grouped.items()):
        for key, f in sorted(groups.items(), key=lambda kv: str(names.get(kv[0], kv[0]))):
            v = f.as_dict()
            table.add_row(
                day.isoformat(),
                names.get(key, str(key)),
                f"{v['points'] + v['points_pending']:,}",
                _yuan(v["points_value_fen"]),
                _yuan(v["sv_principal_fen"]),
                _yuan(v["sv_bonus_fen"]),
                _yuan(v["membership_deferred_fen"]),
                _yuan(v["liability_fen"]),
                f"{v['expired_points']:,}",
            )
    console.print(table)
    if xlsx is not None:
        headers = ["日期 Date", "门店 Store"] + [f"{zh} {en}" for zh, en, _ in liability.FIGURES.values()]
        store_names: dict[Any, str] = {sid: f"{st.code} {st.name}" for sid, st in stores.items()}
        store_names[None] = "无门店"
        count = write_table(xlsx, headers, liability.rows(per_store, store_names.items()), sheet="liability")
        console.print(f"✓ {count} rows → {xlsx}")


def _yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"
