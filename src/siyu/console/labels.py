"""Labels for the codes the console shows: identity types and sources, timeline kinds, tag
sources, outside platforms — each in Chinese and English — and rules as readable sentences.

A code never reaches a person: an unknown one (a new kind written by a later release) reads as
"other" with the code kept in a data- attribute for support.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from siyu.core.money import format_fen
from siyu.reports.store_daily import channel_label, platform_label

Label = tuple[str, str]  # (zh-CN, English)

IDENTITY_TYPES: dict[str, Label] = {
    "wechat_unionid": ("微信 UnionID", "WeChat UnionID"),
    "wechat_openid": ("微信 OpenID", "WeChat OpenID"),
    "wecom_external_userid": ("企业微信外部联系人", "WeCom external contact"),
    "phone": ("手机号", "Phone"),
    "member_card": ("会员卡", "Member card"),
    "pos_customer_id": ("收银系统顾客号", "POS customer ID"),
    "platform_buyer_id": ("平台买家账号", "Platform buyer ID"),
}
# Where an identity or a record came from: the channels, and the ways data enters.
SOURCES: dict[str, Label] = {
    "pos": ("门店收银", "POS"),
    "mini_program": ("小程序", "Mini-program"),
    "guide_share": ("导购分享", "Guide share link"),
    "livestream": ("直播", "Livestream"),
    "community_group": ("社群", "Community group"),
    "official_account": ("公众号", "Official account"),
    "wecom": ("企业微信", "WeCom"),
    "import": ("导入", "Import"),
    "api": ("接口", "API"),
    "console": ("控制台", "Console"),
    "staff": ("员工", "Staff"),
    "rule": ("规则", "Rule"),
    "system": ("系统", "System"),
    "merge": ("合并", "Merge"),
    "order": ("订单", "Order"),
}
TIMELINE_KINDS: dict[str, Label] = {
    "created": ("建档", "Profile created"),
    "profile_updated": ("资料更新", "Profile updated"),
    "identity_added": ("新增身份标识", "Identity added"),
    "identity_removed": ("移除身份标识", "Identity removed"),
    "consent_granted": ("同意授权", "Consent granted"),
    "consent_withdrawn": ("撤回授权", "Consent withdrawn"),
    "merged": ("合并了其他档案", "Merged another profile"),
    "merged_into": ("并入其他档案", "Merged into another profile"),
    "unmerged": ("撤销合并", "Merge undone"),
    "new_fan": ("成为企微好友", "Became a WeCom friend"),
    "bound": ("绑定专属导购", "Exclusive guide bound"),
    "unbound": ("解除专属导购", "Exclusive guide released"),
    "friend_deleted": ("删除企微好友", "WeCom friend removed"),
    "joined_group": ("加入社群", "Joined a group"),
    "left_group": ("退出社群", "Left a group"),
}
OTHER: Label = ("其他", "Other")


def pick(label: Label, lang: str) -> str:
    """The label in the page's language ('en' or Chinese)."""
    return label[1] if lang == "en" else label[0]


def label(table: Mapping[str, Label], code: str | None, lang: str) -> str:
    """A code's label from a table; an unknown code reads as 'other'."""
    if not code:
        return "—"
    return pick(table.get(code, OTHER), lang)


def platform(name: str, lang: str) -> str:
    """An outside platform's name ('tmall' → 天猫)."""
    return platform_label(name, "en" if lang == "en" else "zh-CN")


def source(code: str | None, lang: str) -> str:
    """Where something came from: a channel (an outside platform included) or a way data enters."""
    if code and code.startswith("platform:"):
        return channel_label(code, "en" if lang == "en" else "zh-CN")
    return label(SOURCES, code, lang)


# --- rules as sentences ------------------------------------------------------------------------
_OPS: dict[str, Label] = {
    ">=": ("≥", "≥"),
    ">": (">", ">"),
    "<=": ("≤", "≤"),
    "<": ("<", "<"),
    "=": ("=", "="),
    "!=": ("≠", "≠"),
}
_MEASURES: dict[str, Label] = {
    "count": ("订单数", "orders"),
    "gmv_fen": ("消费净额", "net spend"),
    "aov_fen": ("客单价", "average order"),
}
_GENDERS: dict[str, Label] = {
    "male": ("男", "male"),
    "female": ("女", "female"),
    "unknown": ("未知", "unknown"),
}
_REACH: dict[str, Label] = {
    "wecom": ("企业微信", "WeCom"),
    "phone": ("手机", "phone"),
    "official_account": ("公众号", "the official account"),
}
_PURPOSES: dict[str, Label] = {
    "marketing_sms": ("短信营销", "SMS marketing"),
    "marketing_wecom": ("企微营销", "WeCom marketing"),
    "marketing_official_account": ("公众号营销", "official-account marketing"),
    "marketing_mini_program": ("小程序营销", "mini-program marketing"),
    "marketing_phone_call": ("电话营销", "phone-call marketing"),
    "profiling": ("用户画像", "profiling"),
}


def _window(w: Mapping[str, Any], en: bool) -> str:
    if w.get("last_days"):
        return f"in the last {w['last_days']} days" if en else f"近 {w['last_days']} 天"
    return f"from {w.get('from')} to {w.get('to')}" if en else f"{w.get('from')} 至 {w.get('to')}"


def describe_rule(  # noqa: C901 - to split (docs/architecture.md)
    rule: Mapping[str, Any] | None, lang: str, tag_names: Mapping[int, str] | None = None
) -> str:
    """A rule of the audience language as one readable sentence, amounts in ¥ (not fen)."""
    if not rule:
        return "—"
    en = lang == "en"
    tags = tag_names or {}
    kind = rule.get("type")
    sep = ", " if en else "，"
    if kind in ("all", "any"):
        parts = [describe_rule(node, lang, tags) for node in rule.get("of", [])]
        if len(parts) == 1:
            return parts[0]
        joiner = (" and " if kind == "all" else " or ") if en else ("，且" if kind == "all" else "，或")
        return joiner.join(parts)
    if kind == "not":
        inner = describe_rule(rule.get("rule"), lang, tags)
        return f"not ({inner})" if en else f"不满足（{inner}）"
    if kind == "orders":
        measure = rule.get("measure", "count")
        value = rule.get("value", 0)
        shown = format_fen(int(value)) if measure in ("gmv_fen", "aov_fen") else str(value)
        text = (
            f"{_window(rule.get('window', {}), en)} {pick(_MEASURES.get(measure, OTHER), 'en')} "
            f"{rule.get('op', '')} {shown}"
            if en
            else f"{_window(rule.get('window', {}), en)}{pick(_MEASURES.get(measure, OTHER), 'zh')} "
            f"{pick(_OPS.get(rule.get('op', ''), OTHER), 'zh')} {shown}"
        )
        if rule.get("channels"):
            channels = sep.join(source(c, lang) for c in rule["channels"])
            text += (" through " if en else "（渠道：") + channels + ("" if en else "）")
        return text
    if kind == "last_purchase":
        op, days = pick(_OPS.get(rule.get("op", ""), OTHER), lang), rule.get("days")
        return f"days since last purchase {op} {days}" if en else f"距上次购买 {op} {days} 天"
    if kind == "interactions":
        kinds = sep.join(label(TIMELINE_KINDS, k, lang) for k in rule.get("kinds", []))
        op = pick(_OPS.get(rule.get("op", ""), OTHER), lang)
        window = _window(rule.get("window", {}), en)
        return (
            f"{window}: {kinds} {op} {rule.get('value')} times"
            if en
            else f"{window}{kinds} {op} {rule.get('value')} 次"
        )
    if kind == "gender":
        values = sep.join(label(_GENDERS, g, lang) for g in rule.get("values", []))
        return f"gender: {values}" if en else f"性别：{values}"
    if kind == "age":
        return (
            f"aged {rule.get('min', 0)}–{rule.get('max', 130)}"
            if en
            else f"年龄 {rule.get('min', 0)}–{rule.get('max', 130)} 岁"
        )
    if kind == "city":
        return ("city: " if en else "城市：") + sep.join(rule.get("values", []))
    if kind == "birthday_month":
        months = sep.join(str(m) for m in rule.get("months", []))
        return f"birthday in month {months}" if en else f"生日在 {months} 月"
    if kind == "member_tier":
        return ("member tier: " if en else "会员等级：") + sep.join(rule.get("values", []))
    if kind == "home_store":
        return ("home store: " if en else "归属门店：") + sep.join(rule.get("store_codes", []))
    if kind == "has_guide":
        yes = bool(rule.get("value"))
        return ("has a guide" if yes else "has no guide") if en else ("有导购" if yes else "无导购")
    if kind == "reachable":
        via = label(_REACH, rule.get("via"), lang)
        return f"reachable through {via}" if en else f"可通过{via}触达"
    if kind == "consent":
        purpose = label(_PURPOSES, rule.get("purpose"), lang)
        return f"consents to {purpose}" if en else f"已同意{purpose}"
    if kind == "tags":
        names = sep.join(tags.get(t, f"#{t}") for t in rule.get("tag_ids", []))
        match = rule.get("match", "any")
        words: dict[str, Label] = {
            "has": ("有标签", "has tag"),
            "any": ("有任一标签", "has any of"),
            "all": ("有全部标签", "has all of"),
            "none": ("没有标签", "has none of"),
        }
        return f"{pick(words.get(match, OTHER), lang)} {names}"
    return pick(OTHER, lang)
