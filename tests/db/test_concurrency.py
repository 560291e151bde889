"""Concurrent writers never duplicate numbers, customers or idempotent effects (both engines)."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from siyu.app import create_app
from siyu.customers.models import Customer, CustomerIdentity
from siyu.customers.service import allocate_numbers
from siyu.db.session import unit_of_work
from siyu.platform.limits import EXPORTS
from tests.factories import World
from tests.support import run_threads


def app_with_sku(world: World, code: str, price_fen: int) -> tuple[Any, dict[str, str]]:
    """The app on the world's engine with one SKU, and the integration's headers."""
    app = create_app(engine=world.engine)
    headers = world.headers("integration")
    with TestClient(app) as client:
        client.post(
            "/api/v1/products/batch",
            headers=headers,
            json={"products": [{"code": code, "name": "测试", "list_price_fen": price_fen}]},
        ).raise_for_status()
    return app, headers


def test_number_allocation_is_gapless_under_concurrency(db_world: World) -> None:
    def allocate(_: int) -> list[int]:
        out: list[int] = []
        for _ in range(20):
            with unit_of_work(db_world.engine) as session:
                out += list(allocate_numbers(session, tenant_id=db_world.tenant_id, count=3))
        return out

    numbers = [n for chunk in run_threads(6, allocate) for n in chunk]
    assert sorted(numbers) == list(range(1, 6 * 20 * 3 + 1))


def test_concurrent_upserts_of_one_person_make_one_customer(db_world: World) -> None:
    app = create_app(engine=db_world.engine)
    headers = db_world.headers("integration")

    def post(i: int) -> int:
        with TestClient(app) as client:
            body = {
                "records": [
                    {
                        "identities": [
                            {"type": "wechat_unionid", "value": "oSame00000000000000000000001"},
                            {"type": "member_card", "value": f"CARD{i:04d}"},
                        ]
                    }
                ]
            }
            response = client.post("/api/v1/customers/batch", json=body, headers=headers)
            assert response.status_code == 200, response.text
            return int(response.json()["results"][0]["customer_id"])

    ids = run_threads(5, post)
    assert len(set(ids)) == 1
    with unit_of_work(db_world.engine) as session:
        customers = session.scalar(
            select(func.count()).select_from(Customer).where(Customer.tenant_id == db_world.tenant_id)
        )
        cards = session.scalar(
            select(func.count())
            .select_from(CustomerIdentity)
            .where(
                CustomerIdentity.tenant_id == db_world.tenant_id,
                CustomerIdentity.type == "member_card",
                CustomerIdentity.customer_id == ids[0],
            )
        )
    assert (customers, cards) == (1, 5)


def test_concurrent_replays_of_one_idempotency_key_apply_once(db_world: World) -> None:
    app = create_app(engine=db_world.engine)
    headers = {**db_world.headers("integration"), "Idempotency-Key": "batch-2026-11-23-001"}
    body = {
        "records": [{"identities": [{"type": "member_card", "value": f"IDEM{i:04d}"}]} for i in range(20)]
    }

    def post(_: int) -> tuple[int, str]:
        with TestClient(app) as client:
            response = client.post("/api/v1/customers/batch", json=body, headers=headers)
            return response.status_code, response.text

    answers = run_threads(4, post)
    assert {status for status, _ in answers} == {200}
    assert len({text for _, text in answers}) == 1
    with unit_of_work(db_world.engine) as session:
        customers = session.scalar(
            select(func.count()).select_from(Customer).where(Customer.tenant_id == db_world.tenant_id)
        )
    assert customers == 20


def test_concurrent_orders_and_refunds_never_duplicate_or_overpay(db_world: World) -> None:
    """Six clients send the same new order and then six different full refunds of it at once:
    one order, and exactly one refund gets through."""
    from siyu.orders.models import Order, Refund

    app, headers = app_with_sku(db_world, "CC-1", 5000)
    order = {
        "channel": "mini_program",
        "external_id": "CONC-1",
        "status": "paid",
        "placed_at": "2026-06-18T12:00:00+08:00",
        "paid_at": "2026-06-18T12:00:00+08:00",
        "customer": {"phone": "13700000009"},
        "lines": [{"sku_code": "CC-1", "quantity": 2, "unit_price_fen": 5000}],
        "payments": [{"method": "wechat_pay", "amount_fen": 10000}],
    }

    def send(_: int) -> int:
        with TestClient(app) as client:
            return client.post("/api/v1/orders/batch", headers=headers, json={"orders": [order]}).status_code

    assert run_threads(6, send) == [200] * 6

    def refund(i: int) -> int:
        body = {
            "refunds": [
                {
                    "channel": "mini_program",
                    "order_external_id": "CONC-1",
                    "external_id": f"R-{i}",
                    "refunded_at": "2026-06-19T12:00:00+08:00",
                    "lines": [{"line_no": 1, "quantity": 2}],
                }
            ]
        }
        with TestClient(app) as client:
            return client.post("/api/v1/refunds", headers=headers, json=body).status_code

    codes = run_threads(6, refund)
    assert sorted(codes) == [200] + [422] * 5
    with unit_of_work(db_world.engine) as session:
        orders = session.scalars(select(Order).where(Order.tenant_id == db_world.tenant_id)).all()
        assert len(orders) == 1 and orders[0].refunded_fen == 10000
        refunds = session.scalar(
            select(func.count()).select_from(Refund).where(Refund.tenant_id == db_world.tenant_id)
        )
        assert refunds == 1


def test_concurrent_batches_sharing_buyers_and_guide_links_both_land(db_world: World) -> None:
    """Four feeds send batches at once whose buyers overlap, with guide-link orders from two guides
    for the same buyers: both batches land (no conflict, no deadlock) and each buyer ends with one
    exclusive guide."""
    from siyu.guides.models import GuideBinding
    from siyu.orders.models import Order

    app, headers = app_with_sku(db_world, "CC-2", 3000)

    def batch(feed: int) -> list[dict[str, Any]]:
        guide = "GUIDE" if feed % 2 == 0 else "GUIDE2"
        return [
            {
                "channel": "guide_share" if i % 2 else "mini_program",
                "external_id": f"F{feed}-{i}",
                "staff_employee_no": guide if i % 2 else None,
                "status": "paid",
                "placed_at": "2026-06-18T12:00:00+08:00",
                "paid_at": "2026-06-18T12:00:00+08:00",
                "customer": {"phone": f"1370000{i % 40:04d}"},
                "lines": [{"sku_code": "CC-2", "quantity": 1, "unit_price_fen": 3000}],
                "payments": [{"method": "wechat_pay", "amount_fen": 3000}],
            }
            for i in range(120)
        ]

    def send(feed: int) -> tuple[int, str]:
        with TestClient(app) as client:
            r = client.post("/api/v1/orders/batch", headers=headers, json={"orders": batch(feed)})
            return r.status_code, r.text[:300]

    results = run_threads(4, send)
    assert [code for code, _ in results] == [200] * 4, results
    with unit_of_work(db_world.engine) as session:
        orders = session.scalar(
            select(func.count()).select_from(Order).where(Order.tenant_id == db_world.tenant_id)
        )
        bindings = session.execute(
            select(GuideBinding.customer_id, func.count())
            .where(GuideBinding.tenant_id == db_world.tenant_id)
            .group_by(GuideBinding.customer_id)
        ).all()
    assert orders == 480
    assert len(bindings) == 20 and all(count == 1 for _, count in bindings)  # odd i: the link orders


def test_one_wecom_event_delivered_ten_times_at_once_has_one_effect(db_world: World) -> None:
    """WeCom retries; ten concurrent deliveries of one friend-add store one inbox row, make one
    friend, one binding and one 'new fan' event."""
    import datetime as dt

    from siyu.customers.models import TimelineEvent
    from siyu.wecom.models import WeComFriend, WeComInbox
    from tests.api.wecom_support import configure, envelope, event_xml

    app = create_app(engine=db_world.engine)
    with TestClient(app) as client:
        configure(client, db_world)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    params, body = envelope(event_xml("add_external_contact", at=now), ts=now)

    def deliver(_: int) -> tuple[int, str]:
        with TestClient(app) as client:
            r = client.post(f"/api/v1/wecom/{db_world.slug}/callback", params=params, content=body)
            return r.status_code, r.text

    with TestClient(app):  # one lifespan for the whole test: the worker outlives the deliveries
        assert run_threads(10, deliver) == [(200, "success")] * 10
        app.state.jobs.drain()
    with unit_of_work(db_world.engine) as session:
        t = db_world.tenant_id
        assert (
            session.scalar(select(func.count()).select_from(WeComInbox).where(WeComInbox.tenant_id == t)) == 1
        )
        assert (
            session.scalar(select(func.count()).select_from(WeComFriend).where(WeComFriend.tenant_id == t))
            == 1
        )
        fans = session.scalar(
            select(func.count())
            .select_from(TimelineEvent)
            .where(TimelineEvent.tenant_id == t, TimelineEvent.kind == "new_fan")
        )
        assert fans == 1


def test_a_group_of_callbacks_commits_together_and_a_refused_one_alone_fails(db_world: World) -> None:
    """The callback fast path's group commit: a duplicate inside the group is found, not stored
    twice; a callback with a bad signature gets its own 403 while the others are stored."""
    import asyncio
    import datetime as dt

    from sqlalchemy import func, select

    from siyu.core.errors import DomainError
    from siyu.wecom.fastpath import CallbackFastPath, _Pending
    from siyu.wecom.models import WeComInbox
    from tests.api.wecom_support import configure, envelope, event_xml

    app = create_app(engine=db_world.engine)
    with TestClient(app) as client:
        configure(client, db_world)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    good = envelope(event_xml("add_external_contact", external="wmGROUP000000000000000001", at=now), ts=now)
    other = envelope(
        event_xml("add_external_contact", external="wmGROUP000000000000000002", at=now), ts=now, nonce="n2"
    )
    bad = ({**good[0], "msg_signature": "0" * 40}, good[1])
    fast = CallbackFastPath(app, state=app.state)
    loop = asyncio.new_event_loop()
    try:
        items = [
            _Pending(db_world.slug, p, b.encode(), loop, loop.create_future())
            for p, b in (good, bad, good, other)
        ]
        fast._store(items)
        loop.run_until_complete(asyncio.sleep(0))  # let the answers land
        first, refused, again, second = (i.future for i in items)
        assert first.result()[2] is True and again.result() == (first.result()[0], first.result()[1], False)
        assert second.result()[2] is True and second.result()[1] != first.result()[1]
        assert isinstance(refused.exception(), DomainError) and refused.exception().status == 403  # type: ignore[union-attr]
    finally:
        loop.close()
    with unit_of_work(db_world.engine) as session:
        stored = session.scalar(
            select(func.count()).select_from(WeComInbox).where(WeComInbox.tenant_id == db_world.tenant_id)
        )
    assert stored == 2


def test_a_burst_of_wrong_passwords_checks_ten_and_starves_nobody(db_world: World) -> None:
    """Hardening 3: 50 concurrent guesses for one user: 10 checked (401), 40 refused (429), no 5xx;
    a signed-in request made during the burst answers at once."""
    import time

    app = create_app(engine=db_world.engine)
    body = {"tenant": db_world.slug, "username": "owner", "password": "wrong-password-1"}
    with TestClient(app) as client:

        def guess(i: int) -> tuple[int, float]:
            if i % 6 == 0:  # every sixth thread is a signed-in user going about their work
                started = time.perf_counter()
                me = client.get("/api/v1/me", headers=db_world.headers("guide"))
                return me.status_code + 1000, time.perf_counter() - started
            return client.post("/api/v1/auth/sign-in", json=body).status_code, 0.0

        answers = run_threads(60, guess)
    statuses = [s for s, _ in answers]
    assert statuses.count(401) == 10 and statuses.count(429) == 40
    assert statuses.count(1200) == 10
    assert max(t for s, t in answers if s == 1200) < 5.0


def test_a_burst_of_exports_is_bounded_not_failed(db_world: World) -> None:
    """Hardening 3: 30 concurrent exports answer 200 or 503 with Retry-After, never 500."""
    app = create_app(engine=db_world.engine)
    with TestClient(app) as client:
        client.post(
            "/api/v1/customers/batch",
            headers=db_world.headers("integration"),
            json={"records": [{"phone": f"1380000{i:04d}"} for i in range(200)]},
        ).raise_for_status()

        def export(_: int) -> tuple[int, str | None]:
            r = client.get("/api/v1/customers/export?format=csv", headers=db_world.headers("owner"))
            return r.status_code, r.headers.get("retry-after")

        answers = run_threads(50, export)
        assert {s for s, _ in answers} <= {200, 503}
        assert any(s == 200 for s, _ in answers)
        assert all(retry == "10" for s, retry in answers if s == 503)
        # While two exports run, a third is told at once to come back later.
        with EXPORTS.slot(), EXPORTS.slot():
            busy = client.get("/api/v1/customers/export?format=csv", headers=db_world.headers("owner"))
        assert busy.status_code == 503 and busy.headers["retry-after"] == "10"
        assert busy.json()["error"]["code"] == "server_busy"
        assert (
            client.get("/api/v1/customers/export?format=csv", headers=db_world.headers("owner")).status_code
            == 200
        )


def test_only_unique_races_are_retryable_conflicts(engine: Any) -> None:
    """Hardening 11: a check constraint refusing a value is not 'concurrent write conflict, retry'."""
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from siyu.api.routing import is_unique_violation

    seen: dict[str, bool] = {}
    with engine.connect() as conn:
        conn.execute(
            text("CREATE TEMPORARY TABLE probe (k INTEGER UNIQUE, amount INTEGER CHECK (amount >= 0))")
        )
        conn.execute(text("INSERT INTO probe VALUES (1, 5)"))
        for name, statement in (
            ("unique", "INSERT INTO probe VALUES (1, 6)"),
            ("check", "INSERT INTO probe VALUES (2, -1)"),
        ):
            nested = conn.begin_nested()
            try:
                conn.execute(text(statement))
            except IntegrityError as exc:
                seen[name] = is_unique_violation(exc)
            nested.rollback()
        conn.rollback()
    assert seen == {"unique": True, "check": False}


def test_concurrent_copies_of_one_refund_all_get_the_first_answer(db_world: World) -> None:
    """Hardening 12: the same refund id sent 8 times at once, taking the line's last unit: one
    refund, and every copy answers it (the first as new, the others as replays)."""
    from siyu.orders.models import Refund

    app, headers = app_with_sku(db_world, "CR-1", 3000)
    order = {
        "channel": "mini_program",
        "external_id": "COPY-1",
        "status": "paid",
        "placed_at": "2026-06-18T12:00:00+08:00",
        "paid_at": "2026-06-18T12:00:00+08:00",
        "lines": [{"sku_code": "CR-1", "quantity": 1, "unit_price_fen": 3000}],
        "payments": [{"method": "wechat_pay", "amount_fen": 3000}],
    }
    with TestClient(app) as client:
        client.post("/api/v1/orders/batch", headers=headers, json={"orders": [order]}).raise_for_status()
    body = {
        "refunds": [
            {
                "channel": "mini_program",
                "order_external_id": "COPY-1",
                "external_id": "RF-COPY",
                "refunded_at": "2026-06-19T12:00:00+08:00",
                "lines": [{"line_no": 1, "quantity": 1}],
            }
        ]
    }

    def refund(_: int) -> tuple[int, Any]:
        with TestClient(app) as client:
            r = client.post("/api/v1/refunds", headers=headers, json=body)
            return r.status_code, r.json()

    answers = run_threads(8, refund)
    assert [status for status, _ in answers] == [200] * 8, answers
    results = [a["results"][0] for _, a in answers]
    assert len({r["refund_id"] for r in results}) == 1
    assert sorted(r["replayed"] for r in results) == [False] + [True] * 7
    assert {r["amount_fen"] for r in results} == {3000}
    with unit_of_work(db_world.engine) as session:
        count = session.scalar(
            select(func.count()).select_from(Refund).where(Refund.tenant_id == db_world.tenant_id)
        )
    assert count == 1


def test_two_owners_demoting_each_other_at_once_leave_one_owner(db_world: World) -> None:
    """Hardening 7 (lock order): both owners are locked in id order, so the two demotions queue:
    one lands, the other is refused as the last owner — no deadlock, no 500."""
    app = create_app(engine=db_world.engine)
    with TestClient(app) as client:
        owner, hq = db_world.staff["owner"], db_world.staff["hq"]
        client.patch(
            f"/api/v1/staff/{hq}", json={"role": "owner"}, headers=db_world.headers("owner")
        ).raise_for_status()

        def demote(i: int) -> int:
            me, other = (("owner", hq), ("hq_operator", owner))[i]
            return client.patch(
                f"/api/v1/staff/{other}", json={"role": "hq_operator"}, headers=db_world.headers(me)
            ).status_code

        for _ in range(3):
            answers = run_threads(2, demote)
            assert sorted(answers) in ([200, 409], [200, 403]), answers
            owners = [
                s["id"]
                for s in client.get("/api/v1/staff?role=owner", headers=db_world.headers("owner")).json()[
                    "items"
                ]
            ] or [
                s["id"]
                for s in client.get(
                    "/api/v1/staff?role=owner", headers=db_world.headers("hq_operator")
                ).json()["items"]
            ]
            assert len(owners) == 1
            # Put the second owner back for the next round.
            back = "owner" if owners == [owner] else "hq_operator"
            client.patch(
                f"/api/v1/staff/{hq if owners == [owner] else owner}",
                json={"role": "owner"},
                headers=db_world.headers(back),
            ).raise_for_status()


def test_a_flood_of_sign_ins_for_many_names_does_not_slow_signed_in_people(tmp_path: Any) -> None:
    """Review of hardening 3: 200 concurrent sign-ins, each for another username (so no per-user
    limit applies), are admitted through their own few places; a signed-in request made during the
    flood answers at once (it took 11.6 s when sign-ins shared the places)."""
    import asyncio
    import time
    import uuid

    import httpx

    from siyu.db.migrate import upgrade
    from siyu.db.session import make_engine
    from siyu.serving import serve
    from tests.factories import build_world

    url = f"sqlite:///{tmp_path / 'flood.db'}"
    engine = make_engine(url)
    upgrade(engine)
    world = build_world(engine)
    engine.dispose()
    proc, base = serve(url)
    try:

        async def flood() -> tuple[list[int], list[tuple[int, float]]]:
            limits = httpx.Limits(max_connections=300, max_keepalive_connections=300)
            async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:

                async def sign_in() -> int:
                    body = {
                        "tenant": world.slug,
                        "username": f"u{uuid.uuid4().hex[:8]}",
                        "password": "wrong-pass-1",
                    }
                    return (await client.post("/api/v1/auth/sign-in", json=body)).status_code

                async def me() -> tuple[int, float]:
                    await asyncio.sleep(0.5)
                    started = time.perf_counter()
                    r = await client.get("/api/v1/me", headers=world.headers("guide"))
                    return r.status_code, time.perf_counter() - started

                signs = [asyncio.create_task(sign_in()) for _ in range(200)]
                mes = [asyncio.create_task(me()) for _ in range(5)]
                return list(await asyncio.gather(*signs)), list(await asyncio.gather(*mes))

        statuses, mine = asyncio.run(flood())
    finally:
        proc.kill()
        proc.wait()
    assert set(statuses) <= {401, 503} and 401 in statuses
    assert [status for status, _ in mine] == [200] * 5
    assert max(seconds for _, seconds in mine) < 2.0, mine
