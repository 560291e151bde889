"""A fake WeChat Pay: a small app on loopback that speaks the API v3 endpoints Siyu calls (JSAPI
prepay, query by the merchant's order number, refunds), checks each request's merchant signature,
signs each answer with its own platform key, and builds the signed, encrypted payment notification
WeChat Pay sends when a payer pays. Tests and the demo drive it (`serve_fake()` runs it in a thread).

The payer's side is a method: `pay(out_trade_no)` marks the order paid and returns the
notification (headers and body) to deliver; `deliver(url, …)` posts it as WeChat Pay would.
"""

from __future__ import annotations

import json
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from siyu.payments import wechatpay

PLATFORM_KEY_ID = "PUB_KEY_ID_0000000000000000000000000000000001"


@dataclass
class FakeWeChatPay:
    """One fake merchant account: its keys, and the orders and refunds made through it."""

    mchid: str = "1900000109"
    appid: str = "wx0000000000000001"
    merchant_serial: str = "5157F09EFDC096DE15EBE81A47057A7232F1B8E1"
    apiv3_key: str = field(default_factory=lambda: secrets.token_hex(16))
    merchant_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    platform_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    platform_key_id: str = PLATFORM_KEY_ID
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # out_trade_no -> order
    refunds: dict[str, dict[str, Any]] = field(default_factory=dict)  # out_refund_no -> refund
    requests: list[tuple[str, str]] = field(default_factory=list)  # (method, path) accepted
    refused: int = 0  # requests whose merchant signature did not verify

    # --- what the merchant configures in Siyu ------------------------------------------------------

    def settings(self, notify_base_url: str, api_base: str) -> dict[str, str]:
        """The merchant settings a brand would enter for this account."""
        return {
            "mchid": self.mchid,
            "appid": self.appid,
            "merchant_serial": self.merchant_serial,
            "private_key_pem": wechatpay.private_pem(self.merchant_key),
            "apiv3_key": self.apiv3_key,
            "platform_key_id": self.platform_key_id,
            "platform_public_key_pem": wechatpay.public_pem(self.platform_key),
            "notify_base_url": notify_base_url,
            "api_base": api_base,
        }

    # --- the payer and the notification -------------------------------------------------------------

    def pay(self, out_trade_no: str, *, at: datetime | None = None) -> tuple[dict[str, str], str]:
        """The payer pays the order: it becomes SUCCESS with a transaction id; the notification
        WeChat Pay would send (headers, body)."""
        order = self.orders[out_trade_no]
        if order["trade_state"] != "SUCCESS":
            order["trade_state"] = "SUCCESS"
            order["trade_state_desc"] = "支付成功"
            order["transaction_id"] = "4200" + "".join(secrets.choice("0123456789") for _ in range(24))
            order["success_time"] = (at or datetime.now(UTC)).astimezone().isoformat(timespec="seconds")
        return self.notification(out_trade_no)

    def close(self, out_trade_no: str) -> None:
        """The order lapses unpaid."""
        self.orders[out_trade_no]["trade_state"] = "CLOSED"

    def notification(self, out_trade_no: str, *, timestamp: int | None = None) -> tuple[dict[str, str], str]:
        """The signed notification of a paid order, as WeChat Pay sends it."""
        order = self.orders[out_trade_no]
        nonce = secrets.token_hex(6)
        body = json.dumps(
            {
                "id": f"EV-{secrets.token_hex(10)}",
                "create_time": datetime.now(UTC).astimezone().isoformat(timespec="seconds"),
                "resource_type": "encrypt-resource",
                "event_type": "TRANSACTION.SUCCESS",
                "summary": "支付成功",
                "resource": {
                    "original_type": "transaction",
                    "algorithm": "AEAD_AES_256_GCM",
                    "ciphertext": wechatpay.encrypt(
                        self.apiv3_key,
                        "transaction",
                        nonce,
                        json.dumps(self._public(order), ensure_ascii=False),
                    ),
                    "associated_data": "transaction",
                    "nonce": nonce,
                },
            },
            ensure_ascii=False,
        )
        headers = wechatpay.signed_headers(
            body, key=self.platform_key, serial=self.platform_key_id, timestamp=timestamp
        )
        return headers, body

    def deliver(self, url: str, headers: dict[str, str], body: str) -> httpx.Response:
        """POST a notification to a notify URL, as WeChat Pay does."""
        return httpx.post(
            url, content=body.encode(), headers={**headers, "Content-Type": "application/json"}, timeout=10
        )

    def _public(self, order: dict[str, Any]) -> dict[str, Any]:
        keys = (
            "appid",
            "mchid",
            "out_trade_no",
            "transaction_id",
            "trade_type",
            "trade_state",
            "trade_state_desc",
            "bank_type",
            "attach",
            "success_time",
            "payer",
            "amount",
        )
        return {k: order[k] for k in keys if order.get(k) is not None}

    # --- the API -----------------------------------------------------------------------------------------

    def _answer(self, status: int, data: dict[str, Any] | None) -> Response:
        body = "" if data is None else json.dumps(data, ensure_ascii=False)
        headers = wechatpay.signed_headers(body, key=self.platform_key, serial=self.platform_key_id)
        return Response(body, status_code=status, headers=headers, media_type="application/json")

    async def _checked(self, request: Request) -> tuple[str, Response | None]:
        body = (await request.body()).decode()
        fields = wechatpay.parse_authorization(request.headers.get("authorization", ""))
        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        message = f"{request.method}\n{path}\n{fields.get('timestamp')}\n{fields.get('nonce_str')}\n{body}\n"
        ok = (
            fields.get("mchid") == self.mchid
            and fields.get("serial_no") == self.merchant_serial
            and abs(time.time() - int(fields.get("timestamp") or 0)) <= wechatpay.MAX_SKEW_S
            and wechatpay.signature_valid(
                message, fields.get("signature", ""), self.merchant_key.public_key()
            )
        )
        if not ok:
            self.refused += 1
            return body, self._answer(401, {"code": "SIGN_ERROR", "message": "签名错误"})
        self.requests.append((request.method, request.url.path))
        return body, None

    async def jsapi(self, request: Request) -> Response:
        body, refused = await self._checked(request)
        if refused:
            return refused
        data = json.loads(body)
        out_trade_no = data.get("out_trade_no", "")
        if data.get("mchid") != self.mchid or data.get("appid") != self.appid:
            return self._answer(400, {"code": "PARAM_ERROR", "message": "mchid 与 appid 不匹配"})
        if out_trade_no in self.orders:
            return self._answer(400, {"code": "ORDERNO_USED", "message": "商户订单号重复"})
        total = int(data.get("amount", {}).get("total") or 0)
        if total <= 0:
            return self._answer(400, {"code": "PARAM_ERROR", "message": "金额无效"})
        prepay_id = "wx" + secrets.token_hex(16)
        self.orders[out_trade_no] = {
            "appid": self.appid,
            "mchid": self.mchid,
            "out_trade_no": out_trade_no,
            "trade_type": "JSAPI",
            "trade_state": "NOTPAY",
            "trade_state_desc": "未支付",
            "bank_type": "OTHERS",
            "attach": data.get("attach", ""),
            "payer": {"openid": data.get("payer", {}).get("openid", "")},
            "amount": {"total": total, "payer_total": total, "currency": "CNY", "payer_currency": "CNY"},
            "notify_url": data.get("notify_url"),
            "prepay_id": prepay_id,
        }
        return self._answer(200, {"prepay_id": prepay_id})

    async def query(self, request: Request) -> Response:
        _, refused = await self._checked(request)
        if refused:
            return refused
        order = self.orders.get(request.path_params["out_trade_no"])
        if order is None or request.query_params.get("mchid") != self.mchid:
            return self._answer(404, {"code": "ORDER_NOT_EXIST", "message": "订单不存在"})
        return self._answer(200, self._public(order))

    async def refund(self, request: Request) -> Response:
        body, refused = await self._checked(request)
        if refused:
            return refused
        data = json.loads(body)
        order = next(
            (o for o in self.orders.values() if o.get("transaction_id") == data.get("transaction_id")), None
        )
        if order is None or order["trade_state"] != "SUCCESS":
            return self._answer(404, {"code": "RESOURCE_NOT_EXISTS", "message": "订单不存在"})
        amount = data.get("amount", {})
        done = sum(
            r["amount"]["refund"]
            for r in self.refunds.values()
            if r["transaction_id"] == order["transaction_id"]
        )
        if (
            amount.get("total") != order["amount"]["total"]
            or done + int(amount.get("refund") or 0) > order["amount"]["total"]
        ):
            return self._answer(400, {"code": "INVALID_REQUEST", "message": "退款金额超过订单金额"})
        if data.get("out_refund_no") in self.refunds:
            return self._answer(200, self.refunds[data["out_refund_no"]])
        refund = {
            "refund_id": "5030" + "".join(secrets.choice("0123456789") for _ in range(24)),
            "out_refund_no": data.get("out_refund_no"),
            "transaction_id": order["transaction_id"],
            "out_trade_no": order["out_trade_no"],
            "channel": "ORIGINAL",
            "status": "SUCCESS",
            "amount": {
                "refund": int(amount.get("refund") or 0),
                "total": order["amount"]["total"],
                "currency": "CNY",
            },
        }
        self.refunds[refund["out_refund_no"]] = refund
        return self._answer(200, refund)

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v3/pay/transactions/jsapi", self.jsapi, methods=["POST"]),
                Route("/v3/pay/transactions/out-trade-no/{out_trade_no}", self.query, methods=["GET"]),
                Route("/v3/refund/domestic/refunds", self.refund, methods=["POST"]),
            ]
        )


@contextmanager
def serve_fake(fake: FakeWeChatPay) -> Iterator[str]:
    """Run the fake on a free loopback port in a thread; yields its API base URL."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(fake.app(), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, name="fake-wechat-pay", daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the fake WeChat Pay did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
