"""The store daily report as an Excel workbook (openpyxl): figures, channels, guides, hours."""

from __future__ import annotations

import io
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill

from siyu.platform.tabular import sanitise_row
from siyu.reports.periods import COMPARISONS, LABELS
from siyu.reports.store_daily import FIGURE_LABELS, FIGURES, MONEY, SHARES

YUAN = '"¥"#,##0.00'
PCT = "0.0%"  # relative change of money and counts
SHARE = "0.00%"  # a share exactly as the report gives it (a fraction to 4 places)
PP = '+0.00" pp";-0.00" pp";0.00" pp"'  # a change of a share, in percentage points
HEADER = Font(bold=True, color="FFFFFF")
FILL = PatternFill("solid", fgColor="1F4E79")


def _append(ws: Any, row: list[Any]) -> None:
    """Append a row with every cell through the one sanitiser (names are user input)."""
    ws.append(sanitise_row(row))


def _cell_value(name: str, value: Any) -> Any:
    if value is None:
        return None
    return value / 100 if name in MONEY else value


def _fmt(name: str) -> str:
    return YUAN if name in MONEY else (SHARE if name in SHARES else "#,##0")


def _header(ws: Any, titles: list[str]) -> None:
    _append(ws, titles)
    for cell in ws[ws.max_row]:
        cell.font, cell.fill = HEADER, FILL
        cell.alignment = Alignment(horizontal="center", wrap_text=True)


def store_daily_xlsx(report: dict[str, Any]) -> bytes:
    """The report as .xlsx bytes; money as yuan with ¥ formatting, shares as percentages.

    A share's change goes in the Δ column in percentage points, and its % column stays empty.
    """
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "日报 Daily"
    store = report["store"]
    _append(ws, [f"门店日报 Store daily report — {store['name']} ({store['code']})", None, report["date"]])
    ws["A1"].font = Font(bold=True, size=14)
    _append(ws, [f"时区 Time zone: {report['timezone']}"])
    _append(ws, [])
    titles = ["指标 Figure", f"{LABELS['today'][0]} {report['date']}"]
    for c in COMPARISONS:
        day = report["comparison_dates"][c]
        titles += [f"{day}", f"{LABELS[c][0]} Δ", f"{LABELS[c][0]} %"]
    _header(ws, titles)
    for name in FIGURES:
        fig = report["figures"][name]
        row = [f"{FIGURE_LABELS[name][0]} / {FIGURE_LABELS[name][1]}", _cell_value(name, fig["value"])]
        share = name in SHARES
        for c in COMPARISONS:
            vs = fig["vs"][c]
            if share:
                row += [vs["value"], vs["delta_pp"], None]
            else:
                row += [_cell_value(name, vs["value"]), _cell_value(name, vs["delta"]), vs["pct"]]
        _append(ws, row)
        current = ws[ws.max_row]
        for i, cell in enumerate(current[1:], start=1):
            column = 0 if i == 1 else (i - 2) % 3  # 0 value, 1 change, 2 relative change
            if column == 2:
                cell.number_format = PCT
            elif column == 1 and share:
                cell.number_format = PP
            else:
                cell.number_format = _fmt(name)
    ws.column_dimensions["A"].width = 42
    for col in "BCDEFGHIJKLMN":
        ws.column_dimensions[col].width = 14

    ch = wb.create_sheet("渠道 Channels")
    _header(
        ch,
        ["渠道 Channel", "订单 Orders", "支付 Paid", "GMV", "订单占比 Order share", "支付占比 Paid share"],
    )
    for r in report["channels"]:
        _append(
            ch,
            [
                f"{r['label']} / {r['label_en']}",
                r["orders"],
                r["paid_fen"] / 100,
                r["gmv_fen"] / 100,
                r["order_share"],
                r["paid_share"],
            ],
        )
        last = ch[ch.max_row]
        last[2].number_format = last[3].number_format = YUAN
        last[4].number_format = last[5].number_format = SHARE
    ch.column_dimensions["A"].width = 30

    gd = wb.create_sheet("导购 Guides")
    _header(
        gd,
        ["排名 Rank", "导购 Guide", "工号 No.", "订单 Orders", "GMV", "退款 Refunds", "新客户 New customers"],
    )
    for r in report["guides"]:
        _append(
            gd,
            [
                r["rank"],
                r["name"],
                r["employee_no"],
                r["orders"],
                r["gmv_fen"] / 100,
                r["refund_fen"] / 100,
                r["new_customers"],
            ],
        )
        last = gd[gd.max_row]
        last[4].number_format = last[5].number_format = YUAN
    gd.column_dimensions["B"].width = 16

    hr = wb.create_sheet("分时 Hourly")
    _header(hr, ["时段 Hour", "订单 Orders", "支付 Paid", "客流 Visitors"])
    for h in report["hourly"]:
        _append(hr, [f"{h['hour']:02d}:00", h["orders"], h["paid_fen"] / 100, h["visitors"]])
        hr[hr.max_row][2].number_format = YUAN
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
