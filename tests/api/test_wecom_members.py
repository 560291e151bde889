"""The WeCom member directory, end to end with the fake WeCom: adds from members no staff member
carries are parked (customer and friend created), and attached — binding and new fan included —
when the member is mapped by a directory sync, a change_contact callback or an operator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.customers.models import TimelineEvent
from siyu.db.session import unit_of_work
from siyu.org.models import Staff
from siyu.wecom.fake import FakeWeCom, contact_event, member_event
from siyu.wecom.jobs import sync_members
from siyu.wecom.models import WeComFriend, WeComFriendEvent, WeComInbox
from tests.api.wecom_support import SECRET, deliver, fake_wecom_app
from tests.factories import World
from tests.wecom_vectors import AES_KEY, TOKEN

CORP = "wwmembers0000001"
EXT1 = "wmMEMBERcustomer00000001"
EXT2 = "wmMEMBERcustomer00000002"


@pytest.fixture
def wecom(world: World) -> Iterator[tuple[TestClient, FakeWeCom, World]]:
    with fake_wecom_app(world, CORP, {"guide": "g1"}) as (client, fake):
        fake.add_member("g1", "导购一", [1])
        yield client, fake, world


def add(userid: str, external: str, at: int, state: str = "") -> str:
    return contact_event(
        CORP, "add_external_contact", userid=userid, external_userid=external, at=at, state=state
    )


def customer_id(client: TestClient, w: World, external: str) -> int:
    found = client.get(
        "/api/v1/customers/lookup",
        params={"type": "wecom_external_userid", "value": external},
        headers=w.headers("owner"),
    )
    assert found.status_code == 200, found.text
    return int(found.json()["id"])


def friend_of(w: World, external: str) -> tuple[int | None, str | None, list[str]]:
    """(staff id, parked UserID, history kinds) of the customer's one friend relation."""
    with unit_of_work(w.engine) as db:
        friends = list(
            db.scalars(
                select(WeComFriend).where(
                    WeComFriend.tenant_id == w.tenant_id, WeComFriend.external_userid == external
                )
            )
        )
        assert len(friends) == 1
        kinds = list(
            db.scalars(
                select(WeComFriendEvent.kind)
                .where(WeComFriendEvent.friend_id == friends[0].id)
                .order_by(WeComFriendEvent.id)
            )
        )
        return friends[0].staff_id, friends[0].parked_userid, kinds


def new_fans(w: World, customer: int) -> list[dict[str, Any]]:
    with unit_of_work(w.engine) as db:
        return [
            dict(e.data)
            for e in db.scalars(
                select(TimelineEvent).where(
                    TimelineEvent.tenant_id == w.tenant_id,
                    TimelineEvent.customer_id == customer,
                    TimelineEvent.kind == "new_fan",
                )
            )
        ]


def outcomes(w: World) -> list[tuple[str, str | None, str | None]]:
    with unit_of_work(w.engine) as db:
        return [
            (r.change_type, r.outcome, r.error)
            for r in db.scalars(
                select(WeComInbox).where(WeComInbox.tenant_id == w.tenant_id).order_by(WeComInbox.id)
            )
        ]


def staff_with(w: World, userid: str) -> Staff | None:
    with unit_of_work(w.engine) as db:
        found = db.scalar(select(Staff).where(Staff.tenant_id == w.tenant_id, Staff.wecom_userid == userid))
        if found is not None:
            db.expunge(found)
        return found


def members(client: TestClient, w: World, **params: str) -> list[dict[str, Any]]:
    r = client.get("/api/v1/wecom/members", params=params, headers=w.headers("owner"))
    assert r.status_code == 200, r.text
    return [
        {k: m[k] for k in ("userid", "name", "department_ids", "status", "staff_id", "parked_friends")}
        for m in r.json()
    ]


def binding(client: TestClient, w: World, customer: int) -> tuple[int, int | None, str] | None:
    b = client.get(f"/api/v1/customers/{customer}/exclusive-guide", headers=w.headers("owner")).json()
    return None if b is None else (b["guide_id"], b["store_id"], b["source"])


def test_an_add_from_an_unknown_member_is_parked_and_attached_by_the_directory_sync(
    wecom: tuple[TestClient, FakeWeCom, World],
) -> None:
    client, fake, w = wecom
    fake.add_member("newbie", "新人", [2, 3])
    at = int(time.time()) - 600
    deliver(client, fake, w, add("newbie", EXT1, at, state="door"))
    # Not lost: the customer and the friend relation exist, parked against the UserID.
    customer = customer_id(client, w, EXT1)
    assert outcomes(w) == [
        (
            "add_external_contact",
            "parked",
            "no staff member has WeCom UserID newbie yet: parked until one does",
        )
    ]
    assert friend_of(w, EXT1) == (None, "newbie", ["added"])
    assert binding(client, w, customer) is None and new_fans(w, customer) == []
    assert members(client, w, mapped="false") == [
        {
            "userid": "newbie",
            "name": None,
            "department_ids": [],
            "status": "active",
            "staff_id": None,
            "parked_friends": 1,
        }
    ]

    r = client.post("/api/v1/wecom/members/sync", headers=w.headers("owner"))
    assert r.status_code == 200, r.text
    assert r.json() == {
        "members": 2,
        "new": 1,
        "left": 0,
        "mapped": 2,
        "created_staff": 1,
        "unmapped": 0,
        "attached": 1,
    }
    newbie = staff_with(w, "newbie")
    assert newbie is not None
    assert (newbie.username, newbie.name, newbie.role, newbie.status, newbie.password_hash) == (
        "newbie",
        "新人",
        "guide",
        "active",
        None,
    )
    assert friend_of(w, EXT1) == (newbie.id, None, ["added"])
    assert binding(client, w, customer) == (newbie.id, None, "friend_add")
    assert new_fans(w, customer) == [
        {"store_id": None, "guide_id": newbie.id, "channel": "wecom", "state": "door"}
    ]
    assert members(client, w) == [
        {
            "userid": "g1",
            "name": "导购一",
            "department_ids": [1],
            "status": "active",
            "staff_id": w.staff["guide"],
            "parked_friends": 0,
        },
        {
            "userid": "newbie",
            "name": "新人",
            "department_ids": [2, 3],
            "status": "active",
            "staff_id": newbie.id,
            "parked_friends": 0,
        },
    ]
    # Their next add is an ordinary one; a second sync changes nothing; the worker's hourly sync
    # sees a member who left WeCom (the staff member stays: departures are HQ's decision).
    deliver(client, fake, w, add("newbie", EXT2, at + 60))
    assert friend_of(w, EXT2) == (newbie.id, None, ["added"])
    again = client.post("/api/v1/wecom/members/sync", headers=w.headers("owner")).json()
    assert (again["new"], again["created_staff"], again["attached"]) == (0, 0, 0)
    fake.remove_member("newbie")
    gets = fake.calls["/user/get"]
    state = client.app.state  # type: ignore[attr-defined]
    assert sync_members(state.engine, api_base=state.settings.wecom_api_base, only={w.tenant_id}) == 1
    assert fake.calls["/user/get"] == gets  # names are read once, for new members
    left = [m for m in members(client, w) if m["userid"] == "newbie"]
    assert left[0]["status"] == "left"
    newbie = staff_with(w, "newbie")
    assert newbie is not None and newbie.status == "active"


def test_without_staff_creation_an_operator_mapping_attaches_the_parked_friends(
    wecom: tuple[TestClient, FakeWeCom, World],
) -> None:
    client, fake, w = wecom
    owner = w.headers("owner")
    r = client.put(
        "/api/v1/wecom/settings",
        headers=owner,
        json={
            "corp_id": CORP,
            "token": TOKEN,
            "aes_key": AES_KEY,
            "secret": SECRET,
            "create_staff_for_members": False,
        },
    )
    assert r.status_code == 200 and r.json()["create_staff_for_members"] is False
    fake.add_member("lee-old", "李四")
    at = int(time.time()) - 600
    deliver(client, fake, w, add("lee-old", EXT1, at))
    synced = client.post("/api/v1/wecom/members/sync", headers=owner).json()
    assert (synced["created_staff"], synced["unmapped"], synced["attached"]) == (0, 1, 0)
    # WeCom renames the member: the parked friend follows the new UserID.
    deliver(
        client, fake, w, member_event(CORP, "update_user", userid="lee-old", new_userid="lee", at=at + 10)
    )
    assert friend_of(w, EXT1) == (None, "lee", ["added"])
    assert [m["userid"] for m in members(client, w, mapped="false")] == ["lee"]
    # The settings page saved again without the choice keeps it.
    client.put(
        "/api/v1/wecom/settings",
        headers=owner,
        json={"corp_id": CORP, "token": TOKEN, "aes_key": AES_KEY, "secret": SECRET},
    ).raise_for_status()
    assert client.get("/api/v1/wecom/settings", headers=owner).json()["create_staff_for_members"] is False

    customer = customer_id(client, w, EXT1)
    r = client.patch(f"/api/v1/staff/{w.staff['guide2']}", headers=owner, json={"wecom_userid": "lee"})
    assert r.status_code == 200, r.text
    assert friend_of(w, EXT1) == (w.staff["guide2"], None, ["added"])
    assert binding(client, w, customer) == (w.staff["guide2"], w.store_ids[1], "friend_add")
    assert new_fans(w, customer) == [
        {"store_id": w.store_ids[1], "guide_id": w.staff["guide2"], "channel": "wecom", "state": None}
    ]
    # Later events of that friend apply to the guide's relation.
    deliver(
        client,
        fake,
        w,
        contact_event(CORP, "del_follow_user", userid="lee", external_userid=EXT1, at=at + 120),
    )
    assert friend_of(w, EXT1) == (w.staff["guide2"], None, ["added", "deleted_by_customer"])
    assert members(client, w, mapped="false") == []


def test_change_contact_callbacks_map_members_and_record_departures(
    wecom: tuple[TestClient, FakeWeCom, World],
) -> None:
    client, fake, w = wecom
    at = int(time.time()) - 600
    deliver(client, fake, w, add("zhao", EXT1, at, state="door"))
    customer = customer_id(client, w, EXT1)
    deliver(
        client,
        fake,
        w,
        member_event(CORP, "create_user", userid="zhao", name="赵六", departments=[5, 6], at=at + 5),
    )
    zhao = staff_with(w, "zhao")
    assert zhao is not None and (zhao.username, zhao.name, zhao.role) == ("zhao", "赵六", "guide")
    assert friend_of(w, EXT1) == (zhao.id, None, ["added"])
    assert binding(client, w, customer) == (zhao.id, None, "friend_add")
    # A new UserID: the staff member carries it and the next add maps at once.
    deliver(
        client,
        fake,
        w,
        member_event(CORP, "update_user", userid="zhao", new_userid="zhao6", name="赵六六", at=at + 10),
    )
    renamed = staff_with(w, "zhao6")
    assert renamed is not None and renamed.id == zhao.id and staff_with(w, "zhao") is None
    deliver(client, fake, w, add("zhao6", EXT2, at + 20))
    assert friend_of(w, EXT2) == (zhao.id, None, ["added"])
    deliver(client, fake, w, member_event(CORP, "delete_user", userid="zhao6", at=at + 30))
    assert members(client, w) == [
        {
            "userid": "zhao6",
            "name": "赵六六",
            "department_ids": [5, 6],
            "status": "left",
            "staff_id": zhao.id,
            "parked_friends": 0,
        }
    ]
    still = staff_with(w, "zhao6")
    assert still is not None and still.status == "active"
    assert [o[:2] for o in outcomes(w)] == [
        ("add_external_contact", "parked"),
        ("create_user", "applied"),
        ("update_user", "applied"),
        ("add_external_contact", "applied"),
        ("delete_user", "applied"),
    ]


def test_a_member_whose_userid_is_a_username_maps_to_that_staff_member(
    wecom: tuple[TestClient, FakeWeCom, World],
) -> None:
    client, fake, w = wecom
    fake.add_member("guide2", "导购二")
    synced = client.post("/api/v1/wecom/members/sync", headers=w.headers("owner")).json()
    assert (synced["mapped"], synced["created_staff"]) == (2, 0)
    mapped = staff_with(w, "guide2")
    assert mapped is not None and mapped.id == w.staff["guide2"]


def test_a_refused_sync_answers_502_and_changes_nothing(wecom: tuple[TestClient, FakeWeCom, World]) -> None:
    client, fake, w = wecom
    fake.add_member("newbie", "新人")
    fake.add_member("newbie2", "新人二")
    fake.fail_next("/user/list_id", 48009)
    r = client.post("/api/v1/wecom/members/sync", headers=w.headers("owner"))
    assert r.status_code == 502 and r.json()["error"]["code"] == "wecom_unavailable"
    assert members(client, w) == [] and staff_with(w, "newbie") is None
    denied = client.post("/api/v1/wecom/members/sync", headers=w.headers("store_manager"))
    assert denied.status_code == 403
    # An app that may not read profiles: the first refusal stops the name calls, the UserIDs suffice.
    fake.fail_next("/user/get", 60011)
    synced = client.post("/api/v1/wecom/members/sync", headers=w.headers("owner")).json()
    assert (synced["members"], synced["created_staff"], fake.calls["/user/get"]) == (3, 2, 1)
    assert [(m["userid"], m["name"]) for m in members(client, w)] == [
        ("g1", None),
        ("newbie", None),
        ("newbie2", None),
    ]
    created = staff_with(w, "newbie")
    assert created is not None and created.name == "newbie"
