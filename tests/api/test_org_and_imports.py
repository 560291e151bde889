"""Stores, staff and bulk imports (CSV, GB18030 CSV and Excel): all rows or none."""

from __future__ import annotations

import io
from typing import Any

from fastapi.testclient import TestClient
from openpyxl import Workbook
from sqlalchemy import func, select

from siyu.customers.models import Customer
from siyu.db.session import unit_of_work
from siyu.org.models import Staff, Store
from tests.factories import World


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def count(world: World, model: Any) -> int:
    with unit_of_work(world.engine) as session:
        return int(
            session.scalar(select(func.count()).select_from(model).where(model.tenant_id == world.tenant_id))
            or 0
        )


def upload(
    client: TestClient, world: World, kind: str, name: str, content: bytes, role: str = "owner"
) -> Any:
    return client.post(
        f"/api/v1/imports/{kind}", files={"file": (name, content)}, headers=world.headers(role)
    )


def test_store_with_overnight_hours_and_holidays(client: TestClient, world: World) -> None:
    body = {
        "code": "NIGHT",
        "name": "夜猫子店",
        "latitude": 31.23,
        "longitude": 121.47,
        "business_hours": [{"weekday": d, "opens": "18:00", "closes": "02:00"} for d in range(7)],
        "holidays": [{"date": "2026-02-17", "closed": True, "name": "春节"}],
    }
    r = client.post("/api/v1/stores", json=body, headers=world.headers("hq_operator"))
    assert r.status_code == 201, r.text
    assert r.json()["business_hours"][6] == {"weekday": 6, "opens": "18:00", "closes": "02:00"}
    overlapping = {
        **body,
        "code": "BAD",
        "business_hours": [
            {"weekday": 0, "opens": "18:00", "closes": "02:00"},
            {"weekday": 1, "opens": "01:00", "closes": "12:00"},
        ],
    }
    r = client.post("/api/v1/stores", json=overlapping, headers=world.headers("hq_operator"))
    assert r.status_code == 422 and r.json()["error"]["code"] == "overlapping_hours"
    assert r.json()["error"]["message"] == "营业时间重叠：周一 18:00-02:00 与 周二 01:00-12:00 重叠"
    store_id = client.get("/api/v1/stores", params={"q": "NIGHT"}, headers=world.headers("owner")).json()[
        "items"
    ][0]["id"]
    patch = client.patch(
        f"/api/v1/stores/{store_id}",
        headers=world.headers("owner"),
        json={"holidays": [{"date": "2026-10-01", "closed": False}]},
    )
    assert patch.status_code == 422
    bad_coords = client.post(
        "/api/v1/stores", json={"code": "X", "name": "x", "latitude": 120}, headers=world.headers("owner")
    )
    assert bad_coords.status_code == 422


def test_staff_with_unknown_store_is_refused(client: TestClient, world: World) -> None:
    r = client.post(
        "/api/v1/staff",
        headers=world.headers("owner"),
        json={
            "employee_no": "N1",
            "username": "newguide",
            "name": "新导购",
            "role": "guide",
            "store_ids": [987654],
        },
    )
    assert r.status_code == 404 and r.json()["error"]["details"] == {"store_ids": [987654]}
    assert count(world, Staff) == 6


def test_store_import_csv_creates_regions_and_overnight_hours(client: TestClient, world: World) -> None:
    csv = (
        "code,name,region_code,region_name,city,latitude,longitude,mon,tue,wed,thu,fri,sat,sun\n"
        "SH01,上海一店,EAST,华东区,上海,31.2,121.4,10:00-22:00,10:00-22:00,10:00-22:00,10:00-22:00,"
        "10:00-02:00,10:00-02:00,10:00-22:00\n"
        "SH02,上海二店,EAST,,上海,,,closed,10:00-14:00，17:00-21:00,,,,,\n"
    ).encode()
    r = upload(client, world, "stores", "stores.csv", csv)
    assert r.status_code == 200, r.text
    assert r.json() == {"kind": "stores", "rows": 2, "created": 2, "updated": 0}
    stores = client.get("/api/v1/stores", params={"q": "SH02"}, headers=world.headers("owner")).json()[
        "items"
    ]
    assert stores[0]["business_hours"] == [
        {"weekday": 1, "opens": "10:00", "closes": "14:00"},
        {"weekday": 1, "opens": "17:00", "closes": "21:00"},
    ]
    again = upload(client, world, "stores", "stores.csv", csv)
    assert again.json()["updated"] == 2 and count(world, Store) == 4


def test_store_import_reports_every_bad_row_and_writes_none(client: TestClient, world: World) -> None:
    csv = (
        "code,name,region_code,mon,tue\n"
        "OK1,好店,,10:00-22:00,\n"
        "BAD1,坏店,,18:00-02:00,01:00-09:00\n"
        "BAD2,坏店二,NOPE,,\n"
        "BAD3,坏店三,,10-22,\n"
        "OK1,重复,,,\n"
    ).encode()
    r = upload(client, world, "stores", "stores.csv", csv)
    assert r.status_code == 422
    errors = [(e["row"], e["column"], e["code"]) for e in r.json()["error"]["details"]["errors"]]
    assert sorted(errors, key=lambda e: e[0]) == [
        (3, "mon..sun", "overlapping_hours"),
        (4, "region_code", "not_found"),
        (5, "mon", "invalid_hours"),
        (6, "code", "duplicate_in_file"),
    ]
    assert count(world, Store) == 2


def test_staff_import_from_excel(client: TestClient, world: World) -> None:
    good = xlsx(
        [
            ["employee_no", "username", "name", "role", "phone", "store_codes"],
            ["G100", "amy", "艾米", "guide", "13800001111", "S1|S2"],
            ["G101", "bob", "鲍勃", "store_manager", "", "S2"],
        ]
    )
    r = upload(client, world, "staff", "staff.xlsx", good)
    assert r.status_code == 200 and r.json()["created"] == 2
    amy = client.get(
        "/api/v1/staff",
        params={"role": "guide", "store_id": world.store_ids[1]},
        headers=world.headers("analyst"),
    ).json()["items"]
    assert [(s["username"], s["store_ids"], s["phone"]) for s in amy if s["username"] == "amy"] == [
        ("amy", world.store_ids, "138****1111")
    ]
    hq_view = client.get(
        "/api/v1/staff", params={"role": "guide"}, headers=world.headers("hq_operator")
    ).json()
    assert [s["phone"] for s in hq_view["items"] if s["username"] == "amy"] == ["+8613800001111"]
    bad = xlsx(
        [
            ["employee_no", "username", "name", "role", "store_codes"],
            ["G200", "cat", "猫", "guide", "S1"],
            ["G201", "dog", "狗", "guide", "S9"],
            ["G202", "eel", "鳗", "chef", "S1"],
        ]
    )
    r = upload(client, world, "staff", "staff.xlsx", bad)
    assert r.status_code == 422
    assert [(e["row"], e["column"]) for e in r.json()["error"]["details"]["errors"]] == [
        (3, "store_codes"),
        (4, "role"),
    ]
    assert count(world, Staff) == 8


def test_sheet_with_wrong_columns_is_refused(client: TestClient, world: World) -> None:
    r = upload(client, world, "staff", "staff.xlsx", xlsx([["工号", "username", "name"], ["1", "x", "y"]]))
    assert r.status_code == 422
    details = r.json()["error"]["details"]
    assert {(e["column"], e["code"]) for e in details["errors"]} == {
        ("employee_no", "missing_column"),
        ("role", "missing_column"),
        ("工号", "unknown_column"),
    }
    assert upload(client, world, "staff", "staff.pdf", b"%PDF-1.4").status_code == 415


def test_customer_import_reads_gb18030_csv_from_excel(client: TestClient, world: World) -> None:
    csv = (
        "name,gender,phone,wechat_unionid,member_card,store_code\n"
        "王芳,女,13800138000,oUnionGBK0000000000000000001,MGB00001,S1\n"
        "李雷,男,13800138001,,MGB00002,S2\n"
    ).encode("gb18030")
    r = upload(client, world, "customers", "会员.csv", csv, role="integration")
    assert r.status_code == 200, r.text
    assert r.json()["created"] == 2
    found = client.get(
        "/api/v1/customers/lookup",
        params={"type": "member_card", "value": "MGB00001"},
        headers=world.headers("owner"),
    ).json()
    assert (found["name"], found["gender"], found["store_id"]) == ("王芳", "female", world.store_ids[0])
    bad = (
        "name,phone,member_card\n甲,123,MGB00003\n乙,13800138002,MGB00001\n丙,13800138003,MGB00004\n"
        "丁,13800138003,MGB00005\n"
    ).encode()
    r = upload(client, world, "customers", "c.csv", bad, role="integration")
    assert r.status_code == 422
    assert [(e["row"], e["column"]) for e in r.json()["error"]["details"]["errors"]] == [
        (2, "phone"),
        (5, "phone"),
    ]
    assert count(world, Customer) == 2


def test_malformed_csv_is_a_clear_422(client: TestClient, world: World) -> None:
    r = upload(client, world, "staff", "staff.csv", b'employee_no,username,name,role\n"G1,unterminated\r0')
    assert r.status_code in (415, 422)
    assert r.json()["error"]["code"] in ("invalid_file", "import_rejected", "unsupported_file")
    assert count(world, Staff) == 6


def test_patch_with_null_for_a_required_field_is_refused(client: TestClient, world: World) -> None:
    store_id = world.store_ids[0]
    r = client.patch(
        f"/api/v1/stores/{store_id}", json={"business_hours": None}, headers=world.headers("owner")
    )
    assert r.status_code == 422
    assert (
        client.get(f"/api/v1/stores/{store_id}", headers=world.headers("owner")).json()["business_hours"]
        == []
    )
    ok = client.patch(f"/api/v1/stores/{store_id}", json={"city": None}, headers=world.headers("owner"))
    assert ok.status_code == 200 and ok.json()["city"] is None
