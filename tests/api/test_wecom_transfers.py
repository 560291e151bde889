"""Transfers end to end with the fake WeCom: a departed guide's customers go to the least-loaded
guides of the same store, the exclusive guide follows, at most two transfers per customer in 90
days, transfer_fail marks the transfer failed, and a WeCom failure stores nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.db.session import unit_of_work
from siyu.org.models import Staff, StaffStore
from siyu.wecom.fake import FakeWeCom, contact_event
from siyu.wecom.jobs import check_transfers
from siyu.wecom.models import Transfer
from tests.api.wecom_support import deliver, fake_wecom_app
from tests.factories import World

CORP = "wwtransfer000001"
CUSTOMERS = [f"wmTRANSFER00000000000000{i}" for i in range(3)]


@pytest.fixture
def wecom(world: World) -> Iterator[tuple[TestClient, FakeWeCom, World, dict[str, int]]]:
    with unit_of_work(world.engine) as db:  # two more guides in the first guide's store
        extra = {}
        for name in ("g3", "g4"):
            member = Staff(
                tenant_id=world.tenant_id,
                employee_no=name.upper(),
                username=name,
                name=name,
                role="guide",
                wecom_userid=name,
            )
            db.add(member)
            db.flush()
            db.add(StaffStore(tenant_id=world.tenant_id, staff_id=member.id, store_id=world.store_ids[0]))
            extra[name] = member.id
    with fake_wecom_app(world, CORP, {"guide": "g1", "guide2": "g2", "g3": "g3", "g4": "g4"}) as (
        client,
        fake,
    ):
        for external in CUSTOMERS:
            fake.add_contact("g1", external, "客户")
            at = int(time.time())
            deliver(
                client,
                fake,
                world,
                contact_event(CORP, "add_external_contact", userid="g1", external_userid=external, at=at),
            )
        yield client, fake, world, extra


def customer(client: TestClient, w: World, external: str) -> Any:
    return client.get(
        "/api/v1/customers/lookup",
        params={"type": "wecom_external_userid", "value": external},
        headers=w.headers("owner"),
    ).json()


def test_a_departed_guides_customers_go_to_the_least_loaded_in_the_store(wecom: Any) -> None:
    client, fake, w, extra = wecom
    owner = w.headers("owner")
    assert customer(client, w, CUSTOMERS[0])["guide_id"] == w.staff["guide"]
    client.patch(
        f"/api/v1/staff/{w.staff['guide']}", headers=owner, json={"status": "departed"}
    ).raise_for_status()
    answer = client.post(
        "/api/v1/wecom/transfers", headers=owner, json={"from_staff_id": w.staff["guide"], "kind": "resigned"}
    )
    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert (result["requested"], result["refused"], result["failed"]) == (3, 0, 0)
    assert result["by_takeover"] == {
        str(extra["g3"]): 2,
        str(extra["g4"]): 1,
    }  # same store, least loaded in turn
    assert sorted(fake.follows["g3"] | fake.follows["g4"]) == CUSTOMERS and not fake.follows["g1"]
    assert customer(client, w, CUSTOMERS[0])["guide_id"] == extra["g3"]  # the exclusive guide follows
    rows = client.get("/api/v1/wecom/transfers", params={"batch": result["batch"]}, headers=owner).json()
    assert {r["status"] for r in rows} == {"requested"} and len(rows) == 3
    # WeCom completes handovers within 24 h; asking it marks them completed.
    assert client.post("/api/v1/wecom/transfers/check", headers=owner).json() == {}  # still waiting
    fake.settle_transfers(1)
    state = client.app.state  # type: ignore[attr-defined]
    assert check_transfers(state.engine, api_base=state.settings.wecom_api_base) >= 1  # the hourly job
    rows = client.get("/api/v1/wecom/transfers", params={"batch": result["batch"]}, headers=owner).json()
    assert {r["status"] for r in rows} == {"completed"} and all(r["finished_at"] for r in rows)

    # Two more moves of the first customer: the second is the limit, a third is not even sent.
    first = customer(client, w, CUSTOMERS[0])["id"]
    move = {
        "from_staff_id": extra["g3"],
        "kind": "on_job",
        "takeover_staff_id": extra["g4"],
        "customer_ids": [first],
    }
    assert (
        client.post("/api/v1/wecom/transfers", headers=owner, json=move).json()["requested"] == 0
    )  # no longer g3's friend here
    deliver(
        client,
        fake,
        w,
        contact_event(
            CORP, "add_external_contact", userid="g3", external_userid=CUSTOMERS[0], at=int(time.time())
        ),
    )
    assert client.post("/api/v1/wecom/transfers", headers=owner, json=move).json()["requested"] == 1
    calls = fake.calls["/externalcontact/transfer_customer"]
    deliver(
        client,
        fake,
        w,
        contact_event(
            CORP, "add_external_contact", userid="g3", external_userid=CUSTOMERS[0], at=int(time.time()) + 1
        ),
    )
    third = client.post("/api/v1/wecom/transfers", headers=owner, json=move).json()
    assert (third["requested"], third["refused"]) == (0, 1) and fake.calls[
        "/externalcontact/transfer_customer"
    ] == calls

    # The customer refused the second move: WeCom says so in a transfer_fail callback.
    deliver(
        client,
        fake,
        w,
        contact_event(
            CORP,
            "transfer_fail",
            userid="g3",
            external_userid=CUSTOMERS[0],
            at=int(time.time()),
            FailReason="customer_refused",
        ),
    )
    history = client.get("/api/v1/wecom/transfers", params={"customer_id": first}, headers=owner).json()
    assert [(h["status"], h["reason"]) for h in history] == [
        ("refused", "transferred twice in 90 days / 90 天内已转接 2 次"),
        ("failed", "customer_refused"),
        ("completed", None),
    ]
    # A handover WeCom reports as refused when asked (not by callback) fails with the reason.
    third_customer = customer(client, w, CUSTOMERS[2])["id"]
    deliver(
        client,
        fake,
        w,
        contact_event(
            CORP, "add_external_contact", userid="g3", external_userid=CUSTOMERS[2], at=int(time.time())
        ),
    )
    move = {
        "from_staff_id": extra["g3"],
        "kind": "on_job",
        "takeover_staff_id": extra["g4"],
        "customer_ids": [third_customer],
    }
    assert client.post("/api/v1/wecom/transfers", headers=owner, json=move).json()["requested"] == 1
    fake.settle_transfers(3)
    assert client.post("/api/v1/wecom/transfers/check", headers=owner).json() == {"failed": 1}
    latest = client.get(
        "/api/v1/wecom/transfers", params={"customer_id": third_customer}, headers=owner
    ).json()[0]
    assert (latest["status"], latest["reason"]) == ("failed", "the customer refused / 客户拒绝")


def test_bad_transfers_and_a_wecom_failure_store_nothing(wecom: Any) -> None:
    client, fake, w, _ = wecom
    owner = w.headers("owner")

    def transfers() -> int:
        with unit_of_work(w.engine) as db:
            return (
                db.scalar(select(func.count()).select_from(Transfer).where(Transfer.tenant_id == w.tenant_id))
                or 0
            )

    same = {"from_staff_id": w.staff["guide"], "kind": "on_job", "takeover_staff_id": w.staff["guide"]}
    assert client.post("/api/v1/wecom/transfers", headers=owner, json=same).status_code == 422
    assert (
        client.post(
            "/api/v1/wecom/transfers", headers=owner, json={**same, "takeover_staff_id": 987654}
        ).status_code
        == 404
    )
    assert (
        client.post("/api/v1/wecom/transfers", headers=owner, json={**same, "kind": "later"}).status_code
        == 422
    )
    fake.fail_next("/externalcontact/transfer_customer", 48002)
    failed = client.post(
        "/api/v1/wecom/transfers", headers=owner, json={"from_staff_id": w.staff["guide"], "kind": "on_job"}
    )
    assert failed.status_code == 502 and transfers() == 0
    assert customer(client, w, CUSTOMERS[0])["guide_id"] == w.staff["guide"]  # the binding did not move
    assert (
        client.post("/api/v1/wecom/transfers", headers=w.headers("store_manager"), json=same).status_code
        == 403
    )
