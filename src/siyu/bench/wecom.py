"""`siyu bench wecom`: verified, decrypted and durably stored callbacks per second through a real
server (the figure WeCom's retries care about), and how long processing takes to catch up with a
burst of friend-add events.

Callbacks are encrypted and signed before the clock starts (that is WeCom's work). Processing runs in
the server after each acknowledgement, so the lag is the time from the last acknowledgement until
every stored callback is applied.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from sqlalchemy import func, select

from siyu.db.migrate import upgrade
from siyu.db.session import make_engine, unit_of_work
from siyu.org.models import Staff, StaffStore, Store, Tenant
from siyu.serving import serve
from siyu.settings import normalise_database_url
from siyu.wecom import service
from siyu.wecom.crypto import WeComCrypto, signature
from siyu.wecom.models import WeComInbox

TOKEN = "benchtoken"
AES_KEY = "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR"
CORP_ID = "wwbench0000000001"


def _brand(engine: Any, guides: int) -> tuple[int, str]:
    slug = f"wx-{uuid.uuid4().hex[:8]}"
    with unit_of_work(engine) as session:
        tenant = Tenant(slug=slug, name="bench", timezone="Asia/Shanghai", currency="CNY")
        session.add(tenant)
        session.flush()
        store = Store(tenant_id=tenant.id, code="W1", name="门店")
        session.add(store)
        staff = [
            Staff(
                tenant_id=tenant.id,
                employee_no=f"W{i:04d}",
                username=f"w{i}",
                name=f"导购{i}",
                role="guide",
                wecom_userid=f"guide{i}",
            )
            for i in range(guides)
        ]
        session.add_all(staff)
        session.flush()
        session.add_all(StaffStore(tenant_id=tenant.id, staff_id=m.id, store_id=store.id) for m in staff)
        service.configure(
            session,
            tenant_id=tenant.id,
            corp_id=CORP_ID,
            token=TOKEN,
            aes_key=AES_KEY,
            secret=None,
            actor=None,
        )
        return tenant.id, slug


def run(database_url: str, *, events: int = 5000, clients: int = 4, guides: int = 50) -> dict[str, Any]:
    """Send `events` distinct friend-add callbacks from `clients` concurrent senders."""
    url = normalise_database_url(database_url)
    engine = make_engine(url)
    upgrade(engine)
    tenant_id, slug = _brand(engine, guides)
    crypto = WeComCrypto(token=TOKEN, encoding_aes_key=AES_KEY, receive_id=CORP_ID)
    now = int(dt.datetime.now(dt.UTC).timestamp())
    prepared = []
    for i in range(events):
        message = (
            f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
            f"<CreateTime>{now}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
            "<Event><![CDATA[change_external_contact]]></Event><ChangeType><![CDATA[add_external_contact]]></ChangeType>"
            f"<UserID><![CDATA[guide{i % guides}]]></UserID><ExternalUserID><![CDATA[wmBENCH{i:012d}]]></ExternalUserID>"
            "</xml>"
        )
        encrypted = crypto.encrypt(message)
        nonce = f"n{i}"
        params = {
            "msg_signature": signature(TOKEN, str(now), nonce, encrypted),
            "timestamp": str(now),
            "nonce": nonce,
        }
        prepared.append((params, f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()))
    proc, base = serve(url)
    try:

        def send(chunk: list[tuple[dict[str, str], bytes]]) -> None:
            with httpx.Client(base_url=base, timeout=60) as client:
                for params, body in chunk:
                    r = client.post(f"/api/v1/wecom/{slug}/callback", params=params, content=body)
                    if r.status_code != 200:
                        raise RuntimeError(r.text)

        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            for future in [pool.submit(send, prepared[i::clients]) for i in range(clients)]:
                future.result()
        acked = time.perf_counter()
        while True:
            with unit_of_work(engine) as session:
                pending = session.scalar(
                    select(func.count())
                    .select_from(WeComInbox)
                    .where(WeComInbox.tenant_id == tenant_id, WeComInbox.outcome.is_(None))
                )
            if not pending:
                break
            time.sleep(0.05)
        done = time.perf_counter()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    with unit_of_work(engine) as session:
        outcomes = dict(
            session.execute(
                select(WeComInbox.outcome, func.count())
                .where(WeComInbox.tenant_id == tenant_id)
                .group_by(WeComInbox.outcome)
            ).all()
        )
    dialect = engine.dialect.name
    engine.dispose()
    return {
        "benchmark": "wecom",
        "engine": dialect,
        "workload": {"events": events, "clients": clients, "guides": guides, "kind": "add_external_contact"},
        "figure": "verified, decrypted and stored callbacks per second (acknowledged), over HTTP",
        "callbacks_per_s": round(events / (acked - started)),
        "target_callbacks_per_s": 500,
        "processing_lag_after_last_ack_s": round(done - acked, 2),
        "all_applied_per_s": round(events / (done - started)),
        "outcomes": outcomes,
    }
