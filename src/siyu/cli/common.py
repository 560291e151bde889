"""What every command group shares: the consoles, the engine, errors, brands, progress."""

from __future__ import annotations

import json
import time
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy import Engine, select

from siyu.settings import get_settings

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


def _default_tenant(slug: str | None) -> str:
    """The tenant named, or the only one there is (the demo brand on a fresh install)."""
    if slug:
        return slug

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
