"""Reading and writing spreadsheets: CSV (UTF-8 or GB18030, as Excel in China saves it) and .xlsx."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from openpyxl import Workbook, load_workbook
from pydantic import ValidationError

from siyu.core.errors import DomainError, RowError, rejected
from siyu.core.inputs import control_character

MAX_ROWS = 100_000


@dataclass
class Table:
    """Rows of a sheet as dicts keyed by normalised header; row numbers as a person sees them."""

    headers: list[str]
    rows: list[tuple[int, dict[str, str]]]


def _norm(header: Any) -> str:
    return str(header or "").strip().lower().replace(" ", "_")


def read_table(filename: str, content: bytes) -> Table:
    """Parse CSV or XLSX content; the first row is the header."""
    suffix = Path(filename).suffix.lower()
    if suffix == ".xlsx" or content[:2] == b"PK":
        try:
            workbook = load_workbook(io.BytesIO(content), read_only=True, data_only=True)
        except Exception as exc:  # openpyxl raises many kinds for a corrupt file
            raise DomainError("unsupported_file") from exc
        sheet = workbook.worksheets[0]
        values = list(sheet.iter_rows(values_only=True))
        workbook.close()
        raw_rows = [["" if v is None else _cell(v) for v in row] for row in values]
    elif suffix in (".csv", ".txt", ""):
        text = _decode(content)
        try:
            raw_rows = list(csv.reader(io.StringIO(text, newline="")))
        except csv.Error as exc:
            raise DomainError("invalid_file", reason=str(exc)) from exc
    else:
        raise DomainError("unsupported_file")
    if not raw_rows:
        return Table(headers=[], rows=[])
    headers = [_norm(h) for h in raw_rows[0]]
    rows = []
    for index, raw in enumerate(raw_rows[1:], start=2):
        if not any(str(v).strip() for v in raw):
            continue
        rows.append(
            (index, {h: str(raw[i]).strip() if i < len(raw) else "" for i, h in enumerate(headers) if h})
        )
    if len(rows) > MAX_ROWS:
        raise DomainError("batch_too_large", limit=MAX_ROWS, count=len(rows))
    _refuse_control_characters(headers, rows)
    return Table(headers=[h for h in headers if h], rows=rows)


def _refuse_control_characters(headers: list[str], rows: list[tuple[int, dict[str, str]]]) -> None:
    """A cell holding NUL or another control character (tab and newlines are text) is a row error,
    as in a JSON body: PostgreSQL refuses NUL and Excel the others."""
    errors = [
        RowError(
            1,
            None,
            "control_character",
            f"表头含有控制字符 {found}",
            f"a header contains the control character {found}",
        )
        for found in {control_character(h) for h in headers} - {None}
    ]
    for index, values in rows:
        for header, value in values.items():
            found = control_character(value)
            if found:
                errors.append(
                    RowError(
                        index,
                        header,
                        "control_character",
                        f"含有控制字符 {found}",
                        f"contains the control character {found}",
                    )
                )
    if errors:
        raise rejected(errors[:1000], "import_rejected")


def _cell(value: Any) -> str:
    if hasattr(value, "isoformat"):
        text: str = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _decode(content: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise DomainError("unsupported_file")


def check_headers(table: Table, required: Sequence[str], optional: Sequence[str]) -> None:
    """Refuse a sheet whose columns are wrong, naming what is missing and what is unknown."""
    missing = [h for h in required if h not in table.headers]
    unknown = [h for h in table.headers if h not in required and h not in optional]
    if missing or unknown:
        errors = [RowError(1, h, "missing_column", f"缺少列 {h}", f"missing column {h}") for h in missing]
        errors += [RowError(1, h, "unknown_column", f"未知列 {h}", f"unknown column {h}") for h in unknown]
        raise DomainError(
            "import_rejected",
            error_count=len(errors),
            details={"errors": errors, "expected": {"required": list(required), "optional": list(optional)}},
        )


# --- the one sanitiser every written cell goes through -------------------------------------------
# A text cell that starts with one of these is read by Excel/WPS/LibreOffice as a formula (or DDE
# command): `=HYPERLINK("http://…"&A1,"click")` in a customer's name would become a live link that
# leaks the row. OWASP's rule: prefix such text with a single quote. Numbers, dates and booleans
# stay what they are. Control characters (other than tab, newline and carriage return inside a
# cell) are dropped: they are invalid in .xlsx and meaningless in CSV.
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def sanitise_cell(value: Any) -> Any:
    """A value safe to put in a spreadsheet or CSV cell (text neutralised, numbers untouched)."""
    if value is None or isinstance(value, bool | int | float | Decimal | dt.date | dt.time):
        return value
    text = _CONTROL.sub("", value if isinstance(value, str) else str(value))
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def sanitise_row(values: Iterable[Any]) -> list[Any]:
    """Every cell of a row through `sanitise_cell`."""
    return [sanitise_cell(v) for v in values]


def write_table(
    path: Path, headers: list[str], rows: Iterable[Sequence[Any]], *, sheet: str = "customers"
) -> int:
    """Write rows to .csv (UTF-8 with BOM, so Excel shows Chinese) or .xlsx by the path's suffix;
    every cell goes through `sanitise_cell`."""
    count = 0
    if path.suffix.lower() == ".xlsx":
        workbook = Workbook(write_only=True)
        worksheet = workbook.create_sheet(sheet)
        worksheet.append(sanitise_row(headers))
        for row in rows:
            worksheet.append(sanitise_row(row))
            count += 1
        workbook.save(path)
        return count
    with path.open("w", encoding="utf-8-sig", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(sanitise_row(headers))
        for row in rows:
            writer.writerow(sanitise_row(row))
            count += 1
    return count


# --- cells every importer reads --------------------------------------------------------------
class BadCellError(Exception):
    """One cell that cannot be read (an amount that is not money)."""

    def __init__(self, column: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.column, self.zh, self.en = column, zh, en


def yuan_to_fen(value: str, column: str) -> int:
    """'59.9' / '59.90' / '¥1,299.00' → fen; more than two decimals or a negative amount is refused."""
    text = value.replace("¥", "").replace(",", "").strip()
    if text == "":
        return 0
    try:
        amount = Decimal(text)
    except InvalidOperation:
        raise BadCellError(column, f"金额“{value}”无效", f"amount '{value}' is not a number") from None
    fen = amount * 100
    if fen != fen.to_integral_value() or amount < 0:
        raise BadCellError(
            column, f"金额“{value}”须为非负且最多两位小数", f"amount '{value}' must be ≥ 0 with ≤ 2 decimals"
        )
    return int(fen)


def row_errors(row: int, exc: Exception) -> list[RowError]:
    """What is wrong with one sheet row: a bad amount, or the schema's complaints."""
    if isinstance(exc, BadCellError):
        return [RowError(row, exc.column, "invalid_amount", exc.zh, exc.en)]
    assert isinstance(exc, ValidationError)
    return [
        RowError(
            row, ".".join(str(p) for p in e["loc"]) or None, "invalid", f"数据无效：{e['msg']}", e["msg"]
        )
        for e in exc.errors()
    ]
