"""`siyu wecom …`: WeCom settings, catch-up, transfers, the member directory, the demo session."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from siyu.cli.common import (
    _engine,
    _fail,
    _tenant_id,
    console,
)
from siyu.settings import get_settings

wecom_app = typer.Typer(help="WeCom 企业微信", no_args_is_help=True)


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
    """Process stored callbacks not processed yet (catch-up and retries), then the WeCom calls they
    ask for 处理回调."""
    from siyu.jobs.runner import Runner
    from siyu.wecom import service

    engine = _engine()
    counts = service.process_pending(engine, tenant_id=_tenant_id(tenant))
    Runner(engine, context={"wecom_api_base": get_settings().wecom_api_base}).drain()
    console.print(f"[green]✓[/green] {counts or 'nothing to do'}")
