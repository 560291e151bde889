"""Console pages for tags and audiences: catalogue, tagging a customer, the builder's preview,
saving, freezing and exporting an audience, and who may see what."""

from __future__ import annotations

import io
import json
import re

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.console.support import as_role
from tests.factories import World


def seed(client: TestClient, w: World) -> tuple[list[int], int, int]:
    h = w.headers("integration")
    records = [
        {
            "phone": f"1390000{i:04d}",
            "name": f"顾客{i}",
            "gender": "female" if i % 2 else "male",
            "member_tier": "金卡" if i < 3 else "银卡",
            "store_id": w.store_ids[0],
            "guide_id": w.staff["guide"],
        }
        for i in range(1, 5)
    ]
    ids = [
        r["customer_id"]
        for r in client.post("/api/v1/customers/batch", headers=h, json={"records": records}).json()[
            "results"
        ]
    ]
    hq = w.headers("hq_operator")
    group = client.post(
        "/api/v1/tag-groups", headers=hq, json={"name_zh": "风格", "name_en": "Style", "open_to_guides": True}
    ).json()
    tag = client.post(
        f"/api/v1/tag-groups/{group['id']}/tags", headers=hq, json={"name_zh": "通勤", "name_en": "Commute"}
    ).json()
    return ids, group["id"], tag["id"]


def test_catalogue_and_tagging_from_the_customer_page(browser: TestClient, world: World) -> None:
    ids, _, tag = seed(browser, world)
    guide = as_role(browser, world, "guide")
    html = guide.get(f"/customers/{ids[0]}").text
    assert 'id="tags"' in html and "通勤" in html and "暂无标签" in html
    answer = guide.post(f"/customers/{ids[0]}/tags", data={"tag_id": str(tag)})
    assert answer.status_code == 303 and answer.headers["location"] == f"/customers/{ids[0]}#tags"
    html = guide.get(f"/customers/{ids[0]}").text
    assert f'data-tag="{tag}"' in html
    catalogue = guide.get("/tags").text
    assert "风格" in catalogue and '<td class="num" data-figure="members">1</td>' in catalogue
    assert guide.post(f"/customers/{ids[0]}/tags/{tag}/remove").status_code == 303
    assert f'data-tag="{tag}"' not in guide.get(f"/customers/{ids[0]}").text
    # guide2 does not have this customer: the page and the action both answer 404.
    other = as_role(browser, world, "guide2")
    assert other.post(f"/customers/{ids[0]}/tags", data={"tag_id": str(tag)}).status_code == 404


def test_group_and_tag_forms(browser: TestClient, world: World) -> None:
    seed(browser, world)
    hq = as_role(browser, world, "hq_operator")
    answer = hq.post("/tags/groups", data={"name_zh": "自动", "name_en": "Auto", "kind": "rule"})
    assert answer.status_code == 303
    groups = browser.get("/api/v1/tag-groups", headers=world.headers("hq_operator")).json()
    auto = next(g for g in groups if g["name_zh"] == "自动")
    bad = hq.post(
        f"/tags/groups/{auto['id']}/tags",
        data={"name_zh": "女", "rule": '{"type":"gender","values":["woman"]}'},
    )
    assert bad.status_code == 422 and "规则无效" in bad.text
    good = hq.post(
        f"/tags/groups/{auto['id']}/tags",
        data={"name_zh": "女", "rule": '{"type":"gender","values":["female"]}'},
    )
    assert good.status_code == 303
    assert "{&#34;type&#34;: &#34;gender&#34;" in hq.get("/tags").text or "gender" in hq.get("/tags").text


def test_builder_preview_save_freeze_and_export(browser: TestClient, world: World) -> None:
    seed(browser, world)
    hq = as_role(browser, world, "hq_operator")
    html = hq.get("/audiences").text
    options = json.loads(html.split('id="builder-options">')[1].split("</script>")[0])
    assert options["tiers"] == ["金卡", "银卡"] and options["groups"][0]["tags"][0]["name"] == "通勤"
    rule = {
        "type": "all",
        "of": [{"type": "gender", "values": ["female"]}, {"type": "member_tier", "values": ["金卡"]}],
    }
    preview = hq.post("/audiences/preview", json={"rule": rule}).json()
    assert preview["count"] == 1 and preview["by_store"][0]["label"] == "门店1"
    bad = hq.post("/audiences/preview", json={"rule": {"type": "gender", "values": []}})
    assert bad.status_code == 422 and bad.json()["error"]["code"] == "invalid_rule"
    assert hq.post("/audiences", data={"name": "金卡女性", "rule": json.dumps(rule)}).status_code == 303
    audience = browser.get("/api/v1/audiences", headers=world.headers("hq_operator")).json()[0]
    assert hq.post(f"/audiences/{audience['id']}/snapshots").status_code == 303
    html = hq.get("/audiences").text
    assert "金卡女性" in html and "v2" in html  # saving froze v1; "freeze now" v2
    sheet = load_workbook(
        io.BytesIO(hq.get(f"/audiences/{audience['id']}/snapshots/1.xlsx").content)
    ).worksheets[0]
    assert [r[1] for r in sheet.iter_rows(min_row=2, values_only=True)] == ["顾客1"]
    # People and stores by their names, not logins or codes alone.
    from sqlalchemy import update

    from siyu.db.session import unit_of_work
    from siyu.org.models import Staff

    with unit_of_work(world.engine) as db:
        db.execute(update(Staff).where(Staff.id == world.staff["guide"]).values(name="王导购"))
    sheet = load_workbook(
        io.BytesIO(hq.get(f"/audiences/{audience['id']}/snapshots/1.xlsx").content)
    ).worksheets[0]
    row = next(sheet.iter_rows(min_row=2, values_only=True))
    assert row[3] == "S1 门店1" and row[4] == "王导购"
    manager = as_role(browser, world, "store_manager")
    assert manager.get("/audiences").status_code == 403
    assert manager.post("/audiences/preview", json={"rule": rule}).status_code == 403


def test_reopen_edit_duplicate_delete_and_overlap(browser: TestClient, world: World) -> None:
    seed(browser, world)
    hq = as_role(browser, world, "hq_operator")
    women = {"type": "all", "of": [{"type": "gender", "values": ["female"]}]}
    gold = {"type": "all", "of": [{"type": "member_tier", "values": ["金卡"]}]}
    assert hq.post("/audiences", data={"name": "女性", "rule": json.dumps(women)}).status_code == 303
    assert hq.post("/audiences", data={"name": "金卡", "rule": json.dumps(gold)}).status_code == 303
    listed = {
        a["name"]: a["id"]
        for a in browser.get("/api/v1/audiences", headers=world.headers("hq_operator")).json()
    }
    page = hq.get("/audiences").text
    sizes = dict(re.findall(r'<tr data-audience="(\d+)">.*?data-figure="size">([\d,]+)<', page, flags=re.S))
    women_now = int(sizes[str(listed["女性"])].replace(",", ""))
    assert women_now >= 1
    # Reopen: the builder gets the saved rule; saving it edited is the next version.
    opened = hq.get(f"/audiences?edit={listed['女性']}").text
    assert json.loads(opened.split('id="initial-rule">')[1].split("</script>")[0]) == women
    assert f'action="/audiences/{listed["女性"]}"' in opened
    both = {
        "type": "all",
        "of": [{"type": "gender", "values": ["female"]}, {"type": "member_tier", "values": ["金卡"]}],
    }
    edited = hq.post(f"/audiences/{listed['女性']}", data={"name": "金卡女性", "rule": json.dumps(both)})
    assert edited.status_code == 303
    versions = browser.get(
        f"/api/v1/audiences/{listed['女性']}/snapshots", headers=world.headers("hq_operator")
    ).json()
    assert (
        [v["version"] for v in versions] == [2, 1]
        and versions[1]["rule"] == women
        and versions[0]["rule"] == both
    )
    # Duplicate under a free name; delete asks first and takes the versions with it.
    copy = hq.post(f"/audiences/{listed['金卡']}/duplicate")
    assert copy.status_code == 303 and "edit=" in copy.headers["location"]
    names = [a["name"] for a in browser.get("/api/v1/audiences", headers=world.headers("hq_operator")).json()]
    assert "金卡 副本" in names
    page = hq.get("/audiences").text
    assert "data-confirm=" in page
    assert hq.post(f"/audiences/{listed['金卡']}/delete").status_code == 303
    assert (
        browser.get(f"/api/v1/audiences/{listed['金卡']}", headers=world.headers("hq_operator")).status_code
        == 404
    )
    # Overlap as a picture with its numbers.
    copy_id = next(
        a["id"]
        for a in browser.get("/api/v1/audiences", headers=world.headers("hq_operator")).json()
        if a["name"] == "金卡 副本"
    )
    overlap = hq.get(f"/audiences?a={listed['女性']}&b={copy_id}").text
    assert "<svg" in overlap and "<circle" in overlap
    both_n = re.search(r'data-figure="both">([\d,]+)<', overlap)
    assert both_n is not None and int(both_n.group(1)) == 1
    assert hq.get("/audiences?edit=999999").status_code == 404


def test_rule_refresh_times_are_in_the_brands_zone(browser: TestClient, world: World) -> None:
    import datetime as dt

    from sqlalchemy import update

    from siyu.db.session import unit_of_work
    from siyu.tags.models import Tag

    seed(browser, world)
    hq = as_role(browser, world, "hq_operator")
    hq.post("/tags/groups", data={"name_zh": "自动", "name_en": "Auto", "kind": "rule"})
    groups = browser.get("/api/v1/tag-groups", headers=world.headers("hq_operator")).json()
    auto = next(g for g in groups if g["name_zh"] == "自动")
    rule = '{"type":"gender","values":["female"]}'
    hq.post(f"/tags/groups/{auto['id']}/tags", data={"name_zh": "女", "rule": rule})
    with unit_of_work(world.engine) as db:
        db.execute(
            update(Tag)
            .where(Tag.tenant_id == world.tenant_id, Tag.name_zh == "女")
            .values(refreshed_at=dt.datetime(2026, 6, 17, 23, 30, tzinfo=dt.UTC))
        )
    page = hq.get("/tags").text
    assert "2026-06-18 07:30" in page and "2026-06-17 23:30" not in page  # Shanghai, not UTC


def test_every_time_in_a_template_is_shown_in_the_brands_zone() -> None:
    import re
    from pathlib import Path

    templates = Path(__file__).resolve().parents[2] / "src" / "siyu" / "console" / "templates"
    for template in templates.glob("*.html"):
        for call in re.findall(r"[\w.()]+\.strftime\(", template.read_text()):
            assert ".astimezone(tz).strftime(" in call, (template.name, call)
