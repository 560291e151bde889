"""The tag engine on both databases: concurrent tagging has one effect, the bitmaps follow every
write, and a restart from saved checkpoints gives the same bitmaps as reading every assignment."""

from __future__ import annotations

from sqlalchemy import delete, func, select

from siyu.customers.models import Customer
from siyu.db.session import unit_of_work
from siyu.segments.index import CHECKPOINTS, TenantIndex, index_for
from siyu.tags import schemas as s
from siyu.tags import service
from siyu.tags.models import TagAssignment, TagEvent
from tests.factories import World
from tests.support import run_threads


def setup(w: World, customers: int = 30) -> tuple[list[int], list[int]]:
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        rows = [
            Customer(tenant_id=w.tenant_id, number=n, status="active", gender="female")
            for n in range(1, customers + 1)
        ]
        db.add_all(rows)
        group = service.create_group(
            db,
            tenant_id=w.tenant_id,
            data=s.TagGroupCreate(name_zh="组", name_en="G", exclusive=False),
            principal=None,
        )
        tags = [
            service.create_tag(
                db,
                tenant_id=w.tenant_id,
                group_id=group.id,
                data=s.TagCreate(name_zh=f"T{i}", name_en=f"T{i}"),
                principal=None,
            ).id
            for i in range(3)
        ]
        db.flush()
        return [c.id for c in rows], tags


def change(w: World, action: str, pairs: list[tuple[int, int]]) -> s.AssignmentResult:
    batch = s.AssignmentBatch(
        action=action, items=[s.AssignmentItem(customer_id=c, tag_id=t) for c, t in pairs]
    )  # type: ignore[arg-type]
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as db:
        return service.change_assignments(db, tenant_id=w.tenant_id, batch=batch, principal=None)


def test_the_same_tagging_ten_times_at_once_has_one_effect(db_world: World) -> None:
    w = db_world
    customers, tags = setup(w)
    results = run_threads(
        10, lambda _i: change(w, "assign", [(customers[0], tags[0]), (customers[1], tags[0])])
    )
    assert sum(r.assigned for r in results) == 2 and sum(r.unchanged for r in results) == 18
    with unit_of_work(w.engine) as db:
        events = db.scalar(
            select(func.count()).select_from(TagEvent).where(TagEvent.tenant_id == w.tenant_id)
        )
    assert events == 2
    assert set(index_for(w.engine, w.tenant_id).tags[tags[0]]) == {1, 2}


def test_bitmaps_follow_writes_and_restart_from_checkpoints(db_world: World) -> None:
    w = db_world
    customers, tags = setup(w)
    change(w, "assign", [(c, tags[i % 3]) for i, c in enumerate(customers)])
    index = index_for(w.engine, w.tenant_id)
    assert index.checkpoint(w.engine) == 3
    # After the checkpoint: more tagging and some removals, which the log carries.
    change(w, "assign", [(c, tags[0]) for c in customers[:10]])
    change(w, "remove", [(c, tags[1]) for c in customers[:15]])
    live = index_for(w.engine, w.tenant_id)
    restarted = TenantIndex(w.tenant_id)
    restarted.sync(w.engine)
    assert restarted.loaded_from == "checkpoint"
    with unit_of_work(w.engine) as db:
        truth = {
            t: {
                n
                for (n,) in db.execute(select(TagAssignment.customer_number).where(TagAssignment.tag_id == t))
            }
            for t in tags
        }
        db.execute(delete(CHECKPOINTS).where(CHECKPOINTS.c.tenant_id == w.tenant_id))
    from_rows = TenantIndex(w.tenant_id)
    from_rows.sync(w.engine)
    assert from_rows.loaded_from == "assignments"
    for t in tags:
        assert set(live.tags[t]) == set(restarted.tags[t]) == set(from_rows.tags[t]) == truth[t]
    assert truth[tags[0]] == set(range(1, 11)) | {n for n in range(1, 31) if (n - 1) % 3 == 0}
