"""The in-process worker that applies stored callbacks after they are acknowledged (and, once an
hour when quiet, asks WeCom how pending transfers went and reads every brand's member directory).

The embedded default runs it as one daemon thread in the server; the callback route only hands it
the stored row's id. If the process stops first, `siyu wecom process` (or the next start-up's
catch-up) applies what is left: rows are claimed by a conditional UPDATE, so nothing runs twice.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, select

from siyu.db.session import unit_of_work
from siyu.settings import get_settings
from siyu.wecom import codes, members, service, transfers
from siyu.wecom.models import Transfer, WeComConfig

log = logging.getLogger("siyu.wecom")
CHECK_TRANSFERS_S = 3600.0  # how often pending transfers are checked with WeCom
QUIET_S = 0.02  # no callback for this long: the burst has passed
MAX_WAIT_S = 1.0  # the oldest callback waits at most this long before it is applied


class InboxWorker:
    """One thread, one queue of (tenant id, inbox id)."""

    def __init__(self, engine: Engine, api_base: str | None = None) -> None:
        self.engine = engine
        self.api_base = api_base
        self.queue: queue.Queue[tuple[int, int] | None] = queue.Queue()
        self.thread: threading.Thread | None = None
        self.users = 0  # servers (lifespans) sharing this app
        self.lock = threading.Lock()

    def start(self) -> None:
        """Start the thread (once, however many lifespans share the app)."""
        with self.lock:
            self.users += 1
            if self.thread is None or not self.thread.is_alive():
                self.thread = threading.Thread(target=self._run, name="wecom-inbox", daemon=True)
                self.thread.start()

    def submit(self, tenant_id: int, inbox_id: int) -> None:
        """Apply this stored callback soon (at once, here, when no worker thread runs)."""
        if self.thread is None or not self.thread.is_alive():
            service.process(self.engine, tenant_id=tenant_id, inbox_id=inbox_id, api_base=self.api_base)
            return
        self.queue.put((tenant_id, inbox_id))

    def stop(self, timeout_s: float = 10.0) -> None:
        """When the last lifespan ends: finish what is queued, then stop."""
        with self.lock:
            self.users -= 1
            if self.users > 0 or self.thread is None:
                return
            self.queue.put(None)
            thread, self.thread = self.thread, None
        thread.join(timeout=timeout_s)

    def _let_the_burst_pass(self, first: tuple[int, int] | None) -> None:
        """Acknowledging comes first: while callbacks keep arriving (one within QUIET_S of the
        last), wait — but never keep the oldest waiting longer than MAX_WAIT_S (welcome codes are
        valid for 20 s). Applying shares the process with the route that acknowledges."""
        if first is None:
            return
        started = time.monotonic()
        seen = self.queue.qsize()
        while time.monotonic() - started < MAX_WAIT_S and seen < service.BATCH:
            time.sleep(QUIET_S)
            now_seen = self.queue.qsize()
            if now_seen == seen:
                return
            seen = now_seen

    def drain(self) -> None:
        """Wait until everything queued so far is applied (tests, benchmarks)."""
        self.queue.join()

    def check_transfers(self) -> int:
        """Ask WeCom how every brand's requested transfers went; answers how many brands were asked."""
        with unit_of_work(self.engine) as session:
            tenant_ids = list(
                session.scalars(select(Transfer.tenant_id).where(Transfer.status == "requested").distinct())
            )
        return self._per_brand(tenant_ids, transfers.check_transfers, "checking WeCom transfers")

    def sync_members(self, only: set[int] | None = None) -> int:
        """Read every brand's WeCom member directory (brands with an app secret; `only` some of
        them); answers how many brands were synced. Callbacks keep it current in between; this
        catches what they missed."""
        with unit_of_work(self.engine) as session:
            query = select(WeComConfig.tenant_id).where(WeComConfig.secret_enc.is_not(None))
            if only is not None:
                query = query.where(WeComConfig.tenant_id.in_(only))
            tenant_ids = list(session.scalars(query.order_by(WeComConfig.tenant_id)))
        return self._per_brand(tenant_ids, members.sync_members, "syncing the WeCom members")

    def _per_brand(self, tenant_ids: list[int], work: Callable[..., Any], what: str) -> int:
        """Run `work(engine, tenant_id=, client=)` for each brand with its WeCom client; one brand's
        failure is logged and does not stop the others; answers how many brands succeeded."""
        done = 0
        for tenant_id in tenant_ids:
            try:
                with unit_of_work(self.engine, tenant_id=tenant_id) as session:
                    client = codes.client_for(
                        session, tenant_id=tenant_id, api_base=self.api_base or get_settings().wecom_api_base
                    )
                work(self.engine, tenant_id=tenant_id, client=client)
                done += 1
            except Exception:  # one brand's failure must not stop the others or the thread
                log.exception("%s of tenant %s failed", what, tenant_id)
        return done

    def hourly(self) -> None:
        """The hourly work: transfers, then member directories."""
        self.check_transfers()
        self.sync_members()

    def _run(self) -> None:
        next_check = time.monotonic() + CHECK_TRANSFERS_S
        while True:
            try:
                first = self.queue.get(timeout=max(0.1, next_check - time.monotonic()))
            except queue.Empty:  # quiet for a while: time to ask WeCom about transfers and members
                self.hourly()
                next_check = time.monotonic() + CHECK_TRANSFERS_S
                continue
            self._let_the_burst_pass(first)
            batch = [first]
            while first is not None and len(batch) < service.BATCH:  # whatever else is waiting
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                by_tenant: dict[int, list[int]] = {}
                for item in batch:
                    if item is not None:
                        by_tenant.setdefault(item[0], []).append(item[1])
                for tenant_id, ids in by_tenant.items():
                    try:
                        service.process_batch(
                            self.engine, tenant_id=tenant_id, inbox_ids=ids, api_base=self.api_base
                        )
                    except Exception:  # a bad batch must not stop the worker; its rows stay for a retry
                        log.exception("processing WeCom callbacks %s failed", ids)
            finally:
                for _ in batch:
                    self.queue.task_done()
            if None in batch:
                return
            if time.monotonic() >= next_check:  # a busy server checks between batches
                self.hourly()
                next_check = time.monotonic() + CHECK_TRANSFERS_S
