"""The console's glossary: one definition per metric, shown as a tooltip wherever the metric is.

Every figure a page shows carries `term("key")` (a macro in _macros.html): its name with a "?" that
shows the definition on hover, on focus and on touch. The definitions say what is counted, over
which time and with which exclusions, in the words of docs/orders.md and docs/wecom.md.
"""

from __future__ import annotations

from typing import NamedTuple

from siyu.loyalty.facade import LIABILITY_DEFINITIONS, LIABILITY_FIGURES


class Term(NamedTuple):
    """A metric's name and definition in Chinese and English."""

    zh: str
    en: str
    define_zh: str
    define_en: str


GLOSSARY: dict[str, Term] = {
    "gmv_fen": Term(
        "销售额（GMV）",
        "GMV",
        "当天支付的订单金额，减去当天发生的退款（退款计入退款当天，不改写已发出的日报）。",
        "Amount paid that day less refunds made that day (a refund lowers the day it is made; "
        "earlier reports do not change).",
    ),
    "orders": Term(
        "订单数",
        "Orders",
        "当天支付的订单数；未支付的订单不计入。",
        "Orders paid that day; orders never paid are not counted.",
    ),
    "aov_fen": Term(
        "客单价",
        "Average order value",
        "销售额 ÷ 订单数，四舍五入到分。",
        "GMV divided by orders, rounded half up to the fen.",
    ),
    "paid_fen": Term(
        "支付金额",
        "Paid",
        "当天支付的订单金额，未扣退款。",
        "Amount of the orders paid that day, before refunds.",
    ),
    "refund_fen": Term(
        "退款金额",
        "Refunds",
        "当天发生的退款金额（无论订单哪天支付）。",
        "Refunds made that day, whenever their orders were paid.",
    ),
    "in_store_gmv_fen": Term(
        "到店销售额",
        "In-store GMV",
        "顾客在门店现场下单（收银台或扫码购）的销售额。",
        "GMV of orders placed physically in the store (till or scan-to-buy).",
    ),
    "off_store_gmv_fen": Term(
        "离店销售额",
        "Off-store GMV",
        "不在门店现场下单、但归属本门店的销售额（小程序、商城、导购分享等）。",
        "GMV of orders attributed to the store but not placed in it (mini-program, mall, a guide's link…).",
    ),
    "in_store_share": Term(
        "到店占比",
        "In-store share",
        "到店支付金额 ÷ 全部支付金额（按退款前的支付金额计算，始终在 0–100% 之间）。",
        "In-store paid amount ÷ all paid amount (of gross paid sales, so always 0–100 %).",
    ),
    "off_store_share": Term(
        "离店占比",
        "Off-store share",
        "离店支付金额 ÷ 全部支付金额（按退款前的支付金额计算）。",
        "Off-store paid amount ÷ all paid amount (of gross paid sales).",
    ),
    "off_store_open_gmv_fen": Term(
        "离店·营业时间内",
        "Off-store, during hours",
        "门店营业时间内下单的离店销售额（按门店营业时间、跨夜时段和节假日判断）。",
        "Off-store GMV of orders placed while the store was open (weekly hours, overnight hours, holidays).",
    ),
    "off_store_closed_gmv_fen": Term(
        "离店·闭店后",
        "Off-store, after hours",
        "门店闭店时下单的离店销售额。",
        "Off-store GMV of orders placed while the store was closed.",
    ),
    "off_store_open_share": Term(
        "离店中营业时间内占比",
        "Off-store share during hours",
        "营业时间内的离店支付金额 ÷ 离店支付金额。",
        "Off-store paid amount during hours ÷ off-store paid amount.",
    ),
    "off_store_closed_share": Term(
        "离店中闭店后占比",
        "Off-store share after hours",
        "闭店后的离店支付金额 ÷ 离店支付金额。",
        "Off-store paid amount after hours ÷ off-store paid amount.",
    ),
    "visitors": Term(
        "客流",
        "Foot traffic",
        "当天门店客流设备统计的进店人数。",
        "Visitors counted by the store's counter that day.",
    ),
    "new_fans": Term(
        "新增粉丝",
        "New fans",
        "当天通过企业微信成为本门店导购好友的客户数。",
        "Customers who became a WeCom friend of the store's guides that day.",
    ),
    "new_member_cards": Term(
        "新开会员卡",
        "New member cards",
        "当天在本门店开卡的客户数，每位客户只计一次。",
        "Customers who opened a member card at the store that day; each counts once.",
    ),
    "buyers": Term(
        "购买客户数",
        "Buyers",
        "当天在本门店有已支付订单的已识别客户数。",
        "Known customers with a paid order at the store that day.",
    ),
    "new_buyers": Term(
        "新客",
        "New buyers",
        "当天首次在品牌任何渠道支付的购买客户（此前在全品牌没有已支付订单）。",
        "Buyers that day who had never paid an order anywhere in the brand before.",
    ),
    "repeat_buyers": Term(
        "老客复购",
        "Repeat buyers",
        "当天的购买客户中，此前在品牌已有已支付订单的客户。",
        "Buyers that day who had paid an order in the brand before.",
    ),
    "guest_orders": Term(
        "未识别顾客订单",
        "Orders without a known buyer",
        "没有手机号、会员卡或其他身份、无法对应到客户的已支付订单。",
        "Paid orders that carry no phone, card or other identity to match a customer.",
    ),
    "new_customers": Term(
        "新增客户",
        "New customers",
        "当天新建的客户档案数（任何来源：订单、企业微信、导入、接口）。",
        "Customer profiles created that day, from any source (orders, WeCom, imports, the API).",
    ),
    "net_spend_fen": Term(
        "累计消费",
        "Total spend",
        "客户全部已支付订单的金额减去已退款金额。",
        "All of the customer's paid orders less what was refunded on them.",
    ),
    "growth_value": Term(
        "成长值",
        "Growth value",
        "会员从已支付订单（扣除退款）和指定行为中获得的成长值，决定会员等级；积分和储值余额不计入。",
        "What the member earned from paid orders (net of refunds) and actions; it decides the tier. "
        "Points and stored value do not count.",
    ),
    "points_available": Term(
        "可用积分",
        "Points available",
        "可以使用的积分（不含结账中已冻结的部分）。新订单的积分在退款期结束前冻结，不可使用。",
        "Points the member can spend now (less any frozen by an open checkout). Points from a new "
        "order stay frozen until its refund window ends.",
    ),
    "stored_value_fen": Term(
        "储值余额",
        "Stored value",
        "会员可用的储值：本金加赠送金额（不含结账中已冻结的部分）。退款时只退本金，赠送部分作废。",
        "Stored value the member can spend: principal plus bonus (less any frozen by an open "
        "checkout). A refund pays back the principal; the bonus is forfeited.",
    ),
    "paid_orders": Term(
        "订单数",
        "Orders",
        "客户全部已支付的订单数（含之后退款的）。",
        "All of the customer's paid orders (refunded ones included).",
    ),
    "last_paid_at": Term(
        "最近消费",
        "Last purchase",
        "客户最近一笔已支付订单的支付时间（品牌时区）。",
        "When the customer's latest paid order was paid (the brand's time zone).",
    ),
    "member_tier": Term(
        "会员等级",
        "Tier",
        "品牌会员体系中的等级，由会员系统或导入提供。",
        "The member tier in the brand's loyalty programme, as the loyalty system or an import gives it.",
    ),
    "exclusive_guide": Term(
        "专属导购",
        "Exclusive guide",
        "客户当前绑定的导购；保护期内其他导购不能抢绑，订单归属此导购。",
        "The guide the customer is bound to; within the protection window no other guide can take the "
        "customer, and orders are attributed to this guide.",
    ),
    "attributed_gmv_fen": Term(
        "我的业绩",
        "My attributed GMV",
        "归属给我的已支付订单金额（按订单归属规则：专属导购、扫码导购、分享链接）。",
        "Paid amount of orders attributed to me (exclusive guide, the scanning guide, my share links).",
    ),
    "code_adds": Term(
        "新增好友",
        "Adds",
        "近 30 天通过此渠道码添加导购为好友的次数。",
        "Friend adds through this code in the last 30 days.",
    ),
    "code_deletes": Term(
        "流失",
        "Deletions",
        "近 30 天通过此渠道码添加、之后删除导购或被导购删除的次数。",
        "Friends added through this code who deleted, or were deleted by, the guide in the last 30 days.",
    ),
    "code_net": Term(
        "净增",
        "Net",
        "新增好友减去流失。",
        "Adds less deletions.",
    ),
    "audience_size": Term(
        "人数",
        "Size",
        "当前满足规则的客户数（已合并的客户不计）。",
        "Customers who meet the rule now (merged profiles not counted).",
    ),
}


# The liability report's figures, worded where the report is defined.
for _key, (_zh, _en, _unit) in LIABILITY_FIGURES.items():
    GLOSSARY[f"liability.{_key}"] = Term(_zh, _en, *LIABILITY_DEFINITIONS[_key])


def term(key: str, lang: str) -> tuple[str, str]:
    """A metric's (name, definition) in a language; an unknown key is a programming error."""
    t = GLOSSARY[key]
    return (t.en, t.define_en) if lang == "en" else (t.zh, t.define_zh)
