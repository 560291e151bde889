"""Forms in the console: the posted fields, and validation errors as messages next to the fields
they concern (in the person's language), so a form comes back filled in with what to fix.

Rules are the domain's own (the pydantic models the API validates with); the console only reads the
fields and explains a refusal. The browser checks what HTML can (required, lengths, patterns,
number ranges) before sending.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import Depends, Request
from pydantic import ValidationError
from starlette.datastructures import FormData

from siyu.core.errors import DomainError
from siyu.core.inputs import ascii_digits


async def form_data(request: Request) -> FormData:
    """The posted form (reviewed async dependency: the CSRF check has read and cached it already;
    this only returns it)."""
    return await request.form()


Posted = Annotated[FormData, Depends(form_data)]


def text(form: FormData, name: str, limit: int = 500) -> str | None:
    """A text field, trimmed; empty is None (the limit guards the page, the model checks lengths)."""
    value = form.get(name)
    if not isinstance(value, str):
        return None
    value = value.strip()[: limit + 1]
    return value or None


def texts(form: FormData, name: str) -> list[str]:
    """Every value of a repeated field (checkboxes, rows), trimmed, empty ones left out."""
    return [v.strip() for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def yuan(value: str | None) -> int | str | None:
    """An amount in yuan ("59.90", "¥1,299") as fen; None when empty; the raw text when it is not
    an amount (the model then refuses it at the field)."""
    if value is None:
        return None
    cleaned = value.replace("¥", "").replace(",", "").replace("，", "").strip()
    try:
        whole, _, cents = cleaned.partition(".")
        if not ascii_digits(whole) or (cents and (not ascii_digits(cents) or len(cents) > 2)):
            raise ValueError
        return int(whole) * 100 + int((cents + "00")[:2] or 0)
    except ValueError:
        return value


_MESSAGES: Mapping[str, tuple[str, str]] = {
    "missing": ("必填", "Required"),
    "string_too_short": ("至少 {min_length} 个字符", "At least {min_length} characters"),
    "string_too_long": ("最多 {max_length} 个字符", "At most {max_length} characters"),
    "too_long": ("最多 {max_length} 项", "At most {max_length} items"),
    "string_pattern_mismatch": ("格式不正确", "Not in the expected format"),
    "greater_than_equal": ("不能小于 {ge}", "Must be at least {ge}"),
    "less_than_equal": ("不能大于 {le}", "Must be at most {le}"),
    "int_parsing": ("须为整数", "Must be a whole number"),
    "int_type": ("须为金额或整数", "Must be an amount or a whole number"),
    "float_parsing": ("须为数字", "Must be a number"),
    "literal_error": ("请从列表中选择", "Choose one of the options"),
    "enum": ("请从列表中选择", "Choose one of the options"),
}


def _message(error: Mapping[str, Any], lang: str) -> str:
    kind = str(error.get("type", ""))
    if kind in _MESSAGES:
        zh, en = _MESSAGES[kind]
        template = en if lang == "en" else zh
        try:
            return template.format(**(error.get("ctx") or {}))
        except (KeyError, IndexError):
            return template
    text_ = str(error.get("msg", ""))
    text_ = text_.removeprefix("Value error, ")
    if " / " in text_:  # the domain's bilingual messages: "english / 中文"
        en, zh = text_.split(" / ", 1)
        return en if lang == "en" else zh
    return text_


MONEY = ("须为金额，如 59.90（最多两位小数）", "Must be an amount such as 59.90 (at most two decimals)")


def field_errors(
    exc: ValidationError, lang: str, *, prefix: str = "", money: frozenset[str] = frozenset()
) -> dict[str, str]:
    """The first problem of each field: {field name: message}. Nested fields are joined with "."
    (`business_hours.0.opens`); a model-wide problem is under "" (shown at the top of the form).
    Fields in `money` were read from yuan: a value that is not a number is explained as an amount."""
    out: dict[str, str] = {}
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        key = prefix + ".".join(location)
        if location and location[0] in money and str(error.get("type", "")).startswith("int_"):
            out.setdefault(key, MONEY[1] if lang == "en" else MONEY[0])
        out.setdefault(key, _message(error, lang))
    return out


def domain_message(exc: DomainError, lang: str) -> str:
    """A refusal of the domain (a duplicate code …) as one sentence in the person's language."""
    return exc.message("en" if lang == "en" else "zh-CN")
