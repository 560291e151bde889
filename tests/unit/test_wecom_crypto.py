"""WeCom callback crypto against the published vector, and every way a callback is refused."""

from __future__ import annotations

import base64

import pytest

from siyu.wecom.crypto import CallbackRefusedError, WeComCrypto, signature
from siyu.wecom.xml import parse
from tests.wecom_vectors import (
    AES_KEY,
    CORP_ID,
    ECHOSTR,
    MSG_SIGNATURE,
    NONCE,
    TIMESTAMP,
    TOKEN,
)

CRYPTO = WeComCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=CORP_ID)


def test_published_vector_verifies_and_decrypts() -> None:
    assert signature(TOKEN, TIMESTAMP, NONCE, ECHOSTR) == MSG_SIGNATURE
    plain = CRYPTO.open(
        msg_signature=MSG_SIGNATURE,
        timestamp=TIMESTAMP,
        nonce=NONCE,
        encrypted=ECHOSTR,
        now_s=int(TIMESTAMP) + 5,
    )
    assert plain == "5927782489442352469"


def test_round_trip_pads_to_32_bytes() -> None:
    message = "<xml><Event><![CDATA[change_external_contact]]></Event></xml>"
    encrypted = CRYPTO.encrypt(message, random16=b"0123456789abcdef")
    assert len(base64.b64decode(encrypted)) % 32 == 0
    assert CRYPTO.decrypt(encrypted) == message
    assert CRYPTO.encrypt(message) != CRYPTO.encrypt(message)  # random prefix


def refused(**overrides: object) -> str:
    args: dict[str, object] = {
        "msg_signature": MSG_SIGNATURE,
        "timestamp": TIMESTAMP,
        "nonce": NONCE,
        "encrypted": ECHOSTR,
        "now_s": int(TIMESTAMP),
    }
    args.update(overrides)
    with pytest.raises(CallbackRefusedError) as info:
        CRYPTO.open(**args)  # type: ignore[arg-type]
    return info.value.reason


def test_wrong_signature() -> None:
    assert refused(msg_signature="0" * 40) == "bad_signature"
    assert refused(nonce="437374426") == "bad_signature"


def test_stale_timestamp_either_way() -> None:
    assert refused(now_s=int(TIMESTAMP) + 301) == "stale_timestamp"
    assert refused(now_s=int(TIMESTAMP) - 301) == "stale_timestamp"
    assert refused(timestamp="soon") == "bad_timestamp"


def test_one_flipped_ciphertext_byte() -> None:
    raw = bytearray(base64.b64decode(ECHOSTR))
    raw[20] ^= 0x01
    flipped = base64.b64encode(bytes(raw)).decode()
    with pytest.raises(CallbackRefusedError):  # the signature no longer matches
        CRYPTO.open(
            msg_signature=MSG_SIGNATURE,
            timestamp=TIMESTAMP,
            nonce=NONCE,
            encrypted=flipped,
            now_s=int(TIMESTAMP),
        )
    # Even signed correctly, a flipped byte never decrypts to the message for this corp.
    with pytest.raises(CallbackRefusedError):
        CRYPTO.open(
            msg_signature=signature(TOKEN, TIMESTAMP, NONCE, flipped),
            timestamp=TIMESTAMP,
            nonce=NONCE,
            encrypted=flipped,
            now_s=int(TIMESTAMP),
        )


def test_wrong_receive_id() -> None:
    other = WeComCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id="wwanothercorp0001")
    with pytest.raises(CallbackRefusedError) as info:
        other.decrypt(ECHOSTR)
    assert info.value.reason == "wrong_receive_id"


@pytest.mark.parametrize("pad", [0, 33])
def test_bad_padding(pad: int) -> None:
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

    key = CRYPTO.key
    plain = b"0123456789abcdef" + (5).to_bytes(4, "big") + b"hello" + CORP_ID.encode()
    body = plain + b"\x00" * (64 - len(plain) - 1) + bytes([pad])
    encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    encrypted = base64.b64encode(encryptor.update(body) + encryptor.finalize()).decode()
    with pytest.raises(CallbackRefusedError) as info:
        CRYPTO.decrypt(encrypted)
    assert info.value.reason == "bad_padding"


def test_not_base64() -> None:
    assert refused(
        encrypted="not base64 at all!", msg_signature=signature(TOKEN, TIMESTAMP, NONCE, "not base64 at all!")
    ) == ("not_base64")


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="43"):
        WeComCrypto(token=TOKEN, encoding_aes_key="short", receive_id=CORP_ID)


def test_xml_is_parsed_without_dtds_or_entities() -> None:
    fields = parse("<xml><ToUserName><![CDATA[wx5823bf96d3bd56c7]]></ToUserName><Encrypt>abc</Encrypt></xml>")
    assert fields == {"ToUserName": "wx5823bf96d3bd56c7", "Encrypt": "abc"}
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>'
    with pytest.raises(CallbackRefusedError) as info:
        parse(bomb)
    assert info.value.reason == "xml_dtd_or_entity"
    with pytest.raises(CallbackRefusedError) as info:
        parse("<xml><Encrypt>" + "a" * 70_000 + "</Encrypt></xml>")
    assert info.value.reason == "too_large"
    with pytest.raises(CallbackRefusedError) as info:
        parse("<xml><unclosed></xml>")
    assert info.value.reason == "bad_xml"
