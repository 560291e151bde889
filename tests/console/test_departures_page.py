"""Departures in the console against the fake WeCom: a preview of who takes which customers (nothing
sent), a confirmation that sends exactly what was previewed, and a preview shown again — nothing
sent — when the customers changed in between."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.db.session import unit_of_work
from siyu.wecom.fake import FakeWeCom, contact_event
from siyu.wecom.models import Transfer
from tests.api.wecom_support import deliver, fake_wecom_app
from tests.console.support import as_role
from tests.factories import World

CORP = "wwdepartures0001"


@pytest.fixture
def wecom(world: World) -> Iterator[tuple[TestClient, FakeWeCom, World]]:
    with fake_wecom_app(world, CORP, {"guide": "g1", "guide2": "g2"}) as (client, fake):
        yield client, fake, world


def _befriend(client: TestClient, fake: FakeWeCom, w: World, external: str) -> None:
    fake.add_contact("g1", external, external[-4:])
    deliver(
        client,
        fake,
        w,
        contact_event(
            CORP, "add_external_contact", userid="g1", external_userid=external, at=int(time.time())
        ),
    )


def test_preview_then_confirm(wecom: tuple[TestClient, FakeWeCom, World]) -> None:
    client, fake, w = wecom
    for n in range(3):
        _befriend(client, fake, w, f"wmDEPART00000000000000{n:02d}")
    page = as_role(client, w, "hq_operator")
    params = {"from_staff_id": str(w.staff["guide"]), "kind": "resigned", "takeover_staff_id": ""}
    preview = page.get("/wecom/departures/preview", params=params)
    assert preview.status_code == 200
    assert re.search(r'data-figure="total">3<', preview.text)
    assert re.search(
        rf'<tr data-takeover="{w.staff["guide2"]}"><td>guide2</td><td class="num" data-figure="count">3<',
        preview.text,
    )
    assert fake.calls["/externalcontact/resigned/transfer_customer"] == 0  # a preview sends nothing
    expected = re.search(r'name="expected" value="([0-9a-f]+)"', preview.text)
    assert expected is not None
    # A new friend since the preview: the confirmation shows the new preview and sends nothing.
    _befriend(client, fake, w, "wmDEPART0000000000000099")
    stale = page.post("/wecom/departures", data={**params, "expected": expected.group(1)})
    assert stale.status_code == 409 and 'data-notice="changed"' in stale.text
    assert re.search(r'data-figure="total">4<', stale.text)
    assert fake.calls["/externalcontact/resigned/transfer_customer"] == 0
    fresh = re.search(r'name="expected" value="([0-9a-f]+)"', stale.text)
    assert fresh is not None
    sent = page.post("/wecom/departures", data={**params, "expected": fresh.group(1)}, follow_redirects=False)
    assert sent.status_code == 303 and sent.headers["location"] == "/wecom/departures"
    assert fake.calls["/externalcontact/resigned/transfer_customer"] == 1
    with unit_of_work(w.engine) as db:
        rows = list(db.scalars(select(Transfer).where(Transfer.tenant_id == w.tenant_id)))
        assert (
            len(rows) == 4
            and {r.status for r in rows} == {"requested"}
            and {r.to_staff_id for r in rows} == {w.staff["guide2"]}
        )
    assert "已提交企业微信继承" in page.get("/wecom/departures").text
