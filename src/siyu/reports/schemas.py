"""API shapes of reports (money in fen, shares as fractions 0..1, dates in the tenant's zone).

Shares are of gross paid sales (before refunds), so they lie in 0..1, or are null when nothing was
paid. A share's change is in percentage points (`delta_pp`), from the exact shares, rounded once.
"""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from siyu.schemas import Strict


class Change(Strict):
    """A figure on an earlier day and how today differs: delta = today − value, pct = delta / value."""

    value: int | None
    delta: int | None
    pct: float | None = Field(
        description="delta / value to 4 places; null when the earlier value is not positive"
    )


class ShareChange(Strict):
    """A share on an earlier day and how today's differs, in percentage points (not relative per cent)."""

    value: float | None = Field(
        description="the earlier share, a fraction to 4 places; null when nothing was paid"
    )
    delta_pp: float | None = Field(
        description="today's share − the earlier one, in percentage points to 2 places, from the exact "
        "shares; null when either share is null"
    )


class Comparisons(Strict):
    yesterday: Change
    last_week: Change = Field(description="the same weekday a week earlier")
    last_month: Change = Field(description="the same day of the previous month (31st → month end)")
    last_year: Change = Field(description="the same date a year earlier (29 Feb → 28 Feb)")


class Figure(Strict):
    value: int | None
    vs: Comparisons


class ShareComparisons(Strict):
    yesterday: ShareChange
    last_week: ShareChange
    last_month: ShareChange
    last_year: ShareChange


class ShareFigure(Strict):
    value: float | None = Field(
        description="a fraction 0..1 of gross paid sales, to 4 places; null when nothing was paid"
    )
    vs: ShareComparisons


class Figures(Strict):
    gmv_fen: Figure = Field(description="paid that day − refunds made that day")
    orders: Figure
    aov_fen: Figure = Field(description="GMV / orders, half up")
    paid_fen: Figure
    refund_fen: Figure
    in_store_gmv_fen: Figure
    off_store_gmv_fen: Figure
    in_store_share: ShareFigure = Field(description="in-store paid / paid (gross, before refunds)")
    off_store_share: ShareFigure = Field(description="off-store paid / paid (gross, before refunds)")
    off_store_open_gmv_fen: Figure
    off_store_closed_gmv_fen: Figure
    off_store_open_share: ShareFigure = Field(
        description="of off-store paid sales (of stores' hours), placed while the store was open"
    )
    off_store_closed_share: ShareFigure
    visitors: Figure
    new_fans: Figure
    new_member_cards: Figure
    buyers: Figure
    new_buyers: Figure = Field(description="no paid order anywhere in the brand before the day")
    repeat_buyers: Figure
    guest_orders: Figure = Field(description="orders without a known buyer")


class StoreRef(Strict):
    id: int
    code: str
    name: str


class ComparisonDates(Strict):
    today: dt.date
    yesterday: dt.date
    last_week: dt.date
    last_month: dt.date
    last_year: dt.date


class ChannelRow(Strict):
    channel: str
    label: str
    label_en: str
    orders: int
    paid_fen: int
    gmv_fen: int = Field(description="paid − refunds made that day against the channel's orders")
    order_share: float | None
    paid_share: float | None = Field(description="of gross paid sales (before refunds)")


class HourRow(Strict):
    hour: int = Field(ge=0, le=23, description="local hour of the day")
    orders: int
    paid_fen: int
    visitors: int


class GuideRow(Strict):
    rank: int
    guide_id: int
    name: str | None
    employee_no: str | None
    orders: int
    paid_fen: int
    refund_fen: int
    gmv_fen: int
    new_customers: int = Field(description="customers newly bound to the guide (exclusive guide)")


class StoreDailyReport(Strict):
    store: StoreRef
    date: dt.date
    timezone: str
    comparison_dates: ComparisonDates
    figures: Figures
    channels: list[ChannelRow]
    hourly: list[HourRow]
    guides: list[GuideRow]


class RollupFigures(Strict):
    gmv_fen: Figure
    orders: Figure
    aov_fen: Figure
    in_store_share: ShareFigure
    off_store_closed_share: ShareFigure
    visitors: Figure
    new_fans: Figure
    new_member_cards: Figure
    new_buyers: Figure
    repeat_buyers: Figure


class RollupStore(StoreRef):
    region_id: int | None
    figures: RollupFigures


class RollupRegion(Strict):
    id: int | None
    code: str | None
    name: str
    figures: RollupFigures


class RollupTotal(Strict):
    figures: RollupFigures
    includes_unattributed: bool
    unattributed_gmv_fen: int


class Rollup(Strict):
    date: dt.date
    timezone: str
    stores: list[RollupStore]
    regions: list[RollupRegion]
    total: RollupTotal


class GuideRanking(Strict):
    store: StoreRef
    date_from: dt.date
    date_to: dt.date
    guides: list[GuideRow]
