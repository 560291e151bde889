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
