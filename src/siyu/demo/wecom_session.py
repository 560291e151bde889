"""A WeCom session on the demo brand, driven through the fake WeCom: the server is the real app (in
process), WeCom is the fake on loopback, and everything goes through the same HTTP routes and signed,
encrypted callbacks as in production.

1. the brand's WeCom settings are saved (a fresh token and key, the fake's corp and secret);
2. HQ creates a channel code for a store (in WeCom too), round-robin over two guides, cap 2 a day,
   with an auto-tag and a welcome message;
3. five customers add a guide through the code: each is a customer and a friend, tagged, welcomed;
   the code rotates and, once both guides reached the cap, points at the backup;
4. a customer group lives: created (read back from WeCom), three members join, one quits;
5. a guide leaves: their customers go to the least-loaded guides of the store (离职继承).
"""

from __future__ import annotations

import base64
import os
import secrets
import time
import warnings
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select

from siyu.app import create_app
from siyu.db.session import unit_of_work
from siyu.org.models import Staff, StaffStore, Store, Tenant
from siyu.settings import Settings
from siyu.tags.models import Tag
from siyu.wecom.fake import FakeWeCom, chat_event, contact_event, serve_fake
from siyu.wecom.models import WeComFriend

with warnings.catch_warnings():  # the in-process client: a test client, used here on purpose
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

CORP = "wwdemo0000000001"


def _chat_event(
    chat_id: str, change: str, detail: str = "", members: list[str] | None = None, **extra: str
) -> str:
    return chat_event(CORP, chat_id, change, at=int(time.time()), detail=detail, members=members, **extra)


def run_session(
    engine: Engine, *, slug: str, password: str, say: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run the session; returns what happened, step by step (the CLI prints it, a test checks it)."""
    report = say or (lambda _m: None)
    with unit_of_work(engine) as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        if tenant_id is None:
            raise RuntimeError(f"no brand {slug!r}: run `siyu demo` first")
        store = session.scalar(select(Store).where(Store.tenant_id == tenant_id).order_by(Store.code))
        assert store is not None
        guides = list(
            session.scalars(
                select(Staff)
                .join(StaffStore, StaffStore.staff_id == Staff.id)
                .where(
                    Staff.tenant_id == tenant_id,
                    StaffStore.store_id == store.id,
                    Staff.role == "guide",
                    Staff.status == "active",
                )
                .order_by(Staff.id)
            )
        )
        if len(guides) < 3:
            raise RuntimeError("the session needs a store with three guides")
        for g in guides:
            g.wecom_userid = g.wecom_userid or g.username
        userids = {g.id: g.wecom_userid or g.username for g in guides}
        leaving = guides[0]
        tag_id = session.scalar(select(Tag.id).where(Tag.tenant_id == tenant_id, Tag.name_zh == "门店扫码"))
        store_code, store_name = store.code, store.name
    token = secrets.token_hex(8)
    aes_key = base64.b64encode(os.urandom(32)).decode().rstrip("=")
    fake = FakeWeCom(corp_id=CORP, secret="demo-secret", users=set(userids.values()))
    result: dict[str, Any] = {}
    with serve_fake(fake) as api_base:
        app = create_app(
            engine=engine, settings=Settings(wecom_api_base=api_base, rule_tag_refresh_minutes=0)
        )
        with TestClient(app) as client:
            signed_in = client.post(
                "/api/v1/auth/sign-in", json={"tenant": slug, "username": "owner", "password": password}
            )
            signed_in.raise_for_status()
            hq = {"Authorization": f"Bearer {signed_in.json()['token']}"}

            def callback(xml: str) -> None:
                answer = fake.callback(
                    f"/api/v1/wecom/{slug}/callback", token=token, aes_key=aes_key, xml=xml, client=client
                )
                if answer.text != "success":
                    raise RuntimeError(answer.text)
                app.state.jobs.drain()

            report("settings 企业微信配置")
            client.put(
                "/api/v1/wecom/settings",
                headers=hq,
                json={"corp_id": CORP, "token": token, "aes_key": aes_key, "secret": "demo-secret"},
            ).raise_for_status()
            report("channel code 渠道活码")
            code = client.post(
                "/api/v1/wecom/channel-codes",
                headers=hq,
                json={
                    "name": f"{store_name}会话演示码",
                    "state": f"session-{secrets.token_hex(3)}",
                    "source_label": "演示海报",
                    "store_code": store_code,
                    "guide_ids": [guides[1].id, guides[2].id],
                    "backup_guide_id": guides[0].id,
                    "daily_cap": 2,
                    "tag_ids": [tag_id] if tag_id else [],
                    "welcome_text": "欢迎！新人券已放入卡包。",
                },
            )
            code.raise_for_status()
            way = fake.contact_ways[next(iter(fake.contact_ways))]
            pointed = [way["user"][0]]
            report("adds through the code 扫码加好友")
            externals = []
            for i in range(5):
                userid = way["user"][0]
                external = f"wmSESSION{secrets.token_hex(10)}{i}"
                externals.append(external)
                fake.add_contact(userid, external, f"会话客户{i + 1}")
                callback(
                    contact_event(
                        CORP,
                        "add_external_contact",
                        userid=userid,
                        external_userid=external,
                        at=int(time.time()),
                        State=code.json()["state"],
                        WelcomeCode=f"WELCOME{i}",
                    )
                )
                pointed.append(way["user"][0])
            stats = client.get(f"/api/v1/wecom/channel-codes/{code.json()['id']}/stats", headers=hq).json()
            result["code"] = {"adds": stats["adds"], "welcomes": len(fake.welcomes), "pointed_at": pointed}
            report("a group's life 社群")
            chat_id = f"wrSESSION{secrets.token_hex(6)}"
            fake.groups[chat_id] = {
                "name": f"{store_name}会话演示群",
                "owner": userids[guides[1].id],
                "notice": "欢迎",
                "member_list": [
                    {
                        "userid": userids[guides[1].id],
                        "type": 1,
                        "join_time": int(time.time()),
                        "join_scene": 1,
                    }
                ],
            }
            callback(_chat_event(chat_id, "create"))
            callback(
                _chat_event(
                    chat_id,
                    "update",
                    "add_member",
                    externals[:3],
                    JoinScene="3",
                    LastMemVer="",
                    CurMemVer="v1",
                )
            )
            callback(
                _chat_event(
                    chat_id,
                    "update",
                    "del_member",
                    externals[:1],
                    QuitScene="0",
                    LastMemVer="v1",
                    CurMemVer="v2",
                )
            )
            group = next(
                g for g in client.get("/api/v1/wecom/groups", headers=hq).json() if g["chat_id"] == chat_id
            )
            result["group"] = {
                k: group[k] for k in ("name", "members", "customers", "joins_30d", "quits_30d")
            }
            report("a guide leaves 离职继承")
            with unit_of_work(engine) as session:  # WeCom knows who the leaving guide's friends are
                for (external,) in session.execute(
                    select(WeComFriend.external_userid).where(
                        WeComFriend.tenant_id == tenant_id,
                        WeComFriend.staff_id == leaving.id,
                        WeComFriend.deleted_at.is_(None),
                    )
                ).all():
                    fake.add_contact(userids[leaving.id], external, "")
            client.patch(
                f"/api/v1/staff/{leaving.id}", headers=hq, json={"status": "departed"}
            ).raise_for_status()
            moved = client.post(
                "/api/v1/wecom/transfers", headers=hq, json={"from_staff_id": leaving.id, "kind": "resigned"}
            )
            moved.raise_for_status()
            result["transfer"] = moved.json()
            result["transfer"]["leaving"] = leaving.name
    return result
