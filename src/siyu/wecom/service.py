"""Use cases of WeCom: settings, verified callbacks into the inbox, and processing them once.

A callback is verified (timestamp, signature, decryption, receive id), its decrypted message
stored raw under a dedupe key (SHA-256 of the message: WeCom redelivers the same bytes) and only
then acknowledged. Processing runs afterwards, claims a row with a conditional UPDATE so that each
message has exactly one effect, and records its outcome: applied, ignored (unknown or uninteresting
events — stored, never a crash) or failed (with the reason, for a later retry).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from siyu.auth.permissions import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.customers import facade as customers
from siyu.customers.schemas import CustomerUpsert, IdentityIn
from siyu.db.base import table_of
from siyu.db.session import cross_tenant_access, unit_of_work
from siyu.guides.service import BindingBook
from siyu.org import facade as org
from siyu.org.models import Staff, Tenant
from siyu.platform import audit
from siyu.platform.secrets import seal, unseal
from siyu.wecom import xml
from siyu.wecom.crypto import CallbackRefusedError, WeComCrypto
from siyu.wecom.models import WeComConfig, WeComFriend, WeComFriendEvent, WeComInbox

MALFORMED = {"too_large", "xml_dtd_or_entity", "bad_xml", "no_encrypt"}
INBOX = table_of(WeComInbox)


# --- settings ---------------------------------------------------------------------------------
def configure(
    session: Session,
    *,
    tenant_id: int,
    corp_id: str,
    token: str,
    aes_key: str,
    secret: str | None,
    actor: Principal | None,
) -> WeComConfig:
    """Store (or replace) the tenant's WeCom callback settings, secrets sealed; audited."""
    try:
        WeComCrypto(token=token, encoding_aes_key=aes_key, receive_id=corp_id)
    except ValueError as exc:
        raise DomainError("invalid_wecom_settings", reason=str(exc)) from None
    if not (1 <= len(token) <= 32 and token.isalnum()):
        raise DomainError("invalid_wecom_settings", reason="token: 1-32 letters or digits")
    now = utcnow()
    row = session.scalar(select(WeComConfig).where(WeComConfig.tenant_id == tenant_id))
    if row is None:
        row = WeComConfig(tenant_id=tenant_id, corp_id=corp_id, token_enc="", aes_key_enc="", updated_at=now)
        session.add(row)
    row.corp_id, row.token_enc, row.aes_key_enc = corp_id, seal(token), seal(aes_key)
    row.secret_enc = seal(secret) if secret else None
    row.verified_at, row.updated_at = None, now  # WeCom must verify the URL again
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="wecom.configure",
        object_type="wecom_config",
        object_id=row.id,
        data={"corp_id": corp_id},
    )
    return row


def get_config(session: Session, *, tenant_id: int) -> WeComConfig:
    """The tenant's settings (sealed), or not found."""
    row = session.scalar(select(WeComConfig).where(WeComConfig.tenant_id == tenant_id))
    if row is None:
        raise not_found("wecom_config")
    return row


def _crypto_for(session: Session, tenant_slug: str) -> tuple[int, WeComConfig, WeComCrypto]:
    """The tenant a callback URL names and its crypto; absent tenant or settings answer 404."""
    with cross_tenant_access(session):
        tenant_id = session.scalar(select(Tenant.id).where(Tenant.slug == tenant_slug))
        config = (
            session.scalar(select(WeComConfig).where(WeComConfig.tenant_id == tenant_id))
            if tenant_id
            else None
        )
    if tenant_id is None or config is None:
        raise not_found("wecom_config")
    crypto = WeComCrypto(
        token=unseal(config.token_enc), encoding_aes_key=unseal(config.aes_key_enc), receive_id=config.corp_id
    )
    return tenant_id, config, crypto


def _refuse(exc: CallbackRefusedError) -> DomainError:
    code = "callback_malformed" if exc.reason in MALFORMED else "callback_refused"
    return DomainError(code, reason=exc.reason)


# --- callbacks --------------------------------------------------------------------------------
def verify_url(
    session: Session, *, tenant_slug: str, msg_signature: str, timestamp: str, nonce: str, echostr: str
) -> tuple[int, str]:
    """WeCom's URL check: verify and decrypt echostr; the plaintext is the answer."""
    tenant_id, config, crypto = _crypto_for(session, tenant_slug)
    try:
        plain = crypto.open(
            msg_signature=msg_signature,
            timestamp=timestamp,
            nonce=nonce,
            encrypted=echostr,
            now_s=int(utcnow().timestamp()),
        )
    except CallbackRefusedError as exc:
        raise _refuse(exc) from None
    config.verified_at = utcnow()
    return tenant_id, plain


def receive(
    session: Session, *, tenant_slug: str, msg_signature: str, timestamp: str, nonce: str, body: bytes
) -> tuple[int, int, bool]:
    """Verify, decrypt and store a callback; (tenant id, inbox id, whether it is new)."""
    tenant_id, _, crypto = _crypto_for(session, tenant_slug)
    try:
        outer = xml.parse(body)
        if not outer.get("Encrypt"):
            raise CallbackRefusedError("no_encrypt")
        message = crypto.open(
            msg_signature=msg_signature,
            timestamp=timestamp,
            nonce=nonce,
            encrypted=outer["Encrypt"],
            now_s=int(utcnow().timestamp()),
        )
        fields = xml.parse(message)
    except CallbackRefusedError as exc:
        raise _refuse(exc) from None
    key = hashlib.sha256(message.encode()).hexdigest()
    existing = session.scalar(
        select(WeComInbox.id).where(WeComInbox.tenant_id == tenant_id, WeComInbox.dedupe_key == key)
    )
    if existing is not None:
        return tenant_id, existing, False
    created = None
    if fields.get("CreateTime", "").isdigit():
        created = dt.datetime.fromtimestamp(int(fields["CreateTime"]), tz=dt.UTC)
    row = WeComInbox(
        tenant_id=tenant_id,
        dedupe_key=key,
        event=fields.get("Event", "")[:64],
        change_type=fields.get("ChangeType", "")[:64],
        message=message,
        created_at_wecom=created,
        received_at=utcnow(),
    )
    session.add(row)
    session.flush()  # a concurrent twin loses on the unique key; the route retries and finds this row
    return tenant_id, row.id, True


# --- processing -------------------------------------------------------------------------------
class _NotAppliedError(Exception):
    """Processing outcome other than applied: ignored or failed, with a reason."""

    def __init__(self, outcome: str, reason: str) -> None:
        super().__init__(reason)
        self.outcome, self.reason = outcome, reason


def process(engine: Engine, *, tenant_id: int, inbox_id: int) -> str | None:
    """Apply one stored callback, once; returns its outcome (None when already processed)."""
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        claimed = session.execute(
            update(INBOX)
            .where(INBOX.c.id == inbox_id, INBOX.c.tenant_id == tenant_id, INBOX.c.processed_at.is_(None))
            .values(processed_at=utcnow())
            .returning(INBOX.c.id)
        ).first()
        if claimed is None:
            return None
        row = session.get(WeComInbox, inbox_id)
        assert row is not None
        fields = xml.parse(row.message)
        try:
            with session.begin_nested():
                _apply(session, tenant_id, row, fields)
            row.outcome, row.error = "applied", None
        except _NotAppliedError as skip:
            row.outcome, row.error = skip.outcome, skip.reason
        return row.outcome


def process_pending(engine: Engine, *, tenant_id: int, limit: int = 10_000) -> dict[str, int]:
    """Process every stored callback not processed yet, oldest first (retries, catch-up)."""
    with unit_of_work(engine, tenant_id=tenant_id) as session:
        ids = list(
            session.scalars(
                select(WeComInbox.id)
                .where(WeComInbox.tenant_id == tenant_id, WeComInbox.processed_at.is_(None))
                .order_by(WeComInbox.id)
                .limit(limit)
            )
        )
    counts: dict[str, int] = {}
    for inbox_id in ids:
        outcome = process(engine, tenant_id=tenant_id, inbox_id=inbox_id)
        if outcome:
            counts[outcome] = counts.get(outcome, 0) + 1
    return counts


def _apply(session: Session, tenant_id: int, row: WeComInbox, fields: dict[str, str]) -> None:
    if row.event != "change_external_contact":
        raise _NotAppliedError("ignored", f"event {row.event or '?'} not handled yet")
    at = row.created_at_wecom or row.received_at
    user_id, external = fields.get("UserID", ""), fields.get("ExternalUserID", "")
    if not user_id or not external:
        raise _NotAppliedError("failed", "UserID and ExternalUserID are required")
    staff = session.scalar(select(Staff).where(Staff.tenant_id == tenant_id, Staff.wecom_userid == user_id))
    if staff is None:
        raise _NotAppliedError("failed", f"no staff member has WeCom UserID {user_id}")
    change = row.change_type
    if change not in (
        "add_external_contact",
        "edit_external_contact",
        "del_external_contact",
        "del_follow_user",
        "transfer_fail",
    ):
        raise _NotAppliedError("ignored", f"change type {change or '?'} not handled yet")
    try:
        ref = customers.resolve_customers(
            session,
            tenant_id=tenant_id,
            records=[CustomerUpsert(identities=[IdentityIn(type="wecom_external_userid", value=external)])],
            source="wecom",
            actor=None,
        )[0]
    except DomainError as exc:
        raise _NotAppliedError("failed", exc.message("en")) from None
    friend = session.scalar(
        select(WeComFriend).where(
            WeComFriend.tenant_id == tenant_id,
            WeComFriend.staff_id == staff.id,
            WeComFriend.external_userid == external,
        )
    )
    late = friend is not None and at < friend.last_event_at
    state = fields.get("State") or None

    def history(kind: str, detail: str | None = None) -> None:
        assert friend is not None
        session.add(
            WeComFriendEvent(
                tenant_id=tenant_id,
                friend_id=friend.id,
                kind=kind,
                occurred_at=at,
                detail=(detail or "")[:200] or None,
                inbox_id=row.id,
            )
        )

    if friend is None:
        friend = WeComFriend(
            tenant_id=tenant_id,
            staff_id=staff.id,
            customer_id=ref.id,
            external_userid=external,
            state=state,
            added_at=at,
            last_event_at=at,
        )
        session.add(friend)
        session.flush()
    if change == "add_external_contact":
        became_friends = friend.deleted_at is not None or friend.added_at == at
        if not late and friend.deleted_at is not None:
            friend.deleted_at, friend.deleted_by, friend.added_at, friend.state = None, None, at, state
        history("added" if not late else "added_late", state)
        if became_friends and not late:
            _new_fan(session, tenant_id, ref.id, staff, state, at, row.id)
    elif change == "edit_external_contact":
        history("edited")
    elif change in ("del_external_contact", "del_follow_user"):
        by = "customer" if change == "del_follow_user" else "staff"
        if fields.get("Source") == "DELETE_BY_TRANSFER":
            by = "transfer"
        if not late:
            friend.deleted_at, friend.deleted_by = at, by
        history(f"deleted_by_{by}" if not late else "deleted_late", fields.get("Source"))
    else:  # transfer_fail
        history("transfer_failed", fields.get("FailReason"))
    if not late:
        friend.last_event_at = at


def _new_fan(
    session: Session,
    tenant_id: int,
    customer_id: int,
    staff: Staff,
    state: str | None,
    at: dt.datetime,
    inbox_id: int,
) -> None:
    """A new WeCom friend: the exclusive guide is offered, and the timeline gets a 'new_fan' event
    (the store daily report counts them at the guide's store)."""
    info = org.staff_by_id(session, tenant_id=tenant_id, ids={staff.id})[staff.id]
    store_id = info.store_ids[0] if info.store_ids else None
    book = BindingBook.load(session, tenant_id=tenant_id, customer_ids={customer_id}, for_update=True)
    book.offer(
        customer_id=customer_id,
        guide_id=staff.id,
        store_id=store_id,
        source="friend_add",
        at=at,
        reference=f"wecom:{inbox_id}",
    )
    book.flush(session)
    data: dict[str, Any] = {"store_id": store_id, "guide_id": staff.id, "channel": "wecom", "state": state}
    customers.add_timeline_event(
        session, tenant_id=tenant_id, customer_id=customer_id, kind="new_fan", data=data, occurred_at=at
    )
