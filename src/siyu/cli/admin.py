"""`siyu brand|user|apikey …`: brands, staff accounts and integration keys."""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy import select

from siyu.cli.common import (
    _engine,
    _fail,
    _tenant_id,
    console,
    err_console,
)

tenant_app = typer.Typer(help="Brands 品牌", no_args_is_help=True)
user_app = typer.Typer(help="Staff accounts 员工账号", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys for integrations 集成密钥", no_args_is_help=True)


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
