"""Random tokens and secret hashing helpers."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def new_token(prefix: str, nbytes: int = 32) -> str:
    """A URL-safe random token with a readable prefix, e.g. 'sk_…'."""
    return f"{prefix}_{secrets.token_urlsafe(nbytes)}"


def sha256_hex(value: str | bytes) -> str:
    """Hex SHA-256 of a string or bytes (used to store tokens, never the tokens themselves)."""
    data = value.encode() if isinstance(value, str) else value
    return hashlib.sha256(data).hexdigest()


def constant_time_equals(a: str, b: str) -> bool:
    """Compare secrets without leaking timing."""
    return hmac.compare_digest(a.encode(), b.encode())
