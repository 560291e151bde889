"""WeCom callbacks over HTTP: URL verification with the published vector, every refusal (nothing
stored), processing of friend events into customers, bindings, history and 'new fan' events."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.core.clock import FixedClock, get_clock, set_clock
from siyu.customers.models import TimelineEvent
from siyu.db.session import unit_of_work
from siyu.wecom.crypto import signature
from siyu.wecom.models import WeComFriend, WeComFriendEvent, WeComInbox
from tests.api.wecom_support import EXTERNAL, NOW, configure, envelope, event_xml
from tests.factories import World
from tests.wecom_vectors import CORP_ID, TOKEN, VECTOR_PLAINTEXT, VECTOR_QUERY


@pytest.fixture
def clock() -> Iterator[FixedClock]:
    previous = get_clock()
    fixed = FixedClock(dt.datetime.fromtimestamp(NOW, tz=dt.UTC))
    set_clock(fixed)
    yield fixed
    set_clock(previous)


def post(client: TestClient, w: World, params: dict[str, str], body: str | bytes) -> Any:
    """Deliver a callback and wait until the server's worker has applied it."""
    response = client.post(f"/api/v1/wecom/{w.slug}/callback", params=params, content=body)
    client.app.state.jobs.drain()  # type: ignore[attr-defined]
    return response


def inbox_count(w: World) -> int:
    with unit_of_work(w.engine) as db:
        return (
            db.scalar(select(func.count()).select_from(WeComInbox).where(WeComInbox.tenant_id == w.tenant_id))
            or 0
        )


def test_url_verification_with_the_published_vector(client: TestClient, world: World) -> None:
    configure(client, world)
    previous = get_clock()
    set_clock(FixedClock(dt.datetime.fromtimestamp(1411443780 + 10, tz=dt.UTC)))
    try:
        r = client.get(
            f"/api/v1/wecom/{world.slug}/callback",
            params=VECTOR_QUERY,
        )
    finally:
        set_clock(previous)
    assert r.status_code == 200 and r.text == VECTOR_PLAINTEXT
    status = client.get("/api/v1/wecom/settings", headers=world.headers("owner")).json()
    assert status["verified_at"] is not None and status["corp_id"] == CORP_ID and "token" not in status


def test_every_bad_callback_is_refused_and_nothing_is_stored(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    configure(client, world)
    message = event_xml("add_external_contact")
    params, body = envelope(message)
    bad_signature = {**params, "msg_signature": "0" * 40}
    assert post(client, world, bad_signature, body).status_code == 403
    encrypted = body.split("CDATA[")[2].split("]]")[0]
    flipped = encrypted[:10] + ("A" if encrypted[10] != "A" else "B") + encrypted[11:]
    r = post(client, world, params, body.replace(encrypted, flipped))  # one byte changed in transit
    assert r.status_code == 403 and "bad_signature" in r.text
    # Even re-signed (only the token holder could), the tampered text never passes as a message.
    resigned = {**params, "msg_signature": signature(TOKEN, params["timestamp"], "n1", flipped)}
    assert post(client, world, resigned, body.replace(encrypted, flipped)).status_code in (400, 403)
    other_corp_params, other_corp_body = envelope(message, corp_id="wwSOMEONEelse0001")
    r = post(client, world, other_corp_params, other_corp_body)
    assert r.status_code == 403 and r.json()["error"]["message"].endswith("（wrong_receive_id）")
    stale_params, stale_body = envelope(message, ts=NOW - 301)
    assert post(client, world, stale_params, stale_body).status_code == 403
    not_b64 = "!!not-base64!!"
    nb_params = {**params, "msg_signature": signature(TOKEN, params["timestamp"], "n1", not_b64)}
    r = post(client, world, nb_params, f"<xml><Encrypt>{not_b64}</Encrypt></xml>")
    assert r.status_code == 403 and "not_base64" in r.text
    doctype = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><xml><Encrypt>&e;</Encrypt></xml>'
    assert post(client, world, params, doctype).status_code == 400
    assert post(client, world, params, b"<xml>" + b"a" * 70_000 + b"</xml>").status_code == 413
    r = client.post("/api/v1/wecom/no-such-brand/callback", params=params, content=body)
    assert r.status_code == 404
    # Not a well-formed callback at all (a parameter missing or too long): the route's own 422.
    no_nonce = {k: v for k, v in params.items() if k != "nonce"}
    missing = client.post(f"/api/v1/wecom/{world.slug}/callback", params=no_nonce, content=body)
    assert missing.status_code == 422 and missing.json()["error"]["code"] == "validation_error"
    too_long = client.post(
        f"/api/v1/wecom/{world.slug}/callback", params={**params, "msg_signature": "a" * 65}, content=body
    )
    assert too_long.status_code == 422
    assert inbox_count(world) == 0


def test_friend_add_creates_the_customer_binding_history_and_a_new_fan(
    client: TestClient, world: World, clock: FixedClock
) -> None:
    configure(client, world)
    params, body = envelope(event_xml("add_external_contact", extra="<State><![CDATA[store-door]]></State>"))
    r = post(client, world, params, body)
    assert r.status_code == 200 and r.text == "success"
    assert post(client, world, params, body).text == "success"  # redelivered: no second effect
    found = client.get(
        "/api/v1/customers/lookup",
        params={"type": "wecom_external_userid", "value": EXTERNAL},
        headers=world.headers("owner"),
    )
    assert found.status_code == 200
    customer_id = found.json()["id"]
    binding = client.get(
        f"/api/v1/customers/{customer_id}/exclusive-guide", headers=world.headers("owner")
    ).json()
    assert binding["guide_id"] == world.staff["guide"] and binding["source"] == "friend_add"
    with unit_of_work(world.engine) as db:
        fans = list(
            db.scalars(
                select(TimelineEvent).where(
                    TimelineEvent.kind == "new_fan", TimelineEvent.customer_id == customer_id
                )
            )
        )
        friend = db.scalar(select(WeComFriend).where(WeComFriend.customer_id == customer_id))
        assert friend is not None
        kinds = list(db.scalars(select(WeComFriendEvent.kind).where(WeComFriendEvent.friend_id == friend.id)))
    assert (
        len(fans) == 1
        and fans[0].data["store_id"] == world.store_ids[0]
        and fans[0].data["state"] == "store-door"
    )
    assert kinds == ["added"] and friend.deleted_at is None and inbox_count(world) == 1
    # The store daily report counts the new fan at the guide's store.
    day = dt.datetime.fromtimestamp(NOW, tz=dt.UTC).astimezone(dt.timezone(dt.timedelta(hours=8))).date()
    report = client.get(
        "/api/v1/reports/store-daily",
        params={"store_code": "S1", "date": day.isoformat()},
        headers=world.headers("owner"),
    ).json()
    assert report["figures"]["new_fans"]["value"] == 1
    # The customer deletes the guide; an older 'edit' arriving afterwards changes nothing.
    params, body = envelope(event_xml("del_follow_user", at=NOW + 60), nonce="n2")
    assert post(client, world, params, body).text == "success"
    params, body = envelope(event_xml("edit_external_contact", at=NOW + 30), nonce="n3")
    assert post(client, world, params, body).text == "success"
    with unit_of_work(world.engine) as db:
        friend = db.scalar(select(WeComFriend).where(WeComFriend.customer_id == customer_id))
        assert friend is not None and friend.deleted_by == "customer"
        kinds = list(
            db.scalars(
                select(WeComFriendEvent.kind)
                .where(WeComFriendEvent.friend_id == friend.id)
                .order_by(WeComFriendEvent.id)
            )
        )
    assert kinds == ["added", "deleted_by_customer", "edited"]


def test_unknown_events_are_stored_and_ignored(client: TestClient, world: World, clock: FixedClock) -> None:
    configure(client, world)
    message = (
        f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><CreateTime>{NOW}</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[brand_new_event]]></Event></xml>"
    )
    params, body = envelope(message)
    assert post(client, world, params, body).text == "success"
    unknown_member = envelope(event_xml("add_external_contact", user="nobody"), nonce="n9")
    assert post(client, world, *unknown_member).text == "success"
    with unit_of_work(world.engine) as db:
        rows = {r.event + ":" + r.change_type: (r.outcome, r.error) for r in db.scalars(select(WeComInbox))}
    assert rows["brand_new_event:"][0] == "ignored"
    assert rows["change_external_contact:add_external_contact"] == (
        "parked",
        "no staff member has WeCom UserID nobody yet: parked until one does",
    )
