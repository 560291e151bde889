"""Keeps rule tags current and lapsed tags swept: on a schedule, and soon after events.

One daemon thread in the server (the embedded default). Every `rule_tag_refresh_minutes` it refreshes
every tenant's rule tags and sweeps expired assignments; a notice (an order batch, a refund landed)
brings the tenant's turn forward, after a short pause that lets the notifying transaction commit and
gathers a burst of notices into one refresh. `siyu tags refresh` does the same by hand or from cron.
"""

from __future__ import annotations

import logging
import threading
import time

from sqlalchemy import Engine, select

from siyu.audiences.index import index_for
from siyu.db.session import unit_of_work
from siyu.tags import service
from siyu.tags.models import Tag, TagAssignment, TagGroup

log = logging.getLogger("siyu.tags")
DEBOUNCE_S = 2.0
# Save the tag bitmaps again once this many tag events have happened since the last save.
CHECKPOINT_EVERY = 10_000


def tenants_with_work(engine: Engine) -> list[int]:
    """Tenants that have rule tags or assignments that can lapse."""
    with unit_of_work(engine) as session:
        rule = set(
            session.scalars(
                select(Tag.tenant_id)
                .join(TagGroup, TagGroup.id == Tag.group_id)
                .where(TagGroup.kind == "rule")
                .distinct()
            )
        )
        lapsing = set(
            session.scalars(
                select(TagAssignment.tenant_id).where(TagAssignment.expires_at.is_not(None)).distinct()
            )
        )
    return sorted(rule | lapsing)


def refresh_tenant(engine: Engine, tenant_id: int) -> tuple[int, int]:
    """Refresh a tenant's rule tags and sweep its lapsed tags (one transaction each), then save the
    tag bitmaps when the log has moved on far enough; returns (rule tags, assignments swept)."""
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        refreshed = len(service.refresh_all_rule_tags(session, tenant_id=tenant_id))
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        swept = service.sweep_expired(session, tenant_id=tenant_id)
    index = index_for(engine, tenant_id)
    if index.checkpointed_at < 0 or index.log_position - index.checkpointed_at >= CHECKPOINT_EVERY:
        index.checkpoint(engine)
    return refreshed, swept


class TagWorker:
    """The thread, its schedule and the tenants waiting for an early turn."""

    def __init__(self, engine: Engine, interval_minutes: int) -> None:
        self.engine = engine
        self.interval_s = interval_minutes * 60
        self.pending: set[int] = set()
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.users = 0
        self.lock = threading.Lock()
        self.runs = 0  # completed passes
        self.ran = threading.Event()  # set after each pass (tests wait on it)

    def start(self) -> None:
        """Start the thread (once, however many lifespans share the app); 0 minutes disables it."""
        with self.lock:
            self.users += 1
            if self.interval_s and (self.thread is None or not self.thread.is_alive()):
                self.stopping.clear()
                self.thread = threading.Thread(target=self._run, name="tag-refresh", daemon=True)
                self.thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        """When the last lifespan ends."""
        with self.lock:
            self.users -= 1
            if self.users > 0 or self.thread is None:
                return
            thread, self.thread = self.thread, None
        self.stopping.set()
        self.wake.set()
        thread.join(timeout=timeout_s)

    def notify(self, tenant_id: int) -> None:
        """Something that rule tags may depend on changed for this tenant."""
        with self.lock:
            self.pending.add(tenant_id)
        self.wake.set()

    def _run(self) -> None:
        next_full = time.monotonic()
        while not self.stopping.is_set():
            self.wake.wait(timeout=max(0.0, next_full - time.monotonic()))
            if self.stopping.is_set():
                return
            if self.wake.is_set():
                self.wake.clear()
                self.stopping.wait(DEBOUNCE_S)
            with self.lock:
                tenants, self.pending = self.pending, set()
            if time.monotonic() >= next_full:
                tenants |= set(tenants_with_work(self.engine))
                next_full = time.monotonic() + self.interval_s
            for tenant_id in sorted(tenants):
                try:
                    refresh_tenant(self.engine, tenant_id)
                except Exception:  # one tenant's failure must not stop the others or the thread
                    log.exception("refreshing rule tags of tenant %s failed", tenant_id)
            self.runs += 1
            self.ran.set()
