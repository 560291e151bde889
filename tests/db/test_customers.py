"""Customer use cases on SQLite and PostgreSQL: upsert by identity, denials that change nothing,
merge/unmerge, consent, the tenancy guard."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.core.clock import FixedClock, get_clock, set_clock
from siyu.core.errors import DomainError
from siyu.customers import schemas as s
from siyu.customers import service
from siyu.customers.models import ConsentRecord, Customer, CustomerIdentity, TimelineEvent
from siyu.db.session import cross_tenant_access, unit_of_work
from siyu.segments import engine as audience_engine
from tests.factories import World

APP = "wx0123456789abcdef"


def rec(**kw: Any) -> s.CustomerUpsert:
    return s.CustomerUpsert.model_validate(kw)


def upsert(world: World, records: list[s.CustomerUpsert], source: str = "test") -> s.BatchResult:
    with unit_of_work(world.engine) as session:
        return service.upsert_customers(
            session, tenant_id=world.tenant_id, records=records, source=source, actor=None
        )


def counts(world: World) -> tuple[int, int, int]:
    with unit_of_work(world.engine) as session:

        def n(model: Any) -> int:
            return int(
                session.scalar(
                    select(func.count()).select_from(model).where(model.tenant_id == world.tenant_id)
                )
                or 0
            )

        return n(Customer), n(CustomerIdentity), n(TimelineEvent)


def test_upsert_creates_dense_numbers_and_resolves_shared_identities(db_world: World) -> None:
    first = upsert(
        db_world,
        [
            rec(
                name="王芳",
                identities=[{"type": "wechat_unionid", "value": "oUnion000000000000000000001"}],
                phone="13812341234",
            ),
            rec(name="李娜", identities=[{"type": "member_card", "value": "MC0002"}]),
        ],
    )
    assert [(r.row, r.number, r.created) for r in first.results] == [(1, 1, True), (2, 2, True)]
    # A later record sharing only the phone resolves to the first customer and adds its openid.
    second = upsert(
        db_world,
        [
            rec(
                phone="+86 138 1234 1234",
                city="杭州",
                identities=[
                    {"type": "wechat_openid", "namespace": APP, "value": "oOpen0000000000000000000001"}
                ],
            ),
            rec(identities=[{"type": "pos_customer_id", "value": "POS-1"}]),
        ],
    )
    assert second.results[0].customer_id == first.results[0].customer_id
    assert second.results[0].created is False
    assert second.results[1].number == 3
    with unit_of_work(db_world.engine) as session:
        found = service.lookup(
            session,
            tenant_id=db_world.tenant_id,
            type_="wechat_openid",
            value="oOpen0000000000000000000001",
            namespace=APP,
            principal=None,
        )
        assert (found.id, found.name, found.city, found.phone_e164) == (
            first.results[0].customer_id,
            "王芳",
            "杭州",
            "+8613812341234",
        )
        kinds = [
            e.kind
            for e in session.scalars(
                select(TimelineEvent)
                .where(TimelineEvent.tenant_id == db_world.tenant_id, TimelineEvent.customer_id == found.id)
                .order_by(TimelineEvent.id)
            )
        ]
        assert kinds == ["created", "profile_updated", "identity_added"]


@pytest.mark.parametrize(
    ("records", "code"),
    [
        (
            [
                {"identities": [{"type": "member_card", "value": "MC0001"}]},
                {"identities": [{"type": "member_card", "value": "MC0001"}]},
            ],
            "duplicate_in_batch",
        ),
        (
            [
                {"identities": [{"type": "member_card", "value": "MC0002"}]},
                {"identities": [{"type": "wechat_unionid", "value": "bad id"}]},
            ],
            "invalid_identity",
        ),
        ([{"identities": [{"type": "qq", "value": "123"}]}], "unknown_identity_type"),
        ([{"phone": "123"}], "invalid_identity"),
        ([{"name": "no identity"}], "no_identity"),
    ],
)
def test_bad_batches_write_nothing(db_world: World, records: list[dict[str, Any]], code: str) -> None:
    before = counts(db_world)
    with pytest.raises(DomainError) as info:
        upsert(db_world, [rec(**r) for r in records])
    assert info.value.code == "batch_rejected"
    assert code in [e["code"] for e in info.value.details["errors"]]
    assert counts(db_world) == before


def test_oversize_batch_is_refused(db_world: World) -> None:
    records = [rec(identities=[{"type": "member_card", "value": f"MC{i:05d}"}]) for i in range(1001)]
    with pytest.raises(DomainError) as info:
        upsert(db_world, records)
    assert (info.value.code, info.value.status) == ("batch_too_large", 413)
    assert counts(db_world) == (0, 0, 0)


def test_identities_of_two_customers_in_one_record_is_a_conflict(db_world: World) -> None:
    upsert(
        db_world,
        [
            rec(identities=[{"type": "member_card", "value": "MCA1"}]),
            rec(identities=[{"type": "member_card", "value": "MCB1"}]),
        ],
    )
    before = counts(db_world)
    with pytest.raises(DomainError) as info:
        upsert(
            db_world,
            [
                rec(
                    identities=[
                        {"type": "member_card", "value": "MCA1"},
                        {"type": "member_card", "value": "MCB1"},
                    ]
                )
            ],
        )
    assert info.value.details["errors"][0]["code"] == "identity_conflict"
    assert counts(db_world) == before


def _snapshot(session: Session, tenant_id: int, customer_ids: list[int]) -> dict[str, Any]:
    idents = sorted(
        (i.customer_id, i.type, i.value)
        for i in session.scalars(select(CustomerIdentity).where(CustomerIdentity.tenant_id == tenant_id))
    )
    consents = sorted(
        (c.customer_id, c.purpose)
        for c in session.scalars(select(ConsentRecord).where(ConsentRecord.tenant_id == tenant_id))
    )
    customers = {
        c.id: (c.name, c.city, c.gender, c.phone_e164, dict(c.custom_fields), c.status)
        for c in session.scalars(select(Customer).where(Customer.id.in_(customer_ids)))
    }
    return {"identities": idents, "consents": consents, "customers": customers}


def test_merge_moves_every_reference_and_unmerge_restores_it(db_world: World) -> None:
    result = upsert(
        db_world,
        [
            rec(name="王芳", identities=[{"type": "wechat_unionid", "value": "oUnion000000000000000000009"}]),
            rec(
                city="上海",
                gender="female",
                phone="13900001111",
                identities=[{"type": "member_card", "value": "MC0009"}],
            ),
        ],
    )
    a, b = result.results[0].customer_id, result.results[1].customer_id
    with unit_of_work(db_world.engine) as session:
        service.record_consent(
            session,
            tenant_id=db_world.tenant_id,
            customer_id=b,
            data=s.ConsentCreate(purpose="marketing_sms", granted=True, source="pos"),
            principal=None,
        )
    with unit_of_work(db_world.engine) as session:
        before = _snapshot(session, db_world.tenant_id, [a, b])
    with unit_of_work(db_world.engine) as session:
        merge = service.merge(
            session, tenant_id=db_world.tenant_id, survivor_id=a, merged_id=b, principal=None
        )
        merge_id = merge.id
    with unit_of_work(db_world.engine) as session:
        survivor = session.get(Customer, a)
        merged = session.get(Customer, b)
        assert survivor is not None and merged is not None
        # Survivor keeps its name; its empty fields take the merged customer's values.
        assert (survivor.name, survivor.city, survivor.gender, survivor.phone_e164) == (
            "王芳",
            "上海",
            "female",
            "+8613900001111",
        )
        assert (merged.status, merged.merged_into_id) == ("merged", a)
        owners = {
            i.value: i.customer_id
            for i in session.scalars(
                select(CustomerIdentity).where(CustomerIdentity.tenant_id == db_world.tenant_id)
            )
        }
        assert owners == {"oUnion000000000000000000009": a, "MC0009": a, "+8613900001111": a}
        found = service.lookup(
            session,
            tenant_id=db_world.tenant_id,
            type_="member_card",
            value="MC0009",
            namespace=None,
            principal=None,
        )
        assert found.id == a
        current, _ = service.consent_state(
            session, tenant_id=db_world.tenant_id, customer_id=a, principal=None
        )
        assert current["marketing_sms"].granted is True
    with unit_of_work(db_world.engine) as session:
        service.unmerge(session, tenant_id=db_world.tenant_id, merge_id=merge_id, principal=None)
    with unit_of_work(db_world.engine) as session:
        assert _snapshot(session, db_world.tenant_id, [a, b]) == before
        with pytest.raises(DomainError) as info:
            service.unmerge(session, tenant_id=db_world.tenant_id, merge_id=merge_id, principal=None)
        assert info.value.code == "unmerge_invalid"


def test_merge_refuses_self_and_already_merged(db_world: World) -> None:
    result = upsert(
        db_world, [rec(identities=[{"type": "member_card", "value": f"MM00{i}"}]) for i in range(3)]
    )
    a, b, c = (r.customer_id for r in result.results)
    with unit_of_work(db_world.engine) as session:
        with pytest.raises(DomainError) as info:
            service.merge(session, tenant_id=db_world.tenant_id, survivor_id=a, merged_id=a, principal=None)
        assert info.value.code == "merge_invalid"
        service.merge(session, tenant_id=db_world.tenant_id, survivor_id=a, merged_id=b, principal=None)
    with unit_of_work(db_world.engine) as session, pytest.raises(DomainError):
        service.merge(session, tenant_id=db_world.tenant_id, survivor_id=c, merged_id=b, principal=None)


def test_consent_latest_record_wins(db_world: World) -> None:
    cid = upsert(db_world, [rec(phone="13700001234")]).results[0].customer_id
    for granted in (True, False):
        with unit_of_work(db_world.engine) as session:
            service.record_consent(
                session,
                tenant_id=db_world.tenant_id,
                customer_id=cid,
                principal=None,
                data=s.ConsentCreate(purpose="marketing_sms", granted=granted, source="sms_reply_TD"),
            )
    with unit_of_work(db_world.engine) as session:
        current, history = service.consent_state(
            session, tenant_id=db_world.tenant_id, customer_id=cid, principal=None
        )
    assert current["marketing_sms"].granted is False
    assert [h.granted for h in history] == [False, True]


def test_consent_in_force_is_the_latest_recorded_not_the_highest_id(db_world: World) -> None:
    # A withdrawal recorded at 10:00 on one record, a grant recorded at 09:00 on another (written
    # later, so with a higher id); merged, the withdrawal is the latest and is in force — in the
    # consent API and in the audience engine's consent leaf alike.
    survivor, merged = (
        r.customer_id
        for r in upsert(
            db_world,
            [
                rec(identities=[{"type": "member_card", "value": "CONSENT1"}]),
                rec(identities=[{"type": "member_card", "value": "CONSENT2"}]),
            ],
        ).results
    )
    previous = get_clock()
    try:
        for customer_id, granted, hour in ((survivor, False, 10), (merged, True, 9)):
            set_clock(FixedClock(dt.datetime(2026, 3, 2, hour, tzinfo=dt.UTC)))
            with unit_of_work(db_world.engine) as session:
                service.record_consent(
                    session,
                    tenant_id=db_world.tenant_id,
                    customer_id=customer_id,
                    principal=None,
                    data=s.ConsentCreate(purpose="marketing_sms", granted=granted, source="pos"),
                )
    finally:
        set_clock(previous)
    with unit_of_work(db_world.engine) as session:
        service.merge(
            session, tenant_id=db_world.tenant_id, survivor_id=survivor, merged_id=merged, principal=None
        )
    with unit_of_work(db_world.engine) as session:
        current, history = service.consent_state(
            session, tenant_id=db_world.tenant_id, customer_id=survivor, principal=None
        )
        members = audience_engine.evaluate(
            session,
            tenant_id=db_world.tenant_id,
            rule={"type": "consent", "purpose": "marketing_sms"},
            use_cache=False,
        ).members
    assert current["marketing_sms"].granted is False
    assert [(h.granted, h.recorded_at.hour) for h in history] == [(False, 10), (True, 9)]
    assert list(members) == []


def test_consent_records_at_the_same_time_are_ordered_by_id(db_world: World) -> None:
    cid = upsert(db_world, [rec(phone="13700004321")]).results[0].customer_id
    previous = get_clock()
    set_clock(FixedClock(dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)))
    try:
        for granted in (False, True):
            with unit_of_work(db_world.engine) as session:
                service.record_consent(
                    session,
                    tenant_id=db_world.tenant_id,
                    customer_id=cid,
                    principal=None,
                    data=s.ConsentCreate(purpose="marketing_sms", granted=granted, source="pos"),
                )
    finally:
        set_clock(previous)
    with unit_of_work(db_world.engine) as session:
        current, _ = service.consent_state(
            session, tenant_id=db_world.tenant_id, customer_id=cid, principal=None
        )
        number = session.scalar(select(Customer.number).where(Customer.id == cid))
        members = audience_engine.evaluate(
            session,
            tenant_id=db_world.tenant_id,
            rule={"type": "consent", "purpose": "marketing_sms"},
            use_cache=False,
        ).members
    assert current["marketing_sms"].granted is True
    assert list(members) == [number]


def test_tenancy_guard_hides_other_tenants_rows(db_world: World, make_world: Any) -> None:
    other = make_world(db_world.engine)
    upsert(other, [rec(identities=[{"type": "member_card", "value": "OTHER1"}])])
    upsert(db_world, [rec(identities=[{"type": "member_card", "value": "MINE1"}])])
    with unit_of_work(db_world.engine, tenant_id=db_world.tenant_id) as session:
        # No explicit tenant filter: the session guard adds it.
        values = sorted(session.scalars(select(CustomerIdentity.value)))
        assert values == ["MINE1"]
        with cross_tenant_access(session):
            everything = set(session.scalars(select(CustomerIdentity.value)))
        assert {"MINE1", "OTHER1"} <= everything
    with unit_of_work(db_world.engine) as session:
        other_customer = session.scalar(select(Customer.id).where(Customer.tenant_id == other.tenant_id))
        assert other_customer is not None
        with pytest.raises(DomainError) as info:
            service.get_customer(
                session, tenant_id=db_world.tenant_id, customer_id=other_customer, principal=None
            )
        assert info.value.status == 404
