"""WeCom callbacks in: the URL check, and every callback verified, decrypted and stored before it is
acknowledged (applied later, once: see wecom.contacts)."""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import time

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.core.inputs import ascii_digits
from siyu.db.base import table_of
from siyu.db.session import cross_tenant_access
from siyu.org.facade import Tenant
from siyu.platform.secrets import unseal
from siyu.wecom import xml
from siyu.wecom.crypto import CallbackRefusedError, WeComCrypto
from siyu.wecom.models import WeComConfig, WeComInbox

log = logging.getLogger("siyu.wecom")
MALFORMED = {"too_large", "xml_dtd_or_entity", "bad_xml", "no_encrypt"}
INBOX = table_of(WeComInbox)


_CRYPTO_CACHE: dict[tuple[int, dt.datetime], WeComCrypto] = {}


# Unsealed settings per tenant, reused while the stored settings are unchanged (unsealing costs
# two Fernet decryptions per callback otherwise).
def _crypto_for(session: Session, tenant_slug: str) -> tuple[int, WeComConfig, WeComCrypto]:
    """The tenant a callback URL names and its crypto; absent tenant or settings answer 404."""
    with cross_tenant_access(session):
        found = session.execute(
            select(WeComConfig)
            .join(Tenant, Tenant.id == WeComConfig.tenant_id)
            .where(Tenant.slug == tenant_slug)
        ).scalar_one_or_none()
    if found is None:
        raise not_found("wecom_config")
    key = (found.tenant_id, found.updated_at)
    crypto = _CRYPTO_CACHE.get(key)
    if crypto is None:
        crypto = WeComCrypto(
            token=unseal(found.token_enc),
            encoding_aes_key=unseal(found.aes_key_enc),
            receive_id=found.corp_id,
        )
        if len(_CRYPTO_CACHE) > 1000:
            _CRYPTO_CACHE.clear()
        _CRYPTO_CACHE[key] = crypto
    return found.tenant_id, found, crypto


# Callbacks name their brand by slug: (tenant id, crypto) kept for a few seconds, so a burst of
# callbacks does not look the settings up once each. A settings change in this process clears it;
# in another process it is seen within CALLBACK_CACHE_S.
CALLBACK_CACHE_S = 5.0
_BY_SLUG: dict[str, tuple[float, int, WeComCrypto]] = {}


def forget_cached() -> None:
    """New settings: callbacks look the brand's keys up again."""
    _BY_SLUG.clear()


def _callback_crypto(session: Session, tenant_slug: str) -> tuple[int, WeComCrypto]:
    cached = _BY_SLUG.get(tenant_slug)
    if cached is not None and cached[0] > time.monotonic():
        return cached[1], cached[2]
    tenant_id, _, crypto = _crypto_for(session, tenant_slug)
    if len(_BY_SLUG) > 1000:
        _BY_SLUG.clear()
    _BY_SLUG[tenant_slug] = (time.monotonic() + CALLBACK_CACHE_S, tenant_id, crypto)
    return tenant_id, crypto


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
    tenant_id, crypto = _callback_crypto(session, tenant_slug)
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
    created = None
    if ascii_digits(fields.get("CreateTime", ""), max_len=12):
        created = dt.datetime.fromtimestamp(int(fields["CreateTime"]), tz=dt.UTC)
    # One statement: stored, or (a redelivery) nothing. A concurrent twin waits on the unique key
    # and then does nothing; the existing row's id is read back.
    conn = session.connection()
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    stored = conn.execute(
        insert(INBOX)
        .values(
            tenant_id=tenant_id,
            dedupe_key=key,
            event=fields.get("Event", "")[:64],
            change_type=fields.get("ChangeType", "")[:64],
            message=message,
            created_at_wecom=created,
            received_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["tenant_id", "dedupe_key"])
        .returning(INBOX.c.id)
    ).scalar_one_or_none()
    if stored is not None:
        return tenant_id, int(stored), True
    existing = conn.execute(
        select(INBOX.c.id).where(INBOX.c.tenant_id == tenant_id, INBOX.c.dedupe_key == key)
    ).scalar_one()
    return tenant_id, int(existing), False
