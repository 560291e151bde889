"""The audit log names who acted by kind and id: an API key and a staff member may share an id, and
an integration's work must never be shown under a person's name (nor the other way round)."""

from __future__ import annotations

import io
import re

from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import func, select

from siyu.auth.models import ApiKey
from siyu.db.session import unit_of_work
from siyu.platform.models import AuditEntry
from tests.console.support import as_role
from tests.factories import World


def test_an_api_key_and_a_staff_member_with_one_id_are_told_apart(browser: TestClient, world: World) -> None:
    staff_id = world.staff["manager"]
    with unit_of_work(world.engine) as db:
        taken = db.scalar(select(func.count()).select_from(ApiKey).where(ApiKey.id == staff_id))
        if not taken:  # a key whose id is the manager's staff id
            db.add(
                ApiKey(
                    id=staff_id,
                    tenant_id=world.tenant_id,
                    name="ERP 同步",
                    prefix="sk_erp1",
                    key_sha256="e" * 64,
                )
            )
        key_name = db.scalar(select(ApiKey.name).where(ApiKey.id == staff_id))
        for actor_type, action in (("api_key", "region.create"), ("staff", "store.update")):
            db.add(
                AuditEntry(
                    tenant_id=world.tenant_id,
                    actor_type=actor_type,
                    actor_id=staff_id,
                    action=action,
                    object_type="region",
                    object_id=1,
                    data={},
                )
            )
    owner = as_role(browser, world, "owner")
    page = owner.get("/settings/audit").text
    rows = re.findall(r"<tr data-entry=\"\d+\">(.*?)</tr>", page, flags=re.S)
    by_key = [r for r in rows if "新建区域" in r]
    by_staff = [r for r in rows if "修改门店" in r]
    assert by_key and by_staff
    assert key_name is not None and key_name in by_key[0] and "manager" not in by_key[0]
    assert "manager" in by_staff[0] and key_name not in by_staff[0]
    book = load_workbook(io.BytesIO(owner.get("/settings/audit.xlsx").content))
    who = {(row[3], row[1]) for row in book.active.iter_rows(min_row=2, values_only=True)}
    assert ("新建区域", key_name) in who and ("修改门店", "manager") in who
