"""The WeCom API client against the fake WeCom on loopback: token cache and refresh under a lock,
retries with backoff, rate limits, errors, and the endpoints Siyu uses."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest

from siyu.wecom.client import WeComApiError, WeComClient
from siyu.wecom.fake import TRANSFER_LIMIT_ERRCODE, FakeWeCom, serve_fake

CORP, SECRET = "wwfake0000000001", "s3cret"


@pytest.fixture
def fake() -> Iterator[tuple[FakeWeCom, str]]:
    state = FakeWeCom(corp_id=CORP, secret=SECRET, users={"g1", "g2", "g3"})
    with serve_fake(state) as base:
        yield state, base


def client(base: str, slept: list[float] | None = None, attempts: int = 4) -> WeComClient:
    return WeComClient(
        corp_id=CORP,
        secret=SECRET,
        base_url=base,
        attempts=attempts,
        backoff_s=0.01,
        sleep=(slept.append if slept is not None else lambda _s: None),
    )


def test_token_is_cached_refreshed_when_refused_and_fetched_once_under_concurrency(
    fake: tuple[FakeWeCom, str],
) -> None:
    state, base = fake
    state.add_contact("g1", "wmA", "甲")
    c = client(base)
    threads = [threading.Thread(target=c.get_external_contact, args=("wmA",)) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert state.calls["/gettoken"] == 1 and state.calls["/externalcontact/get"] == 8
    state.expire_tokens()  # two hours later, as WeCom sees it
    assert c.get_external_contact("wmA")["external_contact"]["name"] == "甲"
    assert (
        state.calls["/gettoken"] == 2 and state.calls["/externalcontact/get"] == 10
    )  # refused once, then again


def test_busy_and_rate_limits_are_retried_with_backoff_then_given_up(fake: tuple[FakeWeCom, str]) -> None:
    state, base = fake
    state.add_contact("g1", "wmA", "甲")
    slept: list[float] = []
    c = client(base, slept)
    state.fail_next("/externalcontact/get", -1)
    state.fail_next("/externalcontact/get", 45009)
    assert c.get_external_contact("wmA")["external_contact"]["external_userid"] == "wmA"
    assert slept == [0.01, 0.02]
    state.fail_next("/externalcontact/list", 45033, times=4)
    with pytest.raises(WeComApiError) as limited:
        client(base, [], attempts=4).list_external_contacts("g1")
    assert limited.value.errcode == 45033
    with pytest.raises(WeComApiError) as unknown:
        c.get_external_contact("wmNOBODY")
    assert unknown.value.errcode == 84061 and state.calls["/externalcontact/get"] == 4  # not retried


def test_wrong_secret_is_an_error_not_a_retry(fake: tuple[FakeWeCom, str]) -> None:
    state, base = fake
    with pytest.raises(WeComApiError) as refused:
        WeComClient(corp_id=CORP, secret="wrong", base_url=base, backoff_s=0.0).token()
    assert refused.value.errcode == 40001 and state.calls["/gettoken"] == 1


def test_contact_ways_welcome_transfers_groups_and_tags(fake: tuple[FakeWeCom, str]) -> None:
    state, base = fake
    c = client(base)
    way = c.add_contact_way(state="c-spring", users=["g1"], remark="春季新品")
    assert state.contact_ways[way["config_id"]]["user"] == ["g1"]
    # The address of the code's image (the fake serves a real QR image there).
    image = httpx.get(way["qr_code"])
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")
    c.update_contact_way(config_id=way["config_id"], users=["g2"])
    assert state.contact_ways[way["config_id"]]["user"] == ["g2"]
    with pytest.raises(WeComApiError):
        c.add_contact_way(state="x", users=["nobody"])
    c.send_welcome_msg(welcome_code="W1", text="欢迎")
    assert state.welcomes == [{"welcome_code": "W1", "text": {"content": "欢迎"}}]
    state.add_contact("g1", "wmA", "甲")
    assert c.transfer_customer(
        handover_userid="g1", takeover_userid="g2", external_userids=["wmA"], resigned=False
    ) == {"wmA": 0}
    assert c.transfer_customer(
        handover_userid="g2", takeover_userid="g3", external_userids=["wmA"], resigned=True
    ) == {"wmA": 0}
    third = c.transfer_customer(
        handover_userid="g3", takeover_userid="g1", external_userids=["wmA"], resigned=False
    )
    assert third == {"wmA": TRANSFER_LIMIT_ERRCODE}  # at most two transfers in 90 days
    for i in range(5):
        state.groups[f"wr{i}"] = {"name": f"群{i}", "owner": "g1" if i < 3 else "g2", "member_list": []}
    assert c.list_group_chats(limit=2) == [f"wr{i}" for i in range(5)]  # three pages
    assert c.list_group_chats(owners=["g2"]) == ["wr3", "wr4"]
    assert c.get_group_chat("wr1")["name"] == "群1"
    group = c.add_corp_tag(group_name="渠道", names=["门店扫码"])
    c.mark_tag(userid="g1", external_userid="wmA", add=[group["tag"][0]["id"]], remove=[])
    assert c.corp_tags()[0]["tag"][0]["name"] == "门店扫码" and len(state.marks) == 1
    assert c.add_msg_template(sender="g1", external_userids=["wmA"], text="上新") == "msg1"
