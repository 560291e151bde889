"""Phone numbers: normalise to E.164 and mask for display."""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from siyu.core.errors import DomainError

# Mainland mobile numbers: 11 digits starting with 1, optionally written with +86 / 86 / 0086.
_CN_MOBILE = re.compile(r"^(?:\+?86|0086)?(1[3-9]\d{9})$")
_SEPARATORS = re.compile(r"[\s()-]")
_ALLOWED = re.compile(r"^\+?[\d\s()-]+$")


@lru_cache(maxsize=65_536)
def _cn_segment_is_valid(segment: str) -> bool:
    """Whether a 7-digit mobile segment (号段, e.g. 1381234) is allocated, per libphonenumber."""
    return bool(phonenumbers.is_valid_number(phonenumbers.parse(f"+86{segment}0000", None)))


def normalise_phone(raw: str, default_region: str = "CN") -> str:
    """Parse a phone number written any common way and return it in E.164, or raise invalid_phone."""
    text = (raw or "").strip()
    if not text or len(text) > 32 or not _ALLOWED.match(text):
        # Letters are refused outright: libphonenumber would read them as keypad digits.
        raise DomainError("invalid_phone", value=raw)
    # Fast path for mainland mobiles (most of the traffic): numbers are allocated by 7-digit segment,
    # so one libphonenumber check per segment is cached instead of a full parse per number.
    if default_region == "CN" and (match := _CN_MOBILE.match(_SEPARATORS.sub("", text))):
        if _cn_segment_is_valid(match.group(1)[:7]):
            return "+86" + match.group(1)
        raise DomainError("invalid_phone", value=raw)
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise DomainError("invalid_phone", value=raw) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise DomainError("invalid_phone", value=raw)
    return str(phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164))


def mask_phone(e164: str | None) -> str | None:
    """Show the first 3 and last 4 national digits: +8613812341234 -> 138****1234."""
    if not e164:
        return None
    national = e164[3:] if e164.startswith("+86") and len(e164) == 14 else _national(e164)
    if len(national) <= 7:
        return national[:2] + "*" * max(len(national) - 2, 0)
    return national[:3] + "*" * (len(national) - 7) + national[-4:]


def _national(e164: str) -> str:
    try:
        return str(phonenumbers.parse(e164, None).national_number)
    except phonenumbers.NumberParseException:
        return e164.lstrip("+")


def national_display(e164: str | None) -> str | None:
    """The full national number, for roles allowed to see it: +8613812341234 -> 13812341234."""
    if not e164:
        return None
    try:
        return str(phonenumbers.parse(e164, None).national_number)
    except phonenumbers.NumberParseException:
        return e164
