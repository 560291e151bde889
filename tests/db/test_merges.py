"""Customer merges on SQLite and PostgreSQL: every column that points at a customer is moved or
exempt, tags unite with history (and the audience bitmaps follow), WeCom relations and the guide
binding move, and an unmerge restores them."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from siyu.customers import references
from siyu.customers import schemas as cs
from siyu.customers import service as customers
from siyu.customers.models import Customer
from siyu.db.base import table_of
from siyu.db.session import unit_of_work
from siyu.guides import facade as guides
from siyu.guides.models import GuideBinding, GuideBindingEvent
from siyu.metadata import Base
from siyu.segments import engine as audience_engine
from siyu.segments.index import TenantIndex, index_for
from siyu.tags import schemas as ts
from siyu.tags import service as tags
from siyu.tags.models import TagAssignment, TagEvent
from siyu.wecom.models import CustomerGroup, CustomerGroupMember, Transfer, WeComFriend
from tests.factories import World

T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)
SRC = Path(__file__).resolve().parents[2] / "src"


# --- the registry ---------------------------------------------------------------------------------
def test_every_customer_column_is_moved_or_exempt_with_a_reason() -> None:
    # A fresh interpreter that imports only the models and the registry: the registry itself must
    # load every domain's registrations (nothing else in this test process may have done it).
    script = (
        "import siyu.metadata as m\n"
        "from siyu.customers import references as r\n"
        "print(sorted(r.customer_columns(m.Base.metadata)))\n"
        "print(r.unaccounted(m.Base.metadata))\n"
        "print(sorted(x.name for x in r.all_references()))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, check=True
    ).stdout.splitlines()
    columns, missing, registered = (eval(line) for line in out)
    assert missing == []
    assert {
        "guide_bindings.customer_id",
        "guide_binding_events.customer_id",
        "tag_assignments.customer_id",
        "tag_events.customer_id",
        "wecom_friends.customer_id",
        "wecom_group_members.customer_id",
        "wecom_transfers.customer_id",
        "orders.customer_id",
    } <= set(registered)
    assert sorted(references.customer_columns(Base.metadata)) == columns
    exempt = references.exemptions()
    assert all(reason.strip() for reason in exempt.values())
    # Every column is decided exactly once, and every decision names a real column.
    assert sorted([*registered, *exempt]) == columns


def test_merge_refuses_while_a_customer_column_has_no_decision(
    db_world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = _customers(db_world, "UNDECIDED", 2)
    monkeypatch.delitem(references._REFERENCES, "wecom_friends.customer_id")
    with unit_of_work(db_world.engine) as session, pytest.raises(RuntimeError, match="wecom_friends"):
        customers.merge(session, tenant_id=db_world.tenant_id, survivor_id=a, merged_id=b, principal=None)
    with unit_of_work(db_world.engine) as session:
        assert session.scalar(select(Customer.status).where(Customer.id == b)) == "active"


# --- tags -----------------------------------------------------------------------------------------
def _customers(w: World, prefix: str, n: int) -> list[int]:
    records = [
        cs.CustomerUpsert.model_validate({"identities": [{"type": "member_card", "value": f"{prefix}{i}"}]})
        for i in range(n)
    ]
    with unit_of_work(w.engine) as session:
        result = customers.upsert_customers(
            session, tenant_id=w.tenant_id, records=records, source="test", actor=None
        )
    return [r.customer_id for r in result.results]


def _tags(w: World) -> dict[str, int]:
    with unit_of_work(w.engine) as session:
        found: dict[str, int] = {}
        for group_name, exclusive, names, days in (
            ("兴趣", False, ("T1", "T2", "T3"), None),
            ("活动", False, ("X",), 5),
            ("等级", True, ("E1", "E2"), None),
        ):
            group = tags.create_group(
                session,
                tenant_id=w.tenant_id,
                data=ts.TagGroupCreate(name_zh=group_name, name_en=group_name, exclusive=exclusive),
                principal=None,
            )
            for name in names:
                found[name] = tags.create_tag(
                    session,
                    tenant_id=w.tenant_id,
                    group_id=group.id,
                    data=ts.TagCreate(name_zh=name, name_en=name, expires_after_days=days),
                    principal=None,
                ).id
    return found


def _assign(w: World, pairs: list[tuple[int, int]], at: dt.datetime) -> None:
    batch = ts.AssignmentBatch(items=[ts.AssignmentItem(customer_id=c, tag_id=t) for c, t in pairs])
    with unit_of_work(w.engine) as session:
        tags.change_assignments(session, tenant_id=w.tenant_id, batch=batch, principal=None, now=at)


def _held(w: World, customer_ids: list[int]) -> dict[int, dict[int, dt.datetime | None]]:
    with unit_of_work(w.engine) as session:
        out: dict[int, dict[int, dt.datetime | None]] = {c: {} for c in customer_ids}
        for a in session.scalars(select(TagAssignment).where(TagAssignment.customer_id.in_(customer_ids))):
            out[a.customer_id][a.tag_id] = a.expires_at
        return out


def _members(w: World, tag_id: int) -> set[int]:
    with unit_of_work(w.engine) as session:
        result = audience_engine.evaluate(
            session,
            tenant_id=w.tenant_id,
            rule={"type": "tags", "match": "has", "tag_ids": [tag_id]},
            use_cache=False,
        )
    return set(result.members)


def _number(w: World, customer_id: int) -> int:
    with unit_of_work(w.engine) as session:
        number = session.scalar(select(Customer.number).where(Customer.id == customer_id))
    assert number is not None
    return number


def test_merge_unites_tags_with_history_and_the_audience_bitmaps_follow(db_world: World) -> None:
    w = db_world
    survivor, merged = _customers(w, "TAGM", 2)
    t = _tags(w)
    # The survivor: T1, X (lapsing in 5 days from T0), E1 (assigned first). The merged record: T1
    # and T2 (no expiry), X (assigned a day later, so lapsing later), E2 (assigned later than E1).
    _assign(w, [(survivor, t["T1"]), (survivor, t["X"]), (survivor, t["E1"])], T0)
    _assign(
        w,
        [(merged, t["T1"]), (merged, t["T2"]), (merged, t["X"]), (merged, t["E2"])],
        T0 + dt.timedelta(days=1),
    )
    s_no, m_no = _number(w, survivor), _number(w, merged)
    before = _held(w, [survivor, merged])
    assert _members(w, t["T2"]) == {m_no}  # the index is built before the merge, then replays it
    with unit_of_work(w.engine) as session:
        merge_id = customers.merge(
            session, tenant_id=w.tenant_id, survivor_id=survivor, merged_id=merged, principal=None
        ).id
    held = _held(w, [survivor, merged])
    assert held == {
        survivor: {
            t["T1"]: None,
            t["T2"]: None,
            t["X"]: T0 + dt.timedelta(days=6),  # the later of the two expiries
            t["E2"]: None,  # the more recent assignment wins the exclusive group
        },
        merged: {},
    }
    with unit_of_work(w.engine) as session:
        events = [
            (e.customer_id, e.tag_id, e.customer_number, e.action)
            for e in session.scalars(
                select(TagEvent)
                .where(TagEvent.tenant_id == w.tenant_id, TagEvent.source_type == "merge")
                .order_by(TagEvent.id)
            )
        ]
        mine = select(TagEvent).where(TagEvent.tenant_id == w.tenant_id)
        assert {e.source_id for e in session.scalars(mine.where(TagEvent.source_type == "merge"))} == {
            merge_id
        }
        # The merged record's earlier history moved with it (keeping the numbers it was written with).
        assert [
            e.customer_id
            for e in session.scalars(mine.where(TagEvent.customer_number == m_no).order_by(TagEvent.id))
        ] == [survivor] * 4 + [merged] * 4
    assert sorted(events) == sorted(
        [
            (merged, t["T1"], m_no, "removed"),  # both held T1: the survivor's stays
            (merged, t["T2"], m_no, "removed"),
            (survivor, t["T2"], s_no, "assigned"),
            (survivor, t["X"], s_no, "renewed"),
            (merged, t["X"], m_no, "removed"),
            (survivor, t["E1"], s_no, "replaced"),
            (merged, t["E2"], m_no, "removed"),
            (survivor, t["E2"], s_no, "assigned"),
        ]
    )
    # Audiences of a tag the merged record held now hold the survivor, and not the merged record.
    for name in ("T1", "T2", "E2"):
        assert _members(w, t[name]) == {s_no}
    assert _members(w, t["E1"]) == set()
    live = index_for(w.engine, w.tenant_id)
    assert m_no not in live.tags[t["T2"]] and s_no in live.tags[t["T2"]]
    rebuilt = TenantIndex(w.tenant_id)
    rebuilt.sync(w.engine)
    assert {k: set(v) for k, v in rebuilt.tags.items() if v} == {k: set(v) for k, v in live.tags.items() if v}

    with unit_of_work(w.engine) as session:
        customers.unmerge(session, tenant_id=w.tenant_id, merge_id=merge_id, principal=None)
    assert _held(w, [survivor, merged]) == before
    assert (_members(w, t["T2"]), _members(w, t["E1"]), _members(w, t["E2"])) == ({m_no}, {s_no}, {m_no})
    assert _members(w, t["T1"]) == {s_no, m_no}
    with unit_of_work(w.engine) as session:
        sources = {
            (a.customer_id, a.tag_id): (a.source_type, a.assigned_at)
            for a in session.scalars(select(TagAssignment).where(TagAssignment.tenant_id == w.tenant_id))
        }
    assert sources[(survivor, t["X"])] == ("api", T0)  # provenance restored with the expiry
    assert sources[(merged, t["T1"])] == ("api", T0 + dt.timedelta(days=1))


def test_unmerge_leaves_tags_changed_since_the_merge(db_world: World) -> None:
    w = db_world
    survivor, merged = _customers(w, "TAGU", 2)
    t = _tags(w)
    _assign(w, [(merged, t["T2"]), (merged, t["T3"])], T0)
    with unit_of_work(w.engine) as session:
        merge_id = customers.merge(
            session, tenant_id=w.tenant_id, survivor_id=survivor, merged_id=merged, principal=None
        ).id
    batch = ts.AssignmentBatch(
        action="remove", items=[ts.AssignmentItem(customer_id=survivor, tag_id=t["T3"])]
    )
    with unit_of_work(w.engine) as session:
        tags.change_assignments(session, tenant_id=w.tenant_id, batch=batch, principal=None)
        customers.unmerge(session, tenant_id=w.tenant_id, merge_id=merge_id, principal=None)
    # T3 was taken off the survivor after the merge: it is not brought back to either record.
    assert _held(w, [survivor, merged]) == {survivor: {}, merged: {t["T2"]: None}}


# --- WeCom relations and the guide binding ---------------------------------------------------------
def _wecom_rows(w: World, customer_id: int, key: str) -> None:
    with unit_of_work(w.engine) as session:
        group = CustomerGroup(
            tenant_id=w.tenant_id,
            chat_id=f"wr{key}",
            owner_staff_id=w.staff["guide"],
            created_at=T0,
            last_event_at=T0,
        )
        session.add(group)
        session.flush()
        session.add_all(
            [
                WeComFriend(
                    tenant_id=w.tenant_id,
                    staff_id=w.staff["guide"],
                    customer_id=customer_id,
                    external_userid=f"wm{key}",
                    added_at=T0,
                    last_event_at=T0,
                ),
                CustomerGroupMember(
                    tenant_id=w.tenant_id,
                    group_id=group.id,
                    member_key=f"wm{key}",
                    kind="customer",
                    customer_id=customer_id,
                    joined_at=T0,
                ),
                Transfer(
                    tenant_id=w.tenant_id,
                    batch=f"b{key}",
                    kind="resigned",
                    customer_id=customer_id,
                    external_userid=f"wm{key}",
                    from_staff_id=w.staff["guide"],
                    to_staff_id=w.staff["guide2"],
                    status="requested",
                    requested_at=T0,
                ),
            ]
        )


def _owners(w: World, survivor: int, merged: int) -> dict[str, list[int]]:
    tables = [
        table_of(m) for m in (WeComFriend, CustomerGroupMember, Transfer, GuideBinding, GuideBindingEvent)
    ]
    with unit_of_work(w.engine) as session:
        return {
            t.name: sorted(
                session.scalars(
                    select(t.c.customer_id).where(
                        t.c.tenant_id == w.tenant_id, t.c.customer_id.in_([survivor, merged])
                    )
                )
            )
            for t in tables
        }


def _bind(w: World, customer_id: int, guide: str) -> None:
    with unit_of_work(w.engine) as session:
        guides.bind(
            session,
            tenant_id=w.tenant_id,
            customer_id=customer_id,
            guide_id=w.staff[guide],
            store_id=w.store_ids[0],
            source="manual",
            at=T0,
        )


def test_merge_moves_wecom_relations_and_the_binding_when_the_survivor_has_none(db_world: World) -> None:
    w = db_world
    survivor, merged = _customers(w, "WXM", 2)
    _wecom_rows(w, merged, "m")
    _wecom_rows(w, survivor, "s")
    _bind(w, merged, "guide")
    before = _owners(w, survivor, merged)
    with unit_of_work(w.engine) as session:
        merge_id = customers.merge(
            session, tenant_id=w.tenant_id, survivor_id=survivor, merged_id=merged, principal=None
        ).id
    moved = _owners(w, survivor, merged)
    # One row per WeCom relation, all on the survivor (two friends: two external contacts).
    assert moved == {
        "wecom_friends": [survivor, survivor],
        "wecom_group_members": [survivor, survivor],
        "wecom_transfers": [survivor, survivor],
        "guide_bindings": [survivor],
        "guide_binding_events": [survivor],
    }
    with unit_of_work(w.engine) as session:
        state = guides.binding_of(session, tenant_id=w.tenant_id, customer_id=survivor)
        assert state is not None and state.guide_id == w.staff["guide"]
        customers.unmerge(session, tenant_id=w.tenant_id, merge_id=merge_id, principal=None)
    assert _owners(w, survivor, merged) == before


def test_merge_keeps_the_survivors_binding_and_unmerge_restores_the_merged_one(db_world: World) -> None:
    w = db_world
    survivor, merged = _customers(w, "GBM", 2)
    _bind(w, survivor, "guide")
    _bind(w, merged, "guide2")
    with unit_of_work(w.engine) as session:
        merge_id = customers.merge(
            session, tenant_id=w.tenant_id, survivor_id=survivor, merged_id=merged, principal=None
        ).id
    with unit_of_work(w.engine) as session:
        kept = guides.binding_of(session, tenant_id=w.tenant_id, customer_id=survivor)
        assert kept is not None and kept.guide_id == w.staff["guide"]
        assert guides.binding_of(session, tenant_id=w.tenant_id, customer_id=merged) is None
        ended = _binding_events(session, w, merged)
    assert ended == [("ended", w.staff["guide2"], "merge", f"merge:{merge_id}")]
    with unit_of_work(w.engine) as session:
        customers.unmerge(session, tenant_id=w.tenant_id, merge_id=merge_id, principal=None)
    with unit_of_work(w.engine) as session:
        back = guides.binding_of(session, tenant_id=w.tenant_id, customer_id=merged)
        assert back is not None
        assert (back.guide_id, back.source, back.started_at) == (w.staff["guide2"], "manual", T0)
        assert [e[0] for e in _binding_events(session, w, merged)] == ["bound", "ended", "bound"]


def _binding_events(
    session: Any, w: World, customer_id: int
) -> list[tuple[str, int | None, str, str | None]]:
    return [
        (e.kind, e.guide_id, e.source, e.reference)
        for e in session.scalars(
            select(GuideBindingEvent)
            .where(GuideBindingEvent.tenant_id == w.tenant_id, GuideBindingEvent.customer_id == customer_id)
            .order_by(GuideBindingEvent.id)
        )
    ]


def test_merge_moves_loyalty_balances_by_a_transaction_and_unmerge_reverses_it(db_world: World) -> None:
    from siyu.core.errors import DomainError
    from siyu.loyalty import ledger
    from siyu.loyalty import service as loyalty
    from siyu.loyalty.check import check

    w = db_world
    survivor, merged = _customers(w, "LOYM", 2)
    with unit_of_work(w.engine) as session:
        loyalty.earn_points(session, tenant_id=w.tenant_id, customer_id=survivor, points=100, key="m-e1")
        loyalty.earn_points(session, tenant_id=w.tenant_id, customer_id=merged, points=250, key="m-e2")
        loyalty.top_up(
            session, tenant_id=w.tenant_id, customer_id=merged, principal_fen=5_000, bonus_fen=500, key="m-t"
        )
        held, _ = loyalty.hold_for_checkout(
            session, tenant_id=w.tenant_id, customer_id=merged, asset="points", amount=10, key="m-h"
        )
    # An open hold on the merged record stops the merge (nothing moves).
    with unit_of_work(w.engine) as session, pytest.raises(DomainError) as refused:
        customers.merge(
            session, tenant_id=w.tenant_id, survivor_id=survivor, merged_id=merged, principal=None
        )
    assert refused.value.code == "conflict"
    with unit_of_work(w.engine) as session:
        ledger.release(session, tenant_id=w.tenant_id, hold_id=held.id, key="m-r")
    with unit_of_work(w.engine) as session:
        merge_id = customers.merge(
            session, tenant_id=w.tenant_id, survivor_id=survivor, merged_id=merged, principal=None
        ).id
    with unit_of_work(w.engine) as session:
        assert ledger.balances(session, tenant_id=w.tenant_id, customer_id=survivor) == {
            "points": (350, 0),
            "sv_principal": (5_000, 0),
            "sv_bonus": (500, 0),
        }
        assert all(
            b == (0, 0) for b in ledger.balances(session, tenant_id=w.tenant_id, customer_id=merged).values()
        )
    with unit_of_work(w.engine) as session:
        customers.unmerge(session, tenant_id=w.tenant_id, merge_id=merge_id, principal=None)
    with unit_of_work(w.engine) as session:
        assert ledger.balances(session, tenant_id=w.tenant_id, customer_id=survivor)["points"] == (100, 0)
        assert ledger.balances(session, tenant_id=w.tenant_id, customer_id=merged)["sv_bonus"] == (500, 0)
        assert check(session, tenant_id=w.tenant_id)["violations"] == 0
