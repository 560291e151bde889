"""The fake WeCom on loopback and the app pointed at it, for the WeCom tests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from siyu.app import create_app
from siyu.settings import Settings
from siyu.wecom.crypto import WeComCrypto, signature
from siyu.wecom.fake import FakeWeCom, serve_fake
from tests.factories import World
from tests.wecom_vectors import AES_KEY, CORP_ID, TOKEN

SECRET = "s3cret"


@contextmanager
def fake_wecom_app(
    world: World, corp: str, userids: dict[str, str]
) -> Iterator[tuple[TestClient, FakeWeCom]]:
    """The fake WeCom (knowing the staff's UserIDs), the app calling it, the brand's WeCom settings
    saved, and the world's staff (by role key) given their UserIDs."""
    fake = FakeWeCom(corp_id=corp, secret=SECRET, users=set(userids.values()))
    with serve_fake(fake) as base:
        app = create_app(
            engine=world.engine, settings=Settings(wecom_api_base=base, rule_tag_refresh_minutes=0)
        )
        with TestClient(app) as client:
            owner = world.headers("owner")
            client.put(
                "/api/v1/wecom/settings",
                headers=owner,
                json={"corp_id": corp, "token": TOKEN, "aes_key": AES_KEY, "secret": SECRET},
            ).raise_for_status()
            for who, userid in userids.items():
                if who in world.staff:
                    client.patch(
                        f"/api/v1/staff/{world.staff[who]}", headers=owner, json={"wecom_userid": userid}
                    ).raise_for_status()
            yield client, fake


def deliver(client: TestClient, fake: FakeWeCom, world: World, xml: str) -> None:
    """Send one event as WeCom does (signed, encrypted) and wait until the worker applied it."""
    answer = fake.callback(
        f"/api/v1/wecom/{world.slug}/callback", token=TOKEN, aes_key=AES_KEY, xml=xml, client=client
    )
    assert answer.status_code == 200 and answer.text == "success", answer.text
    client.app.state.jobs.drain()  # type: ignore[attr-defined]


NOW = int(dt.datetime.now(dt.UTC).timestamp())  # the fixed clock (now, so staff tokens stay valid)
EXTERNAL = "wmEXTERNALuser0000000001"


def configure(client: TestClient, w: World, corp_id: str = CORP_ID) -> None:
    r = client.put(
        "/api/v1/wecom/settings",
        headers=w.headers("owner"),
        json={"corp_id": corp_id, "token": TOKEN, "aes_key": AES_KEY, "secret": "s3cret"},
    )
    assert r.status_code == 200, r.text
    client.patch(
        f"/api/v1/staff/{w.staff['guide']}", headers=w.headers("owner"), json={"wecom_userid": "guide01"}
    )


def event_xml(
    change: str, *, user: str = "guide01", external: str = EXTERNAL, at: int = NOW, extra: str = ""
) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{at}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[{change}]]></ChangeType>"
        f"<UserID><![CDATA[{user}]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID>{extra}</xml>"
    )


def envelope(
    message: str, *, corp_id: str = CORP_ID, ts: int = NOW, nonce: str = "n1"
) -> tuple[dict[str, str], str]:
    encrypted = WeComCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=corp_id).encrypt(message)
    params = {
        "msg_signature": signature(TOKEN, str(ts), nonce, encrypted),
        "timestamp": str(ts),
        "nonce": nonce,
    }
    return (
        params,
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>",
    )
