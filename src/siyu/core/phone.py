"""Phone numbers: normalise to E.164 and mask for display."""

from __future__ import annotations

import phonenumbers

from siyu.core.errors import DomainError


def normalise_phone(raw: str, default_region: str = "CN") -> str:
    """Parse a phone number written any common way and return it in E.164, or raise invalid_phone."""
    text = (raw or "").strip()
    if not text or len(text) > 32:
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
    try:
        national = str(phonenumbers.parse(e164, None).national_number)
    except phonenumbers.NumberParseException:
        national = e164.lstrip("+")
    if len(national) <= 7:
        return national[:2] + "*" * max(len(national) - 2, 0)
    return national[:3] + "*" * (len(national) - 7) + national[-4:]


def national_display(e164: str | None) -> str | None:
    """The full national number, for roles allowed to see it: +8613812341234 -> 13812341234."""
    if not e164:
        return None
    try:
        return str(phonenumbers.parse(e164, None).national_number)
    except phonenumbers.NumberParseException:
        return e164
