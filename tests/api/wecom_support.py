"""The fake WeCom on loopback and the app pointed at it, for the WeCom tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from fastapi.testclient import TestClient

from siyu.app import create_app
from siyu.settings import Settings
from siyu.wecom.fake import FakeWeCom, serve_fake
from tests.conftest import World
from tests.unit.test_wecom_crypto import AES_KEY, TOKEN

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
    client.app.state.wecom_worker.drain()  # type: ignore[attr-defined]
