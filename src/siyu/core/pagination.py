"""Opaque keyset cursors: base64 of the last seen key."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from siyu.core.errors import DomainError

MAX_PAGE_SIZE = 200
DEFAULT_PAGE_SIZE = 50


def encode_cursor(key: Any) -> str:
    """Encode a keyset position as an opaque URL-safe string."""
    raw = json.dumps(key, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Any:
    """Decode a cursor from encode_cursor; None when absent; a clear error when corrupt."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise DomainError("invalid_cursor") from exc


def decode_int_cursor(cursor: str | None) -> int | None:
    """Decode a cursor that must hold an integer id."""
    value = decode_cursor(cursor)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise DomainError("invalid_cursor")
    return value
