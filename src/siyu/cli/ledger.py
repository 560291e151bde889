"""`siyu ledger …`: the loyalty ledger's invariants, checked from the rows."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from siyu.cli.common import _engine, _tenant_id, console

ledger_app = typer.Typer(help="Loyalty ledger 积分与储值账本", no_args_is_help=True)


@ledger_app.command("check")
def ledger_check(
    tenant: Annotated[
        str | None,
        typer.Option("--brand", "--tenant", help="one brand's code 品牌代码 (default: every brand)"),
    ] = None,
) -> None:
    """Verify every invariant 校验账本 (balanced transactions, balances = postings, none negative,
    holds consistent, reversals within what they reverse); JSON with `violations`, exit 1 if any."""
    from siyu.db.session import unit_of_work
    from siyu.loyalty.check import check

    tenant_id = _tenant_id(tenant) if tenant else None
    with unit_of_work(_engine()) as session:
        report = check(session, tenant_id=tenant_id)
    report["tenant"] = tenant
    console.print_json(json.dumps(report, ensure_ascii=False)) if console.is_terminal else print(
        json.dumps(report, ensure_ascii=False)
    )
    if report["violations"]:
        raise typer.Exit(code=1)


@ledger_app.command("wechat-pay-session")
def wechat_pay_session(
    tenant: Annotated[str, typer.Option("--brand", "--tenant", help="the demo brand 品牌代码")] = "demo",
    password: Annotated[str | None, typer.Option(help="the owner's password (default: the demo's)")] = None,
) -> None:
    """Top up three members with WeChat Pay against the fake WeChat Pay: notifications, a forged and
    a replayed one, a missed one found by query, a refund 微信支付充值演示."""
    from rich.table import Table

    from siyu.demo.builder import DEMO_PASSWORD
    from siyu.demo.wechat_pay_session import run_session

    with console.status("…") as status:
        result = run_session(
            _engine(),
            slug=tenant,
            password=password or DEMO_PASSWORD,
            say=lambda m: status.update(f"[bold]WeChat Pay[/] {m}"),
        )
    table = Table("step 步骤", "customer 客户", "amount 金额", "outcome 结果")
    for t in result["top_ups"]:
        table.add_row(
            "top-up 充值",
            str(t["customer_id"]),
            f"¥{t['principal_fen'] / 100:,.2f} + ¥{t['bonus_fen'] / 100:,.2f}",
            t["via"],
        )
    for name, status_code in result["refused"]:
        table.add_row(f"{name} 通知", "", "", f"answered {status_code}")
    r = result["refund"]
    table.add_row("refund 退款", str(r["customer_id"]), f"¥{r['amount_fen'] / 100:,.2f}", r["status"])
    for customer_id, fen in result["balances"].items():
        table.add_row("balance 储值余额", str(customer_id), f"¥{fen / 100:,.2f}", "")
    table.add_row("ledger check 账本校验", "", "", f"{result['ledger_violations']} violations")
    if console.is_terminal:
        console.print(table)
    else:  # a pipe or a log: one line per row, nothing wrapped
        for row in zip(*(c.cells for c in table.columns), strict=True):
            print(" | ".join(str(cell) for cell in row if str(cell)))
    if result["ledger_violations"]:
        raise typer.Exit(code=1)
