"""Each customer's paid orders, net spend and last purchase (the customer list's figures) stay equal
to what the orders say — after ingest, an order that changes customer or status, refunds, a merge
and its undoing, and concurrent batches for one customer — on SQLite and PostgreSQL."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select

from siyu.customers import service as customers
from siyu.db.session import unit_of_work
from siyu.orders import refunds, stats
from siyu.orders import schemas as s
from siyu.orders import service as orders
from siyu.orders.models import CustomerOrderStats, Order
from siyu.products.models import Product
from tests.factories import World
from tests.support import run_threads

T0 = dt.datetime(2026, 3, 1, 2, 0, tzinfo=dt.UTC)


def _setup(w: World) -> None:
    with unit_of_work(w.engine) as db:
        db.add(Product(tenant_id=w.tenant_id, code="P", name="P", list_price_fen=1000))


def _order(number: str, card: str, paid_at: dt.datetime | None, price: int = 1000) -> s.OrderIn:
    return s.OrderIn.model_validate(
        {
            "channel": "mini_program",
            "external_id": number,
            "customer": {"identities": [{"type": "member_card", "value": card}]},
            "status": "paid" if paid_at else "created",
            "placed_at": (paid_at or T0).isoformat(),
            "paid_at": paid_at.isoformat() if paid_at else None,
            "lines": [{"sku_code": "P", "quantity": 1, "unit_price_fen": price}],
            "payments": [{"method": "wechat_pay", "amount_fen": price}] if paid_at else [],
        }
    )


def _ingest(w: World, batch: list[s.OrderIn]) -> Any:
    with unit_of_work(w.engine) as db:
        return orders.ingest_orders(db, tenant_id=w.tenant_id, orders=batch, source="test", actor=None)


def _figures(w: World) -> dict[int, tuple[int, int, dt.datetime]]:
    """The read model, and (asserted equal) the same figures computed from the orders now."""
    with unit_of_work(w.engine) as db:
        kept = {
            r.customer_id: (r.paid_orders, r.net_fen, r.last_paid_at)
            for r in db.scalars(select(CustomerOrderStats).where(CustomerOrderStats.tenant_id == w.tenant_id))
        }
        truth = {
            cid: (int(n), int(net), last)
            for cid, n, net, last in db.execute(
                select(
                    Order.customer_id,
                    func.count(),
                    func.sum(Order.paid_fen - Order.refunded_fen),
                    func.max(Order.paid_at),
                )
                .where(
                    Order.tenant_id == w.tenant_id, Order.paid_at.is_not(None), Order.customer_id.is_not(None)
                )
                .group_by(Order.customer_id)
            )
        }
    assert kept == truth
    return kept


def _customer(w: World, card: str) -> int:
    with unit_of_work(w.engine) as db:
        return customers.lookup(
            db, tenant_id=w.tenant_id, type_="member_card", value=card, namespace=None, principal=None
        ).id


def test_figures_follow_ingest_updates_refunds_and_merges(db_world: World) -> None:
    w = db_world
    _setup(w)
    _ingest(w, [_order("A1", "CARD-A", T0, 1000), _order("A2", "CARD-A", T0 + dt.timedelta(days=1), 2500)])
    _ingest(w, [_order("B1", "CARD-B", T0, 4000), _order("B2", "CARD-B", None, 999)])
    a, b = _customer(w, "CARD-A"), _customer(w, "CARD-B")
    figures = _figures(w)
    assert figures[a][:2] == (2, 3500) and figures[b][:2] == (1, 4000)  # the unpaid order not counted
    # B2 is paid now; A2 moves to customer B (a corrected buyer): both customers are recounted.
    _ingest(w, [_order("B2", "CARD-B", T0 + dt.timedelta(days=3), 999)])
    _ingest(w, [_order("A2", "CARD-B", T0 + dt.timedelta(days=1), 2500)])
    figures = _figures(w)
    assert figures[a][:2] == (1, 1000) and figures[b][:2] == (3, 7499)
    # A refund of half of B1 lowers the net spend, not the count.
    with unit_of_work(w.engine) as db:
        refunds.refund_orders(
            db,
            tenant_id=w.tenant_id,
            refunds=[
                s.RefundIn.model_validate(
                    {
                        "channel": "mini_program",
                        "order_external_id": "B1",
                        "external_id": "R1",
                        "refunded_at": (T0 + dt.timedelta(days=4)).isoformat(),
                        "lines": [{"line_no": 1, "quantity": 1, "amount_fen": 1500}],
                    }
                )
            ],
            actor=None,
        )
    assert _figures(w)[b][:2] == (3, 5999)
    # A merge gives the survivor every order's figures; the undoing gives them back.
    with unit_of_work(w.engine) as db:
        merge_id = customers.merge(db, tenant_id=w.tenant_id, survivor_id=a, merged_id=b, principal=None).id
    figures = _figures(w)
    assert figures[a][:2] == (4, 6999) and b not in figures
    with unit_of_work(w.engine) as db:
        customers.unmerge(db, tenant_id=w.tenant_id, merge_id=merge_id, principal=None)
    figures = _figures(w)
    assert figures[a][:2] == (1, 1000) and figures[b][:2] == (3, 5999)
    # A rebuild from scratch writes the same rows.
    with unit_of_work(w.engine) as db:
        assert stats.rebuild(db, tenant_id=w.tenant_id) == 2
    assert _figures(w) == figures


def test_concurrent_batches_for_one_customer_count_every_order(db_world: World) -> None:
    w = db_world
    _setup(w)
    _ingest(w, [_order("SEED", "CARD-C", T0)])  # the customer exists before the race
    n = 6

    def batch(i: int) -> None:
        _ingest(
            w, [_order(f"C{i}-{j}", "CARD-C", T0 + dt.timedelta(hours=i * 10 + j), 100 + i) for j in range(5)]
        )

    run_threads(n, batch)
    c = _customer(w, "CARD-C")
    assert _figures(w)[c][:2] == (1 + 5 * n, 1000 + sum(5 * (100 + i) for i in range(n)))
