"""Parked WeCom friends on SQLite and PostgreSQL (row-level security on): an add from a member no
staff member carries is parked, a redelivery and a later event find the parked relation, and the
directory attaches it with the binding and the new fan."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.app import create_app
from siyu.customers.models import TimelineEvent
from siyu.db.session import unit_of_work
from siyu.guides.models import GuideBinding
from siyu.org.models import Staff
from siyu.wecom import members
from siyu.wecom.models import WeComFriend, WeComFriendEvent, WeComMember
from tests.api.wecom_support import configure, envelope, event_xml
from tests.factories import World


def test_a_parked_friend_is_attached_by_the_directory(db_world: World) -> None:
    w = db_world
    now = int(dt.datetime.now(dt.UTC).timestamp())
    app = create_app(engine=w.engine)
    with TestClient(app) as client:
        configure(client, w)
        for message, nonce in (
            (event_xml("add_external_contact", user="parkme", at=now - 60), "n1"),
            (event_xml("add_external_contact", user="parkme", at=now - 60), "n1"),  # redelivered
            (event_xml("edit_external_contact", user="parkme", at=now - 30), "n2"),
        ):
            params, body = envelope(message, ts=now, nonce=nonce)
            assert (
                client.post(f"/api/v1/wecom/{w.slug}/callback", params=params, content=body).text == "success"
            )
        client.app.state.jobs.drain()  # type: ignore[attr-defined]
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as session:
        friend = session.scalar(select(WeComFriend).where(WeComFriend.tenant_id == w.tenant_id))
        assert friend is not None and (friend.staff_id, friend.parked_userid) == (None, "parkme")
        member = session.scalar(select(WeComMember).where(WeComMember.tenant_id == w.tenant_id))
        assert member is not None and (member.userid, member.name, member.status) == (
            "parkme",
            None,
            "active",
        )
        result = members.apply_directory(
            session,
            tenant_id=w.tenant_id,
            members=[members.MemberData("parkme", "停车", [1]), members.MemberData("guide01", "导购", [1])],
        )
    assert result.as_dict() == {
        "members": 2,
        "new": 1,
        "left": 0,
        "mapped": 2,
        "created_staff": 1,
        "unmapped": 0,
        "attached": 1,
    }
    with unit_of_work(w.engine, tenant_id=w.tenant_id) as session:
        staff_id = session.scalar(
            select(Staff.id).where(Staff.tenant_id == w.tenant_id, Staff.wecom_userid == "parkme")
        )
        friend = session.scalar(select(WeComFriend).where(WeComFriend.tenant_id == w.tenant_id))
        assert friend is not None and (friend.staff_id, friend.parked_userid) == (staff_id, None)
        kinds = list(
            session.scalars(
                select(WeComFriendEvent.kind)
                .where(WeComFriendEvent.friend_id == friend.id)
                .order_by(WeComFriendEvent.id)
            )
        )
        bound = session.scalar(select(GuideBinding.guide_id).where(GuideBinding.tenant_id == w.tenant_id))
        fans = list(
            session.scalars(
                select(TimelineEvent.data).where(
                    TimelineEvent.tenant_id == w.tenant_id, TimelineEvent.kind == "new_fan"
                )
            )
        )
    assert kinds == ["added", "edited"] and bound == staff_id
    assert fans == [{"store_id": None, "guide_id": staff_id, "channel": "wecom", "state": None}]
