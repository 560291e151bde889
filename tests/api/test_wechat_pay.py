"""Stored-value top-ups paid with WeChat Pay, against a fake WeChat Pay on loopback that signs with
its own platform key: prepay with signed requests, the notification verified, decrypted and applied
once per transaction; forged, stale, altered and replayed notifications change nothing; a missed
notification is found by the reconciliation query; refunds take the card's share back first."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select

from siyu.db.session import unit_of_work
from siyu.loyalty.check import check
from siyu.payments import service as payments
from siyu.payments import wechatpay
from siyu.payments.fake import FakeWeChatPay, serve_fake
from siyu.payments.models import PaymentNotification
from tests.factories import World

OPENID = "oM_test_openid_0001"


@pytest.fixture(scope="module")
def fake() -> Iterator[tuple[FakeWeChatPay, str]]:
    account = FakeWeChatPay()
    with serve_fake(account) as base:
        yield account, base


def _setup(client: TestClient, w: World, fake: tuple[FakeWeChatPay, str]) -> int:
    account, base = fake
    saved = client.put(
        "/api/v1/payments/wechat-pay/settings",
        headers=w.headers("owner"),
        json=account.settings("http://testserver", base),
    )
    assert saved.status_code == 200, saved.text
    assert saved.json()["notify_url"] == f"http://testserver/api/v1/payments/wechat-pay/{w.slug}/notify"
    answer = client.post(
        "/api/v1/customers/batch",
        headers=w.headers("integration"),
        json={
            "records": [
                {
                    "name": "微信充值",
                    "phone": "13912340000",
                    "identities": [{"type": "wechat_openid", "namespace": account.appid, "value": OPENID}],
                }
            ]
        },
    )
    return int(answer.json()["results"][0]["customer_id"])


def _top_up(client: TestClient, w: World, c: int, amount: int, key: str, **extra: Any) -> Any:
    return client.post(
        f"/api/v1/customers/{c}/stored-value/wechat-pay",
        headers=w.headers("integration"),
        json={"principal_fen": amount, "openid": OPENID, "idempotency_key": key, **extra},
    )


def _notify(client: TestClient, w: World, headers: dict[str, str], body: str) -> Any:
    return client.post(f"/api/v1/payments/wechat-pay/{w.slug}/notify", content=body.encode(), headers=headers)


def _stored_value(client: TestClient, w: World, c: int) -> tuple[int, int]:
    view = client.get(f"/api/v1/customers/{c}/loyalty", headers=w.headers("owner")).json()
    return view["stored_value_principal_fen"]["balance"], view["stored_value_bonus_fen"]["balance"]


def _violations(w: World) -> int:
    with unit_of_work(w.engine) as db:
        return int(check(db, tenant_id=w.tenant_id)["violations"])


def test_a_paid_top_up_is_credited_once_and_bad_notifications_change_nothing(
    client: TestClient, world: World, fake: tuple[FakeWeChatPay, str]
) -> None:
    account, _ = fake
    c = _setup(client, world, fake)
    asked = _top_up(client, world, c, 100_000, "wx-topup-0001", bonus_fen=10_000)
    assert asked.status_code == 200, asked.text
    out_trade_no, params = asked.json()["out_trade_no"], asked.json()["pay_params"]
    # The mini-program's parameters are signed with the merchant key over the documented message.
    message = f"{params['appId']}\n{params['timeStamp']}\n{params['nonceStr']}\n{params['package']}\n"
    assert params["package"].startswith("prepay_id=wx") and params["appId"] == account.appid
    assert wechatpay.signature_valid(message, params["paySign"], account.merchant_key.public_key())
    assert account.orders[out_trade_no]["amount"]["total"] == 100_000
    assert account.refused == 0 and ("POST", "/v3/pay/transactions/jsapi") in account.requests
    again = _top_up(client, world, c, 100_000, "wx-topup-0001", bonus_fen=10_000)
    assert again.json()["out_trade_no"] == out_trade_no and again.headers["Idempotent-Replayed"] == "true"
    assert _stored_value(client, world, c) == (0, 0)

    headers, body = account.pay(out_trade_no)
    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    stale_headers, stale_body = account.notification(out_trade_no, timestamp=int(time.time()) - 600)
    envelope = json.loads(body)
    wrong_key = {
        **envelope,
        "resource": {
            **envelope["resource"],
            "ciphertext": wechatpay.encrypt(
                "0" * 32,
                "transaction",
                envelope["resource"]["nonce"],
                json.dumps({"out_trade_no": out_trade_no}),
            ),
        },
    }
    wrong_body = json.dumps(wrong_key)
    bad = {
        "forged (another key)": (
            wechatpay.signed_headers(body, key=forged_key, serial=account.platform_key_id),
            body,
        ),
        "stale (ten minutes old)": (stale_headers, stale_body),
        "altered body": (headers, body.replace("TRANSACTION.SUCCESS", "TRANSACTION.SUCCESS ")),
        "unknown serial": ({**headers, "Wechatpay-Serial": "PUB_KEY_ID_OTHER"}, body),
        "not our APIv3 key": (
            wechatpay.signed_headers(wrong_body, key=account.platform_key, serial=account.platform_key_id),
            wrong_body,
        ),
        "no signature": ({k: v for k, v in headers.items() if k != "Wechatpay-Signature"}, body),
    }
    for name, (h, b) in bad.items():
        refused = _notify(client, world, h, b)
        assert refused.status_code == 401 and refused.json()["code"] == "FAIL", (name, refused.text)
    assert _stored_value(client, world, c) == (0, 0)

    applied = _notify(client, world, headers, body)
    assert applied.status_code == 204 and applied.content == b""
    assert _stored_value(client, world, c) == (100_000, 10_000)
    replayed = _notify(client, world, headers, body)  # WeChat Pay retries; a replay within 5 minutes
    assert replayed.status_code == 204
    assert _stored_value(client, world, c) == (100_000, 10_000)
    paid = client.get(f"/api/v1/customers/{c}/payments", headers=world.headers("owner")).json()
    assert [(p["status"], p["transaction_id"]) for p in paid] == [
        ("paid", account.orders[out_trade_no]["transaction_id"])
    ]
    with unit_of_work(world.engine) as db:
        outcomes = list(
            db.scalars(
                select(PaymentNotification.outcome)
                .where(PaymentNotification.tenant_id == world.tenant_id)
                .order_by(PaymentNotification.id)
            )
        )
    assert outcomes == ["rejected"] * len(bad) + ["applied", "duplicate"]
    assert _violations(world) == 0


def test_a_missed_notification_is_found_by_the_query_and_a_late_one_is_a_duplicate(
    client: TestClient, world: World, fake: tuple[FakeWeChatPay, str]
) -> None:
    account, _ = fake
    c = _setup(client, world, fake)
    paid = _top_up(client, world, c, 50_000, "wx-topup-missed").json()["out_trade_no"]
    lapsed = _top_up(client, world, c, 20_000, "wx-topup-lapsed").json()["out_trade_no"]
    waiting = _top_up(client, world, c, 10_000, "wx-topup-waiting").json()["out_trade_no"]
    headers, body = account.pay(paid)  # the notification is lost on the way
    account.close(lapsed)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=3)
    with unit_of_work(world.engine, tenant_id=world.tenant_id) as db:
        counts = payments.reconcile(db, tenant_id=world.tenant_id, now=later)
    assert counts == {"applied": 1, "closed": 1, "waiting": 1}
    assert _stored_value(client, world, c) == (50_000, 0)
    assert _notify(client, world, headers, body).status_code == 204  # arrives late: already applied
    assert _stored_value(client, world, c) == (50_000, 0)
    states = {
        p["out_trade_no"]: p["status"]
        for p in client.get(f"/api/v1/customers/{c}/payments", headers=world.headers("owner")).json()
    }
    assert states == {paid: "paid", lapsed: "closed", waiting: "created"}
    assert _violations(world) == 0


def test_refunds_take_the_card_share_back_first_and_bad_requests_change_nothing(
    client: TestClient, world: World, fake: tuple[FakeWeChatPay, str]
) -> None:
    account, _ = fake
    c = _setup(client, world, fake)
    out_trade_no = _top_up(client, world, c, 100_000, "wx-topup-refund", bonus_fen=10_000).json()[
        "out_trade_no"
    ]
    assert _notify(client, world, *account.pay(out_trade_no)).status_code == 204
    h = world.headers("owner")
    url = f"/api/v1/customers/{c}/stored-value/wechat-pay-refunds"
    body = {
        "out_trade_no": out_trade_no,
        "amount_fen": 30_000,
        "reason": "顾客申请退款",
        "idempotency_key": "wx-refund-0001",
    }
    first = client.post(url, headers=h, json=body)
    assert first.status_code == 200, first.text
    assert first.json()["status"] == "SUCCESS"
    # 30 % of the top-up comes off the card: principal and the bonus given with it.
    assert _stored_value(client, world, c) == (70_000, 7_000)
    again = client.post(url, headers=h, json=body)
    assert again.json() == first.json() and again.headers["Idempotent-Replayed"] == "true"
    assert len(account.refunds) == 1
    too_much = client.post(
        url, headers=h, json={**body, "amount_fen": 70_001, "idempotency_key": "wx-refund-0002"}
    )
    assert too_much.status_code == 422 and too_much.json()["error"]["code"] == "invalid_payment"
    # The customer spends most of it; refunding what was spent is refused and nothing is sent.
    spent = client.post(
        f"/api/v1/customers/{c}/stored-value/spends",
        headers=world.headers("integration"),
        json={"amount_fen": 60_000, "idempotency_key": "wx-spend-0001"},
    )
    assert spent.status_code == 200, spent.text
    refused = client.post(
        url, headers=h, json={**body, "amount_fen": 70_000, "idempotency_key": "wx-refund-0003"}
    )
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "insufficient_balance"
    assert len(account.refunds) == 1
    assert client.post(url, headers=world.headers("store_manager"), json=body).status_code == 403
    assert _violations(world) == 0


def test_bad_top_ups_ask_nothing_of_wechat_pay(
    client: TestClient, world: World, fake: tuple[FakeWeChatPay, str]
) -> None:
    account, _ = fake
    c = _setup(client, world, fake)
    before = len(account.orders)
    wrong = client.post(
        f"/api/v1/customers/{c}/stored-value/wechat-pay",
        headers=world.headers("integration"),
        json={"principal_fen": 1000, "openid": "oM_someone_else_0002", "idempotency_key": "wx-topup-wrong"},
    )
    assert wrong.status_code == 422 and wrong.json()["error"]["code"] == "invalid_payment"
    first = _top_up(client, world, c, 400_000, "wx-topup-cap-1")
    assert first.status_code == 200
    over = _top_up(client, world, c, 100_001, "wx-topup-cap-2")  # ¥4,000 still being paid counts
    assert over.status_code == 422 and over.json()["error"]["code"] == "stored_value_cap"
    assert len(account.orders) == before + 1
    zero = _top_up(client, world, c, 0, "wx-topup-zero")
    assert zero.status_code == 422
    unset = client.post(
        "/api/v1/payments/wechat-pay/settings",
        headers=world.headers("owner"),
        json={},
    )
    assert unset.status_code == 405
    bad_settings = client.put(
        "/api/v1/payments/wechat-pay/settings",
        headers=world.headers("owner"),
        json={**account.settings("http://testserver", "http://127.0.0.1:9"), "apiv3_key": "short"},
    )
    assert bad_settings.status_code == 422
    assert (
        client.put(
            "/api/v1/payments/wechat-pay/settings",
            headers=world.headers("hq_operator"),
            json=account.settings("http://testserver", "http://127.0.0.1:9"),
        ).status_code
        == 403
    )


def test_paid_membership_bought_with_wechat_pay_and_cancelled_pro_rata(
    client: TestClient, world: World, fake: tuple[FakeWeChatPay, str]
) -> None:
    account, _ = fake
    c = _setup(client, world, fake)
    owner = world.headers("owner")
    client.put(
        "/api/v1/loyalty/membership-plans",
        headers=owner,
        json={
            "plans": [
                {
                    "code": "plus",
                    "name_zh": "PLUS 会员",
                    "name_en": "PLUS",
                    "price_fen": 29_900,
                    "term_months": 12,
                    "refund_fee_pct": 10,
                }
            ]
        },
    ).raise_for_status()
    asked = client.post(
        f"/api/v1/customers/{c}/memberships/wechat-pay",
        headers=world.headers("integration"),
        json={"plan_code": "plus", "openid": OPENID, "auto_renew": True, "idempotency_key": "wx-plus-0001"},
    )
    assert asked.status_code == 200, asked.text
    out_trade_no = asked.json()["out_trade_no"]
    assert account.orders[out_trade_no]["amount"]["total"] == 29_900
    assert client.get(f"/api/v1/customers/{c}/memberships", headers=owner).json() == []
    assert _notify(client, world, *account.pay(out_trade_no)).status_code == 204
    terms = client.get(f"/api/v1/customers/{c}/memberships", headers=owner).json()
    assert [(t["plan_code"], t["status"], t["auto_renew"], t["price_fen"]) for t in terms] == [
        ("plus", "active", True, 29_900)
    ]
    cancelled = client.post(
        f"/api/v1/customers/{c}/memberships/cancel", headers=owner, json={"reason": "顾客要求退订"}
    )
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    # Cancelled at once: almost nothing recognised; the rest less the 10 % fee goes back by WeChat Pay.
    assert body["status"] == "cancelled" and 26_900 <= body["refunded_fen"] <= 26_910
    refunds = [r for r in account.refunds.values() if r["out_trade_no"] == out_trade_no]
    assert [r["amount"]["refund"] for r in refunds] == [body["refunded_fen"]]
    assert _violations(world) == 0
