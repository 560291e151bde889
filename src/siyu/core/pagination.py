"""Opaque keyset cursors: base64 of the last seen key."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from siyu.core.errors import DomainError
from siyu.core.inputs import MAX_ID

MAX_CURSOR_LENGTH = 512  # our cursors are a few dozen characters; longer ones were not made here

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
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise DomainError("invalid_cursor")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        return json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise DomainError("invalid_cursor") from exc


def decode_int_cursor(cursor: str | None) -> int | None:
    """Decode a cursor that must hold an integer id."""
    value = decode_cursor(cursor)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_ID:
        raise DomainError("invalid_cursor")
    return value
