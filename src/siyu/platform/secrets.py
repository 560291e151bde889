"""Secrets at rest: sealed with Fernet (AES-128-CBC + HMAC-SHA256, from `cryptography`) under a key
derived from SIYU_SECRET_KEY — or, in development, from a random key kept in var/secret.key."""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
from functools import cache

from cryptography.fernet import Fernet, InvalidToken

from siyu.settings import VAR_DIR, get_settings


@cache
def _secret() -> str:
    secret = get_settings().secret_key
    if not secret:
        path = VAR_DIR / "secret.key"
        if not path.exists():
            VAR_DIR.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
        secret = path.read_text().strip()
    return secret


@cache
def _fernet() -> Fernet:
    return Fernet(base64.urlsafe_b64encode(hashlib.sha256(_secret().encode()).digest()))


def seal(plaintext: str) -> str:
    """Encrypt a secret for storage."""
    return _fernet().encrypt(plaintext.encode()).decode()


def unseal(sealed: str) -> str:
    """Decrypt a stored secret (ValueError when it was sealed under another key)."""
    try:
        return _fernet().decrypt(sealed.encode()).decode()
    except InvalidToken as exc:
        raise ValueError("secret sealed under another key (check SIYU_SECRET_KEY)") from exc


def derive_key(purpose: str) -> bytes:
    """A key for one purpose (e.g. signing console form tokens), derived from the sealing secret."""
    return hmac.new(_secret().encode(), f"siyu:{purpose}".encode(), hashlib.sha256).digest()
