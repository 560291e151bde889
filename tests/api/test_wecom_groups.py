"""Customer groups from change_external_chat callbacks, end to end with the fake WeCom: creation
read back from WeCom (owner, store, members), joins and quits per day, a missed member change
detected by its version and repaired, dismissal, message counts, the dead-group flag, scope."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from siyu.wecom.fake import FakeWeCom, chat_event
from tests.api.wecom_support import deliver, fake_wecom_app
from tests.factories import World

CORP = "wwgroups00000001"
CHAT = "wrGROUP000000000000000001"


@pytest.fixture
def wecom(world: World) -> Iterator[tuple[TestClient, FakeWeCom, World]]:
    with fake_wecom_app(world, CORP, {"guide": "g1", "guide2": "g2"}) as (client, fake):
        yield client, fake, world


def group_event(change: str, detail: str = "", members: list[str] | None = None, **extra: str) -> str:
    return chat_event(CORP, CHAT, change, at=int(time.time()), detail=detail, members=members, **extra)


def group_of(client: TestClient, w: World, role: str = "hq_operator") -> dict:  # type: ignore[type-arg]
    found = client.get("/api/v1/wecom/groups", headers=w.headers(role)).json()
    return found[0] if found else {}


def test_a_groups_life(wecom: tuple[TestClient, FakeWeCom, World]) -> None:
    client, fake, w = wecom
    joined = int(time.time()) - 60
    fake.groups[CHAT] = {
        "name": "晨星静安会员群",
        "owner": "g1",
        "notice": "每周五上新",
        "member_list": [
            {"userid": "g1", "type": 1, "join_time": joined, "join_scene": 1},
            {"userid": "wmMEMBER00000000000000001", "type": 2, "join_time": joined, "join_scene": 3},
        ],
    }
    deliver(client, fake, w, group_event("create"))
    g = group_of(client, w)
    assert (g["name"], g["owner_staff_id"], g["store_id"], g["members"], g["customers"]) == (
        "晨星静安会员群",
        w.staff["guide"],
        w.store_ids[0],
        2,
        1,
    )
    assert g["needs_sync"] is False and fake.calls["/externalcontact/groupchat/get"] == 1
    member = client.get(
        "/api/v1/customers/lookup",
        params={"type": "wecom_external_userid", "value": "wmMEMBER00000000000000001"},
        headers=w.headers("hq_operator"),
    )
    assert member.status_code == 200  # the group's customer is a customer of the brand now
    two = ["wmMEMBER00000000000000002", "wmMEMBER00000000000000003"]
    deliver(
        client,
        fake,
        w,
        group_event("update", "add_member", two, JoinScene="3", LastMemVer="", CurMemVer="v2"),
    )
    deliver(
        client,
        fake,
        w,
        group_event("update", "add_member", two, JoinScene="3", LastMemVer="v2", CurMemVer="v2"),
    )  # redelivered
    deliver(
        client,
        fake,
        w,
        group_event("update", "del_member", two[:1], QuitScene="0", LastMemVer="v2", CurMemVer="v3"),
    )
    g = group_of(client, w)
    assert (g["members"], g["joins_30d"], g["quits_30d"], g["needs_sync"]) == (3, 2, 1, False)
    # A change from v4 to v5 arrives but v3 → v4 never did: read the group again from WeCom.
    fake.groups[CHAT]["member_list"] = fake.groups[CHAT]["member_list"][:1]
    deliver(
        client,
        fake,
        w,
        group_event("update", "add_member", ["wmMEMBER00000000000000009"], LastMemVer="v4", CurMemVer="v5"),
    )
    assert fake.calls["/externalcontact/groupchat/get"] == 2
    assert group_of(client, w)["members"] == 1  # WeCom's list replaced ours
    today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()
    days = [{"chat_id": CHAT, "day": str(today - dt.timedelta(days=i)), "messages": 1} for i in range(20)]
    assert client.post(
        "/api/v1/wecom/groups/activity", headers=w.headers("integration"), json={"days": days}
    ).json() == {"days": 20}
    trend = client.get(f"/api/v1/wecom/groups/{g['id']}/trend", headers=w.headers("hq_operator")).json()
    # Today: two joined, then one through the change that revealed the gap (WeCom's list then won).
    assert len(trend) == 30 and trend[-1]["messages"] == 1 and trend[-1]["joins"] == 3
    assert group_of(client, w)["dead"] is False  # a new group is not dead yet (younger than 14 days)
    unknown = client.post(
        "/api/v1/wecom/groups/activity",
        headers=w.headers("integration"),
        json={"days": [{"chat_id": "wrNOPE", "day": str(today), "messages": 5}]},
    )
    assert unknown.status_code == 422 and unknown.json()["error"]["code"] == "unknown_reference"
    # Scope: guide2 does not own it; the guide does; a manager sees their store's groups.
    assert group_of(client, w, "guide2") == {} and group_of(client, w, "guide")["id"] == g["id"]
    assert group_of(client, w, "store_manager")["id"] == g["id"]
    assert client.get(f"/api/v1/wecom/groups/{g['id']}/trend", headers=w.headers("guide2")).status_code == 404
    deliver(client, fake, w, group_event("dismiss"))
    assert group_of(client, w)["status"] == "dismissed"


def test_dead_groups_are_flagged_by_their_last_days(world: World) -> None:
    from siyu.db.session import unit_of_work
    from siyu.wecom.groups import record_messages, summaries
    from siyu.wecom.models import CustomerGroup

    today = dt.date(2026, 11, 23)
    old = dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
    with unit_of_work(world.engine, tenant_id=world.tenant_id) as db:
        for chat in ("wrQUIET", "wrBUSY", "wrDISMISSED"):
            db.add(
                CustomerGroup(
                    tenant_id=world.tenant_id,
                    chat_id=chat,
                    status="dismissed" if chat == "wrDISMISSED" else "active",
                    needs_sync=False,
                    created_at=old,
                    last_event_at=old,
                )
            )
        db.flush()
        quiet = [("wrQUIET", today - dt.timedelta(days=i), 2) for i in range(14)]  # 2 a day: under 3
        busy = [("wrBUSY", today - dt.timedelta(days=i), 0) for i in range(14)] + [
            ("wrBUSY", today - dt.timedelta(days=13), 3)
        ]
        record_messages(db, tenant_id=world.tenant_id, days=quiet + busy)
        flags = {s.group.chat_id: s.dead for s in summaries(db, tenant_id=world.tenant_id, today=today)}
        assert flags == {"wrQUIET": True, "wrBUSY": False, "wrDISMISSED": False}
        # A busy day 14 days ago is outside the window: the group is dead now.
        assert {
            s.group.chat_id: s.dead
            for s in summaries(db, tenant_id=world.tenant_id, today=today + dt.timedelta(days=1))
        }["wrBUSY"]
        assert not {
            s.group.chat_id: s.dead
            for s in summaries(db, tenant_id=world.tenant_id, today=today, min_messages=2)
        }["wrQUIET"]
