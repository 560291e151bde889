"""Channel codes end to end with the fake WeCom on loopback: create (in WeCom too), adds through the
code are attributed, auto-tagged, welcomed and counted, the code rotates over its guides with a
daily cap and a backup, deletions are counted; bad input and a WeCom failure save nothing."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.db.session import unit_of_work
from siyu.wecom.fake import FakeWeCom, contact_event, tag_event
from siyu.wecom.models import ChannelCode
from tests.api.wecom_support import deliver, fake_wecom_app
from tests.factories import World

CORP = "wwcodes000000001"


@pytest.fixture
def wecom(world: World) -> Iterator[tuple[TestClient, FakeWeCom, World]]:
    with fake_wecom_app(world, CORP, {"guide": "g1", "guide2": "g2", "manager": "m1"}) as (client, fake):
        yield client, fake, world


def add(
    client: TestClient, fake: FakeWeCom, w: World, change: str, userid: str, external: str, **extra: str
) -> None:
    deliver(
        client,
        fake,
        w,
        contact_event(CORP, change, userid=userid, external_userid=external, at=int(time.time()), **extra),
    )


def new_code(client: TestClient, w: World, **body: Any) -> Any:
    return client.post("/api/v1/wecom/channel-codes", headers=w.headers("hq_operator"), json=body)


def test_a_code_attributes_tags_welcomes_rotates_and_counts(
    wecom: tuple[TestClient, FakeWeCom, World],
) -> None:
    client, fake, w = wecom
    hq = w.headers("hq_operator")
    group = client.post(
        "/api/v1/tag-groups", headers=hq, json={"name_zh": "渠道", "name_en": "Channel"}
    ).json()
    poster = client.post(
        f"/api/v1/tag-groups/{group['id']}/tags",
        headers=hq,
        json={"name_zh": "门店海报", "name_en": "Poster"},
    ).json()
    created = new_code(
        client,
        w,
        name="静安店海报",
        state="poster-s1",
        source_label="门店海报",
        store_code="S1",
        guide_ids=[w.staff["guide"], w.staff["guide2"]],
        backup_guide_id=w.staff["manager"],
        daily_cap=1,
        tag_ids=[poster["id"]],
        welcome_text="欢迎关注晨星，回复1领取新人券",
    )
    assert created.status_code == 201, created.text
    code = created.json()
    way = fake.contact_ways[next(iter(fake.contact_ways))]
    assert (
        way == {"state": "poster-s1", "user": ["g1"], "type": 1}
        and code["current_guide_id"] == w.staff["guide"]
    )

    add(
        client,
        fake,
        w,
        "add_external_contact",
        "g1",
        "wmCUSTOMER0000000000000001",
        State="poster-s1",
        WelcomeCode="WC1",
    )
    found = client.get(
        "/api/v1/customers/lookup",
        params={"type": "wecom_external_userid", "value": "wmCUSTOMER0000000000000001"},
        headers=hq,
    ).json()
    held = client.get(f"/api/v1/customers/{found['id']}/tags", headers=hq).json()
    assert [(t["name_zh"], t["source_type"], t["source_id"]) for t in held] == [
        ("门店海报", "wecom", code["id"])
    ]
    timeline = client.get(f"/api/v1/customers/{found['id']}/timeline", headers=hq).json()["items"]
    fan = next(e for e in timeline if e["kind"] == "new_fan")
    assert fan["data"]["state"] == "poster-s1" and fan["data"]["source"] == "门店海报"
    assert fake.welcomes == [{"welcome_code": "WC1", "text": {"content": "欢迎关注晨星，回复1领取新人券"}}]
    assert way["user"] == ["g2"]  # round-robin: the next add goes to the second guide
    add(client, fake, w, "add_external_contact", "g2", "wmCUSTOMER0000000000000002", State="poster-s1")
    assert way["user"] == ["m1"]  # both guides reached the daily cap of 1: the backup takes it
    assert len(fake.welcomes) == 1  # no welcome code, no welcome
    add(client, fake, w, "del_follow_user", "g1", "wmCUSTOMER0000000000000001")
    # Not through a code, and added without verification ("half"): a friend all the same.
    add(client, fake, w, "add_half_external_contact", "g1", "wmCUSTOMER0000000000000003")
    third = client.get(
        "/api/v1/customers/lookup",
        params={"type": "wecom_external_userid", "value": "wmCUSTOMER0000000000000003"},
        headers=hq,
    )
    assert third.status_code == 200 and third.json()["guide_id"] == w.staff["guide"]
    today = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=8)).date()
    stats = client.get(
        f"/api/v1/wecom/channel-codes/{code['id']}/stats",
        params={"from": str(today - dt.timedelta(days=1)), "to": str(today)},
        headers=hq,
    ).json()
    assert (stats["adds"], stats["deletes"]) == (2, 1)
    assert stats["days"][-1] == {"day": str(today), "adds": 2, "deletes": 1, "net": 1}
    assert stats["days"][0]["adds"] == 0


def test_bad_codes_and_a_wecom_failure_save_nothing(wecom: tuple[TestClient, FakeWeCom, World]) -> None:
    client, fake, w = wecom

    def codes() -> int:
        with unit_of_work(w.engine) as db:
            return (
                db.scalar(
                    select(func.count()).select_from(ChannelCode).where(ChannelCode.tenant_id == w.tenant_id)
                )
                or 0
            )

    base = {"name": "码", "source_label": "包裹卡", "guide_ids": [w.staff["guide"]]}
    assert new_code(client, w, **{**base, "guide_ids": []}).status_code == 422
    assert new_code(client, w, **{**base, "mode": "schedule"}).status_code == 422
    no_userid = new_code(client, w, **{**base, "guide_ids": [w.staff["owner"]]})
    assert no_userid.status_code == 422 and "owner" in no_userid.json()["error"]["message"]
    assert new_code(client, w, **{**base, "tag_ids": [987654]}).json()["error"]["code"] == "unknown_reference"
    assert (
        new_code(client, w, **{**base, "store_code": "NOPE"}).json()["error"]["code"] == "unknown_reference"
    )
    fake.fail_next("/externalcontact/add_contact_way", 48002)
    failed = new_code(client, w, **base)
    assert failed.status_code == 502 and "48002" in failed.json()["error"]["message"]
    assert codes() == 0 and fake.contact_ways == {}
    assert new_code(client, w, **base).status_code == 201
    assert (
        client.post("/api/v1/wecom/channel-codes", headers=w.headers("guide"), json=base).status_code == 403
    )
    assert codes() == 1


def test_schedule_mode_points_at_whoever_is_on_duty() -> None:
    import random

    from siyu.wecom.codes import on_duty, pick_guide

    schedule = [
        {"weekdays": [0, 1, 2, 3, 4], "from": "10:00", "to": "18:00", "guide_ids": [1]},
        {"weekdays": [4], "from": "18:00", "to": "02:00", "guide_ids": [2]},
    ]
    friday = dt.datetime(2026, 11, 27, 12, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Friday
    assert on_duty(schedule, friday) == [1]
    assert on_duty(schedule, friday.replace(hour=23)) == [2]
    assert on_duty(schedule, friday.replace(day=28, hour=1, minute=30)) == [2]  # Saturday 01:30, overnight
    assert on_duty(schedule, friday.replace(day=28, hour=12)) == []
    code = ChannelCode(
        mode="schedule", schedule=schedule, guide_ids=[], backup_guide_id=9, daily_cap=3, rotation=0
    )
    assert pick_guide(code, adds_today={}, local_now=friday, rng=random.Random(1))[0] == 1
    assert pick_guide(code, adds_today={1: 3}, local_now=friday, rng=random.Random(1))[0] == 9
    assert (
        pick_guide(code, adds_today={}, local_now=friday.replace(day=28, hour=12), rng=random.Random(1))[0]
        == 9
    )


def test_wecom_customer_tags_are_mirrored(wecom: tuple[TestClient, FakeWeCom, World]) -> None:
    client, fake, w = wecom
    hq = w.headers("hq_operator")
    fake.tag_groups = [
        {
            "group_id": "etG1",
            "group_name": "企微标签",
            "tag": [{"id": "etA", "name": "高意向"}, {"id": "etB", "name": "已到店"}],
        }
    ]

    def mirrored() -> dict[str, list[str]]:
        return {
            g["name_zh"]: [t["name_zh"] for t in g["tags"]]
            for g in client.get("/api/v1/tag-groups", headers=hq).json()
            if g["kind"] == "wecom"
        }

    deliver(client, fake, w, tag_event(CORP, "create", "etA", at=int(time.time())))
    assert mirrored() == {"企微标签": ["高意向", "已到店"]}
    ids = {
        t["name_zh"]: t["id"] for g in client.get("/api/v1/tag-groups", headers=hq).json() for t in g["tags"]
    }
    add(client, fake, w, "add_external_contact", "g1", "wmTAGGED000000000000000001")
    person = client.get(
        "/api/v1/customers/lookup",
        params={"type": "wecom_external_userid", "value": "wmTAGGED000000000000000001"},
        headers=hq,
    ).json()
    client.post(
        f"/api/v1/customers/{person['id']}/tags", headers=hq, json={"tag_id": ids["高意向"]}
    ).raise_for_status()
    # In WeCom: one tag renamed, the other deleted.
    fake.tag_groups[0]["tag"] = [{"id": "etB", "name": "已到店（近30天）"}]
    deliver(client, fake, w, tag_event(CORP, "delete", "etA", at=int(time.time())))
    assert mirrored() == {"企微标签": ["高意向（已删除）", "已到店（近30天）"]}
    assert client.get(f"/api/v1/customers/{person['id']}/tags", headers=hq).json() == []
    history = client.get(f"/api/v1/customers/{person['id']}/tag-history", headers=hq).json()
    assert [(h["action"], h["source_type"]) for h in history] == [("removed", "wecom"), ("assigned", "staff")]
