"""Transfers: a guide's customers handed to other staff through WeCom (离职继承 when they left,
在职转接 when they move), by rule, within WeCom's limit of two transfers per customer in 90 days.

Rule: each customer goes to a guide of the leaving guide's stores first (else of the brand), the
least loaded one at that moment (fewest WeCom friends, counting what this transfer already gave);
an explicit takeover guide overrides the rule. A customer transferred twice in the last 90 days is
not sent ("refused", with the reason). WeCom answers a code per customer: 0 starts the transfer
(WeCom completes it within 24 h): the exclusive guide moves now, even inside its protection window;
the friend relations follow WeCom's callbacks (an add for the takeover, a deletion "by transfer" for
the old guide). Any other code marks it "failed" with the code. A later `transfer_fail` callback marks it failed with WeCom's reason.
If the call to WeCom fails as a whole, nothing is stored (502).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.db.session import unit_of_work
from siyu.guides.facade import BindingBook
from siyu.org import facade as org
from siyu.org.facade import Staff, StaffStore
from siyu.platform import audit
from siyu.wecom.client import WeComClient
from siyu.wecom.codes import client_for, wecom_failed
from siyu.wecom.models import Transfer, WeComFriend

LIMIT = 2
WINDOW = dt.timedelta(days=90)
CHUNK = 100  # WeCom takes at most 100 customers per call


@dataclass(frozen=True)
class TransferPlan:
    """What one transfer request did."""

    batch: str
    requested: int
    refused: int
    failed: int
    by_takeover: dict[int, int]


def _recent_counts(
    session: Session, tenant_id: int, externals: list[str], now: dt.datetime
) -> dict[str, int]:
    counts: dict[str, int] = {}
    for start in range(0, len(externals), 1000):
        for ext, n in session.execute(
            select(Transfer.external_userid, func.count())
            .where(
                Transfer.tenant_id == tenant_id,
                Transfer.external_userid.in_(externals[start : start + 1000]),
                Transfer.status.in_(("requested", "completed")),
                Transfer.requested_at > now - WINDOW,
            )
            .group_by(Transfer.external_userid)
        ).all():
            counts[ext] = int(n)
    return counts


def _candidates(session: Session, tenant_id: int, leaving: Staff) -> list[Staff]:
    """Guides who may take over: of the leaving guide's stores first, else of the whole brand."""
    stores = set(session.scalars(select(StaffStore.store_id).where(StaffStore.staff_id == leaving.id)))
    guides = list(
        session.scalars(
            select(Staff).where(
                Staff.tenant_id == tenant_id,
                Staff.id != leaving.id,
                Staff.role == "guide",
                Staff.status == "active",
                Staff.wecom_userid.is_not(None),
            )
        )
    )
    if stores:
        same = set(
            session.scalars(
                select(StaffStore.staff_id).where(
                    StaffStore.store_id.in_(stores), StaffStore.staff_id.in_([g.id for g in guides])
                )
            )
        )
        local = [g for g in guides if g.id in same]
        if local:
            return local
    return guides


@dataclass
class Assignment:
    """Who takes each of a leaving guide's friends, before anything is sent: `targets` by friend
    (None: not sent, because of WeCom's limit)."""

    leaving: Staff
    pool: list[Staff]
    friends: list[WeComFriend]
    targets: dict[int, int | None]  # friend id -> takeover staff id

    @property
    def refused(self) -> int:
        """Friends not sent: transferred twice in 90 days already."""
        return sum(1 for t in self.targets.values() if t is None)

    def by_takeover(self) -> dict[int, list[WeComFriend]]:
        """The friends each takeover guide gets, in the order they are sent."""
        out: dict[int, list[WeComFriend]] = defaultdict(list)
        for friend in self.friends:
            target = self.targets[friend.id]
            if target is not None:
                out[target].append(friend)
        return dict(out)


def fingerprint(assignment: Assignment) -> str:
    """A short digest of who goes where: a confirmation carries the one its preview showed, and a
    transfer whose customers changed since is shown again instead of sent."""
    text = ";".join(f"{f.id}>{assignment.targets[f.id]}" for f in assignment.friends)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _takeover_pool(
    session: Session, tenant_id: int, leaving: Staff, takeover_staff_id: int | None
) -> list[Staff]:
    if takeover_staff_id is None:
        pool = _candidates(session, tenant_id, leaving)
        if not pool:
            raise DomainError(
                "invalid_transfer", reason_zh="没有可接替的导购", reason_en="no guide can take over"
            )
        return pool
    takeover = session.scalar(
        select(Staff).where(Staff.tenant_id == tenant_id, Staff.id == takeover_staff_id)
    )
    if takeover is None:
        raise not_found("staff")
    if takeover.id == leaving.id or not takeover.wecom_userid or takeover.status != "active":
        raise DomainError(
            "invalid_transfer",
            reason_zh="接替人须是另一位有企业微信 UserID 的在职员工",
            reason_en="the takeover must be another active staff member with a WeCom UserID",
        )
    return [takeover]


def plan_transfer(
    session: Session,
    *,
    tenant_id: int,
    from_staff_id: int,
    kind: str,
    takeover_staff_id: int | None,
    customer_ids: list[int] | None,
    now: dt.datetime | None = None,
) -> Assignment:
    """Who would take each customer (by the rule, or the named guide) — nothing is written or sent;
    the preview the console shows before a transfer, and the first step of one."""
    leaving = session.scalar(select(Staff).where(Staff.tenant_id == tenant_id, Staff.id == from_staff_id))
    if leaving is None:
        raise not_found("staff")
    if not leaving.wecom_userid:
        raise DomainError(
            "invalid_transfer",
            reason_zh="该员工没有企业微信 UserID",
            reason_en="this staff member has no WeCom UserID",
        )
    if kind == "on_job" and leaving.status != "active":
        raise DomainError(
            "invalid_transfer",
            reason_zh="在职转接只适用于在职员工",
            reason_en="an on-the-job transfer needs an active staff member",
        )
    pool = _takeover_pool(session, tenant_id, leaving, takeover_staff_id)
    query = select(WeComFriend).where(
        WeComFriend.tenant_id == tenant_id,
        WeComFriend.staff_id == leaving.id,
        WeComFriend.deleted_at.is_(None),
    )
    if customer_ids is not None:
        query = query.where(WeComFriend.customer_id.in_(customer_ids))
    friends = list(session.scalars(query.order_by(WeComFriend.id)))
    recent = _recent_counts(session, tenant_id, [f.external_userid for f in friends], now or utcnow())
    load = {
        staff_id: int(n)
        for staff_id, n in session.execute(
            select(WeComFriend.staff_id, func.count())
            .where(
                WeComFriend.tenant_id == tenant_id,
                WeComFriend.staff_id.in_([g.id for g in pool]),
                WeComFriend.deleted_at.is_(None),
            )
            .group_by(WeComFriend.staff_id)
        ).all()
    }
    targets: dict[int, int | None] = {}
    for friend in friends:
        if recent.get(friend.external_userid, 0) >= LIMIT:
            targets[friend.id] = None
            continue
        target = min(pool, key=lambda g: (load.get(g.id, 0), g.id))
        load[target.id] = load.get(target.id, 0) + 1
        targets[friend.id] = target.id
    return Assignment(leaving, pool, friends, targets)


def transfer_customers(
    session: Session,
    *,
    tenant_id: int,
    from_staff_id: int,
    kind: str,
    takeover_staff_id: int | None,
    customer_ids: list[int] | None,
    principal: Principal | None,
    api_base: str,
) -> TransferPlan:
    """Hand a guide's WeCom customers to others by rule; see the module docstring."""
    now = utcnow()
    assignment = plan_transfer(
        session,
        tenant_id=tenant_id,
        from_staff_id=from_staff_id,
        kind=kind,
        takeover_staff_id=takeover_staff_id,
        customer_ids=customer_ids,
        now=now,
    )
    leaving, pool, friends = assignment.leaving, assignment.pool, assignment.friends
    batch = secrets.token_hex(8)
    rows: list[Transfer] = []
    plan: dict[int, list[tuple[WeComFriend, Transfer]]] = defaultdict(list)
    for friend in friends:
        row = Transfer(
            tenant_id=tenant_id,
            batch=batch,
            kind=kind,
            customer_id=friend.customer_id,
            external_userid=friend.external_userid,
            from_staff_id=leaving.id,
            requested_at=now,
        )
        target = assignment.targets[friend.id]
        if target is None:
            row.status, row.reason, row.finished_at = (
                "refused",
                "transferred twice in 90 days / 90 天内已转接 2 次",
                now,
            )
        else:
            row.to_staff_id = target
            plan[target].append((friend, row))
        rows.append(row)
    client = client_for(session, tenant_id=tenant_id, api_base=api_base) if plan else None
    userids = {g.id: g.wecom_userid or "" for g in pool}
    book = BindingBook.load(
        session, tenant_id=tenant_id, customer_ids={f.customer_id for f in friends}, for_update=True
    )
    infos = org.staff_by_id(session, tenant_id=tenant_id, ids=set(plan))
    for target_id, items in plan.items():
        for start in range(0, len(items), CHUNK):
            chunk = items[start : start + CHUNK]
            assert client is not None
            try:
                answers = client.transfer_customer(
                    handover_userid=leaving.wecom_userid or "",
                    takeover_userid=userids[target_id],
                    external_userids=[f.external_userid for f, _ in chunk],
                    resigned=kind == "resigned",
                )
            except Exception as exc:  # WeCom refused the call or is unreachable: nothing is stored
                raise wecom_failed(exc) from exc
            store_ids = infos[target_id].store_ids
            for friend, row in chunk:
                code = answers.get(friend.external_userid, -1)
                if code == 0:
                    row.status = "requested"
                    book.offer(
                        customer_id=friend.customer_id,
                        guide_id=target_id,
                        store_id=store_ids[0] if store_ids else None,
                        source="transfer",
                        at=now,
                        reference=f"transfer:{batch}",
                        override=True,
                    )
                else:
                    row.status, row.errcode, row.finished_at = "failed", code, now
    session.add_all(rows)
    book.flush(session)
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=principal,
        action="wecom.transfer",
        object_type="staff",
        object_id=leaving.id,
        data={"batch": batch, "kind": kind, "customers": len(rows)},
    )
    by_takeover: dict[int, int] = defaultdict(int)
    for row in rows:
        if row.status == "requested" and row.to_staff_id is not None:
            by_takeover[row.to_staff_id] += 1
    return TransferPlan(
        batch=batch,
        requested=sum(1 for r in rows if r.status == "requested"),
        refused=sum(1 for r in rows if r.status == "refused"),
        failed=sum(1 for r in rows if r.status == "failed"),
        by_takeover=dict(by_takeover),
    )


def mark_failed(
    session: Session,
    *,
    tenant_id: int,
    external_userid: str,
    userid_staff_id: int,
    reason: str,
    at: dt.datetime,
) -> int:
    """A transfer_fail callback: the customer's latest requested transfer failed (WeCom's reason)."""
    row = session.scalar(
        select(Transfer)
        .where(
            Transfer.tenant_id == tenant_id,
            Transfer.external_userid == external_userid,
            Transfer.status == "requested",
        )
        .order_by(Transfer.id.desc())
        .limit(1)
    )
    if row is None:
        return 0
    row.status, row.reason, row.finished_at = "failed", reason[:200] or None, at
    return 1


RESULT_REASONS = {
    3: "the customer refused / 客户拒绝",
    4: "the takeover has too many customers / 接替成员客户已满",
    5: "no such transfer in WeCom / 无接替记录",
}


def check_transfers(engine: Any, *, tenant_id: int, client: WeComClient) -> dict[str, int]:
    """Ask WeCom how requested transfers went: done → completed (with WeCom's time), refused / full /
    unknown → failed with the reason; waiting ones stay requested. Answers counts by new status."""
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        pending = list(
            session.execute(
                select(
                    Transfer.id,
                    Transfer.kind,
                    Transfer.external_userid,
                    Transfer.from_staff_id,
                    Transfer.to_staff_id,
                ).where(Transfer.tenant_id == tenant_id, Transfer.status == "requested")
            ).all()
        )
        userids = dict(
            session.execute(select(Staff.id, Staff.wecom_userid).where(Staff.tenant_id == tenant_id)).all()
        )
    pairs: dict[tuple[int, int | None, str], list[tuple[int, str]]] = defaultdict(list)
    for row_id, kind, external, from_id, to_id in pending:
        pairs[(from_id, to_id, kind)].append((row_id, external))
    outcomes: dict[int, tuple[str, dt.datetime | None, str | None]] = {}
    for (from_id, to_id, kind), rows in pairs.items():
        if to_id is None or not userids.get(from_id) or not userids.get(to_id):
            continue
        result = client.transfer_result(
            handover_userid=userids[from_id] or "",
            takeover_userid=userids[to_id] or "",
            resigned=kind == "resigned",
        )
        for row_id, external in rows:
            status, taken = result.get(external, (5, 0))
            if status == 1:
                outcomes[row_id] = (
                    "completed",
                    dt.datetime.fromtimestamp(taken, tz=dt.UTC) if taken else utcnow(),
                    None,
                )
            elif status in RESULT_REASONS:
                outcomes[row_id] = ("failed", utcnow(), RESULT_REASONS[status])
    counts: dict[str, int] = defaultdict(int)
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        for row_id, (new_status, at, reason) in outcomes.items():
            row = session.get(Transfer, row_id)
            if row is not None and row.status == "requested":
                row.status, row.finished_at, row.reason = new_status, at, reason
                counts[new_status] += 1
    return dict(counts)
