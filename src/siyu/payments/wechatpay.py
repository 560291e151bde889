"""WeChat Pay API v3, the parts Siyu uses: request signing, response and notification
verification, resource decryption, the JSAPI / mini-program payment parameters, and a client for
prepay, query and refund.

Written here on `cryptography` (RSA-SHA256 PKCS#1 v1.5, AES-GCM) rather than taken from an SDK: the
protocol is small, and the SDKs fetch platform certificates over the network when they start, which
a self-hosted install pointed at a fake (tests, the demo) or at the WeChat Pay public key (the
current scheme) does not want. The functions are checked against the vectors published with the
official Go SDK (tests/unit/test_wechatpay_protocol.py).

Protocol facts this module follows:
- a request carries `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="…",nonce_str="…",
  signature="…",timestamp="…",serial_no="…"`, the signature over
  `METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n` with the merchant's private key;
- a response or a notification carries `Wechatpay-Timestamp`, `Wechatpay-Nonce`,
  `Wechatpay-Signature` and `Wechatpay-Serial`, the signature over `TIMESTAMP\\nNONCE\\nBODY\\n` with
  the platform key named by the serial (a platform certificate's serial, or `PUB_KEY_ID_…`);
  a timestamp more than five minutes from now is refused (replays);
- a notification's `resource` is AEAD_AES_256_GCM: the APIv3 key, the resource's `nonce` and
  `associated_data`, base64 `ciphertext` ending with the 16-byte tag;
- JSAPI payment parameters are signed over `APPID\\nTIMESTAMP\\nNONCE\\nprepay_id=…\\n`.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SCHEMA = "WECHATPAY2-SHA256-RSA2048"
MAX_SKEW_S = 300  # a timestamp further from now than this is refused
API_BASE = "https://api.mch.weixin.qq.com"


class WeChatPayError(Exception):
    """A message that fails the protocol (signature, time, decryption) or an error answer."""

    def __init__(self, reason: str, *, status: int | None = None, code: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.code = code


def load_private_key(pem: str) -> rsa.RSAPrivateKey:
    """The merchant's API private key (PKCS#8 or PKCS#1 PEM)."""
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("not an RSA private key")
    return key


def load_public_key(pem: str) -> rsa.RSAPublicKey:
    """A platform public key (PEM public key, or the public key of a PEM certificate)."""
    data = pem.encode()
    key: object
    if b"BEGIN CERTIFICATE" in data:
        from cryptography import x509

        key = x509.load_pem_x509_certificate(data).public_key()
    else:
        key = serialization.load_pem_public_key(data)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ValueError("not an RSA public key")
    return key


def public_pem(key: rsa.RSAPrivateKey | rsa.RSAPublicKey) -> str:
    """The PEM of a key's public half."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def private_pem(key: rsa.RSAPrivateKey) -> str:
    """The PKCS#8 PEM of a private key."""
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def sign(message: str, key: rsa.RSAPrivateKey) -> str:
    """SHA256withRSA (PKCS#1 v1.5) of a message, base64."""
    return base64.b64encode(key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())).decode()


def signature_valid(message: str, signature: str, key: rsa.RSAPublicKey) -> bool:
    """Whether `signature` (base64) is SHA256withRSA of `message` under `key`."""
    try:
        raw = base64.b64decode(signature, validate=True)
        key.verify(raw, message.encode(), padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


def nonce(length: int = 32) -> str:
    """A random nonce of letters and digits."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(length))


def authorization(
    *,
    mchid: str,
    serial_no: str,
    key: rsa.RSAPrivateKey,
    method: str,
    path: str,
    body: str,
    timestamp: int,
    nonce_str: str,
) -> str:
    """The `Authorization` header of a request (`path` includes the query string)."""
    message = f"{method.upper()}\n{path}\n{timestamp}\n{nonce_str}\n{body}\n"
    return (
        f'{SCHEMA} mchid="{mchid}",nonce_str="{nonce_str}",signature="{sign(message, key)}",'
        f'timestamp="{timestamp}",serial_no="{serial_no}"'
    )


def parse_authorization(header: str) -> dict[str, str]:
    """The fields of an `Authorization` header (for the fake's side); {} when it is not one."""
    if not header.startswith(SCHEMA + " "):
        return {}
    fields: dict[str, str] = {}
    for part in header[len(SCHEMA) + 1 :].split(","):
        name, _, value = part.strip().partition("=")
        fields[name] = value.strip('"')
    return fields


def _header(headers: Mapping[str, str], name: str) -> str:
    for key, value in headers.items():
        if key.lower() == name.lower():
            return value
    raise WeChatPayError(f"missing header {name}")


def verify(
    headers: Mapping[str, str],
    body: bytes | str,
    platform_keys: Mapping[str, rsa.RSAPublicKey],
    *,
    now: float | None = None,
    max_skew_s: int = MAX_SKEW_S,
) -> None:
    """Check a response's or a notification's signature and time; raise WeChatPayError (with the
    reason) when the serial is unknown, the timestamp stale or the signature wrong."""
    timestamp = _header(headers, "Wechatpay-Timestamp")
    nonce_str = _header(headers, "Wechatpay-Nonce")
    signature = _header(headers, "Wechatpay-Signature")
    serial = _header(headers, "Wechatpay-Serial")
    key = platform_keys.get(serial)
    if key is None:
        raise WeChatPayError(f"unknown platform key serial {serial!r}")
    try:
        at = int(timestamp)
    except ValueError:
        raise WeChatPayError("the timestamp is not a number") from None
    if abs((time.time() if now is None else now) - at) > max_skew_s:
        raise WeChatPayError("the timestamp is more than five minutes away (stale or replayed)")
    text = body.decode() if isinstance(body, bytes) else body
    if not signature_valid(f"{timestamp}\n{nonce_str}\n{text}\n", signature, key):
        raise WeChatPayError("the signature does not verify")


def signed_headers(
    body: str,
    *,
    key: rsa.RSAPrivateKey,
    serial: str,
    timestamp: int | None = None,
    nonce_str: str | None = None,
) -> dict[str, str]:
    """The headers WeChat Pay puts on a response or notification (the fake's side)."""
    at = int(time.time()) if timestamp is None else timestamp
    once = nonce_str or nonce()
    return {
        "Wechatpay-Timestamp": str(at),
        "Wechatpay-Nonce": once,
        "Wechatpay-Signature": sign(f"{at}\n{once}\n{body}\n", key),
        "Wechatpay-Serial": serial,
        "Wechatpay-Signature-Type": SCHEMA,
    }


def decrypt(apiv3_key: str, associated_data: str, nonce_str: str, ciphertext: str) -> str:
    """AEAD_AES_256_GCM: the plaintext of a base64 ciphertext (tag at the end)."""
    try:
        raw = base64.b64decode(ciphertext, validate=True)
        plain = AESGCM(apiv3_key.encode()).decrypt(nonce_str.encode(), raw, associated_data.encode())
    except (InvalidTag, binascii.Error, ValueError) as exc:
        raise WeChatPayError("the resource does not decrypt with the APIv3 key") from exc
    return plain.decode()


def encrypt(apiv3_key: str, associated_data: str, nonce_str: str, plaintext: str) -> str:
    """The inverse of `decrypt` (the fake's side)."""
    raw = AESGCM(apiv3_key.encode()).encrypt(nonce_str.encode(), plaintext.encode(), associated_data.encode())
    return base64.b64encode(raw).decode()


def decrypt_resource(resource: Mapping[str, Any], apiv3_key: str) -> dict[str, Any]:
    """A notification's decrypted `resource` as JSON."""
    if resource.get("algorithm") != "AEAD_AES_256_GCM":
        raise WeChatPayError(f"unsupported algorithm {resource.get('algorithm')!r}")
    text = decrypt(
        apiv3_key,
        str(resource.get("associated_data") or ""),
        str(resource.get("nonce") or ""),
        str(resource.get("ciphertext") or ""),
    )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise WeChatPayError("the decrypted resource is not JSON") from exc
    if not isinstance(data, dict):
        raise WeChatPayError("the decrypted resource is not an object")
    return data


def jsapi_params(
    appid: str, prepay_id: str, key: rsa.RSAPrivateKey, *, timestamp: int, nonce_str: str
) -> dict[str, str]:
    """What `wx.requestPayment` (mini-program) or `WeixinJSBridge` (JSAPI) needs."""
    package = f"prepay_id={prepay_id}"
    return {
        "appId": appid,
        "timeStamp": str(timestamp),
        "nonceStr": nonce_str,
        "package": package,
        "signType": "RSA",
        "paySign": sign(f"{appid}\n{timestamp}\n{nonce_str}\n{package}\n", key),
    }


@dataclass(frozen=True)
class Merchant:
    """A merchant's credentials and the platform keys it trusts."""

    mchid: str
    appid: str
    serial_no: str
    private_key: rsa.RSAPrivateKey
    apiv3_key: str
    platform_keys: Mapping[str, rsa.RSAPublicKey]
    api_base: str = API_BASE


class WeChatPayClient:
    """Signed calls to WeChat Pay; every answer's signature is verified before it is believed."""

    def __init__(self, merchant: Merchant, *, timeout_s: float = 10.0) -> None:
        self.merchant = merchant
        self.http = httpx.Client(base_url=merchant.api_base.rstrip("/"), timeout=timeout_s)

    def close(self) -> None:
        self.http.close()

    def _call(self, method: str, path: str, payload: Mapping[str, Any] | None = None) -> dict[str, Any]:
        m = self.merchant
        body = "" if payload is None else json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
        full = self.http.base_url.path.rstrip("/") + path
        headers = {
            "Authorization": authorization(
                mchid=m.mchid,
                serial_no=m.serial_no,
                key=m.private_key,
                method=method,
                path=full,
                body=body,
                timestamp=int(time.time()),
                nonce_str=nonce(),
            ),
            "Accept": "application/json",
            "Content-Type": "application/json",
        }
        try:
            answer = self.http.request(method, path, content=body.encode() if body else None, headers=headers)
        except httpx.HTTPError as exc:
            raise WeChatPayError(f"WeChat Pay could not be reached: {exc.__class__.__name__}") from exc
        text = answer.text
        verify(dict(answer.headers), text, m.platform_keys)
        data = json.loads(text) if text else {}
        if answer.status_code >= 400:
            raise WeChatPayError(
                str(data.get("message") or answer.status_code),
                status=answer.status_code,
                code=data.get("code"),
            )
        return data if isinstance(data, dict) else {}

    def prepay_jsapi(
        self,
        *,
        out_trade_no: str,
        description: str,
        amount_fen: int,
        openid: str,
        notify_url: str,
        attach: str = "",
    ) -> str:
        """Create a JSAPI / mini-program order; its prepay_id."""
        m = self.merchant
        data = self._call(
            "POST",
            "/v3/pay/transactions/jsapi",
            {
                "appid": m.appid,
                "mchid": m.mchid,
                "description": description,
                "out_trade_no": out_trade_no,
                "attach": attach,
                "notify_url": notify_url,
                "amount": {"total": amount_fen, "currency": "CNY"},
                "payer": {"openid": openid},
            },
        )
        prepay_id = data.get("prepay_id")
        if not prepay_id:
            raise WeChatPayError("the answer carries no prepay_id")
        return str(prepay_id)

    def query(self, out_trade_no: str) -> dict[str, Any]:
        """An order by the merchant's number (`trade_state` SUCCESS, NOTPAY, CLOSED, …)."""
        return self._call(
            "GET", f"/v3/pay/transactions/out-trade-no/{out_trade_no}?mchid={self.merchant.mchid}"
        )

    def refund(
        self, *, transaction_id: str, out_refund_no: str, amount_fen: int, total_fen: int, reason: str
    ) -> dict[str, Any]:
        """Refund (part of) a paid order; the refund as WeChat Pay answers it (`status`)."""
        return self._call(
            "POST",
            "/v3/refund/domestic/refunds",
            {
                "transaction_id": transaction_id,
                "out_refund_no": out_refund_no,
                "reason": reason,
                "amount": {"refund": amount_fen, "total": total_fen, "currency": "CNY"},
            },
        )
