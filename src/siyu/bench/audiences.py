"""`siyu bench audiences`: the bitmap audience engine against the straightforward SQL way.

Workload (written set-based): N customers (default 1,000,000) with gender, birthday, city, tier and
home store; 400 tags in 20 groups with skewed popularity, about 80 per customer (≈ 80M assignment
rows); 3 orders per customer on average over a year.

Figures: a 5-condition tag rule and a mixed rule (tags + attributes + 90-day order GMV), each
answered by the engine (bitmaps; behaviour compiled to one query) and, in the same run on the same
tables, the way the open-source SCRMs answer them — EXISTS / GROUP BY over the assignment table
joined to customers and orders — with the ratio. Also: the engine's cold build and the memory the
tag bitmaps hold. The two answers are compared: a benchmark of a wrong answer is worthless.
"""

from __future__ import annotations

import datetime as dt
import resource
import statistics
import time
import uuid
from collections.abc import Callable
from functools import partial
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, unit_of_work
from siyu.org.models import Staff, Store, Tenant
from siyu.segments.engine import evaluate
from siyu.segments.index import TenantIndex, index_for
from siyu.settings import normalise_database_url
from siyu.tags.models import Tag, TagGroup

TAGS = 400
GROUPS = 20
CITIES = ["上海", "杭州", "北京", "深圳", "广州", "成都", "南京", "苏州", "武汉", "西安"]
TIERS = ["普卡", "银卡", "金卡", "钻石卡"]


def _popularity(t: int, per_customer: int) -> int:
    """Per-mille share of customers holding tag t: skewed (a few tags on most, many on few), with
    the mean chosen so customers hold `per_customer` tags on average."""
    weights = [1.0 / (1 + (k % 50)) ** 0.6 for k in range(TAGS)]
    scale = per_customer * 1000 / sum(weights)
    return int(max(1, min(950, round(weights[t] * scale))))


def _series(dialect: str, name: str, upper: str) -> str:
    if dialect == "postgresql":
        return f"generate_series(1::bigint, {upper}) AS {name}(n)"
    return f"(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < {upper}) SELECT n FROM s) AS {name}"


def _fill(
    engine: Engine, customers: int, per_customer: int, progress: Callable[[str], None]
) -> dict[str, Any]:
    dialect = engine.dialect.name
    started = time.perf_counter()
    with unit_of_work(engine) as session:
        tenant = Tenant(
            slug=f"bench-{uuid.uuid4().hex[:8]}", name="bench", timezone="Asia/Shanghai", currency="CNY"
        )
        session.add(tenant)
        session.flush()
        tid = tenant.id
        stores = [
            Store(tenant_id=tid, code=f"B{i:03d}", name=f"门店{i}", business_hours=[], holidays=[])
            for i in range(100)
        ]
        session.add_all(stores)
        guide = Staff(tenant_id=tid, employee_no="G1", username="g1", name="导购", role="guide")
        session.add(guide)
        session.flush()
        groups = [
            TagGroup(
                tenant_id=tid,
                name_zh=f"组{g}",
                name_en=f"group {g}",
                kind="manual",
                created_at=dt.datetime.now(dt.UTC),
            )
            for g in range(GROUPS)
        ]
        session.add_all(groups)
        session.flush()
        tags = [
            Tag(
                tenant_id=tid,
                group_id=groups[t % GROUPS].id,
                name_zh=f"标签{t}",
                name_en=f"tag {t}",
                created_at=dt.datetime.now(dt.UTC),
            )
            for t in range(TAGS)
        ]
        session.add_all(tags)
        session.flush()
        tag_ids = [t.id for t in tags]
        first_store, guide_id = stores[0].id, guide.id
    now_sql = "now()" if dialect == "postgresql" else "'2026-01-01 00:00:00.000000'"
    json_empty = "'{}'::jsonb" if dialect == "postgresql" else "'{}'"
    cities = " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(CITIES))
    tiers = " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(TIERS))
    birthday = (
        "make_date((1960 + (n * 31) % 50)::int, (1 + (n * 7) % 12)::int, (1 + (n * 13) % 28)::int)"
        if dialect == "postgresql"
        else "printf('%04d-%02d-%02d', 1960 + (n * 31) % 50, 1 + (n * 7) % 12, 1 + (n * 13) % 28)"
    )
    progress("customers")
    with unit_of_work(engine) as session:
        session.execute(
            text(
                "INSERT INTO customers (tenant_id, number, gender, birthday, city, member_tier, store_id, guide_id,"
                " custom_fields, status, created_at, updated_at) "
                f"SELECT :t, n, CASE n % 3 WHEN 0 THEN 'female' WHEN 1 THEN 'male' ELSE 'unknown' END, {birthday},"
                f" CASE n % {len(CITIES)} {cities} END, CASE (n * 17) % 10 WHEN 0 THEN '{TIERS[3]}' ELSE"
                f" CASE n % 3 {tiers} END END, :s + n % 100, CASE WHEN n % 5 < 3 THEN :g END, {json_empty},"
                f" 'active', {now_sql}, {now_sql} FROM {_series(dialect, 'g', ':c')}"
            ),
            {"t": tid, "c": customers, "s": first_store, "g": guide_id},
        )
        first_customer = session.scalar(
            text("SELECT min(id) FROM customers WHERE tenant_id = :t"), {"t": tid}
        )
        last_customer = session.scalar(text("SELECT max(id) FROM customers WHERE tenant_id = :t"), {"t": tid})
        assert last_customer - first_customer == customers - 1, "customer ids are not contiguous"
    # Indexes are dropped while 80M rows go in and built once afterwards (as a bulk load would).
    progress("tag assignments")
    indexes = {
        "ix_tag_assignments_customer": "tag_assignments (customer_id, tenant_id)",
        "ix_tag_assignments_expiry": "tag_assignments (tenant_id, expires_at)",
    }
    unique = "uq_tag_assignments_tag_id_customer_id"
    with engine.begin() as conn:
        for name in indexes:
            conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
        if dialect == "postgresql":
            conn.execute(text(f"ALTER TABLE tag_assignments DROP CONSTRAINT IF EXISTS {unique}"))
    popularity = [_popularity(t, per_customer) for t in range(TAGS)]
    for start in range(0, TAGS, 20):
        with unit_of_work(engine) as session:
            for t in range(start, min(TAGS, start + 20)):
                session.execute(
                    text(
                        "INSERT INTO tag_assignments (tenant_id, tag_id, customer_id, customer_number, source_type,"
                        f" assigned_at) SELECT :t, :tag, :first + n - 1, n, 'import', {now_sql}"
                        f" FROM {_series(dialect, 'g', ':c')} WHERE ((((n * 2654435761) % 1000003) * :a + :salt) % 1000003) % 1000 < :p"
                    ),
                    {
                        "t": tid,
                        "tag": tag_ids[t],
                        "first": first_customer,
                        "c": customers,
                        "salt": t * 7919 + 1,
                        "a": 1 + (t * 7907) % 999983,
                        "p": popularity[t],
                    },
                )
        progress(f"tags {min(TAGS, start + 20)}/{TAGS}")
    progress("indexes")
    with engine.begin() as conn:
        if dialect == "postgresql":
            conn.execute(text("SET LOCAL maintenance_work_mem = '1GB'"))
            conn.execute(
                text(f"ALTER TABLE tag_assignments ADD CONSTRAINT {unique} UNIQUE (tag_id, customer_id)")
            )
        for name, target in indexes.items():
            conn.execute(text(f"CREATE INDEX {name} ON {target}"))
    _fill_orders(engine, tid, customers, progress)
    progress("analyze")
    if dialect == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("VACUUM ANALYZE"))
    with engine.begin() as conn:
        if dialect == "sqlite":
            conn.execute(text("ANALYZE"))
        assignments = conn.execute(
            text("SELECT count(*) FROM tag_assignments WHERE tenant_id = :t"), {"t": tid}
        ).scalar_one()
    return {
        "tenant_id": tid,
        "tag_ids": tag_ids,
        "assignments": assignments,
        "customers": customers,
        "write_s": time.perf_counter() - started,
    }


def _fill_orders(engine: Engine, tid: int, customers: int, progress: Callable[[str], None]) -> None:
    """3 paid orders per customer on average over a year, 5% with a partial refund."""
    progress("orders")
    dialect = engine.dialect.name
    with engine.connect() as conn:
        first_customer = conn.execute(
            text("SELECT min(id) FROM customers WHERE tenant_id = :t"), {"t": tid}
        ).scalar_one()
        first_store = conn.execute(
            text("SELECT min(id) FROM stores WHERE tenant_id = :t"), {"t": tid}
        ).scalar_one()
    days = 365
    paid = (
        "to_timestamp(extract(epoch from now()) - ((n * 7919) % (:days * 86400)))"
        if dialect == "postgresql"
        else "printf('%s.000000', datetime(strftime('%s','now') - ((n * 7919) % (:days * 86400)), 'unixepoch'))"
    )
    with unit_of_work(engine) as session:
        session.execute(
            text(
                "INSERT INTO orders (tenant_id, channel, external_id, customer_id, store_id, attribution_reason,"
                " placement, fulfilment, status, currency, placed_at, paid_at, goods_fen, discount_fen, shipping_fen,"
                " total_fen, paid_fen, refunded_fen, revision, payload_hash, created_at, updated_at) "
                f"SELECT :t, CASE n % 3 WHEN 0 THEN 'mini_program' ELSE 'pos' END, 'A' || n,"
                " :first + (n * 104729) % :c, :s + n % 100, 'pos_till', 'in_store', 'in_store', 'completed', 'CNY',"
                f" {paid}, {paid}, 9900 + (n % 40) * 1000, 0, 0, 9900 + (n % 40) * 1000, 9900 + (n % 40) * 1000,"
                f" CASE WHEN n % 20 = 0 THEN 5000 ELSE 0 END, 1, 'bench', {paid}, {paid}"
                f" FROM {_series(dialect, 'g', ':orders')}"
            ),
            {
                "t": tid,
                "first": first_customer,
                "c": customers,
                "s": first_store,
                "orders": customers * 3,
                "days": days,
            },
        )


def _existing(engine: Engine) -> dict[str, Any] | None:
    """The newest benchmark brand already in the database, if any (to time again without refilling)."""
    with engine.connect() as conn:
        tid = conn.execute(text("SELECT max(id) FROM tenants WHERE slug LIKE 'bench-%'")).scalar_one()
        if tid is None:
            return None
        tag_ids = list(
            conn.execute(text("SELECT id FROM tags WHERE tenant_id = :t ORDER BY id"), {"t": tid}).scalars()
        )
        assignments = conn.execute(
            text("SELECT count(*) FROM tag_assignments WHERE tenant_id = :t"), {"t": tid}
        ).scalar_one()
        customers = conn.execute(
            text("SELECT count(*) FROM customers WHERE tenant_id = :t"), {"t": tid}
        ).scalar_one()
    if len(tag_ids) != TAGS or not assignments:
        return None
    return {
        "tenant_id": tid,
        "tag_ids": tag_ids,
        "assignments": assignments,
        "customers": customers,
        "write_s": 0.0,
    }


def _peer_tag_sql(tag_ids: list[int]) -> tuple[str, dict[str, Any]]:
    """Rule 1 the straightforward way: one EXISTS per tag condition over the assignment table."""
    t = tag_ids

    def has(k: int) -> str:
        return f"EXISTS (SELECT 1 FROM tag_assignments a WHERE a.customer_id = c.id AND a.tag_id = {t[k]})"

    sql = (
        "SELECT count(*) FROM customers c WHERE c.tenant_id = :tid AND c.status = 'active'"
        f" AND {has(3)} AND {has(7)} AND ({has(12)} OR {has(15)}) AND NOT {has(20)} AND {has(33)}"
    )
    return sql, {}


def _peer_mixed_sql(tag_ids: list[int], dialect: str) -> str:
    """Rule 2 the straightforward way: tag EXISTS, attribute predicates, a GROUP BY over orders."""
    t = tag_ids
    since = (
        "now() - interval '90 days'"
        if dialect == "postgresql"
        else "strftime('%Y-%m-%d %H:%M:%f', 'now', '-90 days')"
    )
    age = (
        "c.birthday <= (current_date - interval '25 years') AND c.birthday > (current_date - interval '41 years')"
        if dialect == "postgresql"
        else "c.birthday <= date('now', '-25 years') AND c.birthday > date('now', '-41 years')"
    )
    return (
        "SELECT count(*) FROM customers c WHERE c.tenant_id = :tid AND c.status = 'active'"
        f" AND (EXISTS (SELECT 1 FROM tag_assignments a WHERE a.customer_id = c.id AND a.tag_id IN ({t[3]}, {t[8]})))"
        f" AND c.gender = 'female' AND {age} AND c.city IN ('上海', '杭州', '北京')"
        " AND c.id IN (SELECT o.customer_id FROM orders o WHERE o.tenant_id = :tid AND o.paid_at IS NOT NULL"
        f" AND o.paid_at >= {since} GROUP BY o.customer_id HAVING sum(o.paid_fen - o.refunded_fen) >= 50000)"
    )


def rules_for(tag_ids: list[int]) -> dict[str, dict[str, Any]]:
    """The two benchmark rules in the audience rule language."""
    t = tag_ids
    return {
        "tag_rule_5_conditions": {
            "type": "all",
            "of": [
                {"type": "tags", "match": "has", "tag_ids": [t[3]]},
                {"type": "tags", "match": "has", "tag_ids": [t[7]]},
                {"type": "tags", "match": "any", "tag_ids": [t[12], t[15]]},
                {"type": "tags", "match": "none", "tag_ids": [t[20]]},
                {"type": "tags", "match": "has", "tag_ids": [t[33]]},
            ],
        },
        "mixed_rule": {
            "type": "all",
            "of": [
                {"type": "tags", "match": "any", "tag_ids": [t[3], t[8]]},
                {"type": "gender", "values": ["female"]},
                {"type": "age", "min": 25, "max": 40},
                {"type": "city", "values": ["上海", "杭州", "北京"]},
                {
                    "type": "orders",
                    "window": {"last_days": 90},
                    "measure": "gmv_fen",
                    "op": ">=",
                    "value": 50000,
                },
            ],
        },
    }


def _members(session: Session, tenant_id: int, rule: dict[str, Any], use_cache: bool) -> BitMap:
    return evaluate(session, tenant_id=tenant_id, rule=rule, use_cache=use_cache).members


def _count(conn: Connection, sql: str, tenant_id: int) -> int:
    return int(conn.execute(text(sql), {"tid": tenant_id}).scalar_one())


def _time(fn: Callable[[], Any], rounds: int) -> tuple[list[float], Any]:
    timings, result = [], None
    for _ in range(rounds):
        started = time.perf_counter()
        result = fn()
        timings.append((time.perf_counter() - started) * 1000)
    return timings, result


def run(
    database_url: str,
    *,
    customers: int = 1_000_000,
    tags_per_customer: int = 80,
    rounds: int = 9,
    peer_rounds: int = 3,
    reuse: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fill (or, with `reuse`, take the newest brand an earlier run filled), build the engine, time
    both rules both ways; return the JSON document."""
    say = progress or (lambda _m: None)
    engine = make_engine(normalise_database_url(database_url))
    upgrade(engine)
    filled = _existing(engine) if reuse else None
    if filled is not None:
        with engine.connect() as conn:
            has_orders = conn.execute(
                text("SELECT count(*) FROM orders WHERE tenant_id = :t"), {"t": filled["tenant_id"]}
            ).scalar_one()
        if not has_orders:  # an earlier run stopped before its orders
            _fill_orders(engine, filled["tenant_id"], filled["customers"], say)
            if engine.dialect.name == "postgresql":
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.execute(text("VACUUM ANALYZE"))
    if filled is None:
        filled = _fill(engine, customers, tags_per_customer, say)
    customers = filled["customers"]
    tid, tag_ids = filled["tenant_id"], filled["tag_ids"]
    say("engine build")
    with engine.begin() as conn:  # a cold start reads every assignment row (no saved bitmaps)
        conn.execute(text("DELETE FROM tag_bitmaps WHERE tenant_id = :t"), {"t": tid})
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    index = index_for(engine, tid)
    build_s = time.perf_counter() - started
    assert index.loaded_from == "assignments"
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    say("checkpoint")
    started = time.perf_counter()
    index.checkpoint(engine)
    checkpoint_s = time.perf_counter() - started
    restart = TenantIndex(tid)  # a server starting again: checkpoints, then the log past them
    started = time.perf_counter()
    restart.sync(engine)
    warm_s = time.perf_counter() - started
    assert restart.loaded_from == "checkpoint" and restart.tags.keys() == index.tags.keys()
    memory = index.memory_bytes()
    results: dict[str, Any] = {}
    dialect = engine.dialect.name
    for name, rule in rules_for(tag_ids).items():
        say(name)
        with unit_of_work(engine, tenant_id=tid) as session:
            timings, answer = _time(partial(_members, session, tid, rule, False), rounds)
            cached, _ = _time(partial(_members, session, tid, rule, True), rounds)
        peer_sql = _peer_tag_sql(tag_ids)[0] if name.startswith("tag") else _peer_mixed_sql(tag_ids, dialect)
        with engine.connect() as conn:
            peer_timings, peer_count = _time(partial(_count, conn, peer_sql, tid), peer_rounds)
        engine_ms, peer_ms = statistics.median(timings), statistics.median(peer_timings)
        results[name] = {
            "members": len(answer),
            "peer_members": peer_count,
            "same_answer": len(answer) == peer_count,
            "engine_ms": {
                "median": round(engine_ms, 2),
                "min": round(min(timings), 2),
                "max": round(max(timings), 2),
            },
            "engine_cached_ms_median": round(statistics.median(cached), 3),
            "peer_ms": {"median": round(peer_ms, 1), "min": round(min(peer_timings), 1)},
            "ratio_peer_over_engine": round(peer_ms / engine_ms, 1),
        }
    engine.dispose()
    return {
        "benchmark": "audiences",
        "engine": dialect,
        "workload": {
            "customers": customers,
            "tags": TAGS,
            "assignments": filled["assignments"],
            "tags_per_customer_mean": round(filled["assignments"] / customers, 1),
            "orders": customers * 3,
        },
        "write_s": round(filled["write_s"], 1),
        "engine_cold_build_s": round(build_s, 1),
        "checkpoint_write_s": round(checkpoint_s, 1),
        "engine_start_from_checkpoint_s": round(warm_s, 2),
        "memory": {
            **{k: v for k, v in memory.items()},
            "tag_bitmaps_mib": round(memory["tag_bitmaps"] / 2**20, 1),
            "process_peak_rss_growth_mib": round((rss_after - rss_before) / 1024, 1),
        },
        "peer": "EXISTS / GROUP BY over tag_assignments, customers and orders, same database, same run",
        "targets": {"tag_rule_ms": 20, "mixed_rule_ms": 1000, "tag_rule_ratio": 20},
        "rules": results,
        "rule_json": rules_for(tag_ids),
    }
