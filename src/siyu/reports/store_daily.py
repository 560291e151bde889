"""The store daily report, the region / HQ roll-up and the guide ranking.

Definitions (docs/orders.md has the long form):

* GMV = paid amounts of orders paid that local day − refunds made that day (against the store's
  orders). A report sent yesterday never changes because of a refund today.
* Orders = orders paid that day; average order value = GMV / orders (rounded half up, in fen).
* In-store / off-store and during / after hours split GMV by the class each order got on arrival.
  Their shares are of gross paid sales (paid that day, before refunds), so they lie in 0..100 %;
  none when nothing was paid. Shares are kept exact (fractions) until they are shown, and the
  change of a share is in percentage points (pp), never a relative per cent.
* New buyers had no paid order anywhere in the brand before that day; the rest are repeat buyers.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.org import facade as org
from siyu.reports.facts import UNATTRIBUTED, GuideFacts, StoreFacts, guide_facts, read_facts, store_hours
from siyu.reports.periods import COMPARISONS, comparison_days, day_bounds

FIGURES = (
    "gmv_fen",
    "orders",
    "aov_fen",
    "paid_fen",
    "refund_fen",
    "in_store_gmv_fen",
    "off_store_gmv_fen",
    "in_store_share",
    "off_store_share",
    "off_store_open_gmv_fen",
    "off_store_closed_gmv_fen",
    "off_store_open_share",
    "off_store_closed_share",
    "visitors",
    "new_fans",
    "new_member_cards",
    "buyers",
    "new_buyers",
    "repeat_buyers",
    "guest_orders",
)
FIGURE_LABELS = {
    "gmv_fen": ("销售额（GMV，已扣退款）", "GMV (paid − refunds)"),
    "orders": ("订单数", "Orders"),
    "aov_fen": ("客单价（单均）", "Average order value"),
    "paid_fen": ("支付金额", "Paid"),
    "refund_fen": ("退款金额", "Refunds"),
    "in_store_gmv_fen": ("到店销售额", "In-store GMV"),
    "off_store_gmv_fen": ("离店销售额", "Off-store GMV"),
    "in_store_share": ("到店占比", "In-store share"),
    "off_store_share": ("离店占比", "Off-store share"),
    "off_store_open_gmv_fen": ("离店·营业时间内", "Off-store, during hours"),
    "off_store_closed_gmv_fen": ("离店·闭店后", "Off-store, after hours"),
    "off_store_open_share": ("离店中营业时间内占比", "Off-store share during hours"),
    "off_store_closed_share": ("离店中闭店后占比", "Off-store share after hours"),
    "visitors": ("客流（进店人数）", "Foot traffic"),
    "new_fans": ("新增粉丝", "New fans"),
    "new_member_cards": ("新开会员卡", "New member cards"),
    "buyers": ("购买客户数", "Buyers"),
    "new_buyers": ("新客", "New buyers"),
    "repeat_buyers": ("老客复购", "Repeat buyers"),
    "guest_orders": ("未识别顾客订单", "Orders without a known buyer"),
}
MONEY = {f for f in FIGURES if f.endswith("_fen")}
SHARES = {f for f in FIGURES if f.endswith("_share")}
CHANNEL_LABELS = {
    "pos": ("门店收银", "POS"),
    "mini_program": ("小程序", "Mini-program"),
    "guide_share": ("导购分享", "Guide share link"),
    "livestream": ("直播", "Livestream"),
    "community_group": ("社群", "Community group"),
    "official_account": ("公众号", "Official account"),
}


PLATFORM_LABELS = {
    "tmall": ("天猫", "Tmall"),
    "taobao": ("淘宝", "Taobao"),
    "jd": ("京东", "JD.com"),
    "douyin": ("抖音", "Douyin"),
    "kuaishou": ("快手", "Kuaishou"),
    "pdd": ("拼多多", "Pinduoduo"),
    "xiaohongshu": ("小红书", "Xiaohongshu"),
    "vip": ("唯品会", "Vipshop"),
}


def platform_label(name: str, lang: str = "zh-CN") -> str:
    """An outside platform's name ('tmall' → 天猫); an unknown one as written, capitalised."""
    zh, en = PLATFORM_LABELS.get(name, (name.capitalize(), name.capitalize()))
    return en if lang == "en" else zh


def channel_label(channel: str, lang: str = "zh-CN") -> str:
    """A channel's display name; outside platforms read e.g. '平台·天猫'."""
    if channel.startswith("platform:"):
        name = platform_label(channel.split(":", 1)[1], lang)
        return f"Platform: {name}" if lang == "en" else f"平台·{name}"
    zh, en = CHANNEL_LABELS.get(channel, (channel, channel))
    return en if lang == "en" else zh


SHARE_PLACES = 4  # a share is given as a fraction to 4 places (0.01 %)
PP_PLACES = 2  # a change of a share is given in percentage points to 2 places (0.01 pp)


def round_half_up(value: Fraction, places: int) -> float:
    """An exact value rounded once, half away from zero, to `places` decimals."""
    scale = 10**places
    magnitude = math.floor(abs(value) * scale + Fraction(1, 2))
    return math.copysign(magnitude, value) / scale if magnitude else 0.0


def _share(part: int, whole: int) -> Fraction | None:
    """part / whole, exact; None when the base is not positive."""
    return Fraction(part, whole) if whole > 0 else None


def shown_share(share: Fraction | None) -> float | None:
    """A share as the report gives it: a fraction rounded once to SHARE_PLACES."""
    return None if share is None else round_half_up(share, SHARE_PLACES)


def _aov(gmv: int, orders: int) -> int | None:
    return (2 * gmv + orders) // (2 * orders) if orders > 0 else None  # half up, integers only


def figures(f: StoreFacts) -> dict[str, Any]:
    """The report's scalar figures from one range's facts (shares exact, as fractions).

    Shares are of gross paid sales: a refund lowers GMV where its order counts, but a share of a
    base that refunds can make zero or negative would leave 0..100 % (166.5 %, −1.1 %).
    """
    off = f.off_open.gmv_fen + f.off_closed.gmv_fen + f.off_unknown.gmv_fen
    off_paid = f.off_open.paid_fen + f.off_closed.paid_fen + f.off_unknown.paid_fen
    gmv = f.total.gmv_fen
    hours_known_paid = f.off_open.paid_fen + f.off_closed.paid_fen
    return {
        "gmv_fen": gmv,
        "orders": f.total.orders,
        "aov_fen": _aov(gmv, f.total.orders),
        "paid_fen": f.total.paid_fen,
        "refund_fen": f.total.refund_fen,
        "in_store_gmv_fen": f.in_store.gmv_fen,
        "off_store_gmv_fen": off,
        "in_store_share": _share(f.in_store.paid_fen, f.total.paid_fen),
        "off_store_share": _share(off_paid, f.total.paid_fen),
        "off_store_open_gmv_fen": f.off_open.gmv_fen,
        "off_store_closed_gmv_fen": f.off_closed.gmv_fen,
        "off_store_open_share": _share(f.off_open.paid_fen, hours_known_paid),
        "off_store_closed_share": _share(f.off_closed.paid_fen, hours_known_paid),
        "visitors": f.visitors,
        "new_fans": f.new_fans,
        "new_member_cards": f.new_member_cards,
        "buyers": f.buyers,
        "new_buyers": f.new_buyers,
        "repeat_buyers": f.buyers - f.new_buyers,
        "guest_orders": f.guest_orders,
    }


def compare(today: int | None, before: int | None) -> dict[str, Any]:
    """Absolute and relative change of a money or count figure.

    pct = delta / before, none when either is missing or the earlier value is not positive (a
    relative change from zero or from a negative GMV has no meaning).
    """
    if today is None or before is None:
        return {"value": before, "delta": None, "pct": None}
    delta = today - before
    pct = round_half_up(Fraction(delta, before), 4) if before > 0 else None
    return {"value": before, "delta": delta, "pct": pct}


def compare_share(today: Fraction | None, before: Fraction | None) -> dict[str, Any]:
    """The earlier share and the change in percentage points, from the exact fractions."""
    if today is None or before is None:
        return {"value": shown_share(before), "delta_pp": None}
    return {"value": shown_share(before), "delta_pp": round_half_up((today - before) * 100, PP_PLACES)}


def with_comparisons(per_day: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """{figure: {"value", "vs": {comparison: {"value", "delta", "pct"} or, for shares, {"value", "delta_pp"}}}}."""
    today = per_day["today"]
    out: dict[str, dict[str, Any]] = {}
    for name in FIGURES:
        if name in SHARES:
            vs = {c: compare_share(today[name], per_day[c][name]) for c in COMPARISONS}
            out[name] = {"value": shown_share(today[name]), "vs": vs}
        else:
            vs = {c: compare(today[name], per_day[c][name]) for c in COMPARISONS}
            out[name] = {"value": today[name], "vs": vs}
    return out


def channel_rows(f: StoreFacts) -> list[dict[str, Any]]:
    """Share by source channel (of orders, and of gross paid sales), largest GMV first."""
    total_orders, total_paid = f.total.orders, f.total.paid_fen
    rows = [
        {
            "channel": channel,
            "label": channel_label(channel),
            "label_en": channel_label(channel, "en"),
            "orders": b.orders,
            "paid_fen": b.paid_fen,
            "gmv_fen": b.gmv_fen,
            "order_share": shown_share(_share(b.orders, total_orders)),
            "paid_share": shown_share(_share(b.paid_fen, total_paid)),
        }
        for channel, b in f.channels.items()
    ]
    return sorted(rows, key=lambda r: (-r["gmv_fen"], r["channel"]))


@dataclass(frozen=True)
class Window:
    name: str
    day: dt.date
    start: dt.datetime
    end: dt.datetime


def windows(day: dt.date, tz: ZoneInfo) -> list[Window]:
    """The report day and its comparison days, with UTC bounds."""
    return [Window(name, d, *day_bounds(d, tz)) for name, d in comparison_days(day).items()]


def _hourly(
    session: Session, tenant_id: int, store_id: int, start: dt.datetime, end: dt.datetime, tz: ZoneInfo
) -> list[dict[str, int]]:
    """Orders, paid and visitors per local hour of the day (for the charts)."""
    hours = [{"hour": h, "orders": 0, "paid_fen": 0, "visitors": 0} for h in range(24)]
    paid, footfall = store_hours(session, tenant_id=tenant_id, store_id=store_id, start=start, end=end)
    for paid_at, amount in paid:
        slot = hours[paid_at.astimezone(tz).hour]
        slot["orders"] += 1
        slot["paid_fen"] += amount
    for hour_start, visitors in footfall:
        hours[hour_start.astimezone(tz).hour]["visitors"] += visitors
    return hours


def store_for_report(
    session: Session, *, principal: Principal, store_id: int | None = None, code: str | None = None
) -> org.StoreInfo | None:
    """The store (by id or code) if the caller may see its report: HQ any, a manager theirs."""
    if store_id is not None:
        store = org.stores_by_id(session, tenant_id=principal.tenant_id, ids={store_id}).get(store_id)
    elif code is not None:
        store = org.stores_by_code(session, tenant_id=principal.tenant_id, codes={code}).get(code)
    else:
        store = None
    if store is None or (principal.scope != "all" and store.id not in principal.store_ids):
        return None
    return store


def store_daily(session: Session, *, tenant_id: int, store: org.StoreInfo, day: dt.date) -> dict[str, Any]:
    """The daily report of one store, compared with yesterday, last week, last month, last year."""
    tz = org.tenant_zone(session, tenant_id=tenant_id)
    per_day: dict[str, dict[str, Any]] = {}
    today_facts = StoreFacts()
    start, end = day_bounds(day, tz)
    for w in windows(day, tz):
        facts = read_facts(session, tenant_id=tenant_id, store_ids=[store.id], start=w.start, end=w.end)
        f = facts.get(store.id, StoreFacts())
        per_day[w.name] = figures(f)
        if w.name == "today":
            today_facts = f
    return {
        "store": {"id": store.id, "code": store.code, "name": store.name},
        "date": day.isoformat(),
        "timezone": tz.key,
        "comparison_dates": {k: v.isoformat() for k, v in comparison_days(day).items()},
        "figures": with_comparisons(per_day),
        "channels": channel_rows(today_facts),
        "hourly": _hourly(session, tenant_id, store.id, start, end, tz),
        "guides": guide_ranking(session, tenant_id=tenant_id, store_id=store.id, start=start, end=end),
    }


def guide_ranking(
    session: Session, *, tenant_id: int, store_id: int, start: dt.datetime, end: dt.datetime
) -> list[dict[str, Any]]:
    """The store's guides by GMV in [start, end): orders, GMV, new customers bound to them (the
    store's active guides, and anyone else with sales, refunds or bindings at the store)."""
    names = {i: (n, e) for i, n, e in org.guides_of_store(session, tenant_id=tenant_id, store_id=store_id)}
    facts = guide_facts(session, tenant_id=tenant_id, store_id=store_id, start=start, end=end)
    others = set(facts) - set(names)
    names |= org.staff_names(session, tenant_id=tenant_id, ids=others)
    out: list[dict[str, Any]] = []
    for guide_id in [*names, *sorted(others - set(names))]:
        f = facts.get(guide_id, GuideFacts())
        name, employee_no = names.get(guide_id, (None, None))
        out.append(
            {
                "guide_id": guide_id,
                "name": name,
                "employee_no": employee_no,
                "orders": f.orders,
                "paid_fen": f.paid_fen,
                "refund_fen": f.refund_fen,
                "new_customers": f.new_customers,
                "gmv_fen": f.paid_fen - f.refund_fen,
            }
        )
    out.sort(key=lambda r: (-int(r["gmv_fen"]), -int(r["orders"]), int(r["guide_id"])))
    for rank, r in enumerate(out, start=1):
        r["rank"] = rank
    return out


ROLLUP_FIGURES = (
    "gmv_fen",
    "orders",
    "aov_fen",
    "in_store_share",
    "off_store_closed_share",
    "visitors",
    "new_fans",
    "new_member_cards",
    "new_buyers",
    "repeat_buyers",
)


def rollup(
    session: Session,
    *,
    tenant_id: int,
    day: dt.date,
    store_ids: list[int] | None,
    region_id: int | None = None,
) -> dict[str, Any]:
    """Every store's figures for a day (with comparisons), summed per region and for the brand.

    store_ids limits the stores (a manager's scope); None reads all (and the brand total then
    includes orders attributed to no store).
    """
    tz = org.tenant_zone(session, tenant_id=tenant_id)
    stores = org.stores_of(session, tenant_id=tenant_id, store_ids=store_ids, region_id=region_id)
    regions = org.regions_of(session, tenant_id=tenant_id)
    per_store: dict[int, dict[str, dict[str, Any]]] = {s.id: {} for s in stores}
    per_region: dict[int | None, dict[str, dict[str, Any]]] = {}
    brand: dict[str, dict[str, Any]] = {}
    whole_brand = store_ids is None and region_id is None
    for w in windows(day, tz):
        facts = read_facts(session, tenant_id=tenant_id, store_ids=store_ids, start=w.start, end=w.end)
        region_sums: dict[int | None, StoreFacts] = {}
        total = StoreFacts()
        for s in stores:
            f = facts.get(s.id, StoreFacts())
            per_store[s.id][w.name] = figures(f)
            region_sums.setdefault(s.region_id, StoreFacts()).add(f)
            total.add(f)
        if whole_brand and UNATTRIBUTED in facts:
            total.add(facts[UNATTRIBUTED])
        for region, f in region_sums.items():
            per_region.setdefault(region, {})[w.name] = figures(f)
        brand[w.name] = figures(total)
        brand.setdefault("_unattributed", {})[w.name] = figures(facts.get(UNATTRIBUTED, StoreFacts()))

    def pick(per_day: dict[str, dict[str, Any]]) -> dict[str, Any]:
        full = with_comparisons(per_day)
        return {k: full[k] for k in ROLLUP_FIGURES}

    return {
        "date": day.isoformat(),
        "timezone": tz.key,
        "stores": [
            {
                "id": s.id,
                "code": s.code,
                "name": s.name,
                "region_id": s.region_id,
                "figures": pick(per_store[s.id]),
            }
            for s in stores
        ],
        "regions": [
            {
                "id": region,
                "code": regions.get(region, ("", ""))[0] if region else None,
                "name": regions.get(region, ("", "未分区"))[1] if region else "未分区 / No region",
                "figures": pick(per_day),
            }
            for region, per_day in per_region.items()
        ],
        "total": {
            "figures": pick({k: v for k, v in brand.items() if k != "_unattributed"}),
            "includes_unattributed": whole_brand,
            "unattributed_gmv_fen": brand["_unattributed"]["today"]["gmv_fen"] if whole_brand else 0,
        },
    }
