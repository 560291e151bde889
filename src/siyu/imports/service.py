"""Imports from the console: upload a sheet, map its columns, run it in the background (every row or
none, like `POST /api/v1/imports/{kind}`), and keep the row report.

The importers are the domains' own (registered with `siyu.api.platform.add_import_route`); this only
keeps the upload, renames the file's columns by the mapping the person confirmed, and records the
outcome. A run is a job (`imports.run`): the page polls its status.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from siyu import jobs
from siyu.access import Perm, Principal
from siyu.api.platform import IMPORT_COLUMNS, IMPORTERS
from siyu.auth.facade import staff_principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.db.session import unit_of_work
from siyu.imports.models import ImportRun
from siyu.platform import audit
from siyu.platform.tabular import Table, read_table

MAX_BYTES = 20 * 1024 * 1024
MAX_ERRORS_KEPT = 10_000
PREVIEW_ROWS = 10
# Headers people write in Chinese, and a few English variants, for the fields of every importer.
ALIASES: dict[str, tuple[str, ...]] = {
    "phone": ("手机号", "手机", "电话", "手机号码", "mobile"),
    "name": ("姓名", "名称", "名字", "客户姓名", "商品名称", "门店名称"),
    "gender": ("性别", "sex"),
    "birthday": ("生日", "出生日期", "birth_date"),
    "city": ("城市",),
    "member_tier": ("会员等级", "等级", "tier"),
    "member_card": ("会员卡号", "会员卡", "卡号"),
    "wechat_unionid": ("unionid", "微信unionid"),
    "wechat_openid": ("openid", "微信openid"),
    "wecom_external_userid": ("企微外部联系人", "external_userid"),
    "pos_customer_id": ("收银顾客号", "pos顾客号"),
    "store_code": ("门店编码", "门店代码", "门店"),
    "store_codes": ("门店编码", "所属门店"),
    "guide_username": ("导购账号", "导购用户名"),
    "code": ("编码", "代码", "sku编码", "门店编码"),
    "sku_code": ("sku", "sku编码", "商品编码"),
    "list_price": ("标价", "吊牌价", "价格", "售价"),
    "cost": ("成本", "成本价"),
    "category": ("类目", "分类", "品类"),
    "status": ("状态",),
    "employee_no": ("工号", "员工编号"),
    "username": ("用户名", "账号", "登录名"),
    "role": ("角色", "岗位"),
    "region_code": ("区域编码",),
    "region_name": ("区域", "区域名称"),
    "address": ("地址",),
    "latitude": ("纬度", "lat"),
    "longitude": ("经度", "lng", "lon"),
    "channel": ("渠道",),
    "external_id": ("订单号", "外部订单号", "单号"),
    "placed_at": ("下单时间",),
    "paid_at": ("支付时间", "付款时间"),
    "quantity": ("数量", "件数"),
    "unit_price": ("单价",),
    "staff_employee_no": ("员工工号", "导购工号", "收银员工号"),
    "customer_phone": ("客户手机号", "顾客手机号"),
    "payment_method": ("支付方式",),
    "tag_group": ("标签组", "标签分组"),
    "tag": ("标签", "标签名"),
    "customer_number": ("客户编号",),
    "action": ("操作",),
}


def _norm(header: str) -> str:
    return re.sub(r"[\s_\-（）()]", "", header.strip().lower())


def kinds_for(principal: Principal) -> list[str]:
    """The kinds of sheet a person may import (the rows' own permission and the import one)."""
    return [
        kind
        for kind, (_, needed) in sorted(IMPORTERS.items())
        if principal.can(needed) and principal.can(Perm.IMPORT)
    ]


def columns(kind: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(required, optional) fields of a kind."""
    return IMPORT_COLUMNS.get(kind, ((), ()))


def suggest_mapping(kind: str, headers: list[str]) -> dict[str, str]:
    """Each file column's field: the same name, else a known alias; "" when none fits."""
    required, optional = columns(kind)
    fields = [*required, *optional]
    mapping: dict[str, str] = {}
    taken: set[str] = set()
    for header in headers:
        key = _norm(header)
        match = next((f for f in fields if _norm(f) == key and f not in taken), None)
        if match is None:
            match = next(
                (f for f in fields if f not in taken and any(_norm(a) == key for a in ALIASES.get(f, ()))),
                None,
            )
        mapping[header] = match or ""
        if match:
            taken.add(match)
    return mapping


def upload(
    session: Session, *, tenant_id: int, kind: str, filename: str, content: bytes, principal: Principal
) -> ImportRun:
    """Keep an uploaded sheet for its preview (the file is read now: a broken one is refused)."""
    if kind not in kinds_for(principal):
        raise DomainError("forbidden")
    if len(content) > MAX_BYTES:
        raise DomainError("batch_too_large", limit=f"{MAX_BYTES // (1024 * 1024)} MB", count=len(content))
    table = read_table(filename, content)
    run = ImportRun(
        tenant_id=tenant_id,
        kind=kind,
        filename=filename[-200:] or "upload.csv",
        content=content,
        headers=table.headers,
        mapping=suggest_mapping(kind, table.headers),
        rows=len(table.rows),
        status="uploaded",
        actor_id=principal.actor_id if principal.actor_type == "staff" else None,
        created_at=utcnow(),
    )
    session.add(run)
    session.flush()
    return run


def get_run(session: Session, *, tenant_id: int, run_id: int) -> ImportRun:
    """An import of the brand, or not found."""
    run = session.scalar(select(ImportRun).where(ImportRun.tenant_id == tenant_id, ImportRun.id == run_id))
    if run is None:
        raise not_found("import")
    return run


def preview_rows(run: ImportRun, limit: int = PREVIEW_ROWS) -> list[tuple[int, dict[str, str]]]:
    """The first rows of the upload as the importer will read them (before renaming)."""
    if run.content is None:
        return []
    return read_table(run.filename, run.content).rows[:limit]


def check_mapping(kind: str, mapping: dict[str, str]) -> list[tuple[str, str, str]]:
    """Problems with a mapping: (field or column, zh, en) — a required field unmapped, a field
    chosen twice, a field this kind does not have."""
    required, optional = columns(kind)
    chosen = [f for f in mapping.values() if f]
    problems = []
    for field in required:
        if field not in chosen:
            problems.append((field, f"必填列 {field} 没有对应的文件列", f"no column of the file is {field}"))
    for field in sorted({f for f in chosen if chosen.count(f) > 1}):
        problems.append((field, f"{field} 被多个列使用", f"{field} is chosen for more than one column"))
    for field in sorted({f for f in chosen if f not in (*required, *optional)}):
        problems.append((field, f"未知字段 {field}", f"unknown field {field}"))
    return problems


def start(
    session: Session, *, tenant_id: int, run_id: int, mapping: dict[str, str], principal: Principal
) -> ImportRun:
    """Confirm the mapping and queue the run (once: a run already queued or done is left alone)."""
    run = get_run(session, tenant_id=tenant_id, run_id=run_id)
    if run.kind not in kinds_for(principal):
        raise DomainError("forbidden")
    if run.status != "uploaded":
        return run
    unknown = [h for h in mapping if h not in run.headers]
    if unknown or check_mapping(run.kind, mapping):
        raise DomainError("validation_error", summary="列的对应关系无效 / the column mapping is not valid")
    run.mapping = {h: mapping.get(h, "") for h in run.headers}
    run.status = "queued"
    jobs.enqueue(
        session, "imports.run", tenant_id=tenant_id, payload={"run_id": run.id}, key=f"import:{run.id}"
    )
    return run


def _mapped(run: ImportRun) -> Table:
    assert run.content is not None
    table = read_table(run.filename, run.content)
    rename = {h: f for h, f in run.mapping.items() if f}
    rows = [(n, {rename[h]: v for h, v in row.items() if h in rename}) for n, row in table.rows]
    return Table(headers=[rename[h] for h in table.headers if h in rename], rows=rows)


@jobs.handler("imports.run", label_zh="导入表格", label_en="Import a sheet", lease_s=1800, max_attempts=1)
def run_import(engine: Engine, job: jobs.JobRun) -> None:
    """Import the sheet whole or not at all: "running" is committed first (the page shows it), the
    rows in one transaction of their own, then the outcome — a refusal with its row report."""
    assert job.tenant_id is not None
    tenant_id, run_id = job.tenant_id, int(job.payload["run_id"])
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        # Claimed by one conditional update: a second delivery of the job (a lease that lapsed while
        # the first still ran) finds the run no longer queued and imports nothing twice.
        claimed = session.execute(
            update(ImportRun)
            .where(
                ImportRun.tenant_id == tenant_id,
                ImportRun.id == run_id,
                ImportRun.status == "queued",
                ImportRun.content.is_not(None),
            )
            .values(status="running", started_at=utcnow())
        ).rowcount  # type: ignore[attr-defined]
        if not claimed:
            return
    outcome: dict[str, Any]
    try:
        with unit_of_work(engine, tenant_id=tenant_id) as session:
            run = get_run(session, tenant_id=tenant_id, run_id=run_id)
            importer, _ = IMPORTERS[run.kind]
            actor = (
                staff_principal(session, tenant_id=tenant_id, staff_id=run.actor_id) if run.actor_id else None
            )
            counts = importer(session, tenant_id=tenant_id, table=_mapped(run), actor=actor)
            outcome = {
                "status": "done",
                "created": int(counts.get("created", 0)),
                "updated": int(counts.get("updated", 0)),
            }
            _finish(session, run, actor, outcome)
        return
    except DomainError as exc:  # the rows are refused: nothing of them was written
        details = exc.details if isinstance(exc.details, dict) else {}
        errors = [dict(e) for e in details.get("errors", [])]
        outcome = {
            "status": "rejected",
            "error_count": int(exc.params.get("error_count") or len(errors) or 1),
            "errors": errors[:MAX_ERRORS_KEPT],
            "message": f"{exc.message()[:300]} / {exc.message('en')[:190]}",
        }
    except Exception as exc:  # a defect or the database: said on the page, logged by the runner
        outcome = {"status": "failed", "message": f"{type(exc).__name__}: {str(exc)[:400]}"}
        with unit_of_work(engine, tenant_id=tenant_id) as session:
            run = get_run(session, tenant_id=tenant_id, run_id=run_id)
            _finish(session, run, None, outcome)
        raise
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        run = get_run(session, tenant_id=tenant_id, run_id=run_id)
        actor = staff_principal(session, tenant_id=tenant_id, staff_id=run.actor_id) if run.actor_id else None
        _finish(session, run, actor, outcome)


def _finish(session: Session, run: ImportRun, actor: Principal | None, outcome: dict[str, Any]) -> None:
    for key, value in outcome.items():
        setattr(run, key, value)
    run.finished_at = utcnow()
    run.content = None  # the sheet held personal data: it is not kept after the run
    audit.record(
        session,
        tenant_id=run.tenant_id,
        actor=actor,
        action="import.run",
        object_type="import",
        object_id=run.id,
        data={
            "kind": run.kind,
            "rows": run.rows,
            "status": run.status,
            "created": run.created,
            "updated": run.updated,
        },
    )


def history(session: Session, *, tenant_id: int, limit: int = 50) -> list[ImportRun]:
    """The brand's latest imports, newest first."""
    return list(
        session.scalars(
            select(ImportRun)
            .where(ImportRun.tenant_id == tenant_id)
            .order_by(ImportRun.id.desc())
            .limit(limit)
        )
    )
