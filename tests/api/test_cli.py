"""The `siyu` CLI against a SQLite file given by SIYU_DATABASE_URL."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select
from typer.testing import CliRunner

from siyu.app import create_app
from siyu.cli import app
from siyu.customers.models import Customer, CustomerIdentity
from siyu.db.session import get_engine, make_engine, unit_of_work
from siyu.org.models import Tenant
from siyu.settings import get_settings


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("SIYU_DATABASE_URL", url)
    get_settings.cache_clear()
    get_engine.cache_clear()
    yield url
    get_settings.cache_clear()
    get_engine.cache_clear()


def run(*args: str, input: str | None = None, code: int = 0) -> str:
    result = CliRunner().invoke(app, list(args), input=input)
    assert result.exit_code == code, result.output
    return result.output


def test_tenant_user_apikey_import_export(cli_db: str, tmp_path: Path) -> None:
    run("migrate")
    run("tenant", "create", "--slug", "acme", "--name", "极客服饰")
    failed = CliRunner().invoke(app, ["tenant", "create", "--slug", "acme", "--name", "again"])
    assert failed.exit_code == 2 and "已存在" in failed.output
    stores = tmp_path / "stores.csv"
    stores.write_text("code,name,city,mon\nA1,一店,上海,10:00-22:00\n", encoding="utf-8")
    assert "1 created" in run("import", "stores", str(stores), "--tenant", "acme")
    run(
        "user",
        "create",
        "--tenant",
        "acme",
        "--username",
        "boss",
        "--name",
        "老板",
        "--role",
        "owner",
        "--store",
        "A1",
        input="long-password\nlong-password\n",
    )
    key = run("apikey", "create", "--tenant", "acme").strip().splitlines()[-1]
    client = TestClient(create_app(engine=make_engine(cli_db)))
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
    assert me.status_code == 200 and me.json()["tenant"]["slug"] == "acme"
    signed = client.post(
        "/api/v1/auth/sign-in", json={"tenant": "acme", "username": "boss", "password": "long-password"}
    )
    assert signed.status_code == 200
    customers = tmp_path / "c.csv"
    customers.write_text(
        "name,phone,member_card\n甲,13800000001,CLI00001\n乙,13800000002,CLI00002\n", encoding="utf-8"
    )
    run("import", "customers", str(customers), "--tenant", "acme")
    bad = tmp_path / "bad.csv"
    bad.write_text("name,phone\n丙,12\n", encoding="utf-8")
    refused = CliRunner().invoke(app, ["import", "customers", str(bad), "--tenant", "acme"])
    assert refused.exit_code == 2 and "phone" in refused.output and "nothing was written" in refused.output
    out = tmp_path / "out.xlsx"
    assert "2 customers" in run("export", "customers", str(out), "--tenant", "acme")
    rows = list(load_workbook(out).active.iter_rows(values_only=True))
    assert [r[5] for r in rows[1:]] == ["138****0001", "138****0002"]


def test_demo_is_deterministic_and_realistic(cli_db: str) -> None:
    run("migrate")

    def fingerprint() -> list[tuple[int, str | None, str | None, int]]:
        with unit_of_work(make_engine(cli_db)) as session:
            tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
            rows = session.execute(
                select(Customer.number, Customer.name, Customer.phone_e164, Customer.id)
                .where(Customer.tenant_id == tenant_id)
                .order_by(Customer.number)
                .limit(50)
            ).all()
            return [(n, name, phone, 0) for n, name, phone, _ in rows]

    run("demo", "--customers", "600", "--stores", "4", "--seed", "7", "--order-days", "0")
    first = fingerprint()
    run("demo", "--customers", "600", "--stores", "4", "--seed", "7", "--order-days", "0")
    assert fingerprint() == first
    assert "already present" in run("demo", "--if-empty")
    with unit_of_work(make_engine(cli_db)) as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        idents = session.execute(
            select(CustomerIdentity.customer_id, CustomerIdentity.type).where(
                CustomerIdentity.tenant_id == tenant_id
            )
        ).all()
        numbers = sorted(session.scalars(select(Customer.number).where(Customer.tenant_id == tenant_id)))
    per_customer: dict[int, set[str]] = {}
    for cid, type_ in idents:
        per_customer.setdefault(cid, set()).add(type_)
    assert numbers == list(range(1, 601))
    multi = sum(1 for types in per_customer.values() if len(types) >= 3)
    assert multi / 600 > 0.5  # most people are known through several channels
    assert sum(1 for t in per_customer.values() if "wechat_unionid" in t) / 600 > 0.6
    client = TestClient(create_app(engine=make_engine(cli_db)))
    token = client.post(
        "/api/v1/auth/sign-in", json={"tenant": "demo", "username": "owner", "password": "siyu-demo-2026"}
    ).json()["token"]
    phone = first[0][2] or first[1][2]
    assert phone is not None
    found = client.get(
        "/api/v1/customers/lookup",
        params={"type": "phone", "value": phone},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert found.status_code == 200


def test_demo_orders_and_store_daily_report(cli_db: str, tmp_path: Path) -> None:
    import datetime as dt

    from sqlalchemy import func

    from siyu.orders.models import Order, Refund

    run("migrate")
    run("demo", "--customers", "800", "--stores", "3", "--order-days", "45", "--seed", "3")
    with unit_of_work(make_engine(cli_db)) as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        channels = dict(
            session.execute(
                select(Order.channel, func.count())
                .where(Order.tenant_id == tenant_id)
                .group_by(Order.channel)
            ).all()
        )
        refunds = session.scalar(
            select(func.count()).select_from(Refund).where(Refund.tenant_id == tenant_id)
        )
        repeaters = session.scalar(
            select(func.count()).select_from(
                select(Order.customer_id)
                .where(Order.tenant_id == tenant_id, Order.customer_id.is_not(None))
                .group_by(Order.customer_id)
                .having(func.count() > 2)
                .subquery()
            )
        )
    total = sum(channels.values())
    assert {"pos", "mini_program", "guide_share", "livestream"} <= set(channels)
    assert 0.02 < (refunds or 0) / total < 0.08  # about 5% refunds
    assert (repeaters or 0) > 10  # some customers buy again and again
    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=2)).date().isoformat()
    out = tmp_path / "daily.xlsx"
    text = run("report", "store-daily", "--store", "S001", "--date", day, "--xlsx", str(out))
    assert "门店日报" in text and "¥" in text and out.read_bytes()[:2] == b"PK"
    assert "日期无效" in run("report", "store-daily", "--store", "S001", "--date", "2026-13-01", code=2)


def test_demo_brand_has_tags_and_a_wecom_side(cli_db: str) -> None:
    from sqlalchemy import func

    from siyu.loyalty.models import MemberCard
    from siyu.tags.models import TagAssignment
    from siyu.wecom.groups import summaries
    from siyu.wecom.models import ChannelCode, ChannelCodeDay, CustomerGroup, WeComFriend

    run("migrate")
    out = run("demo", "--customers", "400", "--stores", "3", "--seed", "5", "--order-days", "60")
    # Not a terminal (a pipe, a log file): plain progress lines, a tenth at a time, each stage ended.
    lines = out.splitlines()
    assert "demo orders 演示订单（天） 60/60 (100%)" in out
    assert sum(line.startswith("demo orders 演示订单（天） ") for line in lines) == 11
    for label in ("demo customers 演示客户", "demo tags 演示标签（客户）", "rule tags 规则标签"):
        assert any(line.startswith(label) and "(100%)" in line for line in lines), label
    with unit_of_work(make_engine(cli_db)) as session:
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == "demo"))
        per_customer = [
            n
            for (n,) in session.execute(
                select(func.count())
                .select_from(TagAssignment)
                .where(TagAssignment.tenant_id == tenant_id, TagAssignment.source_type != "rule")
                .group_by(TagAssignment.customer_id)
            ).all()
        ]
        assert (
            len(per_customer) == 400 and min(per_customer) >= 20 and max(per_customer) <= 81
        )  # + a campaign tag
        friends = session.scalar(
            select(func.count()).select_from(WeComFriend).where(WeComFriend.tenant_id == tenant_id)
        )
        with_guide = session.scalar(
            select(func.count())
            .select_from(Customer)
            .where(Customer.tenant_id == tenant_id, Customer.guide_id.is_not(None))
        )
        assert (
            friends and with_guide and 0.8 * with_guide <= friends <= with_guide
        )  # guides added most of theirs
        assert (
            session.scalar(
                select(func.count()).select_from(ChannelCode).where(ChannelCode.tenant_id == tenant_id)
            )
            == 6
        )
        adds = session.scalar(
            select(func.sum(ChannelCodeDay.adds)).where(ChannelCodeDay.tenant_id == tenant_id)
        )
        assert adds and adds > friends * 0.5  # most friends came through a code
        assert (
            session.scalar(
                select(func.count()).select_from(CustomerGroup).where(CustomerGroup.tenant_id == tenant_id)
            )
            == 6
        )
        today = dt.datetime.now(dt.UTC).date()
        rows = summaries(session, tenant_id=tenant_id, today=today)
        assert all(r.members > 1 for r in rows)
        # The demo's groups talk (and some fall silent): the 30-day counts are not all zero.
        assert sum(r.messages_30d for r in rows) > 0
    # The WeCom session through the fake WeCom: a code, adds, a group's life, a departure.
    out = run("wecom", "session")
    assert "5 adds, 5 welcomed" in out and "3 joined, 1 quit" in out and "0 failed" in out
    # Membership: cards for the card holders, tiers, stored value; the ledger holds.
    with unit_of_work(make_engine(cli_db)) as session:
        cards = session.scalar(
            select(func.count()).select_from(MemberCard).where(MemberCard.tenant_id == tenant_id)
        )
        holders = session.scalar(
            select(func.count())
            .select_from(CustomerIdentity)
            .where(CustomerIdentity.tenant_id == tenant_id, CustomerIdentity.type == "member_card")
        )
        assert cards and cards == holders
    # WeChat Pay through the fake: paid, forged and replayed notifications, a query, a refund.
    paid = " ".join(run("ledger", "wechat-pay-session").split())
    assert "notification 204" in paid and "answered 401" in paid
    assert "found by query" in paid and "SUCCESS" in paid and "0 violations" in paid
    checked = json.loads(run("ledger", "check", "--brand", "demo"))
    assert checked["violations"] == 0 and checked["transactions"] > 0


def test_wecom_sync_members(cli_db: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from siyu.wecom.fake import FakeWeCom, serve_fake
    from tests.wecom_vectors import AES_KEY, TOKEN

    run("migrate")
    run("tenant", "create", "--slug", "acme", "--name", "极客服饰")
    fake = FakeWeCom(corp_id="wwclimembers0001", secret="s3cret")
    fake.add_member("zhang", "张三", [1])
    fake.add_member("li", "李四", [1, 2])
    with serve_fake(fake) as base:
        monkeypatch.setenv("SIYU_WECOM_API_BASE", base)
        get_settings.cache_clear()
        run(
            "wecom", "configure", "--tenant", "acme", "--corp-id", fake.corp_id,
            "--token", TOKEN, "--aes-key", AES_KEY, "--secret", "s3cret",
        )  # fmt: skip
        out = run("wecom", "sync-members", "--tenant", "acme")
        fake.fail_next("/user/list_id", 60011)
        refused = CliRunner().invoke(app, ["wecom", "sync-members", "--tenant", "acme"])
    assert " ".join(out.split()) == (
        "✓ 2 members (2 new, 0 left): 2 mapped to staff (2 guides created), 0 unmapped, "
        "0 parked friends attached"
    )
    assert refused.exit_code == 2 and "60011" in refused.output
