"""Domain errors: one code, an HTTP status, and messages in zh-CN and English."""

from __future__ import annotations

from typing import Any

# code -> (http status, zh-CN template, English template). Templates use str.format fields.
MESSAGES: dict[str, tuple[int, str, str]] = {
    "not_found": (404, "{object}不存在", "{object} not found"),
    "unauthenticated": (401, "请先登录或提供有效的凭证", "Sign in or provide a valid credential"),
    "invalid_credentials": (401, "品牌、用户名或密码错误", "Wrong brand, username or password"),
    "too_many_attempts": (
        429,
        "尝试次数过多，请在 {retry_after_s} 秒后重试",
        "Too many attempts; retry in {retry_after_s} s",
    ),
    "weak_password": (422, "密码太弱：{reason_zh}", "The password is too weak: {reason_en}"),
    "last_owner": (
        409,
        "品牌至少需要一位在职的所有者：请先把另一位员工设为所有者",
        "A brand needs at least one active owner: make another staff member owner first",
    ),
    "constraint_violated": (
        422,
        "数据不满足数据库约束，未写入任何内容；这是一个缺陷，已记录",
        "The data breaks a rule of the database; nothing was written (a defect, and it has been logged)",
    ),
    "server_busy": (
        503,
        "服务器繁忙（{what_zh}），请 {retry_after_s} 秒后重试",
        "The server is busy ({what_en}); retry in {retry_after_s} s",
    ),
    "forbidden": (
        403,
        "当前角色无权执行此操作（需要 {permission}）",
        "Your role may not do this (needs {permission})",
    ),
    "validation_error": (422, "请求内容有误：{summary}", "The request is invalid: {summary}"),
    "conflict": (409, "{reason_zh}", "{reason_en}"),
    "duplicate": (409, "{object}“{value}”已存在", "{object} '{value}' already exists"),
    "idempotency_key_reused": (
        422,
        "该 Idempotency-Key 已用于另一个不同的请求",
        "This Idempotency-Key was already used with a different request",
    ),
    "idempotency_in_progress": (
        409,
        "使用该 Idempotency-Key 的请求仍在处理中，请稍后重试",
        "A request with this Idempotency-Key is still in progress; retry shortly",
    ),
    "body_too_large": (
        413,
        "请求体过大（上限 {limit_bytes} 字节）",
        "Request body too large (limit {limit_bytes} bytes)",
    ),
    "invalid_identity": (
        422,
        "身份标识无效（{type}）：{reason_zh}",
        "Invalid identity ({type}): {reason_en}",
    ),
    "unknown_identity_type": (
        422,
        "未知的身份类型“{type}”",
        "Unknown identity type '{type}'",
    ),
    "invalid_phone": (422, "手机号“{value}”无效", "Phone number '{value}' is invalid"),
    "batch_too_large": (
        413,
        "单次最多 {limit} 条记录，本次 {count} 条",
        "At most {limit} records per call, got {count}",
    ),
    "batch_rejected": (
        422,
        "批量数据有 {error_count} 处错误，未写入任何数据",
        "The batch has {error_count} errors; nothing was written",
    ),
    "import_rejected": (
        422,
        "导入文件有 {error_count} 处错误，未写入任何数据",
        "The import file has {error_count} errors; nothing was written",
    ),
    "use_binding_route": (
        422,
        "请通过“绑定专属导购”更换导购（POST /customers/{{id}}/exclusive-guide），以遵守保护期",
        "Change the guide by binding an exclusive guide (POST /customers/{{id}}/exclusive-guide), "
        "which keeps the protection window",
    ),
    "identity_taken": (
        409,
        "该身份标识已属于另一位客户（不在您的可见范围内），请联系总部核实或合并",
        "This identity already belongs to another customer outside your scope; ask HQ to check or merge",
    ),
    "identity_conflict": (
        409,
        "这些身份标识属于不同的客户，请先合并客户",
        "These identities belong to different customers; merge them first",
    ),
    "overlapping_hours": (
        422,
        "营业时间重叠：{detail_zh}",
        "Business hours overlap: {detail_en}",
    ),
    "invalid_hours": (422, "营业时间格式无效：{value}", "Invalid business hours: {value}"),
    "merge_invalid": (422, "{reason_zh}", "{reason_en}"),
    "unmerge_invalid": (409, "{reason_zh}", "{reason_en}"),
    "invalid_cursor": (422, "分页游标无效", "Invalid pagination cursor"),
    "unknown_custom_field": (422, "未定义的自定义字段“{key}”", "Custom field '{key}' is not defined"),
    "invalid_custom_field": (
        422,
        "自定义字段“{key}”的值无效：应为 {expected}",
        "Invalid value for custom field '{key}': expected {expected}",
    ),
    "invalid_file": (422, "文件无法解析：{reason}", "The file cannot be parsed: {reason}"),
    "unsupported_file": (
        415,
        "不支持的文件类型，请上传 CSV 或 Excel（.xlsx）",
        "Unsupported file type; upload CSV or Excel (.xlsx)",
    ),
    "currency_mismatch": (
        422,
        "币种 {currency} 与品牌结算币种 {expected} 不一致",
        "Currency {currency} is not the brand's currency {expected}",
    ),
    "refund_exceeds_paid": (
        422,
        "退款金额超出可退金额：{detail_zh}",
        "The refund is more than can be refunded: {detail_en}",
    ),
    "refund_conflict": (
        409,
        "退款单“{external_id}”已存在且内容不同",
        "Refund '{external_id}' already exists with different content",
    ),
    "order_not_refundable": (
        422,
        "订单未支付，不能退款",
        "The order is not paid and cannot be refunded",
    ),
    "binding_protected": (
        409,
        "该客户的专属导购仍在保护期内（至 {until}），不能转给其他导购",
        "The customer's exclusive guide is protected until {until}; another guide cannot take over",
    ),
    "invalid_date": (
        422,
        "日期无效：{value}（应为 YYYY-MM-DD）",
        "Invalid date: {value} (expected YYYY-MM-DD)",
    ),
    "invalid_footfall": (422, "{reason_zh}", "{reason_en}"),
    "callback_refused": (403, "企业微信回调校验失败（{reason}）", "WeCom callback refused ({reason})"),
    "callback_malformed": (400, "企业微信回调格式错误（{reason}）", "Malformed WeCom callback ({reason})"),
    "invalid_wecom_settings": (422, "企业微信配置无效：{reason}", "Invalid WeCom settings: {reason}"),
    "invalid_rule": (422, "{reason_zh}", "{reason_en}"),
    "unknown_reference": (
        422,
        "规则引用了不存在的{object}：{values}",
        "The rule refers to an unknown {object}: {values}",
    ),
    "tag_not_allowed": (403, "{reason_zh}", "{reason_en}"),
    "invalid_tag": (422, "{reason_zh}", "{reason_en}"),
    "invalid_channel_code": (422, "{reason_zh}", "{reason_en}"),
    "invalid_image": (422, "图片无效：{reason_zh}", "Invalid image: {reason_en}"),
    "invalid_transfer": (422, "{reason_zh}", "{reason_en}"),
    "ledger_key_reused": (
        409,
        "该幂等键已用于另一笔不同的{what_zh}，未做任何改动",
        "This idempotency key was already used for a different {what_en}; nothing was changed",
    ),
    "insufficient_balance": (
        409,
        "可用余额不足（已冻结的部分不可用），未做任何改动",
        "Not enough available balance (held units are not available); nothing was changed",
    ),
    "stored_value_cap": (
        422,
        "储值卡余额上限为 {cap}（当前 {balance}），本次充值会超过上限，未做任何改动",
        "A stored-value card holds at most {cap} (now {balance}); this top-up would pass it; nothing was changed",
    ),
    "hold_not_active": (
        409,
        "这笔冻结已结算、已释放或已过期",
        "This hold was already captured, released or has expired",
    ),
    "nothing_to_reverse": (409, "这笔交易已全部冲正", "This transaction was already reversed in full"),
    "invalid_loyalty_rule": (422, "{reason_zh}", "{reason_en}"),
    "card_no_taken": (
        409,
        "会员卡号“{card_no}”已属于另一位客户，未做任何改动",
        "Card number '{card_no}' already belongs to another customer; nothing was changed",
    ),
    "card_not_active": (
        409,
        "该客户的会员卡已{status_zh}，不能进行此操作",
        "This customer's member card is {status_en}; this cannot be done",
    ),
    "invalid_payment": (422, "{reason_zh}", "{reason_en}"),
    "real_name_required": (
        422,
        "储值余额超过 {cap} 须为实名卡：请先登记客户的姓名和手机号，未做任何改动",
        "Stored value above {cap} needs a registered card: record the customer's name and phone first; nothing was changed",
    ),
    "capability_denied": (
        409,
        "该客户已被禁止{what_zh}（风控名单），未做任何改动",
        "This customer is denied {what_en} (the deny list); nothing was changed",
    ),
    "points_burn_limit": (
        422,
        "本单最多可用 {most} 积分、最少 {least} 积分（{reason_zh}），未做任何改动",
        "This order may take at most {most} and at least {least} points ({reason_en}); nothing was changed",
    ),
    "payments_not_configured": (
        409,
        "品牌尚未设置微信支付商户，请先在设置中填写商户号与密钥",
        "The brand has not set up WeChat Pay yet; enter the merchant id and keys in the settings first",
    ),
    "wechat_pay_unavailable": (
        502,
        "微信支付接口调用失败（{reason}），未做任何改动",
        "WeChat Pay refused or could not be reached ({reason}); nothing was changed",
    ),
    "wecom_unavailable": (
        502,
        "企业微信接口调用失败（{reason}），未保存任何内容",
        "WeCom refused or could not be reached ({reason}); nothing was saved",
    ),
}

OBJECT_NAMES: dict[str, tuple[str, str]] = {
    "tenant": ("品牌", "Brand"),
    "region": ("区域", "Region"),
    "store": ("门店", "Store"),
    "staff": ("员工", "Staff member"),
    "customer": ("客户", "Customer"),
    "identity": ("身份标识", "Identity"),
    "merge": ("合并记录", "Merge"),
    "api_key": ("API 密钥", "API key"),
    "custom_field": ("自定义字段", "Custom field"),
    "route": ("接口", "Route"),
    "product": ("商品", "Product"),
    "order": ("订单", "Order"),
    "refund": ("退款单", "Refund"),
    "order_line": ("订单行", "Order line"),
    "guide": ("导购", "Guide"),
    "wecom_config": ("企业微信配置", "WeCom settings"),
    "tag": ("标签", "Tag"),
    "tag_group": ("标签组", "Tag group"),
    "audience": ("人群包", "Audience"),
    "snapshot": ("人群快照", "Audience snapshot"),
    "category": ("品类", "Category"),
    "channel_code": ("渠道活码", "Channel code"),
    "group": ("客户群", "Customer group"),
    "image": ("图片", "Image"),
    "media": ("图片", "Image"),
    "import": ("导入记录", "Import"),
    "hold": ("冻结记录", "Hold"),
    "transaction": ("积分/储值交易", "Ledger transaction"),
    "member_card": ("会员卡", "Member card"),
    "tier": ("会员等级", "Tier"),
    "payment": ("支付单", "Payment"),
    "membership_plan": ("付费会员方案", "Membership plan"),
    "membership": ("付费会员", "Paid membership"),
    "refund_request": ("退款申请", "Refund request"),
    "loyalty_program": ("会员规则", "Loyalty rules"),
}


class DomainError(Exception):
    """A failure a person can understand: a stable code, localised messages and details."""

    def __init__(self, code: str, *, details: Any = None, **params: Any) -> None:
        if code not in MESSAGES:
            raise KeyError(f"unknown error code {code!r}")
        self.code = code
        self.params = params
        self.details = details
        super().__init__(self.message("en"))

    @property
    def status(self) -> int:
        """HTTP status that answers this error."""
        return MESSAGES[self.code][0]

    def message(self, lang: str = "zh-CN") -> str:
        """The message in zh-CN (default) or English."""
        _, zh, en = MESSAGES[self.code]
        params = dict(self.params)
        obj = params.get("object")
        if isinstance(obj, str) and obj in OBJECT_NAMES:
            params["object"] = OBJECT_NAMES[obj][1 if lang == "en" else 0]
        template = en if lang == "en" else zh
        try:
            return template.format(**params)
        except (KeyError, IndexError):
            return template


def not_found(obj: str) -> DomainError:
    """The error for an absent object, and for another tenant's object alike."""
    return DomainError("not_found", object=obj)


class RowError(dict[str, Any]):
    """One problem in one row of an import or batch: row (1-based), column, code, why."""

    def __init__(self, row: int, column: str | None, code: str, message_zh: str, message_en: str) -> None:
        super().__init__(row=row, column=column, code=code, message=message_zh, message_en=message_en)


def rejected(errors: list[RowError], code: str = "batch_rejected") -> DomainError:
    """The error for a batch or an import with row problems (sorted by row): nothing is written."""
    errors = sorted(errors, key=lambda e: (e["row"], e["column"] or ""))
    return DomainError(code, error_count=len(errors), details={"errors": errors})
