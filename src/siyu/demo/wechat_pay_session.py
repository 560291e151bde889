"""A WeChat Pay session on the demo brand, driven through the fake WeChat Pay: the server is the real
app (in process), WeChat Pay is the fake on loopback (its own platform key, the brand's mini-program
app id), and everything goes through the same HTTP routes and signed, encrypted notifications as in
production.

1. the brand's merchant settings are saved (the fake's merchant, keys, platform public key);
2. three card holders top up with WeChat Pay (¥500, ¥1,000 with ¥100 bonus, ¥2,000 with ¥200);
3. the first two pay and WeChat Pay notifies; a forged notification and a replay are refused or
   change nothing;
4. the third pays but the notification is lost: the reconciliation query finds it;
5. the first asks for ¥200 back: the card's share comes off first, then WeChat Pay refunds;
6. the ledger check runs over the brand.
"""

from __future__ import annotations

import datetime as dt
import secrets
import warnings
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Engine, exists, select

from siyu.app import create_app
from siyu.customers.models import Customer, CustomerIdentity
from siyu.db.session import unit_of_work
from siyu.demo.builder import MINI_PROGRAM_APP_ID
from siyu.loyalty.check import check
from siyu.loyalty.models import LedgerAccount, MemberCard
from siyu.org.models import Tenant
from siyu.payments import service as payments
from siyu.payments import wechatpay
from siyu.payments.fake import FakeWeChatPay, serve_fake
from siyu.settings import Settings

with warnings.catch_warnings():  # the in-process client: a test client, used here on purpose
    warnings.simplefilter("ignore", DeprecationWarning)
    from fastapi.testclient import TestClient

AMOUNTS = ((50_000, 0), (100_000, 10_000), (200_000, 20_000))


def run_session(
    engine: Engine, *, slug: str, password: str, say: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Run the session; returns what happened, step by step (the CLI prints it, a test checks it)."""
    report = say or (lambda _m: None)
    with unit_of_work(engine) as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == slug))
        if tenant_id is None:
            raise RuntimeError(f"no brand {slug!r}: run `siyu demo` first")
        holders = session.execute(
            select(CustomerIdentity.customer_id, CustomerIdentity.value)
            .join(MemberCard, MemberCard.customer_id == CustomerIdentity.customer_id)
            .join(Customer, Customer.id == CustomerIdentity.customer_id)
            .where(
                Customer.phone_e164.is_not(None),  # registered cards: ¥2,000 is above the anonymous cap
                Customer.name.is_not(None),
                CustomerIdentity.tenant_id == tenant_id,
                CustomerIdentity.type == "wechat_openid",
                CustomerIdentity.namespace == MINI_PROGRAM_APP_ID,
                ~exists().where(  # members without stored value yet: a run never passes the cap
                    LedgerAccount.tenant_id == tenant_id,
                    LedgerAccount.customer_id == CustomerIdentity.customer_id,
                    LedgerAccount.asset.in_(("sv_principal", "sv_bonus")),
                    LedgerAccount.balance > 0,
                ),
            )
            .order_by(CustomerIdentity.customer_id.desc())
            .limit(3)
        ).all()
    if len(holders) < 3:
        raise RuntimeError("the session needs three card holders with a mini-program openid")
    fake = FakeWeChatPay(appid=MINI_PROGRAM_APP_ID)
    result: dict[str, Any] = {"top_ups": [], "refused": [], "refund": None}
    with serve_fake(fake) as api_base:
        app = create_app(engine=engine, settings=Settings(rule_tag_refresh_minutes=0, workers="external"))
        with TestClient(app) as client:
            signed_in = client.post(
                "/api/v1/auth/sign-in", json={"tenant": slug, "username": "owner", "password": password}
            )
            signed_in.raise_for_status()
            hq = {"Authorization": f"Bearer {signed_in.json()['token']}"}
            report("settings 微信支付商户")
            client.put(
                "/api/v1/payments/wechat-pay/settings",
                headers=hq,
                json=fake.settings("http://testserver", api_base),
            ).raise_for_status()
            notify = f"/api/v1/payments/wechat-pay/{slug}/notify"
            asked = []
            for (customer_id, openid), (principal, bonus) in zip(holders, AMOUNTS, strict=True):
                report(f"top-up 充值 ¥{principal / 100:,.0f}")
                answer = client.post(
                    f"/api/v1/customers/{customer_id}/stored-value/wechat-pay",
                    headers=hq,
                    json={
                        "principal_fen": principal,
                        "bonus_fen": bonus,
                        "openid": openid,
                        "idempotency_key": f"session-{secrets.token_hex(6)}",
                    },
                )
                answer.raise_for_status()
                asked.append((customer_id, answer.json()["out_trade_no"], principal, bonus))
            for customer_id, out_trade_no, principal, bonus in asked[:2]:
                headers, body = fake.pay(out_trade_no)
                status = client.post(notify, content=body.encode(), headers=headers).status_code
                result["top_ups"].append(
                    {
                        "customer_id": customer_id,
                        "principal_fen": principal,
                        "bonus_fen": bonus,
                        "via": f"notification {status}",
                    }
                )
                if len(result["top_ups"]) == 1:
                    report("forged and replayed notifications 伪造与重放")
                    forged_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
                    forged = wechatpay.signed_headers(body, key=forged_key, serial=fake.platform_key_id)
                    result["refused"].append(
                        ("forged", client.post(notify, content=body.encode(), headers=forged).status_code)
                    )
                    result["refused"].append(
                        ("replayed", client.post(notify, content=body.encode(), headers=headers).status_code)
                    )
            report("reconciliation 查单对账")
            customer_id, out_trade_no, principal, bonus = asked[2]
            fake.pay(out_trade_no)  # paid, but the notification never arrives
            with unit_of_work(engine, tenant_id=tenant_id) as session:
                counts = payments.reconcile(
                    session, tenant_id=tenant_id, now=dt.datetime.now(dt.UTC) + payments.RECONCILE_AFTER
                )
            result["top_ups"].append(
                {
                    "customer_id": customer_id,
                    "principal_fen": principal,
                    "bonus_fen": bonus,
                    "via": "found by query" if counts["applied"] == 1 else f"query {counts}",
                }
            )
            report("refund 退款")
            customer_id, out_trade_no, _, _ = asked[0]
            refund = client.post(
                f"/api/v1/customers/{customer_id}/stored-value/wechat-pay-refunds",
                headers=hq,
                json={
                    "out_trade_no": out_trade_no,
                    "amount_fen": 20_000,
                    "reason": "顾客申请部分退款",
                    "idempotency_key": f"session-refund-{secrets.token_hex(6)}",
                },
            )
            refund.raise_for_status()
            result["refund"] = {"customer_id": customer_id, **refund.json()}
            result["balances"] = {
                c: client.get(f"/api/v1/customers/{c}/loyalty", headers=hq).json()["stored_value_fen"][
                    "balance"
                ]
                for c, _, _, _ in asked
            }
    with unit_of_work(engine) as session:
        result["ledger_violations"] = check(session, tenant_id=tenant_id)["violations"]
    result["requests_refused_by_fake"] = fake.refused
    return result
