"""Identity types and their rules: what a valid value looks like, and its normal form. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass

from siyu.core.errors import DomainError
from siyu.core.phone import normalise_phone

IdentityKey = tuple[str, str, str]  # (type, namespace, value)

_WECHAT_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_APP_ID = re.compile(r"^wx[0-9a-f]{16}$")
_EXTERNAL_USERID = re.compile(r"^w[a-zA-Z][A-Za-z0-9_-]{6,62}$")
_MEMBER_CARD = re.compile(r"^[A-Za-z0-9-]{4,32}$")
_POS_ID = re.compile(r"^[\x21-\x7e]{1,64}$")
_PLATFORM = re.compile(r"^[a-z][a-z0-9_]{1,31}$")
_BUYER_ID = re.compile(r"^[^\s]{1,128}$")


@dataclass(frozen=True)
class Rule:
    """How one identity type is validated."""

    needs_namespace: str | None  # what the namespace means, or None when it must be empty
    pattern: re.Pattern[str] | None
    zh: str
    en: str


RULES: dict[str, Rule] = {
    "wechat_unionid": Rule(
        None, _WECHAT_ID, "应为 16-64 位字母、数字、-、_", "expected 16-64 letters, digits, - or _"
    ),
    "wechat_openid": Rule(
        "app_id", _WECHAT_ID, "应为 16-64 位字母、数字、-、_", "expected 16-64 letters, digits, - or _"
    ),
    "wecom_external_userid": Rule(
        None,
        _EXTERNAL_USERID,
        "应为以 w 开头的 8-64 位标识（如 wmXXXX）",
        "expected 8-64 chars starting with w (e.g. wm…)",
    ),
    "phone": Rule(None, None, "手机号无效", "not a valid phone number"),
    "member_card": Rule(
        None, _MEMBER_CARD, "应为 4-32 位字母、数字或 -", "expected 4-32 letters, digits or -"
    ),
    "pos_customer_id": Rule(
        None, _POS_ID, "应为 1-64 位可见 ASCII 字符", "expected 1-64 visible ASCII characters"
    ),
    "platform_buyer_id": Rule(
        "platform", _BUYER_ID, "应为 1-128 位不含空白的字符", "expected 1-128 chars without spaces"
    ),
}


def normalise_identity(type_: str, value: str, namespace: str | None = None) -> IdentityKey:
    """Validate an identity and return its normal (type, namespace, value), or raise a clear error."""
    rule = RULES.get(type_)
    if rule is None:
        raise DomainError("unknown_identity_type", type=type_, details={"allowed": sorted(RULES)})
    value = (value or "").strip()
    ns = (namespace or "").strip()
    if rule.needs_namespace == "app_id":
        if not _APP_ID.match(ns):
            raise DomainError(
                "invalid_identity",
                type=type_,
                reason_zh="namespace 须为公众号/小程序 AppID（wx 加 16 位十六进制）",
                reason_en="namespace must be the WeChat app id (wx + 16 hex digits)",
            )
    elif rule.needs_namespace == "platform":
        ns = ns.lower()
        if not _PLATFORM.match(ns):
            raise DomainError(
                "invalid_identity",
                type=type_,
                reason_zh="namespace 须为平台名（如 tmall、jd、douyin）",
                reason_en="namespace must be the platform name (e.g. tmall, jd, douyin)",
            )
    elif ns:
        raise DomainError(
            "invalid_identity",
            type=type_,
            reason_zh="该类型不使用 namespace",
            reason_en="this type takes no namespace",
        )
    if type_ == "phone":
        try:
            value = normalise_phone(value)
        except DomainError as exc:
            raise DomainError("invalid_identity", type=type_, reason_zh=rule.zh, reason_en=rule.en) from exc
    elif rule.pattern is not None and not rule.pattern.match(value):
        raise DomainError("invalid_identity", type=type_, reason_zh=rule.zh, reason_en=rule.en)
    return type_, ns, value
