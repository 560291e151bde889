"""Imports from the console: upload a sheet with Chinese headers, the columns mapped for the person to
confirm, the run in the background, the history; a sheet with bad rows imports nothing and reports
each row, column and reason (also as a download); each kind only for who may import it."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select, update

from siyu.customers.models import Customer
from siyu.db.session import unit_of_work
from tests.console.support import as_role
from tests.factories import World

GOOD = "姓名,手机号,城市,备注\n王小明,13900001234,上海,老客\n李雷,13900005678,杭州,\n".encode()
BAD = "编码,名称,标价\nSKU-1,衬衫,59.9\nSKU-2,,12\nSKU-3,裤子,abc\n".encode("gb18030")


def _count(w: World) -> int:
    with unit_of_work(w.engine) as db:
        return int(
            db.scalar(select(func.count()).select_from(Customer).where(Customer.tenant_id == w.tenant_id))
            or 0
        )


def test_upload_map_run_and_history(browser: TestClient, world: World) -> None:
    owner = as_role(browser, world, "owner")
    assert 'value="customers"' in owner.get("/imports").text
    uploaded = owner.post(
        "/imports", data={"kind": "customers"}, files={"file": ("会员.csv", GOOD, "text/csv")}
    )
    assert uploaded.status_code == 303
    run_url = uploaded.headers["location"]
    page = owner.get(run_url).text
    # Suggested: 姓名 → name, 手机号 → phone, 城市 → city; 备注 is not a field: not imported.
    chosen = dict(
        re.findall(
            r'<select id="map(\d+)" name="map\d+">.*?<option value="([a-z_]*)" selected', page, flags=re.S
        )
    )
    assert chosen == {"0": "name", "1": "phone", "2": "city"}
    assert "王小明" in page and _count(world) == 0  # a preview imports nothing
    started = owner.post(f"{run_url}/run", data={"map0": "name", "map1": "phone", "map2": "city", "map3": ""})
    assert started.status_code == 303
    status = re.search(r'data-status="(\w+)"', owner.get(run_url).text)
    assert status is not None and status.group(1) in ("queued", "running", "done")  # the runner may be quick
    browser.app.state.jobs.drain()  # type: ignore[attr-defined]
    done = owner.get(run_url).text
    assert 'data-status="done"' in done and re.search(r'data-figure="created">2<', done)
    assert _count(world) == 2
    history = owner.get("/imports").text
    assert "会员.csv" in history and "已完成" in history
    # Starting again does nothing twice.
    owner.post(f"{run_url}/run", data={"map0": "name", "map1": "phone", "map2": "city", "map3": ""})
    browser.app.state.jobs.drain()  # type: ignore[attr-defined]
    assert _count(world) == 2


def test_a_second_delivery_of_the_job_imports_nothing(browser: TestClient, world: World) -> None:
    """A run another worker has already claimed (its lease lapsed while it still ran) is left to it:
    queued → running is one conditional update."""
    from siyu import jobs
    from siyu.imports.models import ImportRun
    from siyu.imports.service import run_import

    owner = as_role(browser, world, "owner")
    run_url = owner.post("/imports", data={"kind": "customers"}, files={"file": ("a.csv", GOOD, "text/csv")})
    run_url = run_url.headers["location"]
    run_id = int(run_url.rstrip("/").rsplit("/", 1)[1])
    mapping = {"姓名": "name", "手机号": "phone", "城市": "city", "备注": ""}
    delivery = jobs.JobRun(
        id=0, kind="imports.run", tenant_id=world.tenant_id, payload={"run_id": run_id}, attempt=1
    )
    with unit_of_work(world.engine) as db:  # confirmed, and already claimed by a first worker
        db.execute(update(ImportRun).where(ImportRun.id == run_id).values(status="running", mapping=mapping))
    run_import(world.engine, delivery)
    assert _count(world) == 0
    with unit_of_work(world.engine) as db:
        db.execute(update(ImportRun).where(ImportRun.id == run_id).values(status="queued"))
    run_import(world.engine, delivery)
    run_import(world.engine, delivery)
    assert _count(world) == 2
    assert 'data-status="done"' in owner.get(run_url).text


def test_a_mapping_missing_a_required_field_is_refused(browser: TestClient, world: World) -> None:
    owner = as_role(browser, world, "owner")
    run_url = owner.post(
        "/imports", data={"kind": "products"}, files={"file": ("p.csv", BAD, "text/csv")}
    ).headers["location"]
    refused = owner.post(f"{run_url}/run", data={"map0": "code", "map1": "name", "map2": ""})
    assert refused.status_code == 422 and "必填列 list_price" in refused.text


def test_bad_rows_import_nothing_and_are_reported(browser: TestClient, world: World) -> None:
    owner = as_role(browser, world, "owner")
    run_url = owner.post(
        "/imports", data={"kind": "products"}, files={"file": ("商品.csv", BAD, "text/csv")}
    ).headers["location"]
    page = owner.get(run_url).text
    assert "衬衫" in page  # GB18030, as Excel in China saves CSV
    owner.post(f"{run_url}/run", data={"map0": "code", "map1": "name", "map2": "list_price"})
    browser.app.state.jobs.drain()  # type: ignore[attr-defined]
    report = owner.get(run_url).text
    assert 'data-status="rejected"' in report
    rows = re.findall(r'<tr data-row="(\d+)">', report)
    assert rows == ["3", "4"]
    assert "金额“abc”无效" in report
    products = browser.get("/api/v1/products", headers=world.headers("owner")).json()["items"]
    assert products == []  # SKU-1 was fine, and still nothing was written
    download = owner.get(f"{run_url}/errors.xlsx")
    sheet = list(load_workbook(io.BytesIO(download.content)).active.iter_rows(values_only=True))
    assert sheet[0][:4] == ("行 row", "列 column", "原因", "reason") and [r[0] for r in sheet[1:]] == [3, 4]


def test_kinds_follow_permissions(browser: TestClient, world: World) -> None:
    hq = as_role(browser, world, "hq_operator")
    kinds = re.findall(
        r'<option value="([a-z]+)">', hq.get("/imports").text.split('id="kind"')[1].split("</select>")[0]
    )
    assert "staff" not in kinds and "customers" in kinds  # staff accounts: the owner's
    assert (
        hq.post(
            "/imports", data={"kind": "staff"}, files={"file": ("s.csv", b"employee_no\n1\n", "text/csv")}
        ).status_code
        == 403
    )
    assert as_role(browser, world, "guide").get("/imports").status_code == 403
    template = as_role(browser, world, "owner").get("/imports/template/products.xlsx")
    header = next(load_workbook(io.BytesIO(template.content)).active.iter_rows(values_only=True))
    assert header[:3] == ("code", "name", "list_price")


def test_a_sheet_larger_than_a_form_is_taken_and_one_too_large_is_a_page(
    browser: TestClient, world: World
) -> None:
    """Console uploads get the upload cap (20 MB), not the 4 MB cap on forms and JSON; past it the
    person gets a page in both languages, not JSON."""
    owner = as_role(browser, world, "owner")
    rows = "".join(f"客户{i},139{i:08d},上海市浦东新区张江高科技园区\n" for i in range(90_000))
    big = ("姓名,手机号,城市\n" + rows).encode()
    assert 4 * 1024 * 1024 < len(big) < 20 * 1024 * 1024
    taken = owner.post("/imports", data={"kind": "customers"}, files={"file": ("大表.csv", big, "text/csv")})
    assert taken.status_code == 303 and "/imports/" in taken.headers["location"]
    huge = owner.post(
        "/imports",
        data={"kind": "customers"},
        files={"file": ("太大.csv", b"x" * (21 * 1024 * 1024), "text/csv")},
    )
    assert huge.status_code == 413 and huge.headers["content-type"].startswith("text/html")
    assert "文件太大" in huge.text and "too large" in huge.text and "error" not in huge.text
