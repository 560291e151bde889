"""Console pages for WeCom: channel codes with statistics, a guide's friends, customer groups with
the dead flag and trend, departures — and who may see them."""

from __future__ import annotations

import datetime as dt

from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from siyu.customers.models import Customer
from siyu.db.session import unit_of_work
from siyu.org.models import Staff
from siyu.wecom.models import ChannelCode, ChannelCodeDay, CustomerGroup, CustomerGroupDay, WeComFriend
from tests.conftest import World
from tests.console.support import as_role


def seed(w: World) -> dict[str, int]:
    now = dt.datetime.now(dt.UTC)
    today = (now + dt.timedelta(hours=8)).date()
    with unit_of_work(w.engine) as db:
        db.execute(update(Staff).where(Staff.id == w.staff["guide"]).values(wecom_userid="g1"))
        number = (
            db.scalar(select(func.max(Customer.number)).where(Customer.tenant_id == w.tenant_id)) or 0
        ) + 1
        c = Customer(tenant_id=w.tenant_id, number=number, name="好友甲", status="active", gender="female")
        db.add(c)
        code = ChannelCode(
            tenant_id=w.tenant_id,
            name="门口海报",
            state="poster",
            source_label="门店海报",
            mode="round_robin",
            guide_ids=[w.staff["guide"]],
            schedule=[],
            tag_ids=[],
            rotation=1,
            active=True,
            current_guide_id=w.staff["guide"],
            qr_code="https://wework.qpic.cn/fake/x/0",
            created_at=now,
            updated_at=now,
        )
        quiet = CustomerGroup(
            tenant_id=w.tenant_id,
            chat_id="wrQUIET",
            name="冷清群",
            owner_staff_id=w.staff["guide"],
            store_id=w.store_ids[0],
            status="active",
            needs_sync=False,
            created_at=now - dt.timedelta(days=40),
            last_event_at=now,
        )
        db.add_all([code, quiet])
        db.flush()
        db.add(
            WeComFriend(
                tenant_id=w.tenant_id,
                staff_id=w.staff["guide"],
                customer_id=c.id,
                external_userid="wmA",
                state="poster",
                added_at=now,
                last_event_at=now,
            )
        )
        db.add(
            ChannelCodeDay(
                tenant_id=w.tenant_id,
                code_id=code.id,
                day=today,
                staff_id=w.staff["guide"],
                adds=5,
                deletes=1,
            )
        )
        db.add(
            CustomerGroupDay(
                tenant_id=w.tenant_id, group_id=quiet.id, day=today, joins=2, quits=0, messages=1
            )
        )
        return {"code": code.id, "group": quiet.id}


def test_codes_friends_groups_and_departures(browser: TestClient, world: World) -> None:
    ids = seed(world)
    hq = as_role(browser, world, "hq_operator")
    codes = hq.get("/wecom/codes").text
    assert (
        "门口海报" in codes
        and '<td class="num" data-figure="adds">5</td>' in codes
        and "data-series" in codes
    )
    friends = hq.get(f"/wecom/friends?guide={world.staff['guide']}").text
    assert "好友甲" in friends and "门口海报" in friends and "poster" not in friends  # the code, by its name
    groups = hq.get("/wecom/groups").text
    assert "冷清群" in groups and 'data-flag="dead"' in groups and "group-chart" in groups
    assert hq.get(f"/wecom/groups?group={ids['group']}").status_code == 200
    assert hq.get("/wecom/groups?group=987654").status_code == 404
    departures = hq.get("/wecom/departures").text
    assert "1 位好友" in departures
    assert (
        hq.post(
            "/wecom/departures", data={"from_staff_id": str(world.staff["guide"]), "kind": "later"}
        ).status_code
        == 422
    )
    # A guide sees their own friends and groups, never HQ's code list or the departures page.
    guide = as_role(browser, world, "guide")
    assert "好友甲" in guide.get("/wecom/friends").text
    assert "冷清群" in guide.get("/wecom/groups").text
    assert guide.get("/wecom/codes").status_code == 403 and guide.get("/wecom/departures").status_code == 403
    other = as_role(browser, world, "guide2")
    assert "冷清群" not in other.get("/wecom/groups").text
    assert (
        other.get(f"/wecom/friends?guide={world.staff['guide']}").status_code == 200
    )  # their own list, not the other's
    assert "好友甲" not in other.get(f"/wecom/friends?guide={world.staff['guide']}").text
