"""WeCom's callback message crypto (the published WXBizMsgCrypt scheme) — pure, no I/O.

* signature = SHA-1 of the sorted concatenation of token, timestamp, nonce and the encrypted text
  (hex), compared in constant time;
* AES-256-CBC with key = base64-decode(EncodingAESKey + "="), IV = the key's first 16 bytes,
  PKCS#7 padding to a multiple of 32 bytes;
* plaintext = 16 random bytes + 4-byte big-endian message length + message + receive id (the corp
  id, which must be the tenant's).

Every failure raises CallbackRefusedError with a reason code, so the endpoint can answer precisely and
store nothing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

BLOCK = 32  # WeCom pads to 32 bytes, not AES's 16
MAX_CLOCK_SKEW_S = 300


class CallbackRefusedError(Exception):
    """A callback that fails verification; `reason` says which check."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    """The msg_signature WeCom sends with a callback."""
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()  # noqa: S324 - the protocol's hash


@dataclass(frozen=True)
class WeComCrypto:
    """One corp's callback settings: token, EncodingAESKey (43 chars) and the corp id."""

    token: str
    encoding_aes_key: str
    receive_id: str

    def __post_init__(self) -> None:
        if len(self.encoding_aes_key) != 43:
            raise ValueError("EncodingAESKey must be 43 characters")
        try:
            key = base64.b64decode(self.encoding_aes_key + "=", validate=True)
        except binascii.Error as exc:
            raise ValueError("EncodingAESKey is not base64") from exc
        if len(key) != 32:
            raise ValueError("EncodingAESKey must decode to 32 bytes")

    @property
    def key(self) -> bytes:
        """The AES-256 key."""
        return base64.b64decode(self.encoding_aes_key + "=")

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> None:
        """Check the signature (constant time), or refuse."""
        expected = signature(self.token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").lower().encode()):
            raise CallbackRefusedError("bad_signature")

    def decrypt(self, encrypted: str) -> str:
        """The message inside a callback's encrypted text, checked to be for this corp."""
        try:
            data = base64.b64decode(encrypted, validate=True)
        except (binascii.Error, ValueError):
            raise CallbackRefusedError("not_base64") from None
        if not data or len(data) % 16:
            raise CallbackRefusedError("bad_ciphertext")
        key = self.key
        decryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
        padded = decryptor.update(data) + decryptor.finalize()
        pad = padded[-1]
        if not 1 <= pad <= BLOCK or padded[-pad:] != bytes([pad]) * pad:
            raise CallbackRefusedError("bad_padding")
        plain = padded[:-pad]
        if len(plain) < 20:
            raise CallbackRefusedError("bad_plaintext")
        (length,) = struct.unpack(">I", plain[16:20])
        message, receive_id = plain[20 : 20 + length], plain[20 + length :]
        if len(message) != length:
            raise CallbackRefusedError("bad_plaintext")
        if not hmac.compare_digest(receive_id, self.receive_id.encode()):
            raise CallbackRefusedError("wrong_receive_id")
        try:
            return message.decode("utf-8")
        except UnicodeDecodeError:
            raise CallbackRefusedError("bad_plaintext") from None

    def encrypt(self, message: str, *, random16: bytes | None = None) -> str:
        """Encrypt a message as WeCom does (for replies, and for the fake WeCom in tests)."""
        body = message.encode()
        plain = (random16 or os.urandom(16)) + struct.pack(">I", len(body)) + body + self.receive_id.encode()
        pad = BLOCK - len(plain) % BLOCK
        padded = plain + bytes([pad]) * pad
        key = self.key
        encryptor = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
        return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()

    def open(self, *, msg_signature: str, timestamp: str, nonce: str, encrypted: str, now_s: int) -> str:
        """Verify the timestamp (±300 s) and the signature, then decrypt: a callback's message."""
        try:
            sent = int(timestamp)
        except ValueError:
            raise CallbackRefusedError("bad_timestamp") from None
        if abs(now_s - sent) > MAX_CLOCK_SKEW_S:
            raise CallbackRefusedError("stale_timestamp")
        self.verify(msg_signature, timestamp, nonce, encrypted)
        return self.decrypt(encrypted)
