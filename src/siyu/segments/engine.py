"""Evaluate a rule: tags and attributes as bitmap algebra, behaviour as compiled queries → bitmaps.

The answer is always a set of *active* customers' numbers. Unknown references (a tag, a store code,
a SKU or a category that the tenant does not have) raise before anything runs: an invalid rule never
widens an audience.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from pyroaring import BitMap
from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.core.clock import utcnow
from siyu.core.errors import DomainError
from siyu.db.expressions import one_of
from siyu.db.session import holds_tenant_lock
from siyu.org.facade import stores_by_code, tenant_zone
from siyu.products.facade import Product
from siyu.segments import rules as r
from siyu.segments.compiler import COMPILERS, C, Context
from siyu.segments.index import ASSIGNMENTS, TenantIndex, birth_key, engine_of, index_for
from siyu.tags.facade import Tag

BITMAP_LEAVES = (r.Tags, r.Gender, r.Age, r.City, r.BirthdayMonth, r.MemberTier, r.HomeStore, r.HasGuide)


@dataclass
class Evaluation:
    """The members of a rule and what answering took."""

    members: BitMap
    index: TenantIndex
    cached: bool


def _unknown(obj: str, values: list[Any]) -> DomainError:
    return DomainError("unknown_reference", object=obj, values=", ".join(str(v) for v in values[:20]))


def resolve(session: Session, *, tenant_id: int, node: Any, now: dt.datetime) -> Context:
    """Check every reference of a rule against the tenant and turn codes into ids."""
    leaves = r.leaves(node)
    tag_ids = r.tag_ids(node)
    if tag_ids:
        found = set(session.scalars(select(Tag.id).where(Tag.tenant_id == tenant_id, Tag.id.in_(tag_ids))))
        missing = [t for t in tag_ids if t not in found]
        if missing:
            raise DomainError("unknown_reference", object="tag", values=", ".join(map(str, missing[:20])))
    codes = sorted(
        {c for leaf in leaves if isinstance(leaf, r.HomeStore | r.Orders) for c in (leaf.store_codes or [])}
    )
    stores = stores_by_code(session, tenant_id=tenant_id, codes=set(codes)) if codes else {}
    missing_codes = [c for c in codes if c not in stores]
    if missing_codes:
        raise _unknown("store", missing_codes)
    product_ids: dict[str, list[int]] = {}
    skus = sorted({s for leaf in leaves if isinstance(leaf, r.Orders) for s in (leaf.skus or [])})
    if skus:
        rows = dict(
            session.execute(
                select(Product.code, Product.id).where(Product.tenant_id == tenant_id, Product.code.in_(skus))
            ).all()
        )
        missing_skus = [s for s in skus if s not in rows]
        if missing_skus:
            raise _unknown("product", missing_skus)
        product_ids.update({f"sku:{code}": [pid] for code, pid in rows.items()})
    categories = sorted({c for leaf in leaves if isinstance(leaf, r.Orders) for c in (leaf.categories or [])})
    if categories:
        wanted = set(categories)
        for pid, path in session.execute(
            select(Product.id, Product.category_path).where(Product.tenant_id == tenant_id)
        ):
            for name in wanted.intersection(path or []):
                product_ids.setdefault(f"category:{name}", []).append(pid)
        missing_categories = [c for c in categories if f"category:{c}" not in product_ids]
        if missing_categories:
            raise DomainError(
                "unknown_reference",
                object="category",
                values=", ".join(missing_categories[:20]),
            )
    return Context(
        tenant_id=tenant_id,
        now=now,
        zone=tenant_zone(session, tenant_id=tenant_id),
        store_ids={code: store.id for code, store in stores.items()},
        product_ids=product_ids,
    )


def union(parts: list[BitMap]) -> BitMap:
    """The union of any number of bitmaps (a new bitmap, also for none or one)."""
    return BitMap.union(*parts) if len(parts) > 1 else BitMap(parts[0] if parts else ())


def is_bitmap_leaf(node: Any) -> bool:
    """Whether a leaf is answered from the index alone."""
    return isinstance(node, BITMAP_LEAVES) or (isinstance(node, r.Reachable) and node.via == "phone")


# A queried condition under `all` is asked only about the customers the index-only conditions beside
# it allow, when they are this few (one bound array on PostgreSQL; SQLite binds one variable each).
RESTRICT_LIMIT = {"postgresql": 100_000, "sqlite": 30_000}


def candidates(session: Session, index: TenantIndex, ctx: Context, node: Any) -> dict[int, BitMap]:
    """For each `all` node with queried children: who its index-only children allow (index locked)."""
    found: dict[int, BitMap] = {}
    evaluator = Evaluator(session, index, ctx, {})

    def walk(current: Any) -> None:
        for child in r.children(current):
            walk(child)
        if isinstance(current, r.All):
            local = [c for c in current.of if is_bitmap_leaf(c)]
            if local and any(not is_bitmap_leaf(c) and not r.children(c) for c in current.of):
                parts = sorted((evaluator.bitmap_leaf(c) for c in local), key=len)
                allowed = parts[0]
                for part in parts[1:]:
                    allowed &= part
                found[id(current)] = allowed & evaluator.universe

    walk(node)
    return found


def run_queries(
    session: Session, node: Any, ctx: Context, allowed: dict[int, BitMap] | None = None
) -> dict[int, tuple[BitMap, bool]]:
    """Answer every behaviour / reachability / consent leaf (before the index is locked); a leaf
    under an `all` whose index-only siblings allow few customers is asked about those alone — the
    `all` intersects with them anyway, so the answer is the same."""
    allowed = allowed or {}
    limit = RESTRICT_LIMIT.get(session.get_bind().dialect.name, 30_000)
    answers: dict[int, tuple[BitMap, bool]] = {}

    def walk(current: Any, restrict: BitMap | None) -> None:
        for child in r.children(current):
            walk(child, allowed.get(id(current)) if isinstance(current, r.All) else None)
        if r.children(current) or is_bitmap_leaf(current) or id(current) in answers:
            return
        compiled = COMPILERS[type(current)](current, ctx)
        query = compiled.query
        if restrict is not None and len(restrict) <= limit:
            if not restrict:
                answers[id(current)] = (BitMap(), compiled.complement)
                return
            query = query.where(one_of(session, C.c.number, list(restrict)))
        answers[id(current)] = (BitMap(session.scalars(query)), compiled.complement)

    walk(node, None)
    return answers


class Evaluator:
    """Walks a parsed rule against one tenant's index, with the queried leaves already answered."""

    def __init__(
        self, session: Session, index: TenantIndex, ctx: Context, answers: dict[int, tuple[BitMap, bool]]
    ) -> None:
        self.session = session
        self.index = index
        self.ctx = ctx
        self.answers = answers
        self.universe = index.universe()

    def run(self, node: Any) -> BitMap:
        """Members of the node, always within the active customers."""
        return self.node(node) & self.universe

    def node(self, node: Any) -> BitMap:
        """Members of any node (not yet cut to the universe)."""
        if isinstance(node, r.All):
            parts = sorted((self.node(child) for child in node.of), key=len)
            result = parts[0]
            for part in parts[1:]:
                result = result & part
            return result
        if isinstance(node, r.AnyOf):
            return union([self.node(child) for child in node.of])
        if isinstance(node, r.Not):
            return self.universe - self.node(node.rule)
        if is_bitmap_leaf(node):
            return self.bitmap_leaf(node)
        numbers, complement = self.answers[id(node)]
        return self.universe - numbers if complement else numbers

    def tag(self, tag_id: int) -> BitMap:
        """Customers who have the tag now (assignments past their expiry are left out even before
        the sweep removes them)."""
        members = BitMap(self.index.tags.get(tag_id, ()))
        soonest = self.index.next_expiry.get(tag_id)
        if soonest is None or soonest > self.ctx.now:
            return members
        lapsed = self.session.scalars(
            select(ASSIGNMENTS.c.customer_number).where(
                ASSIGNMENTS.c.tenant_id == self.ctx.tenant_id,
                ASSIGNMENTS.c.tag_id == tag_id,
                ASSIGNMENTS.c.expires_at <= self.ctx.now,
            )
        )
        return members - BitMap(lapsed)

    def bitmap_leaf(self, node: Any) -> BitMap:
        """Tags and attributes, from the index alone (copies: callers may change them)."""
        ix = self.index
        if isinstance(node, r.Tags):
            sets = [self.tag(t) for t in node.tag_ids]
            if node.match in ("has", "any"):
                return union(sets)
            if node.match == "all":
                return BitMap.intersection(*sets) if len(sets) > 1 else BitMap(sets[0])
            return self.universe - union(sets)
        if isinstance(node, r.Gender):
            return ix.gender.of([("unknown", "male", "female").index(g) + 1 for g in node.values])
        if isinstance(node, r.City):
            return ix.city.of(ix.cities.known(node.values))
        if isinstance(node, r.MemberTier):
            return ix.tier.of(ix.tiers.known(node.values))
        if isinstance(node, r.HomeStore):
            return ix.store.of([self.ctx.store_ids[code] for code in node.store_codes])
        if isinstance(node, r.HasGuide):
            with_guide = ix.guide.of([1])
            return with_guide if node.value else self.universe - with_guide
        if isinstance(node, r.Reachable):
            return ix.phone.of([1])
        if isinstance(node, r.BirthdayMonth):
            return ix.birth_months(node.months)
        assert isinstance(node, r.Age)
        today = self.ctx.now.astimezone(self.ctx.zone).date()
        # age >= a  ⇔  birth key <= (today's year − a, today's month, today's day)
        youngest = (today.year - node.min) * 10000 + today.month * 100 + today.day
        oldest_excluded = (today.year - node.max - 1) * 10000 + today.month * 100 + today.day
        return ix.birth_range(oldest_excluded, youngest)


class ResultCache:
    """Answers of pure tag/attribute rules keyed by the index version (any change invalidates)."""

    def __init__(self, size: int = 256) -> None:
        self.size = size
        self.items: OrderedDict[tuple[Any, ...], BitMap] = OrderedDict()
        self.lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> BitMap | None:
        """A cached answer, or None."""
        with self.lock:
            found = self.items.get(key)
            if found is not None:
                self.items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], value: BitMap) -> None:
        """Remember an answer (least recently used goes first)."""
        with self.lock:
            self.items[key] = value
            while len(self.items) > self.size:
                self.items.popitem(last=False)


CACHE = ResultCache()


def cacheable(node: Any) -> bool:
    """Rules of tags and attributes only depend on the index (and, for age, today's date)."""
    return all(is_bitmap_leaf(leaf) for leaf in r.leaves(node))


def evaluate(
    session: Session, *, tenant_id: int, rule: Any, now: dt.datetime | None = None, use_cache: bool = True
) -> Evaluation:
    """The active customers a rule selects (a parsed rule or its JSON)."""
    node = rule if isinstance(rule, r.Node) else r.parse_rule(rule)
    now = now or utcnow()
    ctx = resolve(session, tenant_id=tenant_id, node=node, now=now)
    engine = engine_of(session)
    index = index_for(engine, tenant_id, holding_tag_lock=holds_tenant_lock(session, "tags", tenant_id))
    key: tuple[Any, ...] | None = None
    if use_cache and cacheable(node):
        soonest = min(
            (
                index.next_expiry[t]
                for leaf in r.leaves(node)
                if isinstance(leaf, r.Tags)
                for t in leaf.tag_ids
                if t in index.next_expiry
            ),
            default=None,
        )
        if soonest is None or soonest > now:
            today = now.astimezone(ctx.zone).date()
            key = (id(engine), tenant_id, index.version, today, repr(r.dump_rule(node)))
            found = CACHE.get(key)
            if found is not None:
                return Evaluation(BitMap(found), index, cached=True)
    allowed: dict[int, BitMap] = {}
    if not cacheable(node):
        with index.lock:
            allowed = candidates(session, index, ctx, node)
    answers = run_queries(session, node, ctx, allowed)
    with index.lock:
        members = Evaluator(session, index, ctx, answers).run(node)
    if key is not None:
        CACHE.put(key, BitMap(members))
    return Evaluation(members, index, cached=False)


def age_on(birthday: dt.date, today: dt.date) -> int:
    """Whole years between a birthday and a day (used by the reference evaluator and the docs)."""
    return today.year - birthday.year - ((today.month, today.day) < (birthday.month, birthday.day))


__all__ = ["Evaluation", "Evaluator", "ZoneInfo", "age_on", "birth_key", "evaluate", "resolve"]
