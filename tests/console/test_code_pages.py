"""Channel codes in the console against the fake WeCom: create with guides, cap, tags and a welcome
message with an image, a link card and a mini-program card; the QR image shown and downloaded; an add
through the code gets the whole welcome (images uploaded to WeCom); editing re-points the code;
refusals keep nothing; other roles are refused."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator

import pytest
import segno
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.db.session import unit_of_work
from siyu.wecom.fake import FakeWeCom, contact_event
from siyu.wecom.models import ChannelCode, WeComMedia
from tests.api.wecom_support import deliver, fake_wecom_app
from tests.console.support import as_role
from tests.factories import World

CORP = "wwconsolecodes01"


def _png() -> bytes:
    buffer = io.BytesIO()
    segno.make("cover").save(buffer, kind="png", scale=4)
    return buffer.getvalue()


@pytest.fixture
def wecom(world: World) -> Iterator[tuple[TestClient, FakeWeCom, World]]:
    with fake_wecom_app(world, CORP, {"guide": "g1", "guide2": "g2", "manager": "m1"}) as (client, fake):
        yield client, fake, world


def _form(w: World, tag_id: int, **changes: object) -> dict[str, object]:
    form: dict[str, object] = {
        "name": "静安店门口海报",
        "source_label": "门店海报",
        "store_code": "S1",
        "mode": "round_robin",
        "guide_ids": [str(w.staff["guide"]), str(w.staff["guide2"])],
        "backup_guide_id": str(w.staff["manager"]),
        "daily_cap": "50",
        "tag_ids": [str(tag_id)],
        "welcome_text": "欢迎来到晨星！",
        "link_title": "新人礼",
        "link_url": "https://example.com/gift",
        "link_desc": "",
        "mp_appid": "wx0123456789abcdef",
        "mp_page": "pages/index/index",
        "mp_title": "晨星商城",
    }
    form.update(changes)
    return form


def _media_rows(w: World) -> int:
    with unit_of_work(w.engine) as db:
        return int(
            db.scalar(select(func.count()).select_from(WeComMedia).where(WeComMedia.tenant_id == w.tenant_id))
            or 0
        )


def test_create_show_qr_welcome_and_edit(wecom: tuple[TestClient, FakeWeCom, World]) -> None:
    client, fake, w = wecom
    hq = w.headers("hq_operator")
    group = client.post(
        "/api/v1/tag-groups", headers=hq, json={"name_zh": "渠道", "name_en": "Channel"}
    ).json()
    tag = client.post(
        f"/api/v1/tag-groups/{group['id']}/tags",
        headers=hq,
        json={"name_zh": "门店海报", "name_en": "Poster"},
    ).json()
    page = as_role(client, w, "hq_operator")
    assert "门店海报" in page.get("/wecom/codes/new").text  # the tag offered
    image, cover = _png(), _png()
    created = page.post(
        "/wecom/codes/new",
        data=_form(w, tag["id"]),
        files={
            "welcome_image": ("hello.png", image, "image/png"),
            "mp_cover": ("cover.png", cover, "image/png"),
        },
        follow_redirects=False,
    )
    assert created.status_code == 303, created.text
    code_id = int(created.headers["location"].rsplit("/", 1)[1])
    with unit_of_work(w.engine) as db:
        code = db.get(ChannelCode, code_id)
        assert code is not None and code.daily_cap == 50 and code.tag_ids == [tag["id"]]
        assert [a["type"] for a in code.welcome_attachments] == ["image", "link", "miniprogram"]
        state, config_id = code.state, code.config_id
    assert fake.contact_ways[config_id]["user"] == ["g1"]
    # The QR image: fetched from WeCom's address for it, shown and downloadable.
    qr = page.get(f"/wecom/codes/{code_id}/qr.png")
    assert (
        qr.status_code == 200
        and qr.headers["content-type"] == "image/png"
        and qr.content.startswith(b"\x89PNG")
    )
    download = page.get(f"/wecom/codes/{code_id}/qr.png?download=1")
    assert f'filename="channel-code-{state}.png"' in download.headers["content-disposition"]
    listing = page.get("/wecom/codes").text
    assert f'src="/wecom/codes/{code_id}/qr.png"' in listing and "静安店门口海报" in listing
    # An add through the code: the welcome carries the text, the image and both cards.
    deliver(
        client,
        fake,
        w,
        contact_event(
            CORP,
            "add_external_contact",
            userid="g1",
            external_userid="wmCONSOLE000000000000001",
            at=int(time.time()),
            State=state,
            WelcomeCode="WC9",
        ),
    )
    welcome = fake.welcomes[-1]
    assert welcome["welcome_code"] == "WC9" and welcome["text"] == {"content": "欢迎来到晨星！"}
    kinds = [a["msgtype"] for a in welcome["attachments"]]
    assert kinds == ["image", "link", "miniprogram"]
    image_id = welcome["attachments"][0]["image"]["media_id"]
    assert fake.media[image_id] == image
    mini = welcome["attachments"][2]["miniprogram"]
    assert mini["appid"] == "wx0123456789abcdef" and fake.media[mini["pic_media_id"]] == cover
    assert welcome["attachments"][1]["link"] == {"title": "新人礼", "url": "https://example.com/gift"}
    # Editing: only the second guide now, the image removed; WeCom is re-pointed and renamed.
    edited = page.post(
        f"/wecom/codes/{code_id}",
        data=_form(
            w,
            tag["id"],
            guide_ids=[str(w.staff["guide2"])],
            name="静安店海报（新）",
            welcome_image_remove="1",
        ),
        follow_redirects=False,
    )
    assert edited.status_code == 303, edited.text
    assert (
        fake.contact_ways[config_id]["user"] == ["g2"]
        and fake.contact_ways[config_id]["remark"] == "静安店海报（新）"
    )
    with unit_of_work(w.engine) as db:
        code = db.get(ChannelCode, code_id)
        assert code is not None and [a["type"] for a in code.welcome_attachments] == ["link", "miniprogram"]
    log = as_role(client, w, "owner").get("/settings/audit?action=wecom.channel_code.update").text
    assert f'href="/wecom/codes/{code_id}"' in log and "修改渠道活码" in log


def test_refusals_keep_nothing(wecom: tuple[TestClient, FakeWeCom, World]) -> None:
    client, fake, w = wecom
    page = as_role(client, w, "owner")
    before = _media_rows(w)
    no_guides = page.post(
        "/wecom/codes/new",
        data=_form(w, 0, guide_ids=[], tag_ids=[]),
        files={"mp_cover": ("c.png", _png(), "image/png")},
    )
    assert no_guides.status_code == 422 and "至少一位导购" in no_guides.text
    not_image = page.post(
        "/wecom/codes/new",
        data=_form(w, 0, tag_ids=[]),
        files={"welcome_image": ("x.png", b"GIF89a....", "image/png")},
    )
    assert not_image.status_code == 422 and "只支持 PNG 或 JPG 图片" in not_image.text
    bad_card = page.post("/wecom/codes/new", data=_form(w, 0, tag_ids=[], mp_appid="not-an-appid"))
    assert bad_card.status_code == 422 and re.search(
        r'id="e-mp_appid" role="alert">格式不正确<', bad_card.text
    )
    fake.fail_next("/externalcontact/add_contact_way", 60111)
    refused = page.post(
        "/wecom/codes/new", data=_form(w, 0, tag_ids=[]), files={"mp_cover": ("c.png", _png(), "image/png")}
    )
    assert refused.status_code == 422 and "企业微信" in refused.text
    with unit_of_work(w.engine) as db:
        assert (
            db.scalar(
                select(func.count()).select_from(ChannelCode).where(ChannelCode.tenant_id == w.tenant_id)
            )
            == 0
        )
    assert _media_rows(w) == before  # the uploaded covers went with the refused saves
    for role in ("analyst", "store_manager", "guide"):
        assert as_role(client, w, role).get("/wecom/codes/new").status_code == 403
