"""WeCom use cases: the brand's WeCom settings here; callbacks in (wecom.callbacks) and applying
them (wecom.contacts) are re-exported, so `wecom.service` stays the surface the routes use."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from siyu.access import Principal
from siyu.core.clock import utcnow
from siyu.core.errors import DomainError, not_found
from siyu.db.base import table_of
from siyu.platform import audit
from siyu.platform.secrets import seal
from siyu.wecom import callbacks

# Callbacks in and applying them live in their modules, re-exported for the routes, the fast path,
# the CLI and the jobs.
from siyu.wecom.callbacks import receive, verify_url
from siyu.wecom.contacts import BATCH, process, process_batch, process_pending
from siyu.wecom.crypto import WeComCrypto
from siyu.wecom.models import WeComConfig, WeComInbox

log = logging.getLogger("siyu.wecom")
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
    create_staff_for_members: bool | None = None,
) -> WeComConfig:
    """Store (or replace) the tenant's WeCom callback settings, secrets sealed; audited
    (`create_staff_for_members` None keeps the stored choice, on for a new brand)."""
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
    if create_staff_for_members is not None:
        row.create_staff_for_members = create_staff_for_members
    elif row.create_staff_for_members is None:
        row.create_staff_for_members = True
    row.verified_at, row.updated_at = None, now  # WeCom must verify the URL again
    callbacks.forget_cached()
    session.flush()
    audit.record(
        session,
        tenant_id=tenant_id,
        actor=actor,
        action="wecom.configure",
        object_type="wecom_config",
        object_id=row.id,
        data={"corp_id": corp_id, "create_staff_for_members": row.create_staff_for_members},
    )
    return row


def get_config(session: Session, *, tenant_id: int) -> WeComConfig:
    """The tenant's settings (sealed), or not found."""
    row = session.scalar(select(WeComConfig).where(WeComConfig.tenant_id == tenant_id))
    if row is None:
        raise not_found("wecom_config")
    return row


__all__ = [
    "BATCH",
    "configure",
    "get_config",
    "process",
    "process_batch",
    "process_pending",
    "receive",
    "verify_url",
]
