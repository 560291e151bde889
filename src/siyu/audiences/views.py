"""HTTP routes of audiences: preview, packages, snapshots, export, overlap."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Query, status
from fastapi.responses import FileResponse
from pyroaring import BitMap

from siyu.access import Perm, Principal
from siyu.api.deps import DB, PathId, PathVersion, allow
from siyu.api.downloads import temporary_download
from siyu.api.routing import TransactionalRoute
from siyu.audiences import schemas as s
from siyu.audiences import service
from siyu.audiences.models import Audience, AudienceSnapshot
from siyu.platform import audit
from siyu.platform.tabular import write_table

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute, tags=["audiences 人群包"])


def snapshot_read(row: AudienceSnapshot) -> s.SnapshotRead:
    """A snapshot without its members."""
    return s.SnapshotRead(
        id=row.id,
        audience_id=row.audience_id,
        version=row.version,
        size=row.size,
        rule=row.rule,
        created_by=row.created_by,
        created_at=row.created_at,
    )


def audience_read(row: Audience, latest: AudienceSnapshot | None) -> s.AudienceRead:
    """An audience with its newest snapshot."""
    return s.AudienceRead(
        id=row.id,
        name=row.name,
        description=row.description,
        rule=row.rule,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
        latest_snapshot=snapshot_read(latest) if latest else None,
    )


@router.post("/audiences/preview", response_model=s.Preview, summary="Live size 人群预估")
def preview(body: s.RuleBody, db: DB, principal: Principal = allow(Perm.AUDIENCES_READ)) -> s.Preview:
    """How many customers a rule selects now, by home store and member tier (for the builder)."""
    return service.preview(db, tenant_id=principal.tenant_id, rule=body.rule)


@router.get("/audiences", response_model=list[s.AudienceRead], summary="Audience packages 人群包列表")
def list_audiences(db: DB, principal: Principal = allow(Perm.AUDIENCES_READ)) -> list[s.AudienceRead]:
    """Every audience of the brand, newest first."""
    return [
        audience_read(a, latest) for a, latest in service.list_audiences(db, tenant_id=principal.tenant_id)
    ]


@router.post(
    "/audiences",
    response_model=s.AudienceRead,
    status_code=status.HTTP_201_CREATED,
    summary="Save an audience 保存人群包",
)
def create_audience(
    body: s.AudienceCreate, db: DB, principal: Principal = allow(Perm.AUDIENCES_WRITE)
) -> s.AudienceRead:
    """Save a rule under a name; an invalid rule is refused."""
    row = service.create_audience(db, tenant_id=principal.tenant_id, data=body, principal=principal)
    return audience_read(row, None)


@router.get("/audiences/{audience_id}", response_model=s.AudienceRead, summary="One audience 人群包详情")
def get_audience(
    audience_id: PathId, db: DB, principal: Principal = allow(Perm.AUDIENCES_READ)
) -> s.AudienceRead:
    """An audience with its newest snapshot."""
    row = service.get_audience(db, tenant_id=principal.tenant_id, audience_id=audience_id)
    return audience_read(row, service.latest_snapshot(db, tenant_id=principal.tenant_id, audience_id=row.id))


@router.patch(
    "/audiences/{audience_id}", response_model=s.AudienceRead, summary="Change an audience 修改人群包"
)
def update_audience(
    audience_id: PathId, body: s.AudienceUpdate, db: DB, principal: Principal = allow(Perm.AUDIENCES_WRITE)
) -> s.AudienceRead:
    """Rename or change the rule; snapshots keep the rule they were taken with."""
    row = service.update_audience(db, tenant_id=principal.tenant_id, audience_id=audience_id, data=body)
    return audience_read(row, service.latest_snapshot(db, tenant_id=principal.tenant_id, audience_id=row.id))


@router.post(
    "/audiences/{audience_id}/snapshots",
    response_model=s.SnapshotRead,
    status_code=status.HTTP_201_CREATED,
    summary="Freeze a version 生成人群快照",
)
def take_snapshot(
    audience_id: PathId, db: DB, principal: Principal = allow(Perm.AUDIENCES_WRITE)
) -> s.SnapshotRead:
    """Freeze who is in the audience now as its next version."""
    return snapshot_read(
        service.snapshot(db, tenant_id=principal.tenant_id, audience_id=audience_id, principal=principal)
    )


@router.get(
    "/audiences/{audience_id}/snapshots", response_model=list[s.SnapshotRead], summary="Versions 人群快照列表"
)
def list_snapshots(
    audience_id: PathId, db: DB, principal: Principal = allow(Perm.AUDIENCES_READ)
) -> list[s.SnapshotRead]:
    """Every frozen version, newest first."""
    rows = service.list_snapshots(db, tenant_id=principal.tenant_id, audience_id=audience_id)
    return [snapshot_read(r) for r in rows]


@router.get(
    "/audiences/{audience_id}/snapshots/{version}/export",
    summary="Export a version 导出人群快照 (CSV/Excel)",
    response_class=FileResponse,
    responses={200: {"content": {"text/csv": {}, "application/vnd.ms-excel": {}}}},
)
def export_snapshot(
    audience_id: PathId,
    version: PathVersion,
    db: DB,
    format: s.ExportFormat = Query(default="xlsx"),
    principal: Principal = allow(Perm.CUSTOMERS_EXPORT),
) -> FileResponse:
    """The members of a frozen version; phones are masked."""
    row = service.get_snapshot(db, tenant_id=principal.tenant_id, audience_id=audience_id, version=version)
    return snapshot_download(db, principal, row, format, via="api")


def snapshot_download(
    db: DB, principal: Principal, row: AudienceSnapshot, format: str, *, via: str
) -> FileResponse:
    """A frozen version as a CSV/Excel download (phones masked); the export is audited."""
    members = BitMap.deserialize(row.members)

    def write(path: Path) -> None:
        rows = service.export_rows(db, tenant_id=principal.tenant_id, members=members)
        write_table(path, service.EXPORT_HEADERS, rows)

    response = temporary_download(f"audience-{row.audience_id}-v{row.version}.{format}", write)
    audit.record(
        db,
        tenant_id=principal.tenant_id,
        actor=principal,
        action="audience.export",
        object_type="audience",
        object_id=row.audience_id,
        data={"version": row.version, "rows": row.size, "format": format, "via": via},
    )
    return response


@router.post("/audiences/overlap", response_model=s.Overlap, summary="Overlap of two audiences 人群重合")
def overlap(body: s.OverlapBody, db: DB, principal: Principal = allow(Perm.AUDIENCES_READ)) -> s.Overlap:
    """Sizes of A, B, both, only A, only B and the Jaccard index."""
    return service.overlap(db, tenant_id=principal.tenant_id, body=body)
