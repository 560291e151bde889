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
    "wecom_config": ("企业微信设置", "WeCom settings"),
    "idempotency_key": ("幂等键", "Idempotency key"),
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
    "note": ("备注", "Note"),
}
ORDER_STATUSES: dict[str, Label] = {
    "created": ("待支付", "Awaiting payment"),
    "paid": ("已支付", "Paid"),
    "fulfilled": ("已发货/已提货", "Fulfilled"),
    "completed": ("已完成", "Completed"),
    "cancelled": ("已取消", "Cancelled"),
}
PLACEMENTS: dict[str, Label] = {"in_store": ("到店", "In-store"), "off_store": ("离店", "Off-store")}
FULFILMENTS: dict[str, Label] = {
    "in_store": ("门店现场", "In the store"),
    "pickup": ("到店自提", "Pickup in store"),
    "same_city": ("同城配送", "Same-city delivery"),
    "express": ("快递", "Express delivery"),
}
PAYMENT_METHODS: dict[str, Label] = {
    "wechat_pay": ("微信支付", "WeChat Pay"),
    "alipay": ("支付宝", "Alipay"),
    "unionpay": ("银联", "UnionPay"),
    "bank_card": ("银行卡", "Bank card"),
    "cash": ("现金", "Cash"),
    "stored_value": ("储值", "Stored value"),
    "points": ("积分", "Points"),
    "platform": ("平台支付", "Platform"),
    "other": ("其他", "Other"),
}
ATTRIBUTION_REASONS: dict[str, Label] = {
    "pos_till": (
        "门店收银台下单：归属收银门店及收银员/导购",
        "Rung up at a till: the till's store and cashier",
    ),
    "in_store_scan": ("店内扫码下单：归属扫码门店", "Scan-to-buy in a store: that store"),
    "guide_share_link": ("导购分享链接下单：归属该导购及其门店", "Bought through a guide's link: that guide"),
    "exclusive_guide": ("归属客户的专属导购", "The customer's exclusive guide"),
    "unattributed": ("无门店或导购归属", "No store or guide attribution"),
}
ORDER_FIELDS: dict[str, Label] = {
    "customer_id": ("客户", "Customer"),
    "store_id": ("归属门店", "Store"),
    "guide_id": ("归属导购", "Guide"),
    "attribution_reason": ("归属原因", "Attribution"),
    "source_store_id": ("来源门店", "Store sent"),
    "source_staff_id": ("来源员工", "Staff sent"),
    "placement": ("到店/离店", "In-store / off-store"),
    "during_hours": ("营业时间内", "During hours"),
    "fulfilment": ("履约方式", "Fulfilment"),
    "status": ("状态", "Status"),
    "currency": ("币种", "Currency"),
    "placed_at": ("下单时间", "Placed at"),
    "paid_at": ("支付时间", "Paid at"),
    "fulfilled_at": ("发货/提货时间", "Fulfilled at"),
    "completed_at": ("完成时间", "Completed at"),
    "cancelled_at": ("取消时间", "Cancelled at"),
    "goods_fen": ("商品金额", "Goods"),
    "discount_fen": ("优惠", "Discounts"),
    "shipping_fen": ("运费", "Shipping"),
    "total_fen": ("应付", "Total"),
    "paid_fen": ("实付", "Paid"),
    "lines": ("商品行", "Lines"),
    "payments": ("支付方式", "Payments"),
}
STORE_STATUSES: dict[str, Label] = {
    "active": ("营业中", "Open"),
    "preparing": ("筹备中", "Preparing"),
    "suspended": ("暂停营业", "Suspended"),
    "closed": ("已关店", "Closed"),
}
ROLES: dict[str, Label] = {
    "owner": ("品牌所有者", "Owner"),
    "hq_operator": ("总部运营", "HQ operator"),
    "analyst": ("数据分析师", "Analyst"),
    "store_manager": ("店长", "Store manager"),
    "guide": ("导购", "Guide"),
    "integration": ("系统集成（API 密钥）", "Integration (API key)"),
}
STAFF_STATUSES: dict[str, Label] = {"active": ("在职", "Active"), "departed": ("已离职", "Departed")}
SCOPES: dict[str, Label] = {
    "all": ("全品牌", "The whole brand"),
    "stores": ("所管门店", "Their stores"),
    "own": ("自己的客户", "Their own customers"),
}
WEEKDAYS: tuple[Label, ...] = (
    ("周一", "Monday"),
    ("周二", "Tuesday"),
    ("周三", "Wednesday"),
    ("周四", "Thursday"),
    ("周五", "Friday"),
    ("周六", "Saturday"),
    ("周日", "Sunday"),
)
CONSENT_PURPOSES: dict[str, Label] = {
    "marketing_sms": ("短信营销", "Marketing by SMS"),
    "marketing_wecom": ("企业微信营销", "Marketing on WeCom"),
    "marketing_official_account": ("公众号营销", "Marketing on the official account"),
    "marketing_mini_program": ("小程序营销", "Marketing in the mini-program"),
    "marketing_phone_call": ("电话营销", "Marketing by phone call"),
    "profiling": ("用户画像分析", "Profiling"),
}
# What a merge moves, by `table.column` of the reference registry.
MERGE_TABLES: dict[str, Label] = {
    "customer_identities.customer_id": ("身份标识", "Identities"),
    "customer_timeline.customer_id": ("时间线事件", "Timeline events"),
    "customer_consents.customer_id": ("授权记录", "Consent records"),
    "guide_binding_events.customer_id": ("绑定历史", "Binding history"),
    "guide_bindings.customer_id": ("专属导购绑定", "Exclusive-guide binding"),
    "orders.customer_id": ("订单", "Orders"),
    "customer_order_stats.customer_id": ("消费统计", "Order figures"),
    "tag_assignments.customer_id": ("标签", "Tags"),
    "tag_events.customer_id": ("标签历史", "Tag history"),
    "wecom_friends.customer_id": ("企微好友关系", "WeCom friendships"),
    "wecom_group_members.customer_id": ("群成员身份", "Group memberships"),
    "wecom_transfers.customer_id": ("转接记录", "Transfers"),
}
PROFILE_FIELDS: dict[str, Label] = {
    "name": ("姓名", "Name"),
    "gender": ("性别", "Gender"),
    "birthday": ("生日", "Birthday"),
    "city": ("城市", "City"),
    "member_tier": ("会员等级", "Tier"),
    "phone_e164": ("手机号", "Phone"),
    "store_id": ("所属门店", "Home store"),
    "guide_id": ("导购", "Guide"),
}
IMPORT_KINDS: dict[str, Label] = {
    "customers": ("客户", "Customers"),
    "stores": ("门店", "Stores"),
    "staff": ("员工", "Staff"),
    "products": ("商品", "Products"),
    "orders": ("订单", "Orders"),
    "tags": ("客户标签", "Customer tags"),
}
IMPORT_STATUSES: dict[str, Label] = {
    "uploaded": ("待确认", "To confirm"),
    "queued": ("排队中", "Queued"),
    "running": ("导入中", "Importing"),
    "done": ("已完成", "Done"),
    "rejected": ("有错误，未导入", "Refused: nothing imported"),
    "failed": ("失败", "Failed"),
}
# Audit log: what was done, and to what.
AUDIT_ACTIONS: dict[str, Label] = {
    "api_key.create": ("创建 API 密钥", "API key created"),
    "api_key.revoke": ("吊销 API 密钥", "API key revoked"),
    "tenant.update": ("修改品牌设置", "Brand settings changed"),
    "store.create": ("新建门店", "Store created"),
    "store.update": ("修改门店", "Store changed"),
    "store.close": ("关闭门店", "Store closed"),
    "product.save": ("保存商品", "Products saved"),
    "region.create": ("新建区域", "Region created"),
    "staff.create": ("新建员工", "Staff member created"),
    "staff.update": ("修改员工", "Staff member changed"),
    "customer.phone_reveal": ("查看完整手机号", "Full phone number shown"),
    "customer.phone_search": ("按完整手机号查找客户", "Customer looked up by full phone number"),
    "customer.merge": ("合并客户", "Customers merged"),
    "customer.unmerge": ("撤销合并", "Merge undone"),
    "customer.export": ("导出客户", "Customers exported"),
    "customer.note": ("添加客户备注", "Customer note added"),
    "custom_field.create": ("新建自定义字段", "Custom field created"),
    "order.export": ("导出订单", "Orders exported"),
    "audit.export": ("导出操作日志", "Audit log exported"),
    "idempotent_replay": ("重复请求（返回首次结果）", "Repeated request (first answer returned)"),
    "wecom.sync_members": ("同步群成员", "Group members synchronised"),
    "wecom.configure": ("修改企业微信设置", "WeCom settings changed"),
    "wecom.transfer": ("离职/在职继承", "Customers handed over"),
    "wecom.channel_code.create": ("新建渠道活码", "Channel code created"),
    "wecom.channel_code.update": ("修改渠道活码", "Channel code changed"),
    "audience.export": ("导出人群", "Audience exported"),
    "audience.delete": ("删除人群", "Audience deleted"),
    "tags.import": ("导入标签", "Tags imported"),
    "assign": ("打标签", "Tag assigned"),
    "remove": ("移除标签", "Tag removed"),
    "job.retry": ("重试后台任务", "Background job retried"),
    "import.run": ("导入表格", "Sheet imported"),
    "loyalty.points.adjust": ("手工调整积分", "Points adjusted by hand"),
    "loyalty.reverse": ("冲正积分/储值交易", "Ledger transaction reversed"),
    "loyalty.card.open": ("开通会员卡", "Member card opened"),
    "loyalty.program.save": ("修改会员规则", "Loyalty rules changed"),
    "loyalty.tiers.save": ("修改会员等级", "Member tiers changed"),
    "payments.wechat_pay.configure": ("设置微信支付商户", "WeChat Pay merchant set"),
    "payments.refund": ("微信支付退款", "WeChat Pay refund"),
    "loyalty.deny": ("加入风控名单", "Capability denied"),
    "loyalty.liability.export": ("导出会员资产负债报表", "Liability report exported"),
    "loyalty.plans.save": ("修改付费会员方案", "Membership plans changed"),
    "loyalty.membership.cancel": ("取消付费会员", "Paid membership cancelled"),
    "loyalty.sv_refund.request": ("申请储值退款", "Stored-value refund requested"),
    "loyalty.sv_refund.approve": ("批准储值退款", "Stored-value refund approved"),
    "loyalty.sv_refund.reject": ("驳回储值退款", "Stored-value refund rejected"),
    "loyalty.topup_rules.save": ("修改充值优惠", "Top-up offers changed"),
    "loyalty.allow": ("移出风控名单", "Denial lifted"),
}
OBJECT_TYPES: dict[str, Label] = {
    "api_key": ("API 密钥", "API key"),
    "product": ("商品", "Product"),
    "tenant": ("品牌", "Brand"),
    "store": ("门店", "Store"),
    "region": ("区域", "Region"),
    "staff": ("员工", "Staff member"),
    "customer": ("客户", "Customer"),
    "custom_field": ("自定义字段", "Custom field"),
    "order": ("订单", "Order"),
    "audit": ("操作日志", "Audit log"),
    "wecom": ("企业微信", "WeCom"),
    "wecom_config": ("企业微信设置", "WeCom settings"),
    "idempotency_key": ("幂等键", "Idempotency key"),
    "wecom_group": ("客户群", "Customer group"),
    "channel_code": ("渠道活码", "Channel code"),
    "audience": ("人群", "Audience"),
    "tag": ("标签", "Tag"),
    "job": ("后台任务", "Background job"),
    "import": ("导入", "Import"),
    "transfer": ("客户继承", "Handover"),
    "loyalty_transaction": ("积分/储值交易", "Ledger transaction"),
    "loyalty_program": ("会员规则", "Loyalty rules"),
    "tier": ("会员等级", "Member tier"),
    "payment": ("支付单", "Payment"),
}
ACTOR_TYPES: dict[str, Label] = {
    "staff": ("员工", "Staff"),
    "api_key": ("API 密钥", "API key"),
    "product": ("商品", "Product"),
    "system": ("系统", "System"),
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
    "wecom_config": ("企业微信设置", "WeCom settings"),
    "idempotency_key": ("幂等键", "Idempotency key"),
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


def import_field(field: str, lang: str) -> str:
    """A column of an import as a person reads it: "手机号 phone" (English: the field name)."""
    from siyu.imports.service import ALIASES

    aliases = ALIASES.get(field, ())
    return field if lang == "en" or not aliases else f"{aliases[0]} {field}"
