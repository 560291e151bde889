"""The in-memory audience index of a tenant: a roaring bitmap per tag and per attribute value.

Bits are the customers' dense numbers. The index is built once from the tables, then kept current
incrementally:

- tags replay the append-only `tag_events` log past the last event applied. Every tag write holds
  the tenant's tag lock until it commits (PostgreSQL advisory lock; SQLite has one writer), and the
  index reads the log under the shared form of that lock, so it never skips an event whose id was
  taken before a later one committed;
- attributes re-read customers changed recently (`updated_at` past the high-water mark, minus a
  safety margin that covers transactions still open when their rows were stamped).

Reads go through their own short connection, so a transaction that has not committed never leaks
into the shared index. Each tenant's index has its own lock; evaluations copy what they take out.
"""

from __future__ import annotations

import threading
import weakref
from array import array
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from pyroaring import BitMap
from sqlalchemy import Connection, Engine, and_, delete, func, insert, or_, select, text
from sqlalchemy.orm import Session

from siyu.customers.facade import Customer
from siyu.db.base import table_of
from siyu.db.session import ADVISORY_KEY_SQL, LOCK_NAMESPACES, read_connection
from siyu.segments.models import TagBitmapCheckpoint
from siyu.tags.facade import TagAssignment, TagEvent

CUSTOMERS = table_of(Customer)
ASSIGNMENTS = table_of(TagAssignment)
EVENTS = table_of(TagEvent)
CHECKPOINTS = table_of(TagBitmapCheckpoint)
GENDERS = ("unknown", "male", "female")
ADDS = ("assigned", "renewed")
# Allowed difference between the application's and the database's clocks (both NTP-synchronised).
CLOCK_SKEW = timedelta(seconds=2)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def birth_key(value: date) -> int:
    """A birthday as yyyymmdd (ordered like dates, so age bands are ranges)."""
    return value.year * 10000 + value.month * 100 + value.day


class Coded:
    """An attribute with a code per customer number and a bitmap per code (0 = not set)."""

    def __init__(self) -> None:
        self.codes = array("i")
        self.bitmaps: dict[int, BitMap] = {}

    def set(self, number: int, code: int) -> bool:
        """Move one customer to a code; whether anything changed."""
        if number >= len(self.codes):
            self.codes.extend([0] * (number + 1 - len(self.codes) + 1024))
        old = self.codes[number]
        if old == code:
            return False
        if old:
            self.bitmaps[old].discard(number)
        if code:
            self.bitmaps.setdefault(code, BitMap()).add(number)
        self.codes[number] = code
        return True

    def load(self, numbers_by_code: dict[int, list[int]], size: int) -> None:
        """Build from scratch (one bitmap per code from a list, far faster than bit by bit)."""
        self.codes = array("i", [0]) * (size + 1024)
        self.bitmaps = {}
        for code, numbers in numbers_by_code.items():
            if code:
                self.bitmaps[code] = BitMap(numbers)
                for n in numbers:
                    self.codes[n] = code

    def of(self, codes: list[int]) -> BitMap:
        """Customers with any of the codes."""
        parts = [self.bitmaps[c] for c in codes if c in self.bitmaps]
        return BitMap.union(*parts) if len(parts) > 1 else BitMap(parts[0] if parts else ())


@dataclass
class Labels:
    """Codes for free-text values (cities, member tiers); code 0 means not set."""

    codes: dict[str, int] = field(default_factory=dict)

    def code(self, value: str | None) -> int:
        """The code of a value, assigning a new one when first seen."""
        if not value:
            return 0
        return self.codes.setdefault(value, len(self.codes) + 1)

    def known(self, values: list[str]) -> list[int]:
        """Codes of the values seen so far (an unseen value matches nobody)."""
        return [self.codes[v] for v in values if v in self.codes]


class TenantIndex:
    """Bitmaps of one tenant; see the module docstring for how it stays current."""

    def __init__(self, tenant_id: int) -> None:
        self.tenant_id = tenant_id
        self.lock = threading.Lock()
        self.tags: dict[int, BitMap] = defaultdict(BitMap)
        self.next_expiry: dict[int, datetime] = {}
        self.log_position = -1  # id of the last tag event applied; -1 = not built
        self.checkpointed_at = -1  # the log position the saved checkpoints are at
        self.loaded_from = ""  # "checkpoint" or "assignments" (the last full build)
        self.built_at: datetime | None = None
        self.high_water: datetime | None = None  # cursor over customers: (updated_at, id)
        self.high_water_id = 0
        self.active = Coded()  # 1 = active (merged customers leave every audience)
        self.gender = Coded()
        self.city = Coded()
        self.tier = Coded()
        self.store = Coded()  # code = store id
        self.guide = Coded()  # 1 = has a guide
        self.phone = Coded()  # 1 = has a phone number
        self.birth_month_year = Coded()  # code = yyyymm
        self.birth_keys = array("i")
        self.cities = Labels()
        self.tiers = Labels()
        self.version = 0  # bumps whenever anything changes (keys cached results)

    # --- catching up ----------------------------------------------------------------------------
    def sync(self, engine: Engine, *, holding_tag_lock: bool = False) -> None:
        """Bring tags and attributes up to what is committed now.

        Lock order: the brand's tag lock (its shared form here) before this index's lock, never
        the other way round. A caller whose transaction holds the exclusive tag lock (a rule-tag
        refresh, a tagging that evaluates a rule) must not wait for the shared form on a second
        connection — that waits on itself; it reads without it, which is safe because no other
        tag write can be in flight while it holds the lock.
        """
        with read_connection(engine) as conn:
            if not holding_tag_lock:
                shared_lock(conn, self.tenant_id)
            try:
                with self.lock:
                    self._catch_up_tags(conn)
            finally:
                if not holding_tag_lock:
                    shared_unlock(conn, self.tenant_id)
            with self.lock:
                self._sync_customers(conn)
            conn.rollback()

    def _catch_up_tags(self, conn: Connection) -> None:
        """Replay the tag log past the last event applied (or build from scratch)."""
        newest = conn.execute(
            select(func.max(EVENTS.c.id)).where(EVENTS.c.tenant_id == self.tenant_id)
        ).scalar_one()
        newest = 0 if newest is None else int(newest)
        if self.log_position < 0 or newest < self.log_position:
            self._build_tags(conn, newest)
        elif newest > self.log_position:
            self._replay(conn)

    def _build_tags(self, conn: Connection, newest: int) -> None:
        """From the saved checkpoints when they are there (then the log past them), else from every
        assignment row, one tag at a time in index order."""
        expiry: dict[int, datetime] = {}
        for tag_id, soonest in conn.execute(
            select(ASSIGNMENTS.c.tag_id, func.min(ASSIGNMENTS.c.expires_at))
            .where(ASSIGNMENTS.c.tenant_id == self.tenant_id, ASSIGNMENTS.c.expires_at.is_not(None))
            .group_by(ASSIGNMENTS.c.tag_id)
        ):
            expiry[tag_id] = soonest
        self.next_expiry = expiry
        saved = list(
            conn.execute(
                select(CHECKPOINTS.c.tag_id, CHECKPOINTS.c.through_event_id, CHECKPOINTS.c.members).where(
                    CHECKPOINTS.c.tenant_id == self.tenant_id
                )
            )
        )
        through = min((row[1] for row in saved), default=None)
        if through is not None and through <= newest and all(row[1] == through for row in saved):
            self.tags = defaultdict(BitMap, {tag_id: BitMap.deserialize(blob) for tag_id, _, blob in saved})
            self.log_position = through
            self.checkpointed_at = through
            self._replay(conn)
            self.loaded_from = "checkpoint"
            return
        tags: dict[int, BitMap] = defaultdict(BitMap)
        rows = conn.execution_options(yield_per=200_000).execute(
            select(ASSIGNMENTS.c.tag_id, ASSIGNMENTS.c.customer_number)
            .where(ASSIGNMENTS.c.tenant_id == self.tenant_id)
            .order_by(ASSIGNMENTS.c.tag_id)
        )
        current, numbers = None, array("I")
        for tag_id, number in rows:
            if tag_id != current:
                if current is not None:
                    tags[current] = BitMap(numbers)
                current, numbers = tag_id, array("I")
            numbers.append(number)
        if current is not None:
            tags[current] = BitMap(numbers)
        self.tags = tags
        self.log_position = newest
        self.loaded_from = "assignments"
        self.version += 1

    def checkpoint(self, engine: Engine) -> int:
        """Save every tag's bitmap through the last event applied (one transaction); returns tags saved."""
        with self.lock:
            through = self.log_position
            blobs = [(tag_id, bitmap.serialize()) for tag_id, bitmap in self.tags.items()]
        if through < 0:
            return 0
        now = datetime.now(UTC)
        with engine.begin() as conn:
            conn.execute(delete(CHECKPOINTS).where(CHECKPOINTS.c.tenant_id == self.tenant_id))
            for start in range(0, len(blobs), 200):
                conn.execute(
                    insert(CHECKPOINTS),
                    [
                        {
                            "tenant_id": self.tenant_id,
                            "tag_id": tag_id,
                            "through_event_id": through,
                            "members": blob,
                            "written_at": now,
                        }
                        for tag_id, blob in blobs[start : start + 200]
                    ],
                )
        self.checkpointed_at = through
        return len(blobs)

    def _replay(self, conn: Connection) -> None:
        rows = conn.execute(
            select(
                EVENTS.c.id, EVENTS.c.tag_id, EVENTS.c.customer_number, EVENTS.c.action, EVENTS.c.expires_at
            )
            .where(EVENTS.c.tenant_id == self.tenant_id, EVENTS.c.id > self.log_position)
            .order_by(EVENTS.c.id)
        )
        for event_id, tag_id, number, action, expires_at in rows:
            if action in ADDS:
                self.tags[tag_id].add(number)
                if expires_at is not None and (
                    tag_id not in self.next_expiry or expires_at < self.next_expiry[tag_id]
                ):
                    self.next_expiry[tag_id] = expires_at
            else:
                self.tags[tag_id].discard(number)
            self.log_position = max(self.log_position, event_id)
        self.version += 1

    def _sync_customers(self, conn: Connection) -> None:
        """Catch up with customers written since the cursor (updated_at, id).

        A row committed after the last read carries a stamp taken inside its transaction. On SQLite
        the one writer cannot have begun before the last commit the cursor saw, so its stamps are
        later (less the allowed clock skew, re-read every time). On PostgreSQL a transaction still open may commit rows stamped earlier than the
        cursor: while any is open, rows from its start (less the allowed clock skew) are re-read.
        """
        c = CUSTOMERS.c
        columns = (
            c.number,
            c.status,
            c.gender,
            c.birthday,
            c.city,
            c.member_tier,
            c.store_id,
            c.guide_id,
            c.phone_e164.is_not(None),
            c.updated_at,
            c.id,
        )
        query = select(*columns).where(c.tenant_id == self.tenant_id)
        if self.high_water is None:
            self._load_customers(conn.execution_options(yield_per=100_000).execute(query))
            return
        after_cursor = or_(
            c.updated_at > self.high_water,
            and_(c.updated_at == self.high_water, c.id > self.high_water_id),
            # Stamps a little behind the cursor: another clock (the database's default, the app's).
            and_(c.updated_at >= self.high_water - CLOCK_SKEW, c.updated_at < self.high_water),
        )
        oldest_open = oldest_open_transaction(conn)
        if oldest_open is not None and oldest_open - CLOCK_SKEW <= self.high_water:
            after_cursor = or_(after_cursor, c.updated_at >= oldest_open - CLOCK_SKEW)
        changed = list(conn.execute(query.where(after_cursor)))
        # Re-read rows are applied again; only a real difference makes a new version.
        if [row for row in changed if self._apply_customer(row)]:
            self.version += 1
        for row in changed:
            self._advance(row[-2], row[-1])

    def _advance(self, stamp: datetime, row_id: int) -> None:
        assert self.high_water is not None
        if (stamp, row_id) > (self.high_water, self.high_water_id):
            self.high_water, self.high_water_id = stamp, row_id

    def _load_customers(self, rows: Any) -> None:
        groups: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
        keys: dict[int, int] = {}
        size, newest = 0, None
        newest_id = 0
        for (
            number,
            status,
            gender,
            birthday,
            city,
            tier,
            store_id,
            guide_id,
            has_phone,
            updated,
            row_id,
        ) in rows:
            size = max(size, number)
            if newest is None or (updated, row_id) > (newest, newest_id):
                newest, newest_id = updated, row_id
            groups["active"][1 if status == "active" else 0].append(number)
            groups["gender"][GENDERS.index(gender) + 1].append(number)
            groups["city"][self.cities.code(city)].append(number)
            groups["tier"][self.tiers.code(tier)].append(number)
            groups["store"][store_id or 0].append(number)
            groups["guide"][1 if guide_id else 0].append(number)
            groups["phone"][1 if has_phone else 0].append(number)
            if birthday is not None:
                keys[number] = birth_key(birthday)
                groups["birth"][birthday.year * 100 + birthday.month].append(number)
        for name in ("active", "gender", "city", "tier", "store", "guide", "phone"):
            getattr(self, name).load(groups[name], size)
        self.birth_month_year.load(groups["birth"], size)
        self.birth_keys = array("i", [0]) * (size + 1024)
        for number, key in keys.items():
            self.birth_keys[number] = key
        self.high_water = newest if newest is not None else EPOCH
        self.high_water_id = newest_id
        self.version += 1

    def _apply_customer(self, row: Any) -> bool:
        number, status, gender, birthday, city, tier, store_id, guide_id, has_phone, _, _ = row
        changes = [
            self.active.set(number, 1 if status == "active" else 0),
            self.gender.set(number, GENDERS.index(gender) + 1),
            self.city.set(number, self.cities.code(city)),
            self.tier.set(number, self.tiers.code(tier)),
            self.store.set(number, store_id or 0),
            self.guide.set(number, 1 if guide_id else 0),
            self.phone.set(number, 1 if has_phone else 0),
            self.birth_month_year.set(number, birthday.year * 100 + birthday.month if birthday else 0),
        ]
        if number >= len(self.birth_keys):
            self.birth_keys.extend([0] * (number + 1 - len(self.birth_keys) + 1024))
        key = birth_key(birthday) if birthday else 0
        if self.birth_keys[number] != key:
            self.birth_keys[number] = key
            changes.append(True)
        return any(changes)

    # --- reading -------------------------------------------------------------------------------
    def universe(self) -> BitMap:
        """Every active customer."""
        return BitMap(self.active.bitmaps.get(1, BitMap()))

    def birth_range(self, low_exclusive: int, high_inclusive: int) -> BitMap:
        """Customers whose birth key is in (low, high]: whole months by bitmap, the two edge
        months checked day by day."""
        low_month, high_month = low_exclusive // 100, high_inclusive // 100
        result = BitMap()
        for month_code, members in self.birth_month_year.bitmaps.items():
            if low_month < month_code < high_month:
                result |= members
            elif month_code in (low_month, high_month):
                keys = self.birth_keys
                result |= BitMap(n for n in members if low_exclusive < keys[n] <= high_inclusive)
        return result

    def birth_months(self, months: list[int]) -> BitMap:
        """Customers born in any of the calendar months."""
        wanted = set(months)
        parts = [b for code, b in self.birth_month_year.bitmaps.items() if code % 100 in wanted]
        return BitMap.union(*parts) if len(parts) > 1 else BitMap(parts[0] if parts else ())

    def attributes(self) -> tuple[Coded, ...]:
        """Every coded attribute of the index."""
        return (
            self.active,
            self.gender,
            self.city,
            self.tier,
            self.store,
            self.guide,
            self.phone,
            self.birth_month_year,
        )

    def memory_bytes(self) -> dict[str, int]:
        """Bytes held by the tag bitmaps, the attribute bitmaps and the attribute arrays."""
        tags = sum(bitmap_bytes(b) for b in self.tags.values())
        attributes = sum(bitmap_bytes(b) for coded in self.attributes() for b in coded.bitmaps.values())
        arrays = sum(a.itemsize * len(a) for a in (self.birth_keys, *(c.codes for c in self.attributes())))
        return {"tag_bitmaps": tags, "attribute_bitmaps": attributes, "attribute_arrays": arrays}


def oldest_open_transaction(conn: Connection) -> datetime | None:
    """PostgreSQL: when the oldest other transaction on this database began (None when none is
    open, and always on SQLite, whose one writer needs no such care)."""
    if conn.dialect.name != "postgresql":
        return None
    started = conn.execute(
        text(
            "SELECT min(xact_start) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid() AND xact_start IS NOT NULL"
        )
    ).scalar_one()
    return started if isinstance(started, datetime) else None


def bitmap_bytes(bitmap: BitMap) -> int:
    """Bytes a bitmap's containers hold (array, run and bitset containers)."""
    stats = bitmap.get_statistics()
    return int(
        stats["n_bytes_array_containers"]
        + stats["n_bytes_run_containers"]
        + stats["n_bytes_bitset_containers"]
    )


def shared_lock(conn: Connection, tenant_id: int) -> None:
    """Wait until no tag write of the tenant is between its first event and its commit."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(f"SELECT pg_advisory_lock_shared(:ns, {ADVISORY_KEY_SQL})"),
            {"ns": LOCK_NAMESPACES["tags"], "tid": tenant_id},
        )


def shared_unlock(conn: Connection, tenant_id: int) -> None:
    """Release what shared_lock took."""
    if conn.dialect.name == "postgresql":
        conn.execute(
            text(f"SELECT pg_advisory_unlock_shared(:ns, {ADVISORY_KEY_SQL})"),
            {"ns": LOCK_NAMESPACES["tags"], "tid": tenant_id},
        )


_INDEXES: weakref.WeakKeyDictionary[Engine, dict[int, TenantIndex]] = weakref.WeakKeyDictionary()
_REGISTRY_LOCK = threading.Lock()


def engine_of(session: Session) -> Engine:
    """The engine behind a session (the index keeps one set of bitmaps per engine)."""
    bind = session.get_bind()
    return bind if isinstance(bind, Engine) else bind.engine


def index_for(engine: Engine, tenant_id: int, *, holding_tag_lock: bool = False) -> TenantIndex:
    """The index of a tenant on an engine, brought up to date (see `TenantIndex.sync` for the
    lock order; pass `holding_tag_lock` when the caller's transaction holds the tag lock)."""
    with _REGISTRY_LOCK:
        per_engine = _INDEXES.setdefault(engine, {})
        index = per_engine.get(tenant_id)
        if index is None:
            index = per_engine[tenant_id] = TenantIndex(tenant_id)
    index.sync(engine, holding_tag_lock=holding_tag_lock)
    return index
