"""HTTP routes of tags: catalogue, assigning (single and bulk), a customer's tags and history."""

from __future__ import annotations

from fastapi import APIRouter, status

from siyu.access import Perm, Principal
from siyu.api.deps import DB, PathId, allow
from siyu.api.platform import add_import_route
from siyu.api.routing import TransactionalRoute
from siyu.tags import schemas as s
from siyu.tags import service
from siyu.tags.imports import FINDERS, import_tags
from siyu.tags.models import Tag, TagGroup
from siyu.tags.ports import rule_engine

router = APIRouter(prefix="/api/v1", route_class=TransactionalRoute, tags=["tags 标签"])


def tag_read(tag: Tag, counts: dict[int, int]) -> s.TagRead:
    """A tag as the API shows it, with its member count."""
    return s.TagRead(
        id=tag.id,
        group_id=tag.group_id,
        name_zh=tag.name_zh,
        name_en=tag.name_en,
        expires_after_days=tag.expires_after_days,
        rule=tag.rule,
        refreshed_at=tag.refreshed_at,
        members=counts.get(tag.id, 0),
    )


def group_read(group: TagGroup, tags: list[Tag], counts: dict[int, int]) -> s.TagGroupRead:
    """A group with its tags."""
    return s.TagGroupRead(
        id=group.id,
        name_zh=group.name_zh,
        name_en=group.name_en,
        kind=group.kind,
        exclusive=group.exclusive,
        open_to_guides=group.open_to_guides,
        owner_staff_id=group.owner_staff_id,
        tags=[tag_read(t, counts) for t in tags],
    )


@router.get("/tag-groups", response_model=list[s.TagGroupRead], summary="Tag catalogue 标签目录")
def list_groups(db: DB, principal: Principal = allow(Perm.TAGS_READ)) -> list[s.TagGroupRead]:
    """Groups and tags the caller can see, with how many customers hold each tag now."""
    counts = service.member_counts(db, tenant_id=principal.tenant_id)
    return [
        group_read(g, tags, counts)
        for g, tags in service.list_groups(db, tenant_id=principal.tenant_id, principal=principal)
    ]


@router.post(
    "/tag-groups",
    response_model=s.TagGroupRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a tag group 新建标签组",
)
def create_group(
    body: s.TagGroupCreate, db: DB, principal: Principal = allow(Perm.TAGS_ASSIGN)
) -> s.TagGroupRead:
    """HQ creates groups of any kind but guide-private; a guide creates their own private group."""
    group = service.create_group(db, tenant_id=principal.tenant_id, data=body, principal=principal)
    return group_read(group, [], {})


@router.post(
    "/tag-groups/{group_id}/tags",
    response_model=s.TagRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a tag 新建标签",
)
def create_tag(
    group_id: PathId, body: s.TagCreate, db: DB, principal: Principal = allow(Perm.TAGS_ASSIGN)
) -> s.TagRead:
    """A tag in a group; rule tags are filled by their rule at the next refresh (or POST …/refresh)."""
    tag = service.create_tag(
        db, tenant_id=principal.tenant_id, group_id=group_id, data=body, principal=principal
    )
    return tag_read(tag, {})


@router.get("/tags/{tag_id}", response_model=s.TagRead, summary="One tag 标签详情")
def get_tag(tag_id: PathId, db: DB, principal: Principal = allow(Perm.TAGS_READ)) -> s.TagRead:
    """A tag with its member count."""
    tag, _ = service.get_tag(db, tenant_id=principal.tenant_id, tag_id=tag_id, principal=principal)
    return tag_read(tag, service.member_counts(db, tenant_id=principal.tenant_id))


@router.post(
    "/tags/{tag_id}/refresh", response_model=s.RefreshResult, summary="Refresh a rule tag 刷新规则标签"
)
def refresh_tag(tag_id: PathId, db: DB, principal: Principal = allow(Perm.TAGS_MANAGE)) -> s.RefreshResult:
    """Run a rule tag's rule now and bring its members up to date."""
    service.get_tag(db, tenant_id=principal.tenant_id, tag_id=tag_id, principal=principal)
    return rule_engine().refresh_rule_tag(db, tenant_id=principal.tenant_id, tag_id=tag_id)


@router.post("/tag-assignments/batch", response_model=s.AssignmentResult, summary="Tag in bulk 批量打标签")
def change_assignments(
    body: s.AssignmentBatch, db: DB, principal: Principal = allow(Perm.TAGS_ASSIGN)
) -> s.AssignmentResult:
    """Assign or remove up to 10,000 (customer, tag) pairs; every pair is checked first, all or none."""
    return service.change_assignments(db, tenant_id=principal.tenant_id, batch=body, principal=principal)


@router.get(
    "/customers/{customer_id}/tags",
    response_model=list[s.CustomerTagRead],
    summary="A customer's tags 客户标签",
)
def customer_tags(
    customer_id: PathId, db: DB, principal: Principal = allow(Perm.TAGS_READ)
) -> list[s.CustomerTagRead]:
    """Tags the customer holds now, with where each came from and when it lapses."""
    return [
        s.CustomerTagRead(
            tag_id=t.id,
            group_id=g.id,
            group_name_zh=g.name_zh,
            group_name_en=g.name_en,
            name_zh=t.name_zh,
            name_en=t.name_en,
            source_type=a.source_type,
            source_id=a.source_id,
            assigned_at=a.assigned_at,
            expires_at=a.expires_at,
        )
        for a, t, g in service.customer_tags(
            db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal
        )
    ]


@router.post(
    "/customers/{customer_id}/tags", response_model=s.AssignmentResult, summary="Tag a customer 打标签"
)
def tag_customer(
    customer_id: PathId, body: s.CustomerTagCreate, db: DB, principal: Principal = allow(Perm.TAGS_ASSIGN)
) -> s.AssignmentResult:
    """Put one tag on one customer (exclusive groups replace the customer's other tag)."""
    return service.change_one(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        tag_id=body.tag_id,
        action="assign",
        principal=principal,
    )


@router.delete(
    "/customers/{customer_id}/tags/{tag_id}",
    response_model=s.AssignmentResult,
    summary="Untag a customer 去掉标签",
)
def untag_customer(
    customer_id: PathId, tag_id: PathId, db: DB, principal: Principal = allow(Perm.TAGS_ASSIGN)
) -> s.AssignmentResult:
    """Take one tag off one customer."""
    return service.change_one(
        db,
        tenant_id=principal.tenant_id,
        customer_id=customer_id,
        tag_id=tag_id,
        action="remove",
        principal=principal,
    )


@router.get(
    "/customers/{customer_id}/tag-history",
    response_model=list[s.TagEventRead],
    summary="Tag history 标签历史",
)
def tag_history(
    customer_id: PathId, db: DB, principal: Principal = allow(Perm.TAGS_READ)
) -> list[s.TagEventRead]:
    """Every assignment, renewal, removal, replacement and expiry, newest first."""
    return [
        s.TagEventRead(
            id=e.id,
            tag_id=t.id,
            tag_name_zh=t.name_zh,
            action=e.action,
            source_type=e.source_type,
            source_id=e.source_id,
            occurred_at=e.occurred_at,
            expires_at=e.expires_at,
        )
        for e, t in service.tag_history(
            db, tenant_id=principal.tenant_id, customer_id=customer_id, principal=principal
        )
    ]


add_import_route(
    router,
    "tags",
    import_tags,
    Perm.TAGS_ASSIGN,
    required=("tag_group", "tag"),
    optional=(*FINDERS, "action"),
)
