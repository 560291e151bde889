"""WeChat Pay API v3 primitives against the vectors published with the official Go SDK
(wechatpay-apiv3/wechatpay-go, utils/sign_test.go and utils/aes_test.go), and the message formats
around them: request authorisation, response/notification verification with stale and forged
messages refused, resource decryption, JSAPI payment parameters."""

from __future__ import annotations

import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from siyu.payments import wechatpay as w

# The SDK's test key (PKCS#8) and the signature it publishes for the message "source".
SDK_KEY = """-----BEGIN PRIVATE KEY-----
MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDZUJN33V+dSfvd
fL0Mu+39XrZNXFFMQSy1V15FpncHeV47SmV0TzTqZc7hHB0ddqAdDi8Z5k3TKqb7
6sOwYr5TcAfuR6PIPaleyE0/0KrljBum2Isa2Nyq7Dgc3ElBQ6YN4l/a+DpvKaz1
FSKmKrhLNskqokWVSlu4g8OlKlbPXQ9ibII14MZRQrrkTmHYHzfi7GXXM0thAKuR
0HNvyhTHBh4/lrYM3GaMvmWwkwvsMavnOex6+eioZHBOb1/EIZ/LzC6zuHArPpyW
3daGaZ1rtQB1vVzTyERAVVFsXXgBHvfFud3w3ShsJYk8JvMwK2RpJ5/gV0QSARcm
LDRUAlPzAgMBAAECggEBAMc7rDeUaXiWv6bMGbZ3BTXpg1FhdddnWUnYE8HfX/km
OFI7XtBHXcgYFpcjYz4D5787pcsk7ezPidAj58zqenuclmjKnUmT3pfbI5eCA2v4
C9HnbYDrmUPK1ZcADtka4D6ScDccpNYNa1g2TFHzkIrEa6H+q7S3O2fqxY/DRVtN
0JIXalBb8daaqL5QVzSmM2BMVnHy+YITJWIkP2a3pKs9C0W65JGDsnG0wVrHinHF
+cnhFZIbaPEI//DAFMc9NkrWOKVRTEgcCUxCFaHOZVNxDWZD7A2ZfJB2rK6eg//y
gEiFDR2h6mTaDowMB4YF2n2dsIO4/dCG8vPHI20jn4ECgYEA/ZGu6lEMlO0XZnam
AZGtiNgLcCfM/C2ZERZE7QTRPZH1WdK92Al9ndldsswFw4baJrJLCmghjF/iG4zi
hhBvLnOLksnZUfjdumxoHDWXo2QBWbI5QsWIE7AuTiWgWj1I7X4fCXSQf6i+M/y2
6TogQ7d0ANpZFyOkTNMn/tiJvLECgYEA22XqlamG/yfAGWery5KNH2DGlTIyd6xJ
WtJ9j3jU99lZ0bCQ5xhiBbU9ImxCi3zgTsoqLWgA/p00HhNFNoUcTl9ofc0G3zwT
D1y0ZzcnVKxGJdZ6ohW52V0hJStAigtjYAsUgjm7//FH7PiQDBDP1Wa6xSRkDQU/
aSbQxvEE8+MCgYEA3bb8krW7opyM0XL9RHH0oqsFlVO30Oit5lrqebS0oHl3Zsr2
ZGgoBlWBsEzk3UqUhTFwm/DhJLTSJ/TQPRkxnhQ5/mewNhS9C7yua7wQkzVmWN+V
YeUGTvDGDF6qDz12/vJAgSwDDRym8x4NcXD5tTw7mmNRcwIfL22SkysThIECgYAV
BgccoEoXWS/HP2/u6fQr9ZIR6eV8Ij5FPbZacTG3LlS1Cz5XZra95UgebFFUHHtC
EY1JHJY7z8SWvTH8r3Su7eWNaIAoFBGffzqqSVazfm6aYZsOvRY6BfqPHT3p/H1h
Tq6AbBffxrcltgvXnCTORjHPglU0CjSxVs7awW3AEQKBgB5WtaC8VLROM7rkfVIq
+RXqE5vtJfa3e3N7W3RqxKp4zHFAPfr82FK5CX2bppEaxY7SEZVvVInKDc5gKdG/
jWNRBmvvftZhY59PILHO2X5vO4FXh7suEjy6VIh0gsnK36mmRboYIBGsNuDHjXLe
BDa+8mDLkWu5nHEhOxy2JJZl
-----END PRIVATE KEY-----
"""
SDK_SIGNATURE = (
    "BKyAfU4iMCuvXMXS0Wzam3V/cnxZ+JaqigPM5OhljS2iOT95OO6Fsuml2JkFANJU9K6q9bLlDhPXuoV"
    "z+pp4hAm6pHU4ld815U4jsKu1RkyaII+1CYBUYC8TK0XtJ8FwUXXz8vZHh58rrAVN1XwNyvD1vfpxrMT4SL536GLwvpUHlCqIMzoZUguLl"
    "i/K8V29QiOhuH6IEqLNJn8e9b3nwNcQ7be3CzYGpDAKBfDGPCqCv8Rw5zndhlffk2FEA70G4hvMwe51qMN/RAJbknXG23bSlObuTCN7Ndj"
    "1aJGH6/L+hdwfLpUtJm4QYVazzW7DFD27EpSQEqA8bX9+8m1rLg=="
)
# The SDK's AES-GCM vector.
AES = {
    "key": "testAPIv3Key0000",
    "associated_data": "Dl56FrqWQJF1t9LtC3vEUsniZKvbqdR8",
    "nonce": "wCq51qZv4Yfg",
    "ciphertext": "FsdXzxryWfKwvLJKf8LG/ToRPTRh8RN9wROC",
    "plaintext": "Hello World",
}


def test_sha256_with_rsa_matches_the_published_signature() -> None:
    key = w.load_private_key(SDK_KEY)
    assert w.sign("source", key) == SDK_SIGNATURE
    public = key.public_key()
    assert w.signature_valid("source", SDK_SIGNATURE, public)
    assert not w.signature_valid("sourcE", SDK_SIGNATURE, public)
    assert not w.signature_valid("source", "WECHATPAY/SIGNTEST/" + SDK_SIGNATURE, public)  # a probe


def test_aead_aes_gcm_matches_the_published_vector_and_refuses_tampering() -> None:
    assert w.decrypt(AES["key"], AES["associated_data"], AES["nonce"], AES["ciphertext"]) == AES["plaintext"]
    assert w.encrypt(AES["key"], AES["associated_data"], AES["nonce"], AES["plaintext"]) == AES["ciphertext"]
    for wrong in (
        {"key": "testAPIv3Key1111"},
        {"associated_data": "transaction"},
        {"ciphertext": "SGVsbG8gV29ybGQK"},
        {"ciphertext": "not base64!"},
    ):
        v = {**AES, **wrong}
        with pytest.raises(w.WeChatPayError):
            w.decrypt(v["key"], v["associated_data"], v["nonce"], v["ciphertext"])


def test_a_request_authorisation_signs_the_documented_message() -> None:
    key = w.load_private_key(SDK_KEY)
    header = w.authorization(
        mchid="1900000001",
        serial_no="SERIAL01",
        key=key,
        method="post",
        path="/v3/pay/transactions/jsapi",
        body='{"a":1}',
        timestamp=1554208460,
        nonce_str="593BEC0C930BF1AFEB40B4A08C8FB242",
    )
    fields = w.parse_authorization(header)
    assert header.startswith("WECHATPAY2-SHA256-RSA2048 ")
    assert (fields["mchid"], fields["serial_no"], fields["timestamp"]) == (
        "1900000001",
        "SERIAL01",
        "1554208460",
    )
    message = 'POST\n/v3/pay/transactions/jsapi\n1554208460\n593BEC0C930BF1AFEB40B4A08C8FB242\n{"a":1}\n'
    assert w.signature_valid(message, fields["signature"], key.public_key())


def _platform() -> tuple[rsa.RSAPrivateKey, dict[str, rsa.RSAPublicKey]]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key, {"PUB_KEY_ID_TEST": key.public_key()}


def test_a_notification_verifies_and_stale_forged_or_unknown_ones_do_not() -> None:
    key, keys = _platform()
    body = json.dumps({"id": "EV-1", "event_type": "TRANSACTION.SUCCESS"})
    now = int(time.time())
    good = w.signed_headers(body, key=key, serial="PUB_KEY_ID_TEST", timestamp=now)
    w.verify(good, body, keys, now=now)
    w.verify({k.lower(): v for k, v in good.items()}, body.encode(), keys, now=now + 299)
    cases = {
        "stale": (good, body, now + 301),
        "altered body": (good, body.replace("EV-1", "EV-2"), now),
        "unknown serial": ({**good, "Wechatpay-Serial": "OTHER"}, body, now),
        "forged": (
            w.signed_headers(
                body,
                key=rsa.generate_private_key(public_exponent=65537, key_size=2048),
                serial="PUB_KEY_ID_TEST",
                timestamp=now,
            ),
            body,
            now,
        ),
        "missing header": ({k: v for k, v in good.items() if k != "Wechatpay-Nonce"}, body, now),
    }
    for name, (headers, text, at) in cases.items():
        with pytest.raises(w.WeChatPayError):
            w.verify(headers, text, keys, now=at)
        assert name


def test_resource_round_trip_and_jsapi_parameters() -> None:
    apiv3 = "0123456789abcdef0123456789abcdef"
    plain = json.dumps({"out_trade_no": "T1", "trade_state": "SUCCESS", "amount": {"total": 100}})
    resource = {
        "algorithm": "AEAD_AES_256_GCM",
        "associated_data": "transaction",
        "nonce": "abcdefghijkl",
        "ciphertext": w.encrypt(apiv3, "transaction", "abcdefghijkl", plain),
    }
    assert w.decrypt_resource(resource, apiv3)["trade_state"] == "SUCCESS"
    with pytest.raises(w.WeChatPayError):
        w.decrypt_resource({**resource, "algorithm": "AES_128_CBC"}, apiv3)
    key = w.load_private_key(SDK_KEY)
    params = w.jsapi_params(
        "wx8888888888888888",
        "wx201410272009395522657a690389285100",
        key,
        timestamp=1414561699,
        nonce_str="5K8264ILTKCH16CQ2502SI8ZNMTM67VS",
    )
    assert (
        params["package"] == "prepay_id=wx201410272009395522657a690389285100" and params["signType"] == "RSA"
    )
    message = "wx8888888888888888\n1414561699\n5K8264ILTKCH16CQ2502SI8ZNMTM67VS\nprepay_id=wx201410272009395522657a690389285100\n"
    assert w.signature_valid(message, params["paySign"], key.public_key())
